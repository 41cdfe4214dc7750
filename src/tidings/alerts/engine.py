"""The matching engine: which of a million standing alerts does this article match?

The presearcher design of Lucene Monitor and the Elasticsearch percolator, arranged so that
most matches are ready ``Match`` objects taken with C-level ``map``/``chain``/``extend``, and
the Python work per article grows with the number of its anchors that have something to check,
not with the number of alerts or queries it matches:

* An article is analysed once into a set of **keys**: its words, its adjacent word pairs
  (``"kim jong"``), its title's words and pairs (``"intitle:kim"``), and pseudo-keys for its
  site and language (``"site:example.com"``, ``"lang:en"``).  No word contains a space or a
  colon, so the kinds never collide.  Each key is probed once in the index's postings: a
  word's posting also says whether it starts or ends a word pair some query needs, and only
  the text's pairs of such a start and such an end are formed and probed.
* Each alert's query is compiled to a *program* (nested tuples), then to a **keyed** form in
  which every word, two-word phrase, ``intitle:`` word or pair, ``site:`` host and ``lang:``
  code is a key string, true when the article has that key.  Alerts with an equal keyed form
  share one ``_Group``.
* A query that is an AND of keys, ORs of keys and negated keys or ORs of keys (a name, a
  phrase with ``lang:``, ``a OR b``, ``a -(b OR c)``, ``(a OR b) c``: nearly all) is split into
  **cases** (``_Case``), one per set of its ORs' keys that can be present: ``a OR b`` is "a
  without b", "b without a" and "a and b".  Cases exclude each other, and each fixes the
  matched terms, so every alert holds a ready ``Match`` per case.  A case is anchored under its
  two rarest keys (a pair: under the first key's posting, by the second; one set of every
  second key of a posting tells at once whether any of its pairs can hold) or its only one;
  one that needs no other key and excludes none is **exact** (being found under its anchor
  *is* the match), the others are checked with one set operation each, under ``map`` and
  ``compress`` — except that the *quiet* ones under one anchor (excluding only uncommon keys,
  needing none) are decided together by one test against all the keys they exclude, and the
  *loud* ones that all exclude a common key are skipped together when it is present.
* Any other query (a phrase of three words or more, ``site:`` with a path, a negated AND, more
  than ``MAX_CASES`` cases) is expanded into alternatives (top-level ORs split, small ORs inside
  ANDs multiplied out), anchored the same way, and verified by walking its keyed tree; the
  answer agrees with ``reference.evaluate``.
* For such a query, an anchor that is still common (its estimated share of articles is above
  ``always_threshold``), or a query too wide to expand, sends its group to the *always-check*
  set, verified for every article.  ``stats()`` reports its size so it can be watched.  (A
  query split into cases is anchored however common its keys: one set operation where it is
  found never costs more than a walk for every article.)

A worker's start adds every alert inside ``loading()``: the ready matches are made once the
load is done, posting by posting, so that those an article takes together lie side by side in
memory instead of wherever their alerts' turns left them.

Adding, changing and removing an alert is incremental.  Anchors depend on the ``TokenStats``
given at construction, which therefore never change for the life of an index.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from itertools import chain, combinations, compress, pairwise, product, repeat
from operator import attrgetter, eq, itemgetter, not_
from types import MappingProxyType
from typing import Any, cast

from tidings.alerts.analysis import analyze
from tidings.alerts.model import Match, MatchArticle, language_matches, site_matches, url_host_path
from tidings.alerts.query import And, Lang, Node, Not, Phrase, Site, Term, parse
from tidings.alerts.stats import TokenStats

# Program op codes.  A program is a tuple whose first item is one of these.
TERM, TITLE_TERM, PHRASE, TITLE_PHRASE, SITE, LANG, AND, OR, NOT = range(9)

Program = tuple[Any, ...]
Keyed = str | tuple[Any, ...]  # a key, or a program whose leaves are keys where they can be
Anchor = tuple[str, ...]  # one key, or the rarer key then the more common one

MAX_ALTERNATIVES = 32
MAX_CASES = 9  # ways of picking the present keys of a query's ORs (two ORs of two keys)
LOUD_DF = 0.02  # a case excluding a key more common than this is checked on its own
TITLE = "intitle:"


_NOTHING: frozenset[str] = frozenset()


class _Case:
    """One way a query decided by set operations can hold.

    The article has the ``anchor`` keys it is indexed under, and then, of the ``watch`` keys,
    exactly the ``rest``: the other keys it needs, and none of the keys it must not have.  A
    query's cases exclude each other (each fixes which of its OR's keys are present), so an
    alert matches at most once, and its matched terms (``terms``) never change: each alert has
    a ready ``Match`` per case.  An *exact* case watches nothing: being found under its anchor
    is the match, and its matches are kept in the anchor's posting; those of a conditional
    case are in ``matches``.
    """

    __slots__ = ("anchor", "watch", "rest", "terms", "matches")

    def __init__(
        self,
        anchor: Anchor,
        required: frozenset[str],
        excluded: frozenset[str],
        terms: tuple[str, ...],
    ) -> None:
        self.anchor = anchor
        rest = required.difference(anchor)
        watch = rest | excluded
        # Most cases watch nothing: they share one empty set (each empty one is 216 bytes).
        self.rest = rest or _NOTHING
        self.watch = watch or _NOTHING
        self.terms = terms
        self.matches: list[Match] | None = [] if self.watch else None


class _Group:
    """The alerts that share one keyed query.

    A query that is an AND of keys, ORs of keys and negated keys or ORs of keys (most of
    them) is split into ``cases``, each indexed under its anchor with a ready ``Match`` per
    alert.  Any other query (``cases`` is None) is verified by walking its keyed tree;
    ``members`` then holds a ready ``Match`` per alert when its matched terms never change
    (``terms`` is set), and plain alert ids otherwise.
    """

    __slots__ = ("keyed", "cases", "terms", "term_leaves", "members", "size")

    def __init__(self, keyed: Keyed, cases: tuple[_Case, ...] | None) -> None:
        self.keyed = keyed
        self.cases = cases
        self.terms = _fixed_terms(keyed) if cases is None else None
        self.term_leaves = _TermLeaves(keyed) if cases is None and self.terms is None else None
        self.members: list[Any] = []
        self.size = 0  # alerts


def _pop_alert(members: list[Any], alert_id: int, matches: bool) -> None:
    """Take out the member (a ``Match`` if ``matches``, else an id) of ``alert_id``."""
    for position, member in enumerate(members):
        if (member[0] if matches else member) == alert_id:
            del members[position]
            return
    raise KeyError(alert_id)


class _TermLeaves:
    """The words and phrases outside any negation of a query with OR, to find which matched."""

    __slots__ = ("tests", "texts", "all_keys", "unique")

    def __init__(self, keyed: Keyed) -> None:
        leaves = list(_term_leaves(keyed))
        self.tests = tuple(test for test, _ in leaves)
        self.texts = tuple(text for _, text in leaves)
        self.all_keys = all(type(test) is str for test in self.tests)
        self.unique = len(set(self.texts)) == len(self.texts)

    def found(self, keys: set[str], article: ArticleKeys) -> tuple[str, ...]:
        """Those the article has, in query order, each once."""
        if self.all_keys:
            present: Iterable[bool] = map(keys.__contains__, self.tests)
        else:
            present = (_holds(test, keys, article) for test in self.tests)
        if self.unique:
            return tuple(compress(self.texts, present))
        return tuple(dict.fromkeys(compress(self.texts, present)))


class AlertIndex:
    """Standing alerts, indexed for matching articles against all of them at once."""

    def __init__(self, stats: TokenStats | None = None, *, always_threshold: float = 0.3) -> None:
        self._token_stats = stats or TokenStats()
        self._always_threshold = always_threshold
        self._alerts: dict[int, _Group] = {}
        self._groups: dict[Keyed, _Group] = {}
        # First anchor key → what is anchored there; every word of a word pair that a query
        # needs has one too (its ``heads`` and ``tails`` count those queries), so that an
        # article finds the postings of its words and which pairs of them are wanted in one
        # probe per word.
        self._postings: dict[str, _Posting] = {}
        self._always: dict[_Group, None] = {}
        # The postings whose new matches are only noted so far: until ``add`` ends, or while
        # ``loading()`` (how deep), until the load is done.
        self._loading = 0
        self._pending: list[_Posting] = []
        self._counters = dict.fromkeys(
            (
                "articles",
                "conditions",
                "condition_matches",
                "verified",
                "verified_matched",
                "exact_matches",
                "matches",
            ),
            0,
        )

    # --- changing the alerts --------------------------------------------------------------

    def add(self, alert_id: int, query: str | Node) -> None:
        """Index ``query`` for ``alert_id``, replacing that alert's previous query if any.

        A query string is parsed first (``QueryError`` if it is not valid).
        """
        keyed = keyed_query(query) if isinstance(query, str) else keyed_form(compile_tree(query))
        if alert_id in self._alerts:
            self.remove(alert_id)
        group = self._groups.get(keyed)
        if group is None:
            group = self._new_group(keyed)
        self._alerts[alert_id] = group
        group.size += 1
        make = tuple.__new__
        if group.cases is None:
            terms = group.terms
            group.members.append(alert_id if terms is None else make(Match, (alert_id, terms)))
            return
        for case in group.cases:  # noted under the anchor, and made below or by the load
            posting = self._posting(case.anchor[0])
            if posting.pending is None:
                posting.pending = []
                self._pending.append(posting)
            posting.note_match(alert_id, case)
        if not self._loading:
            self._lay_out()

    def remove(self, alert_id: int) -> bool:
        """Forget ``alert_id``; False if it was not indexed."""
        if self._pending and alert_id in self._alerts:
            self._lay_out()
        group = self._alerts.pop(alert_id, None)
        if group is None:
            return False
        group.size -= 1
        for case in group.cases or ():
            if case.matches is None:
                posting = self._postings[case.anchor[0]]
                posting.drop_match(case.anchor[1:], alert_id)
                if posting.empty():
                    del self._postings[case.anchor[0]]
            else:
                _pop_alert(case.matches, alert_id, True)
                self._conds_of(case).all = None
        if group.cases is None:
            _pop_alert(group.members, alert_id, group.terms is not None)
        if not group.size:
            del self._groups[group.keyed]
            self._unindex(group)
            for first, second in _wanted_pairs(group.keyed):
                self._postings[first].heads -= 1
                self._postings[second].tails -= 1
                for word in (first, second):
                    if word in self._postings and self._postings[word].empty():
                        del self._postings[word]
        return True

    @contextmanager
    def loading(self) -> Iterator[AlertIndex]:
        """Add many alerts at once (a worker's start), as ``add`` does, with the ready matches
        of each posting laid side by side in memory.

        Matching an article takes the ready matches of each posting it finds, thousands at a
        million alerts.  Made as their alerts come (in id order), a posting's matches are
        scattered over the whole heap, and taking them is a cache miss each; made together,
        once the load is done, they fill a few cache lines in a row.  Inside, a new match is
        only noted (its alert id and case, against its posting); a match, ``stats()``, the
        removal or change of a noted alert, or leaving the outermost block makes what is noted
        first."""
        self._loading += 1
        try:
            yield self
        finally:
            self._loading -= 1
            if not self._loading:
                self._lay_out()

    def _lay_out(self) -> None:
        """Make the matches noted while loading, posting by posting.  A posting's are made
        all or none: if this is interrupted, what is left stays noted for the next call."""
        pending = self._pending
        # The notes are let go only at the end: memory freed on the way would be reused by
        # the next matches, scattered again.
        noted = []
        try:
            for posting in pending:
                noted.append(posting.lay_out())
        finally:
            del pending[: len(noted)]  # those laid out
            noted.clear()

    def __len__(self) -> int:
        return len(self._alerts)

    def __contains__(self, alert_id: object) -> bool:
        return alert_id in self._alerts

    def _new_group(self, keyed: Keyed) -> _Group:
        group = self._groups[keyed] = _Group(keyed, self._cases(keyed))
        for first, second in _wanted_pairs(keyed):
            self._posting(first).heads += 1
            self._posting(second).tails += 1
        if group.cases is not None:
            for case in group.cases:
                if case.watch:
                    self._checks(case.anchor).take_case(case, self._veto(case))
            return group
        for anchor in self._anchors(keyed):
            if anchor is None:
                self._always[group] = None
            else:
                self._checks(anchor).take_group(group)
        return group

    def _unindex(self, group: _Group) -> None:
        if group.cases is not None:
            for case in group.cases:
                if case.watch:
                    self._release(case.anchor, case)
            return
        for anchor in self._anchors(group.keyed):
            if anchor is None:
                self._always.pop(group, None)
            else:
                self._release(anchor, group)

    def _posting(self, key: str) -> _Posting:
        """The posting of ``key`` (made empty if new)."""
        posting = self._postings.get(key)
        if posting is None:
            posting = self._postings[key] = _Posting()
        return posting

    def _checks(self, anchor: Anchor) -> _Checks:
        """What needs a check under ``anchor`` (made empty if new)."""
        posting = self._posting(anchor[0])
        if len(anchor) > 1:
            return posting.inner_checks(anchor[1])
        if posting.checks is None:
            posting.checks = _Checks()
        return posting.checks

    def _conds_of(self, case: _Case) -> _Conds:
        """The conditional cases ``case`` is checked with."""
        checks = self._checks(case.anchor)
        return cast(_Conds, checks.loud if self._loud(case) else checks.conds)

    def _loud(self, case: _Case) -> bool:
        """Whether a conditional case is checked on its own: it needs another key, or it
        excludes a key common enough (``LOUD_DF``) that it would often spoil the one test
        that decides the quiet cases under the same anchor together."""
        return bool(case.rest) or any(self._key_df(key) > LOUD_DF for key in case.watch)

    def _veto(self, case: _Case) -> frozenset[str] | None:
        """None for a quiet case; for a loud one, the common keys it excludes (any of them
        present, it does not hold)."""
        if not self._loud(case):
            return None
        excluded = case.watch - case.rest
        return frozenset(key for key in excluded if self._key_df(key) > LOUD_DF)

    def _release(self, anchor: Anchor, item: _Case | _Group) -> None:
        """Take ``item`` out of the checks under ``anchor``, dropping what is left empty."""
        posting = self._postings[anchor[0]]
        if len(anchor) == 1:
            checks = posting.checks
            assert checks is not None
            checks.drop(item)
            if checks.empty():
                posting.checks = None
        else:
            assert posting.inner is not None
            inner = posting.inner[anchor[1]]
            inner.drop(item)
            if inner.empty():
                posting.drop_inner(anchor[1])
        if posting.empty():
            del self._postings[anchor[0]]

    def _cases(self, keyed: Keyed) -> tuple[_Case, ...] | None:
        """The cases of a query decided by set operations on keys, each anchored (None for a
        query of another shape, or with too many cases).  A case is anchored under its rarest
        keys however common they are: found there, it costs a set operation at most, never
        more than walking its query for every article from the always-check set would."""
        shape = _conjunction(keyed)
        if shape is None:
            return None
        required, excluded, one_of_each = shape
        leaves = list(_term_leaves(keyed))
        cases = []
        for chosen in _choices(one_of_each):
            present = frozenset(required).union(*chosen)
            absent = frozenset(excluded).union(
                *(set(keys) - set(picked) for keys, picked in zip(one_of_each, chosen, strict=True))
            )
            if present & absent:
                continue  # cannot hold
            anchor = self._anchor(present, common=True)
            assert anchor is not None  # a case has a key
            terms = tuple(dict.fromkeys(text for key, text in leaves if key in present))
            cases.append(_Case(anchor, present, absent, terms))
        return tuple(cases) if cases else None

    def _anchors(self, keyed: Keyed) -> set[Anchor | None]:
        """Where a query is indexed: one anchor per alternative (None: always check)."""
        alternatives = required_keys(keyed)
        if alternatives is None:
            return {None}
        return {self._anchor(keys) for keys in alternatives}

    def _anchor(self, keys: frozenset[str], *, common: bool = False) -> Anchor | None:
        """The rarest key of ``keys``, or the two rarest; None if there are none, or (unless
        ``common``) if they are estimated to be in more than ``always_threshold`` of articles."""
        if len(keys) == 1:  # the common case, quicker
            (key,) = keys
            return (key,) if common or self._key_df(key) <= self._always_threshold else None
        ranked = sorted((self._key_df(key), key) for key in keys)[:2]
        estimate = 1.0
        for frequency, _ in ranked:
            estimate *= frequency
        if not ranked or (estimate > self._always_threshold and not common):
            return None
        return tuple(key for _, key in ranked)

    def _key_df(self, key: str) -> float:
        """The estimated share of articles with ``key``: a pair of words is at most as common
        as the rarer word, a title word at most as common as the word."""
        if key.startswith(TITLE):
            key = key[len(TITLE) :]
        if " " in key:
            return min(self._token_stats.df(word) for word in key.split())
        return self._token_stats.df(key)

    # --- matching -------------------------------------------------------------------------

    def match(self, article: MatchArticle) -> list[Match]:
        """The alerts ``article`` matches, each with its matched terms (in no particular order)."""
        if self._pending:
            self._lay_out()
        seen = ArticleKeys(article, postings=self._postings)
        answer, exact, conditions, checked = self._look_up(seen.keys, cast(list, seen.found))
        found = len(answer) - exact
        matched = _verify(checked, seen, answer)
        counters = self._counters
        counters["articles"] += 1
        counters["conditions"] += conditions
        counters["condition_matches"] += found
        counters["verified"] += len(checked)
        counters["verified_matched"] += matched
        counters["exact_matches"] += exact
        counters["matches"] += len(answer)
        return answer

    def _look_up(
        self, keys: set[str], found: list[_Posting]
    ) -> tuple[list[Match], int, int, set[_Group]]:
        """What the article's keys and their postings (``found``) find: the matches of exact
        cases followed by those of the conditional cases that hold, how many of them are exact,
        how many conditions were checked, and the groups to verify (anchored under its keys,
        and the always-check set).

        Exact cases are taken for all the keys at once and the conditions are checked with
        C-level ``map``, ``chain``, ``compress`` and set operations: no Python frame or loop
        turn per anchor or per case, only one per posting that has checks."""
        isdisjoint, intersection = keys.isdisjoint, keys.intersection
        answer = list(chain.from_iterable(map(_MATCHES, found)))
        # Most postings found anchor nothing under a pair, or none of their pairs' second keys
        # is here (at 1M alerts an article finds ~190 postings and ~14 of their pairs): one
        # disjointness test each against all their second keys, which makes no set, finds
        # the few that have some, whether their pairs hold matches or checks.
        paired = list(compress(found, map(not_, map(isdisjoint, map(_SECONDS, found)))))
        exact_pairs = list(filter(_PAIRS, paired))
        answer.extend(chain.from_iterable(_under(exact_pairs, _PAIRS, _PAIR_LOOKUP, keys)))
        exact = len(answer)
        take = answer.extend
        conditions = 0
        checked: set[_Group] = set(self._always)
        update = checked.update
        to_check = list(filter(None, map(_CHECKS, found)))
        checked_pairs = list(filter(_INNER, paired))
        to_check.extend(_under(checked_pairs, _INNER, _INNER_LOOKUP, keys))
        for checks in to_check:
            conds = checks.conds
            if conds is not None:  # quiet cases: each holds when none of its keys is here
                conditions += len(conds.watch)
                if isdisjoint(conds.union):
                    # None of the keys any of them excludes: all hold (the usual answer), one
                    # test for them all, and their matches are in one tuple.
                    take(conds.all if conds.all is not None else conds.gather())
                else:
                    take(chain.from_iterable(compress(conds.matches, map(isdisjoint, conds.watch))))
            conds = checks.loud
            if conds is not None:
                conditions += len(conds.watch)
                # Each on its own, unless a common key all of them exclude is here: then none.
                if isdisjoint(conds.veto):
                    if conds.needs:
                        holds = map(eq, map(intersection, conds.watch), conds.rest)
                    else:
                        holds = map(isdisjoint, conds.watch)
                    take(chain.from_iterable(compress(conds.matches, holds)))
            if checks.groups:
                update(checks.groups)
        return answer, exact, conditions, checked

    def stats(self) -> dict[str, int | float]:
        """Sizes and running counters: how big the index is and how much it checks.

        ``conditions`` counts conditional cases checked (one C-level set operation each),
        ``verified`` groups (distinct queries) checked by walking their tree, and
        ``verified_matched`` those that matched; matches of exact cases need no check."""
        if self._pending:
            self._lay_out()
        counters = self._counters
        return {
            "alerts": len(self._alerts),
            "programs": len(self._groups),
            "exact_programs": sum(
                1
                for group in self._groups.values()
                if group.cases and not any(case.watch for case in group.cases)
            ),
            "case_programs": sum(1 for group in self._groups.values() if group.cases),
            "always_check": len(self._always),
            "anchor_keys": sum(1 for p in self._postings.values() if p.anchors()),
            "pair_anchors": sum(len(p.seconds) for p in self._postings.values()),
            **counters,
            "candidates_per_match": counters["verified"] / max(1, counters["verified_matched"]),
        }


def _choices(one_of_each: tuple[tuple[str, ...], ...]) -> Iterator[tuple[tuple[str, ...], ...]]:
    """Each way of picking which keys of each OR are present (at least one of each)."""
    subsets = [
        [picked for size in range(1, len(keys) + 1) for picked in combinations(keys, size)]
        for keys in map(dict.fromkeys, one_of_each)  # each key once: `a OR a` has one case
    ]
    total = 1
    for options in subsets:
        total *= len(options)
    if total > MAX_CASES:
        return iter(())
    return product(*subsets)


def _verify(checked: Iterable[_Group], article: ArticleKeys, answer: list[Match]) -> int:
    """Add the matches of the ``checked`` groups that hold to ``answer``; return how many held."""
    keys = article.keys
    append, extend = answer.append, answer.extend
    make = tuple.__new__
    held = 0
    for group in checked:
        if not _holds(group.keyed, keys, article):
            continue
        held += 1
        leaves = group.term_leaves
        if leaves is None:
            extend(group.members)
            continue
        terms = leaves.found(keys, article)
        members = group.members
        if len(members) == 1:
            append(make(Match, (members[0], terms)))
        else:
            extend(map(make, repeat(Match), zip(members, repeat(terms))))
    return held


class _Conds:
    """The conditional cases under one posting, in parallel lists so that an article checks
    them all with ``map`` and ``compress``: the keys each watches, those of them it needs,
    and its matches."""

    __slots__ = ("watch", "rest", "matches", "needs", "union", "all", "vetoes", "veto")

    def __init__(self) -> None:
        self.watch: list[frozenset[str]] = []
        self.rest: list[frozenset[str]] = []
        self.matches: list[list[Match]] = []
        self.needs = 0  # how many cases need a key besides their anchor
        # When no case needs another key: every key some case watches, and the matches of all
        # the cases in one tuple (None until an article needs it after a change).  An article
        # with none of those keys takes them all at once.
        self.union: frozenset[str] = _NOTHING
        self.all: tuple[Match, ...] | None = None
        # Loud cases only: the common keys each excludes, and those all of them exclude.
        self.vetoes: list[frozenset[str]] | None = None
        self.veto: frozenset[str] = _NOTHING

    def take(self, case: _Case, veto: frozenset[str] | None = None) -> None:
        assert case.matches is not None
        if veto is not None:
            if self.vetoes is None:
                self.vetoes = []
            self.vetoes.append(veto)
            self.veto = veto if len(self.vetoes) == 1 else self.veto & veto
        self.watch.append(case.watch)
        self.rest.append(case.rest)
        self.matches.append(case.matches)
        self.needs += bool(case.rest)
        # One case (most anchors): its own set, not a copy.
        self.union = case.watch if len(self.watch) == 1 else self.union | case.watch
        self.all = None

    def has(self, case: _Case) -> bool:
        return any(each is case.matches for each in self.matches)

    def drop(self, case: _Case) -> None:
        position = next(i for i, each in enumerate(self.matches) if each is case.matches)
        del self.watch[position], self.rest[position], self.matches[position]
        self.needs -= bool(case.rest)
        if self.vetoes is not None:
            del self.vetoes[position]
            self.veto = frozenset.intersection(*self.vetoes) if self.vetoes else _NOTHING
        self.union = (
            self.watch[0] if len(self.watch) == 1 else frozenset().union(*self.watch) or _NOTHING
        )
        self.all = None

    def gather(self) -> tuple[Match, ...]:
        """The matches of all the cases, kept until a case's alerts change."""
        self.all = tuple(chain.from_iterable(self.matches))
        return self.all


class _Posting:
    """What is anchored under one key, alone or as the first of a pair: the ``Match`` of each
    alert of an exact case under the key (``matches``) and under the key and a second one
    (``pairs``, by second key), what needs a check under the key (``checks``) and under the
    key and a second one (``inner``, by second key), and ``seconds``: the second keys of both.

    Every posting has all the attributes, empty if need be, so that an article takes the
    matches of all its postings with ``map`` over them."""

    __slots__ = ("matches", "pairs", "seconds", "checks", "inner", "heads", "tails", "pending")

    def __init__(self) -> None:
        self.matches: tuple[Match, ...] = ()
        self.pairs: Mapping[str, tuple[Match, ...]] = _NO_PAIRS
        self.seconds: frozenset[str] = _NOTHING
        self.checks: _Checks | None = None
        self.inner: dict[str, _Checks] | None = None
        # Queries that need a word pair of the text starting (``heads``) or ending (``tails``)
        # with this key: an article forms only the pairs of a head and a tail.
        self.heads = 0
        self.tails = 0
        # While the index is loading: the alert id and the case of each match noted.
        self.pending: list[Any] | None = None

    def note_match(self, alert_id: int, case: _Case) -> None:
        """Note the match of ``alert_id`` for a ``case`` anchored here (made by ``lay_out``)."""
        assert self.pending is not None
        self.pending += (alert_id, case)
        if case.matches is None and len(case.anchor) > 1:
            if not self.pairs:
                self.pairs = {}
            self._add_second(case.anchor[1])

    def lay_out(self) -> list[Any]:
        """Make the matches noted, side by side, and add them to the others; return the
        notes.  They are all made before any is added: a failure adds none."""
        noted = self.pending or []
        make = tuple.__new__
        alone: list[Match] = []
        by_second: dict[str, list[Match]] = {}
        # A conditional case's go to its list, in two lists (a pair each would be a small
        # object made between the matches, and put them apart).
        cases: list[list[Match]] = []
        conditional: list[Match] = []
        entries = iter(noted)
        for alert_id, case in zip(entries, entries, strict=True):
            match = make(Match, (alert_id, case.terms))
            if case.matches is not None:
                cases.append(case.matches)
                conditional.append(match)
            elif len(case.anchor) > 1:
                by_second.setdefault(case.anchor[1], []).append(match)
            else:
                alone.append(match)
        pairs = cast(dict[str, tuple[Match, ...]], self.pairs)
        joined = {second: pairs.get(second, ()) + tuple(made) for second, made in by_second.items()}
        together = self.matches + tuple(alone)
        # Nothing above changed the index; below, nothing can fail but for want of memory.
        self.matches = together
        if joined:
            pairs.update(joined)
        for matches, match in zip(cases, conditional, strict=True):
            matches.append(match)
        if cases:  # the quiet cases' matches gathered together are out of date
            for checks in (self.checks, *(self.inner or {}).values()):
                if checks is not None and checks.conds is not None:
                    checks.conds.all = None
        self.pending = None
        return noted

    def drop_match(self, rest: tuple[str, ...], alert_id: int) -> None:
        """Remove the match of ``alert_id`` under this key alone (``rest`` empty) or with a
        second key (an alert has one match at most under one anchor)."""
        if not rest:
            self.matches = _without(self.matches, alert_id)
            return
        (second,) = rest
        pairs = cast(dict[str, tuple[Match, ...]], self.pairs)
        pairs[second] = _without(pairs[second], alert_id)
        if not pairs[second]:
            del pairs[second]
            if not pairs:
                self.pairs = _NO_PAIRS
            self._drop_second(second)

    def inner_checks(self, second: str) -> _Checks:
        """The checks of the pair (this key, ``second``), made empty if new."""
        if self.inner is None:
            self.inner = {}
        checks = self.inner.get(second)
        if checks is None:
            checks = self.inner[second] = _Checks()
            self._add_second(second)
        return checks

    def drop_inner(self, second: str) -> None:
        assert self.inner is not None
        del self.inner[second]
        if not self.inner:
            self.inner = None
        self._drop_second(second)

    def _add_second(self, second: str) -> None:
        if second not in self.seconds:
            self.seconds = self.seconds | {second}

    def _drop_second(self, second: str) -> None:
        """Forget ``second`` unless the pairs or the checks still have it."""
        if second not in self.pairs and (self.inner is None or second not in self.inner):
            self.seconds = self.seconds - {second} or _NOTHING

    def anchors(self) -> bool:
        """Whether anything is anchored here (a posting may be kept only for ``heads`` or
        ``tails``)."""
        return bool(self.matches or self.pairs or self.checks or self.inner)

    def empty(self) -> bool:
        return not (self.heads or self.tails or self.anchors())


_NO_PAIRS: Mapping[str, tuple[Match, ...]] = MappingProxyType({})
_MATCHES = attrgetter("matches")
_CHECKS = attrgetter("checks")
_PAIRS = attrgetter("pairs")
_PAIR_LOOKUP = attrgetter("pairs.__getitem__")
_INNER = attrgetter("inner")
_INNER_LOOKUP = attrgetter("inner.__getitem__")
_SECONDS = attrgetter("seconds")
_HEADS = attrgetter("heads")
_TAILS = attrgetter("tails")
_SECOND = itemgetter(1)


def _under(
    holders: list[_Posting], by_second: attrgetter[Any], lookup: attrgetter[Any], keys: set[str]
) -> Iterator[Any]:
    """What ``holders`` hold in their ``by_second`` mapping under the second keys in ``keys``:
    C-level, without a Python frame per holder or pair."""
    seconds_here = map(keys.intersection, map(by_second, holders))
    return chain.from_iterable(map(map, map(lookup, holders), seconds_here))


def _without(matches: tuple[Match, ...], alert_id: int) -> tuple[Match, ...]:
    position = next(i for i, each in enumerate(matches) if each[0] == alert_id)
    return matches[:position] + matches[position + 1 :]


class _Checks:
    """What needs a check under one key, or under one pair of keys: the conditional cases
    and the groups to verify."""

    __slots__ = ("conds", "loud", "groups")

    def __init__(self) -> None:
        self.conds: _Conds | None = None  # quiet cases, none needing another key
        self.loud: _Conds | None = None  # the others, each checked on its own
        self.groups: list[_Group] | None = None

    def take_case(self, case: _Case, veto: frozenset[str] | None) -> None:
        """Add a quiet case (``veto`` None) or a loud one with the common keys it excludes."""
        if veto is not None:
            if self.loud is None:
                self.loud = _Conds()
            self.loud.take(case, veto)
            return
        if self.conds is None:
            self.conds = _Conds()
        self.conds.take(case)

    def take_group(self, group: _Group) -> None:
        if self.groups is None:
            self.groups = []
        self.groups.append(group)

    def drop(self, item: _Case | _Group) -> None:
        """Remove ``item`` (this very object)."""
        if type(item) is _Case:
            case = cast(_Case, item)
            if self.conds is not None and self.conds.has(case):
                self.conds.drop(case)
                if not self.conds.matches:
                    self.conds = None
                return
            assert self.loud is not None
            self.loud.drop(case)
            if not self.loud.matches:
                self.loud = None
            return
        assert self.groups is not None
        self.groups.remove(cast(_Group, item))  # groups compare by identity
        if not self.groups:
            self.groups = None

    def empty(self) -> bool:
        return not (self.conds or self.loud or self.groups)


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


@lru_cache(maxsize=1 << 16)
def keyed_query(query: str) -> Keyed:
    """The keyed form of a query string (``QueryError`` if it is not valid).  Cached: many
    readers share the popular queries, and a worker's start parses a million of them."""
    return keyed_form(compile_tree(parse(query)))


def keyed_form(program: Program) -> Keyed:
    """``program`` with every leaf that an article key decides replaced by that key.

    Phrases of three or more words and ``site:`` with a path stay program leaves."""
    op = program[0]
    if op in (TERM, TITLE_TERM):
        return sys.intern((TITLE if op == TITLE_TERM else "") + program[1])
    if op in (PHRASE, TITLE_PHRASE):
        words = program[1].split()
        if 1 <= len(words) <= 2:
            return sys.intern((TITLE if op == TITLE_PHRASE else "") + " ".join(words))
        return program
    if op == SITE:
        return sys.intern("site:" + program[1]) if program[1] and not program[2] else program
    if op == LANG:
        return sys.intern("lang:" + program[1]) if program[1] else program
    if op == NOT:
        return (NOT, keyed_form(program[1]))
    return (op, *(keyed_form(child) for child in program[1:]))


def required_keys(keyed: Keyed) -> list[frozenset[str]] | None:
    """Alternatives of keys a match needs: the article has all the keys of one of them.

    None when nothing can be required (a negation), or the query is too wide to expand.
    """
    if type(keyed) is str:
        return [frozenset((keyed,))]
    op = keyed[0]
    if op in (PHRASE, TITLE_PHRASE):
        words = keyed[1].split()
        prefix = TITLE if op == TITLE_PHRASE else ""
        pairs = {sys.intern(prefix + " ".join(pair)) for pair in pairwise(words)}
        return [frozenset(pairs)] if pairs else None
    if op == SITE:
        return [frozenset((sys.intern("site:" + keyed[1]),))] if keyed[1] else None
    if op == OR:
        return _required_any(keyed[1:])
    if op == AND:
        return _required_all(keyed[1:])
    return None


def _required_any(children: Iterable[Keyed]) -> list[frozenset[str]] | None:
    alternatives: list[frozenset[str]] = []
    for child in children:
        needed = required_keys(child)
        if needed is None:
            return None
        alternatives.extend(needed)
    return alternatives if len(alternatives) <= MAX_ALTERNATIVES else None


def _required_all(children: Iterable[Keyed]) -> list[frozenset[str]] | None:
    combined: list[frozenset[str]] | None = None
    for child in children:
        needed = required_keys(child)
        if needed is None:
            continue  # an AND may ignore a child: the rest is still required
        if combined is None:
            combined = needed
        elif len(combined) * len(needed) <= MAX_ALTERNATIVES:
            combined = [left | right for left, right in product(combined, needed)]
    return combined


Conjunction = tuple[tuple[str, ...], tuple[str, ...], tuple[tuple[str, ...], ...]]


def _conjunction(keyed: Keyed) -> Conjunction | None:
    """(keys required, keys excluded, groups of keys of which one each is required), when the
    query is just that: an AND of keys, ORs of keys, and negated keys or ORs of keys — or one
    such OR.  None for any other query (it is verified by walking its tree)."""
    if type(keyed) is str:
        return (keyed,), (), ()
    children = (keyed,) if keyed[0] == OR else keyed[1:] if keyed[0] == AND else ()
    required: list[str] = []
    excluded: list[str] = []
    one_of_each: list[tuple[str, ...]] = []
    for child in children:
        if type(child) is str:
            required.append(child)
        elif child[0] == OR and _keys_of_or(child) is not None:
            one_of_each.append(tuple(child[1:]))
        elif child[0] == NOT and _keys_of_or(child[1]) is not None:
            excluded.extend(_keys_of_or(child[1]) or ())
        else:
            return None
    if not required and not one_of_each:
        return None
    return tuple(required), tuple(excluded), tuple(one_of_each)


def _keys_of_or(keyed: Keyed) -> list[str] | None:
    """The keys of a key or an OR of keys (None for anything else)."""
    if type(keyed) is str:
        return [keyed]
    if keyed[0] == OR and all(type(child) is str for child in keyed[1:]):
        return list(keyed[1:])
    return None


def _is_term_key(key: str) -> bool:
    """Whether a key stands for a word or phrase (not a site or a language)."""
    return ":" not in key or key.startswith(TITLE)


def _term_leaves(keyed: Keyed) -> Iterator[tuple[Keyed, str]]:
    """(test, text) of each word and phrase outside any negation, in query order."""
    if type(keyed) is str:
        if _is_term_key(keyed):
            yield keyed, keyed.removeprefix(TITLE)
    elif keyed[0] in (AND, OR):
        for child in keyed[1:]:
            yield from _term_leaves(child)
    elif keyed[0] in (PHRASE, TITLE_PHRASE):
        yield keyed, keyed[1].strip()


def _fixed_terms(keyed: Keyed) -> tuple[str, ...] | None:
    """The matched terms of a query without OR (outside negations): all its words and phrases,
    whenever it matches.  None for a query with OR."""
    if _has_positive_or(keyed):
        return None
    return tuple(dict.fromkeys(text for _, text in _term_leaves(keyed)))


def _has_positive_or(keyed: Keyed) -> bool:
    if type(keyed) is str or keyed[0] not in (AND, OR):
        return False
    return keyed[0] == OR or any(_has_positive_or(child) for child in keyed[1:])


def _wanted_pairs(keyed: Keyed) -> Iterator[tuple[str, str]]:
    """The words of each word pair of the text that ``keyed`` may look for."""
    if isinstance(keyed, str):
        if " " in keyed and not keyed.startswith(TITLE):
            first, _, second = keyed.partition(" ")
            yield first, second
    elif keyed[0] == PHRASE:
        yield from pairwise(keyed[1].split())
    elif keyed[0] in (AND, OR, NOT):
        for child in keyed[1:]:
            yield from _wanted_pairs(child)


def _holds(keyed: Keyed, keys: set[str], article: ArticleKeys) -> bool:
    """Whether the article satisfies a keyed query (the reference evaluator's answer)."""
    if isinstance(keyed, str):
        return keyed in keys
    op = keyed[0]
    if op == AND:  # plain loops: faster than all()/any() over a generator on the hot path
        for child in keyed[1:]:  # noqa: SIM110
            if not _holds(child, keys, article):
                return False
        return True
    if op == OR:
        for child in keyed[1:]:  # noqa: SIM110
            if _holds(child, keys, article):
                return True
        return False
    if op == NOT:
        return not _holds(keyed[1], keys, article)
    return article.view().holds(keyed)


# --- the article side -----------------------------------------------------------------------


class ArticleKeys:
    """An article as the engine sees it: the set of its keys (its words, word pairs, title
    words and pairs, site and language), and the full view only if a query needs it."""

    __slots__ = ("keys", "found", "title", "text", "host", "path", "language", "_view")

    def __init__(
        self, article: MatchArticle, *, postings: Mapping[str, _Posting] | None = None
    ) -> None:
        """``postings``: an index's, or None for an article's every key.  With them, ``found``
        lists the postings of the article's keys, and the only word pairs of the text kept are
        those of a word whose posting has ``heads`` and one whose posting has ``tails`` (the
        title's pairs are all kept, it is short)."""
        self.host, self.path = url_host_path(article.url)
        self.title, self.text = analyze(article.title), analyze(article.text)
        self.language = article.language
        keys = set(self.text)
        keys.update(self.title)
        pairs: Iterable[tuple[str, str]] = pairwise(self.text)
        found: list[_Posting] | None = None
        if postings is not None:
            # Each distinct word is looked up in the (large, cold) postings once, for its
            # posting and for whether it starts or ends a wanted pair; the text's words then
            # in the small sets of those that do.  (At 1M alerts that keeps ~40 of ~155 pairs
            # whose first word starts some wanted pair: fewer strings made and probed.)
            hits = list(postings.keys() & keys)
            found = list(map(postings.__getitem__, hits))
            heads = set(compress(hits, map(_HEADS, found)))
            tails = set(compress(hits, map(_TAILS, found)))
            headed = list(compress(pairs, map(heads.__contains__, self.text)))
            pairs = compress(headed, map(tails.__contains__, map(_SECOND, headed)))
        # The other keys: pairs, title keys, site and language (never a word: each has a
        # space or a colon).
        others = set(map(" ".join, pairs))
        title_pairs = pair_keys(self.title)
        others.update(title_pairs)
        others.update(map(TITLE.__add__, self.title))
        others.update(map(TITLE.__add__, title_pairs))
        others.update(field_tokens(self.host, self.language))
        if found is not None and postings is not None:
            found.extend(map(postings.__getitem__, postings.keys() & others))
        keys |= others
        self.keys = keys
        self.found = found
        self._view: ArticleView | None = None

    def view(self) -> ArticleView:
        """The article in the forms a long phrase or a ``site:`` path is checked on."""
        if self._view is None:
            self._view = ArticleView(self.title, self.text, self.host, self.path, self.language)
        return self._view


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


def pair_keys(tokens: list[str]) -> list[str]:
    """The keys of adjacent word pairs: ``["kim", "jong", "un"]`` → ``["kim jong", "jong un"]``."""
    return list(map(" ".join, pairwise(tokens)))
