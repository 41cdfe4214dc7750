"""The pipeline end to end: real HTTP on 127.0.0.1, real extraction, SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.newsroom import Newsroom
from tidings.cli.sources import add_source
from tidings.clock import FrozenClock, as_utc
from tidings.config import Settings
from tidings.store.db import Database
from tidings.store.models import Article, FetchAttempt, Source, SourceEntry, Story
from tidings.worker import Extractor, Worker

START = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def room() -> Iterator[Newsroom]:
    newsroom = Newsroom.generate(feeds=2, articles_per_feed=3)
    with newsroom.serve():
        yield newsroom


@pytest.fixture
def worker(
    settings: Settings, db: Database, clock: FrozenClock, extractor: Extractor
) -> Iterator[Worker]:
    with Worker(settings, db, clock=clock, extractor=extractor) as w:
        yield w


def add(db: Database, url: str, kind: str = "feed") -> int:
    with db.session() as session:
        source, _ = add_source(session, url, kind=kind)
        source.next_check_at = START.replace(tzinfo=None)
        return source.id


def source_row(db: Database, source_id: int) -> Source:
    with db.session() as session:
        source = session.get(Source, source_id)
        assert source is not None
        return source


def count(db: Database, model: type) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_a_pass_stores_every_article_of_every_due_feed(
    db: Database, room: Newsroom, worker: Worker
) -> None:
    ids = [add(db, url) for url in room.feed_urls()]
    reports = worker.run_once()
    assert sorted(r.source_id for r in reports) == ids
    assert all(r.ok and r.new_articles == 3 for r in reports)
    with db.session() as session:
        articles = session.scalars(select(Article).order_by(Article.id)).all()
        assert len(articles) == 6
        for article in articles:
            page = room.pages[article.url.removeprefix(room.base_url)]
            assert article.title == page.title
            assert article.author == page.author
            assert page.paragraphs[0] in article.text
            assert "ALLOW NOTIFICATIONS" not in article.text
            assert article.story_id is not None
    for source_id in ids:
        source = source_row(db, source_id)
        assert source.status == "ok" and source.last_error is None
        assert as_utc(source.next_check_at) > START


def test_nothing_is_fetched_again_until_due_and_unchanged_entries_are_skipped(
    db: Database, room: Newsroom, worker: Worker, clock: FrozenClock
) -> None:
    [source_id] = [add(db, url) for url in room.feed_urls()[:1]]
    worker.run_once()
    assert worker.run_once() == []  # not due yet
    clock.now = as_utc(source_row(db, source_id).next_check_at) or START
    [report] = worker.run_once()
    assert report.ok and report.new_articles == 0 and report.updated_articles == 0
    page_requests = [p for p, n in room.requests.items() if p.startswith("/news/") and n > 1]
    assert page_requests == []
    assert count(db, Article) == 3


def test_an_article_updated_in_place_stays_the_same_article_and_story(
    db: Database, room: Newsroom, worker: Worker, clock: FrozenClock
) -> None:
    page = next(iter(room.pages.values()))
    source_id = add(db, room.base_url + page.path, kind="page")
    worker.run_once()
    with db.session() as session:
        before = session.scalars(select(Article)).one()
    page.paragraphs.append("Update: the council confirmed the figures on Monday evening.")
    clock.now = as_utc(source_row(db, source_id).next_check_at) or START
    [report] = worker.run_once()
    assert report.ok and report.updated_articles == 1
    with db.session() as session:
        after = session.scalars(select(Article)).one()
    assert (after.id, after.story_id) == (before.id, before.story_id)
    assert "confirmed the figures" in after.text
    assert count(db, Story) == 1


def test_a_broken_feed_gets_a_clear_error_and_backoff_without_stopping_others(
    db: Database, room: Newsroom, worker: Worker
) -> None:
    good = add(db, room.feed_urls()[0])
    missing = add(db, room.base_url + "/feeds/gone.xml")
    reports = {r.source_id: r for r in worker.run_once()}
    assert reports[good].ok and reports[good].new_articles == 3
    assert not reports[missing].ok
    broken = source_row(db, missing)
    assert broken.status == "error" and broken.error_count == 1
    assert broken.last_error is not None and "404" in broken.last_error
    assert as_utc(broken.next_check_at) > START
    with db.session() as session:
        attempts = session.scalars(
            select(FetchAttempt).where(FetchAttempt.source_id == missing)
        ).all()
    assert [a.status for a in attempts] == ["error"]
    assert count(db, Article) == 3


def test_a_failing_article_page_is_reported_but_the_rest_of_the_feed_is_stored(
    db: Database, room: Newsroom, worker: Worker
) -> None:
    feed = next(iter(room.feeds.values()))
    lost = feed.articles[1]
    del room.pages[lost.path]
    source_id = add(db, room.base_url + feed.path)
    [report] = worker.run_once()
    assert report.ok and report.new_articles == 2
    assert report.page_errors and lost.path in report.page_errors[0]
    source = source_row(db, source_id)
    assert source.status == "ok"
    assert source.last_error is not None and "404" in source.last_error
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(SourceEntry)) == 3


def test_the_same_story_from_two_feeds_is_one_story(
    db: Database, room: Newsroom, worker: Worker
) -> None:
    feeds = list(room.feeds.values())
    original = feeds[0].articles[0]
    copy = dataclasses.replace(original, path="/syndicated/copy", title=original.title + " (AP)")
    copy.paragraphs = list(original.paragraphs)
    copy.paragraphs[-1] = "Reporting by the wire service."
    room.pages[copy.path] = copy
    feeds[1].articles.append(copy)
    for url in room.feed_urls():
        add(db, url)
    worker.run_once()
    with db.session() as session:
        stories = {a.url.removeprefix(room.base_url): a.story_id
                   for a in session.scalars(select(Article))}
        story = session.get(Story, stories[original.path])
        assert story is not None and story.article_count == 2
    assert stories[copy.path] == stories[original.path]
    assert len(set(stories.values())) == 6


def test_expired_clock_lets_source_be_due_again(
    db: Database, room: Newsroom, worker: Worker, clock: FrozenClock
) -> None:
    source_id = add(db, room.feed_urls()[0])
    worker.run_once()
    next_check = as_utc(source_row(db, source_id).next_check_at)
    assert next_check is not None
    clock.now = next_check - timedelta(seconds=1)
    assert worker.run_once() == []
    clock.now = next_check
    assert [r.source_id for r in worker.run_once()] == [source_id]


def test_a_section_page_source_follows_its_article_links(
    db: Database, room: Newsroom, worker: Worker
) -> None:
    feed = next(iter(room.feeds.values()))
    links = "".join(f'<li><a href="{a.path}">{a.title}</a></li>' for a in feed.articles)
    section = (f"<html><body><header><nav><a href='/'>Home</a></nav></header>"
               f"<main><h1>World</h1><ul>{links}</ul></main></body></html>")
    room.extra["/world/"] = section
    source_id = add(db, room.base_url + "/world/", kind="section")
    [report] = worker.run_once()
    assert report.ok and report.new_articles == 3, report
    with db.session() as session:
        urls = {a.url.removeprefix(room.base_url)
                for a in session.scalars(select(Article).where(Article.source_id == source_id))}
    assert urls == {a.path for a in feed.articles}


class FailingHook:
    """An after-store hook that fails for one source's articles, as a bug or a lost database
    connection would, while ``failing`` is set."""

    def __init__(self, source_id: int) -> None:
        self.source_id, self.failing = source_id, True

    def __call__(self, session: Session, article: Article) -> None:
        if self.failing and article.source_id == self.source_id:
            raise RuntimeError("the after-store hook failed")


def stored_by_source(db: Database) -> dict[int | None, int]:
    with db.session() as session:
        rows = session.execute(select(Article.source_id, func.count()).group_by(Article.source_id))
        return {source_id: n for source_id, n in rows}


def test_a_failed_transaction_stores_and_remembers_nothing_so_its_pages_come_again(
    settings: Settings, db: Database, room: Newsroom, clock: FrozenClock, extractor: Extractor
) -> None:
    source_id = add(db, room.feed_urls()[0])
    hook = FailingHook(source_id)
    with Worker(settings, db, clock=clock, extractor=extractor, after_store=[hook]) as worker:
        with pytest.raises(RuntimeError, match="after-store hook failed"):
            worker.run_once()
        assert count(db, Article) == 0 and count(db, SourceEntry) == 0 and count(db, Story) == 0
        hook.failing = False
        clock.advance(seconds=settings.claim_lease + 1)  # the failed check's claim runs out
        [report] = worker.run_once()
    assert report.ok and report.new_articles == 3
    assert count(db, Article) == 3 and count(db, SourceEntry) == 3


def test_one_sources_failed_batch_leaves_the_other_sources_articles_stored(
    settings: Settings, db: Database, room: Newsroom, clock: FrozenClock, extractor: Extractor
) -> None:
    good, bad = (add(db, url) for url in room.feed_urls())
    with (
        Worker(settings, db, clock=clock, extractor=extractor, after_store=[FailingHook(bad)])
        as worker,
        pytest.raises(RuntimeError, match="after-store hook failed"),
    ):
        worker.run_once()
    assert stored_by_source(db) == {good: 3}
    with db.session() as session:
        remembered = session.scalars(select(SourceEntry.source_id)).all()
    assert remembered == [good] * 3
