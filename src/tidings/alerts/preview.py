"""Preview: what an alert being written would have matched among recently stored articles.

``RecentArticles`` keeps an in-memory inverted index over the articles of the last days: for
each token (and each ``site:``/``lang:`` pseudo-token) the ascending positions of the articles
that contain it, plus each article's analysed title and text, compressed.  A query is evaluated
as set algebra over those postings, each step restricted to what the steps before it left
(words first, phrases next, negations last), so it never scans the whole window unless the
query is that wide.  Phrases and site paths are then checked against the candidates' own text
and URL.  The few articles shown are verified once more with the engine's evaluator, which
also reports the terms to highlight.
"""

from __future__ import annotations

import zlib
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from tidings.alerts.analysis import analyze
from tidings.alerts.engine import (
    AND,
    LANG,
    NOT,
    OR,
    PHRASE,
    SITE,
    TERM,
    TITLE_PHRASE,
    TITLE_TERM,
    ArticleView,
    Program,
    compile_tree,
    field_tokens,
)
from tidings.alerts.model import MatchArticle, site_matches, url_host_path
from tidings.alerts.query import Node, parse
from tidings.clock import Clock, as_utc, utcnow
from tidings.store.db import Database
from tidings.store.models import Article

DEFAULT_DAYS = 7


# What a preview index reads of a stored article (``match_article`` turns a row into one).
ARTICLE_COLUMNS = (
    Article.id, Article.title, Article.text, Article.url, Article.language, Article.fetched_at
)


def match_article(row: Any) -> MatchArticle:
    """A row of ``ARTICLE_COLUMNS`` as the matcher sees it."""
    return MatchArticle(row.id, row.title, row.text, row.url, row.language)


@dataclass(frozen=True)
class PreviewMatch:
    article_id: int | str
    terms: tuple[str, ...]


@dataclass(frozen=True)
class Preview:
    """How many recent articles the query matches, and the newest of them with their terms."""

    total: int
    matches: list[PreviewMatch]


