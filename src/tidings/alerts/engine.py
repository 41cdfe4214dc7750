"""The matching engine: which of a million standing alerts does this article match?

The presearcher design of Lucene Monitor and the Elasticsearch percolator:

* Each alert is compiled to a *program*: nested tuples of small op codes and interned strings,
  a few hundred bytes.  Identical programs (many readers follow the same name) are stored once,
  with the ids of the alerts that share them.
* A program is *anchored* under the tokens it cannot match without.  The query is expanded into
  alternatives (top-level ORs split, small ORs inside ANDs multiplied out), and each alternative
  is indexed under its two rarest required tokens (a pair) or its only one.  Fields count as
  tokens: ``site:example.com`` requires the pseudo-token ``site:example.com``, which every
  article from that host or its subdomains carries.
* An article is analysed once.  Its token set selects the anchors it contains: a dictionary
  look-up per token, then a small set intersection per pair.  Only those candidates are
  verified, exactly, against the article; verification agrees with ``reference.evaluate``.
* An alternative whose anchor is still common (its estimated share of articles is above
  ``always_threshold``) or a query too wide to expand goes to the *always-check* set, verified
  for every article.  ``stats()`` reports its size so it can be watched.

Adding, changing and removing an alert is incremental.  Anchors depend on the ``TokenStats``
given at construction, which therefore never change for the life of an index.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from itertools import product
from operator import itemgetter
from typing import Any

from tidings.alerts.analysis import analyze
from tidings.alerts.model import Match, MatchArticle, language_matches, site_matches, url_host_path
from tidings.alerts.query import And, Lang, Node, Not, Phrase, Site, Term, parse
from tidings.alerts.stats import TokenStats

# Program op codes.  A program is a tuple whose first item is one of these.
TERM, TITLE_TERM, PHRASE, TITLE_PHRASE, SITE, LANG, AND, OR, NOT = range(9)

Program = tuple[Any, ...]
Anchor = tuple[str, ...]  # one token, or the rarer token then the more common one

MAX_ALTERNATIVES = 32


class AlertIndex:
    """Standing alerts, indexed for matching articles against all of them at once."""

    def __init__(self, stats: TokenStats | None = None, *, always_threshold: float = 0.3) -> None:
        self._token_stats = stats or TokenStats()
        self._always_threshold = always_threshold
        self._alerts: dict[int, Program] = {}
        self._subscribers: dict[Program, int | list[int]] = {}
        self._single: dict[str, Program | list[Program]] = {}
        self._pairs: dict[str, dict[str, Program | list[Program]]] = {}
        self._always: dict[Program, None] = {}
        self._canonical: dict[Program, Program] = {}
        self._replies: dict[int, list[Match]] = {}  # id(program) → its matches, when fixed
        self._counters = {"articles": 0, "candidates": 0, "matched_programs": 0, "matches": 0}

    # --- changing the alerts --------------------------------------------------------------

    def add(self, alert_id: int, query: str | Node) -> None:
        """Index ``query`` for ``alert_id``, replacing that alert's previous query if any.

        A query string is parsed first (``QueryError`` if it is not valid).
        """
        compiled = compile_tree(parse(query) if isinstance(query, str) else query)
        if alert_id in self._alerts:
            self.remove(alert_id)
        program = self._canonical.setdefault(compiled, compiled)  # equal programs: one object
        self._alerts[alert_id] = program
        self._replies.pop(id(program), None)
        subscribers = self._subscribers.get(program)
        if subscribers is None:
            self._subscribers[program] = alert_id
            self._index(program)
        elif isinstance(subscribers, list):
            subscribers.append(alert_id)
        else:
            self._subscribers[program] = [subscribers, alert_id]

    def remove(self, alert_id: int) -> bool:
        """Forget ``alert_id``; False if it was not indexed."""
        program = self._alerts.pop(alert_id, None)
        if program is None:
            return False
        self._replies.pop(id(program), None)
        subscribers = self._subscribers[program]
        if isinstance(subscribers, list):
            subscribers.remove(alert_id)
            if len(subscribers) == 1:
                self._subscribers[program] = subscribers[0]
            return True
        del self._subscribers[program]
        del self._canonical[program]
        self._unindex(program)
        return True

    def __len__(self) -> int:
        return len(self._alerts)

    def __contains__(self, alert_id: object) -> bool:
        return alert_id in self._alerts

    def _index(self, program: Program) -> None:
        for anchor in self._anchors(program):
            if anchor is None:
                self._always[program] = None
            elif len(anchor) == 1:
                _post(self._single, anchor[0], program)
            else:
                _post(self._pairs.setdefault(anchor[0], {}), anchor[1], program)

    def _unindex(self, program: Program) -> None:
        for anchor in self._anchors(program):
            if anchor is None:
                self._always.pop(program, None)
            elif len(anchor) == 1:
                _unpost(self._single, anchor[0], program)
            else:
                inner = self._pairs[anchor[0]]
                _unpost(inner, anchor[1], program)
                if not inner:
                    del self._pairs[anchor[0]]

    def _anchors(self, program: Program) -> set[Anchor | None]:
        """Where ``program`` is indexed: one anchor per alternative (None: always check)."""
        alternatives = required_tokens(program)
        if alternatives is None:
            return {None}
        return {self._anchor(tokens) for tokens in alternatives}

    def _anchor(self, tokens: frozenset[str]) -> Anchor | None:
        df = self._token_stats.df
        ranked = sorted((df(token), token) for token in tokens)[:2]
        estimate = 1.0
        for frequency, _ in ranked:
            estimate *= frequency
        if estimate > self._always_threshold:
            return None
        return tuple(token for _, token in ranked)

    # --- matching -------------------------------------------------------------------------

    def match(self, article: MatchArticle) -> list[Match]:
        """The alerts ``article`` matches, in alert id order, each with its matched terms."""
        view = ArticleView.of(article)
        matched = [program for program in self._candidates(view.tokens) if view.holds(program)]
        return self._answer(view, matched)

    def _candidates(self, tokens: set[str]) -> list[Program]:
        found: list[Program] = list(self._always)
        add, add_all = found.append, found.extend
        single = self._single
        for token in single.keys() & tokens:
            posting = single[token]
            add_all(posting) if type(posting) is list else add(posting)  # type: ignore[arg-type]
        pairs = self._pairs
        for token in pairs.keys() & tokens:
            inner = pairs[token]
            for other in inner.keys() & tokens:
                posting = inner[other]
                add_all(posting) if type(posting) is list else add(posting)  # type: ignore[arg-type]
        self._counters["articles"] += 1
        self._counters["candidates"] += len(found)
        return found

    def _answer(self, view: ArticleView, matched: list[Program]) -> list[Match]:
        answer: list[Match] = []
        seen: set[int] = set()
        replies = self._replies
        for program in matched:
            key = id(program)
            if key in seen:
                continue
            seen.add(key)
            reply = replies.get(key)
            if reply is None:
                reply = self._reply(program, view)
            answer.extend(reply)
        answer.sort(key=_alert_id)
        self._counters["matched_programs"] += len(seen)
        self._counters["matches"] += len(answer)
        return answer

    def _reply(self, program: Program, view: ArticleView) -> list[Match]:
        """The matches of ``program``'s alerts.  Without an OR its matched terms are always the
        same (all its positive words), so the reply is made once and kept until it changes."""
        fixed = _fixed_terms(program)
        terms = fixed if fixed is not None else tuple(view.matched_terms(program))
        subscribers = self._subscribers[program]
        make = tuple.__new__  # Match(...) without the Python-level __new__
        if type(subscribers) is list:
            reply = [make(Match, (alert_id, terms)) for alert_id in subscribers]
        else:
            reply = [make(Match, (subscribers, terms))]
        if fixed is not None:
            self._replies[id(program)] = reply
        return reply

    def stats(self) -> dict[str, int | float]:
        """Sizes and running counters: how big the index is and how much it verifies."""
        counters = self._counters
        return {
            "alerts": len(self._alerts),
            "programs": len(self._subscribers),
            "always_check": len(self._always),
            "single_anchors": len(self._single),
            "pair_anchors": sum(len(inner) for inner in self._pairs.values()),
            **counters,
            "candidates_per_match": counters["candidates"] / max(1, counters["matched_programs"]),
        }


_alert_id = itemgetter(0)


def _fixed_terms(program: Program) -> tuple[str, ...] | None:
    """The matched terms of a program without OR: its positive words and phrases, always."""
    found: list[str] = []
    stack = [program]
    while stack:
        node = stack.pop()
        op = node[0]
        if op == OR:
            return None
        if op == AND:
            stack.extend(reversed(node[1:]))
        elif op <= TITLE_PHRASE:
            text = node[1].strip()
            if text not in found:
                found.append(text)
    return tuple(found)


def _post(postings: dict[str, Program | list[Program]], key: str, program: Program) -> None:
    """Add ``program`` under ``key``: a lone program is stored bare, several in a list."""
    current = postings.get(key)
    if current is None:
        postings[key] = program
    elif type(current) is list:
        current.append(program)
    else:
        postings[key] = [current, program]  # type: ignore[list-item]


def _unpost(postings: dict[str, Program | list[Program]], key: str, program: Program) -> None:
    current = postings[key]
    if type(current) is list:
        current.remove(program)
        if len(current) == 1:
            postings[key] = current[0]
    else:
        del postings[key]


# --- compiling ------------------------------------------------------------------------------


def compile_tree(node: Node) -> Program:
    """The compact program of a query tree: nested tuples of op codes and interned strings."""
    if isinstance(node, Term):
        return (TITLE_TERM if node.in_title else TERM, sys.intern(node.token))
    if isinstance(node, Phrase):
        needle = sys.intern(" " + " ".join(node.tokens) + " ")
        return (TITLE_PHRASE if node.in_title else PHRASE, needle)
    if isinstance(node, Site):
        return (SITE, sys.intern(node.host), sys.intern(node.path))
    if isinstance(node, Lang):
        return (LANG, sys.intern(node.code))
    if isinstance(node, Not):
        return (NOT, compile_tree(node.child))
    op = AND if isinstance(node, And) else OR
    return (op, *(compile_tree(child) for child in node.children))


def required_tokens(program: Program) -> list[frozenset[str]] | None:
    """Alternatives of tokens (and pseudo-tokens) a match needs: it contains all of one of them.

    None when nothing can be required (a negation), or the query is too wide to expand.
    """
    op = program[0]
    if op in (TERM, TITLE_TERM):
        return [frozenset((program[1],))]
    if op in (PHRASE, TITLE_PHRASE):
        return [frozenset(program[1].split())]
    if op == SITE:
        return [frozenset(("site:" + program[1],))]
    if op == LANG:
        return [frozenset(("lang:" + program[1],))]
    if op == OR:
        return _required_any(program[1:])
    if op == AND:
        return _required_all(program[1:])
    return None


def _required_any(children: Iterable[Program]) -> list[frozenset[str]] | None:
    alternatives: list[frozenset[str]] = []
    for child in children:
        needed = required_tokens(child)
        if needed is None:
            return None
        alternatives.extend(needed)
    return alternatives if len(alternatives) <= MAX_ALTERNATIVES else None


def _required_all(children: Iterable[Program]) -> list[frozenset[str]] | None:
    combined: list[frozenset[str]] | None = None
    for child in children:
        needed = required_tokens(child)
        if needed is None:
            continue  # an AND may ignore a child: the rest is still required
        if combined is None:
            combined = needed
        elif len(combined) * len(needed) <= MAX_ALTERNATIVES:
            combined = [left | right for left, right in product(combined, needed)]
    return combined


# --- the article side -----------------------------------------------------------------------


class ArticleView:
    """An article analysed once, in the forms verification needs."""

    __slots__ = ("tokens", "title_tokens", "title", "text", "host", "path", "language")

    def __init__(
        self, title: list[str], text: list[str], host: str, path: str, language: str | None
    ) -> None:
        self.title_tokens = set(title)
        self.tokens = self.title_tokens.union(text)
        self.title = " " + " ".join(title) + " "
        self.text = " " + " ".join(text) + " "
        self.host, self.path = host, path
        self.language = language
        self.tokens.update(field_tokens(host, language))

    @classmethod
    def of(cls, article: MatchArticle) -> ArticleView:
        host, path = url_host_path(article.url)
        title, text = analyze(article.title), analyze(article.text)
        return cls(title, text, host, path, article.language)

    def holds(self, program: Program) -> bool:
        """Whether the article satisfies ``program`` (the reference evaluator's answer)."""
        op = program[0]
        if op == TERM:
            return program[1] in self.tokens
        if op == AND:  # plain loops: faster than all()/any() over a generator on the hot path
            for child in program[1:]:  # noqa: SIM110
                if not self.holds(child):
                    return False
            return True
        if op == PHRASE:
            return program[1] in self.text or program[1] in self.title
        if op == OR:
            for child in program[1:]:  # noqa: SIM110
                if self.holds(child):
                    return True
            return False
        if op == NOT:
            return not self.holds(program[1])
        return self._holds_field(program)

    def _holds_field(self, program: Program) -> bool:
        op = program[0]
        if op == TITLE_TERM:
            return program[1] in self.title_tokens
        if op == TITLE_PHRASE:
            return program[1] in self.title
        if op == SITE:
            return site_matches(program[1], program[2], self.host, self.path)
        return language_matches(program[1], self.language)

    def matched_terms(self, program: Program) -> list[str]:
        """Words and phrases outside any negation that the article contains, in query order."""
        found: list[str] = []
        self._collect_terms(program, found)
        return found

    def _collect_terms(self, program: Program, found: list[str]) -> None:
        op = program[0]
        if op in (AND, OR):
            for child in program[1:]:
                self._collect_terms(child, found)
        elif op in (TERM, TITLE_TERM, PHRASE, TITLE_PHRASE) and self.holds(program):
            text = program[1].strip()
            if text not in found:
                found.append(text)


def field_tokens(host: str, language: str | None) -> list[str]:
    """Pseudo-tokens for an article's site (host and parent domains) and language (and its
    broader tags), so that ``site:`` and ``lang:`` alerts can be anchored like words."""
    tokens: list[str] = []
    labels = host.split(".") if host else []
    tokens.extend("site:" + ".".join(labels[i:]) for i in range(len(labels)))
    if language:
        parts = language.strip().lower().replace("_", "-").split("-")
        tokens.extend("lang:" + "-".join(parts[:i]) for i in range(1, len(parts) + 1))
    return tokens
