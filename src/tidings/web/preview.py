"""The alert preview of the web app: recent articles indexed in memory, fed as new ones arrive.

``LivePreview`` loads the articles of the last days on first use, then before each preview
reads the articles stored since (``id`` above its cursor, with a look back over the last
``RESCAN`` ids for rows committed out of id order by concurrent workers).  Every web process
keeps its own; the database is the only thing they share.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from tidings.alerts.model import MatchArticle
from tidings.alerts.preview import ARTICLE_COLUMNS, DEFAULT_DAYS, RecentArticles, match_article
from tidings.clock import Clock, naive_utc
from tidings.delivery.snippets import make_snippet
from tidings.store.db import Database
from tidings.store.models import Article

RESCAN = 500  # ids looked back at each catch-up
PRUNE_EVERY = timedelta(hours=1)
BATCH = 2000


@dataclass(frozen=True)
class PreviewArticle:
    """One matched article as the preview shows it, matched terms marked in the snippet."""

    id: int
    title: str
    title_html: str
    url: str
    source: str | None
    published: datetime | None
    fetched_at: datetime
    terms: tuple[str, ...]
    snippet_html: str


class LivePreview:
    """``RecentArticles`` kept current from the ``articles`` table; safe across threads."""

    def __init__(self, db: Database, clock: Clock, *, days: int = DEFAULT_DAYS) -> None:
        self.db, self.clock, self.days = db, clock, days
        self.recent = RecentArticles(clock)
        self._known: set[int] = set()
        self._cursor = 0
        self._pruned_at = clock()
        self._lock = threading.Lock()

    def preview(
        self, query: str, *, days: int, limit: int = 20
    ) -> tuple[int, list[PreviewArticle]]:
        """How many recent articles ``query`` matches and the newest ``limit`` of them.
        ``QueryError`` for a query the alert language refuses."""
        with self._lock:
            self.catch_up()
            result = self.recent.preview(query, days=min(days, self.days), limit=limit)
        terms = {int(m.article_id): m.terms for m in result.matches}
        return result.total, self._articles(terms)

    def catch_up(self) -> int:
        """Index the articles stored since the last call (all recent ones the first time)."""
        if self.clock() - self._pruned_at > PRUNE_EVERY:
            self._prune()
        since = naive_utc(self.clock() - timedelta(days=self.days))
        after, added = max(0, self._cursor - RESCAN), 0
        while True:
            rows = self._read_after(after, since)
            added += self._add([row for row in rows if int(row[0].id) not in self._known])
            if len(rows) < BATCH:
                break
            after = int(rows[-1][0].id)
        self._known = {i for i in self._known if i > self._cursor - RESCAN}
        return added

    def _read_after(self, after: int, since: datetime) -> list[tuple[MatchArticle, datetime]]:
        query = (
            select(*ARTICLE_COLUMNS)
            .where(Article.id > after, Article.fetched_at >= since)
            .order_by(Article.id)
            .limit(BATCH)
        )
        with self.db.sessions() as session:
            rows = session.execute(query).all()
        return [(match_article(r), r.fetched_at) for r in rows]

    def _add(self, batch: list[tuple[MatchArticle, datetime]]) -> int:
        for article, fetched_at in batch:
            self.recent.add(article, fetched_at)
            self._known.add(int(article.id))
            self._cursor = max(self._cursor, int(article.id))
        return len(batch)

    def _prune(self) -> None:
        self.recent.prune(days=self.days)
        self._pruned_at = self.clock()

    def _articles(self, terms: dict[int, tuple[str, ...]]) -> list[PreviewArticle]:
        if not terms:
            return []
        with self.db.sessions() as session:
            rows = {a.id: a for a in session.scalars(select(Article).where(Article.id.in_(terms)))}
        return [_shown(rows[i], terms[i]) for i in terms if i in rows]


def _shown(article: Article, terms: tuple[str, ...]) -> PreviewArticle:
    title = article.title or ""
    return PreviewArticle(
        id=article.id,
        title=title,
        title_html=make_snippet(title, list(terms), size=len(title) + 1).html,
        url=article.url,
        source=article.sitename,
        published=article.published,
        fetched_at=article.fetched_at,
        terms=terms,
        snippet_html=make_snippet(article.text or "", list(terms)).html,
    )