class RecentArticles:
    """The articles of the last days, indexed for previewing alerts as they are typed."""

    def __init__(self, clock: Clock = utcnow) -> None:
        self.clock = clock
        self._postings: dict[str, array[int]] = {}
        self._title_postings: dict[str, array[int]] = {}
        self._ids: list[int | str] = []
        self._times: list[float] = []
        self._texts: list[bytes] = []
        self._sites: list[tuple[str, str]] = []
        self._languages: list[str | None] = []

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, article: MatchArticle, stored_at: datetime) -> None:
        """Index one article, stored (fetched) at ``stored_at``."""
        title, text = analyze(article.title), analyze(article.text)
        blob = zlib.compress(f"{' '.join(title)}\n{' '.join(text)}".encode(), 1)
        at = as_utc(stored_at).timestamp()  # type: ignore[union-attr]
        self._append(
            article.id, at, blob, url_host_path(article.url), article.language, title, text
        )

    def load(self, db: Database, *, days: int = DEFAULT_DAYS, batch: int = 2000) -> int:
        """Index the stored articles of the last ``days`` days, oldest first; return how many."""
        since = (self.clock() - timedelta(days=days)).replace(tzinfo=None)
        query = (
            select(*ARTICLE_COLUMNS)
            .where(Article.fetched_at >= since)
            .order_by(Article.fetched_at, Article.id)
            .execution_options(yield_per=batch)
        )
        with db.sessions() as session:
            for row in session.execute(query):
                self.add(match_article(row), row.fetched_at)
        return len(self)

    def preview(self, query: str | Node, *, days: int = DEFAULT_DAYS, limit: int = 20) -> Preview:
        """What ``query`` matches among articles stored in the last ``days`` days, newest first.

        ``QueryError`` if the query is not valid (the message says what and where).
        """
        program = compile_tree(parse(query) if isinstance(query, str) else query)
        selected = self._select(program, self._window(days))
        matched = sorted(selected, key=lambda p: (self._times[p], p), reverse=True)
        shown = [self._shown(position, program) for position in matched[:limit]]
        return Preview(len(matched), [match for match in shown if match is not None])

    def prune(self, *, days: int = DEFAULT_DAYS) -> int:
        """Forget articles older than ``days`` days (rebuilds the postings); return how many."""
        keep = sorted(self._window(days))
        old = (self._ids, self._times, self._texts, self._sites, self._languages)
        self.__init__(self.clock)  # type: ignore[misc]
        ids, times, texts, sites, languages = old
        for position in keep:
            title, _, text = zlib.decompress(texts[position]).decode().partition("\n")
            site, language = sites[position], languages[position]
            blob, at = texts[position], times[position]
            self._append(ids[position], at, blob, site, language, title.split(), text.split())
        return len(old[0]) - len(keep)

    def _append(
        self,
        article_id: int | str,
        at: float,
        blob: bytes,
        site: tuple[str, str],
        language: str | None,
        title: list[str],
        text: list[str],
    ) -> None:
        self._index(len(self._ids), title, text, site[0], language)
        self._ids.append(article_id)
        self._times.append(at)
        self._texts.append(blob)
        self._sites.append(site)
        self._languages.append(language)

    def _index(
        self, position: int, title: list[str], text: list[str], host: str, language: str | None
    ) -> None:
        _post(self._postings, set(title).union(text, field_tokens(host, language)), position)
        _post(self._title_postings, set(title), position)

    def _window(self, days: int) -> set[int]:
        cutoff = (self.clock() - timedelta(days=days)).timestamp()
        return {position for position, at in enumerate(self._times) if at >= cutoff}

    def _shown(self, position: int, program: Program) -> PreviewMatch | None:
        view = self._view(position)
        if not view.holds(program):  # the set algebra and the evaluator must agree
            return None
        return PreviewMatch(self._ids[position], tuple(view.matched_terms(program)))

    def _view(self, position: int) -> ArticleView:
        title, text = self._analysed(position)
        host, path = self._sites[position]
        return ArticleView(title.split(), text.split(), host, path, self._languages[position])

    def _analysed(self, position: int) -> tuple[str, str]:
        title, _, text = zlib.decompress(self._texts[position]).decode().partition("\n")
        return title, text

    # --- set algebra over postings ---------------------------------------------------------

    def _select(self, program: Program, within: set[int]) -> set[int]:
        """The positions in ``within`` whose articles satisfy ``program``."""
        op = program[0]
        if op == AND:
            for child in sorted(program[1:], key=_cost):
                within = self._select(child, within)
            return within
        if op == OR:
            return set().union(*(self._select(child, within) for child in program[1:]))
        if op == NOT:
            return within - self._select(program[1], within)
        if op in (TERM, TITLE_TERM):
            postings = self._title_postings if op == TITLE_TERM else self._postings
            return within.intersection(postings.get(program[1], ()))
        if op in (PHRASE, TITLE_PHRASE):
            return self._phrase(program, within)
        return self._field(program, within)

    def _phrase(self, program: Program, within: set[int]) -> set[int]:
        needle = program[1]
        candidates = self._containing(needle.split(), within)
        return {p for p in candidates if self._has_phrase(p, needle, program[0] == TITLE_PHRASE)}

    def _containing(self, tokens: Iterable[str], within: set[int]) -> set[int]:
        postings = sorted((self._postings.get(token, array("I")) for token in tokens), key=len)
        for posting in postings:
            within = within.intersection(posting)
        return within

    def _has_phrase(self, position: int, needle: str, title_only: bool) -> bool:
        title, text = self._analysed(position)
        return needle in f" {title} " or (not title_only and needle in f" {text} ")

    def _field(self, program: Program, within: set[int]) -> set[int]:
        if program[0] == LANG:
            return within.intersection(self._postings.get("lang:" + program[1], ()))
        assert program[0] == SITE
        host, path = program[1], program[2]
        candidates = within.intersection(self._postings.get("site:" + host, ()))
        return {p for p in candidates if site_matches(host, path, *self._sites[p])}


def _post(postings: dict[str, array[int]], tokens: Iterable[str], position: int) -> None:
    for token in tokens:
        posting = postings.get(token)
        if posting is None:
            postings[token] = array("I", (position,))
        else:
            posting.append(position)


def _cost(program: Program) -> int:
    """Order of evaluation inside an AND: cheap restrictions first, negations last."""
    return {
        TERM: 0,
        TITLE_TERM: 0,
        LANG: 1,
        SITE: 1,
        OR: 2,
        AND: 2,
        PHRASE: 3,
        TITLE_PHRASE: 3,
    }.get(program[0], 4)
