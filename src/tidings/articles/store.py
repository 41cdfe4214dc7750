"""Storing extracted articles: identity, learned boilerplate, story — a batch at a time.

An article is known by its canonical URL (``identity``): the same URL again is the same
article, updated in place when its title or text changed, and it keeps its story.  A new
article is written once, with its story and MinHash.

A batch costs a handful of statements whatever its size: one read of the known URLs, the
source's boilerplate counts (``learn_and_strip_many``), the story index's (``StoryIndex.place``:
a refresh, one UPDATE of the joined stories, one INSERT of the new ones) and one multi-row
INSERT of the new articles.  The caller owns the transaction — and with it the outbox rule:
its after-store hooks write in the same one — and, once it has committed, puts the new
articles in the story index (``StoredArticle.index``), so a rolled-back batch leaves nothing
behind there.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from datasketch import LeanMinHash
from sqlalchemy import Table, insert, select, update
from sqlalchemy.orm import Session

from tidings.articles.boilerplate import learn_and_strip_many
from tidings.articles.extract import ExtractedArticle, ExtractionError
from tidings.articles.stories import (
    StoryIndex,
    minhash_bytes,
    minhash_from_bytes,
    text_minhash,
)
from tidings.clock import naive_utc
from tidings.store.models import Article

_ARTICLES = cast(Table, Article.__table__)
_BATCH = 500  # URLs per IN (…): far below SQLite's and PostgreSQL's parameter limits
_COLUMNS = [column for column in _ARTICLES.c if column.name != "minhash"]
_INSERT = insert(_ARTICLES).returning(_ARTICLES.c.id, sort_by_parameter_order=True)


@dataclass
class StoredArticle:
    """An article as stored, for the after-store hooks (a detached ``Article``: no lazy loads),
    whether it is new, and what the story index needs once the transaction has committed."""

    article: Article
    created: bool
    minhash: LeanMinHash | None = None
    regrouped: bool = False  # new, or its text changed: the story index must (re)learn it

    def index(self, stories: StoryIndex) -> None:
        """Put the article in the story index (after the commit)."""
        if self.regrouped:
            a = self.article
            stories.add(a.id, a.story_id, self.minhash, a.fetched_at)


def identity(extracted: ExtractedArticle) -> str:
    """An article is known by its canonical URL (tracking parameters stripped)."""
    identity_url = extracted.canonical_url or extracted.url
    if not identity_url:
        raise ExtractionError("the page has no URL to know the article by")
    return identity_url


def store_articles(
    session: Session,
    batch: Sequence[tuple[int | None, ExtractedArticle]],
    *,
    stories: StoryIndex,
    min_pages: int,
    now: datetime,
) -> list[StoredArticle]:
    """Store a batch of extracted articles, each with the id of the source it came from (None:
    none, e.g. ``tidings extract``), in order — as storing them one at a time would."""
    stored: list[StoredArticle] = []
    for run in _runs_of_distinct_urls(batch):
        stored += _store_run(session, run, stories, min_pages, naive_utc(now))
    return stored


Item = tuple[int | None, ExtractedArticle]


def _runs_of_distinct_urls(batch: Sequence[Item]) -> Iterator[list[Item]]:
    """The batch cut where a URL comes again, so the second is stored after the first."""
    run: list[Item] = []
    urls: set[str] = set()
    for item in batch:
        url = identity(item[1])
        if url in urls:
            yield run
            run, urls = [], set()
        run.append(item)
        urls.add(url)
    if run:
        yield run


def _store_run(
    session: Session, run: list[Item], stories: StoryIndex, min_pages: int, now: datetime
) -> list[StoredArticle]:
    urls = [identity(extracted) for _source_id, extracted in run]
    known = _known(session, urls)
    texts = _without_boilerplate(session, run, [url not in known for url in urls], min_pages)
    stored = [
        _stored(known.get(url), source_id, url, extracted, text, now)
        for url, (source_id, extracted), text in zip(urls, run, texts, strict=True)
    ]
    _place(session, stories, [s for s in stored if s.article.story_id is None and s.regrouped])
    _write(session, stored)
    return stored


def _without_boilerplate(
    session: Session, run: list[Item], new: list[bool], min_pages: int
) -> list[str]:
    """Each article's text without its source's learned boilerplate (new pages counted)."""
    texts = [extracted.text for _source_id, extracted in run]
    by_source: dict[int, list[int]] = {}
    for i, (source_id, _extracted) in enumerate(run):
        if source_id is not None:
            by_source.setdefault(source_id, []).append(i)
    for source_id, positions in sorted(by_source.items()):  # sources locked in id order
        pages = [(texts[i], new[i]) for i in positions]
        stripped = learn_and_strip_many(session, source_id, pages, min_pages=min_pages)
        for i, text in zip(positions, stripped, strict=True):
            texts[i] = text
    return texts


def _stored(
    article: Article | None,
    source_id: int | None,
    url: str,
    extracted: ExtractedArticle,
    text: str,
    now: datetime,
) -> StoredArticle:
    """The article's new state (not written yet), and whether it is new or changed."""
    content_hash = _digest(f"{extracted.title}\n{text}")
    created = article is None
    if article is None:
        article = Article(source_id=source_id, url=url, fetched_at=now)
    elif article.content_hash == content_hash:
        return StoredArticle(article, created=False)  # unchanged: nothing to write
    minhash = (
        minhash_from_bytes(extracted.signature) if extracted.signature
        else text_minhash(text or extracted.title or "")
    )
    article.title = extracted.title or ""
    article.author = extracted.author
    article.published = naive_utc(extracted.published) if extracted.published else None
    article.sitename = extracted.sitename
    article.language = extracted.language
    article.text = text
    article.content_hash = content_hash
    article.minhash = minhash_bytes(minhash) if minhash is not None else None
    article.updated_at = now
    return StoredArticle(article, created=created, minhash=minhash, regrouped=True)


def _place(session: Session, stories: StoryIndex, ungrouped: list[StoredArticle]) -> None:
    """Find the stories of the articles that have none yet (new ones, all in one go)."""
    places = stories.place(session, [(s.minhash, s.article.title) for s in ungrouped])
    for stored, story_id in zip(ungrouped, places, strict=True):
        stored.article.story_id = story_id


def _write(session: Session, stored: list[StoredArticle]) -> None:
    """Insert the new articles (one multi-row INSERT, ids back in order), update the changed."""
    connection = session.connection()
    new = [s.article for s in stored if s.created]
    if new:
        ids = connection.execute(_INSERT, [_row(article) for article in new]).scalars()
        for article, article_id in zip(new, ids, strict=True):
            article.id = article_id
    for s in stored:
        if s.regrouped and not s.created:
            values = _row(s.article)
            connection.execute(
                update(_ARTICLES).where(_ARTICLES.c.id == s.article.id).values(values)
            )


def _row(article: Article) -> dict[str, Any]:
    names = (
        "source_id", "story_id", "url", "title", "author", "published", "sitename",
        "language", "text", "content_hash", "minhash", "fetched_at", "updated_at",
    )  # fmt: skip
    return {name: getattr(article, name) for name in names}


def _known(session: Session, urls: list[str]) -> dict[str, Article]:
    """The stored articles with these URLs (detached ``Article`` objects, MinHash left out)."""
    found: dict[str, Article] = {}
    for start in range(0, len(urls), _BATCH):
        rows = session.connection().execute(
            select(*_COLUMNS).where(_ARTICLES.c.url.in_(urls[start : start + _BATCH]))
        )
        for row in rows.mappings():
            found[row["url"]] = Article(**row)
    return found


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
