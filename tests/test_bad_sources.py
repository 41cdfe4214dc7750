"""Bad input through the whole pipeline: each broken source gets a clear `last_error` and a
backoff, the good source beside it is stored, and nothing stored is lost."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.httpserver import HTTPTestServer, Reply, serve
from tests.newsroom import Newsroom
from tidings.cli.sources import add_source
from tidings.clock import FrozenClock, as_utc, naive_utc
from tidings.config import Settings
from tidings.store.db import Database
from tidings.store.models import Article, Source
from tidings.worker import Extractor, Worker

START = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
MB = 1024 * 1024

BAD_SOURCES = {
    # path: (reply, kind, what last_error must say)
    "/invalid.xml": (Reply(body=b"<rss><channel><title>x</titl"), "feed", "invalid XML"),
    "/html.xml": (Reply(body=b"<!doctype html><html><body>Hi</body></html>",
                        content_type="text/html"), "feed", "expected a feed but got an HTML"),
    "/huge.xml": (Reply(body=iter([b"<rss>" + b" " * MB] + [b" " * MB] * 49)), "feed",
                  "larger than"),
    "/trickle.xml": (Reply(body=b"<rss>" + b" " * 64, chunk_size=4, trickle=0.25), "feed",
                     "timed out"),
    "/loop.xml": (Reply.redirect("/loop.xml"), "feed", "redirect"),
    "/busy.xml": (Reply(503, headers={"Retry-After": "7200"}), "feed", "HTTP 503"),
    "/gone.xml": (Reply(404), "feed", "HTTP 404"),
    "/no-article.html": (Reply(body=b"<html><body><nav>For Quick Alerts</nav></body></html>",
                               content_type="text/html"), "page", "no article"),
}  # fmt: skip


@pytest.fixture
def server() -> Iterator[HTTPTestServer]:
    with serve() as http_server:
        yield http_server


def add(db: Database, url: str, kind: str) -> int:
    with db.session() as session:
        source, _ = add_source(session, url, kind=kind)
        source.next_check_at = naive_utc(START)
        return source.id


@pytest.mark.timeout(120)
def test_broken_sources_fail_clearly_back_off_and_leave_the_good_one_alone(
    settings: Settings, db: Database, server: HTTPTestServer, extractor: Extractor
) -> None:
    room = Newsroom.generate(1, 2)
    good_feed = next(iter(room.feeds.values()))
    server.route("/good.xml", Reply(body=good_feed.rss(server.url("").rstrip("/")).encode()))
    for page in room.pages.values():
        server.route(page.path, Reply(body=page.html(server.url("").rstrip("/")).encode(),
                                      content_type="text/html"))
    server.route("/robots.txt", Reply(body=b"User-agent: *\nAllow: /\n"))
    good = add(db, server.url("/good.xml"), "feed")
    bad = {path: add(db, server.route(path, reply), kind)
           for path, (reply, kind, _) in BAD_SOURCES.items()}
    settings = dataclasses.replace(settings, fetch_timeout=1.0)
    clock = FrozenClock(START)
    with Worker(settings, db, clock=clock, extractor=extractor) as worker:
        reports = {r.source_id: r for r in worker.run_once()}
        assert reports[good].ok and reports[good].new_articles == 2
        with db.session() as session:
            for path, source_id in bad.items():
                source = session.get(Source, source_id)
                assert source is not None
                expected = BAD_SOURCES[path][2]
                assert source.status == "error", path
                assert source.last_error and expected in source.last_error, (path, source.last_error)
                assert source.error_count == 1 and source.claimed_by is None
                assert as_utc(source.next_check_at) >= START + timedelta(
                    seconds=settings.min_interval), path
            busy = session.get(Source, bad["/busy.xml"])
            assert busy is not None and as_utc(busy.next_check_at) >= START + timedelta(hours=2)
        # Retried after the backoff, failing again: the backoff grows; stored articles stay.
        clock.advance(hours=3)
        again = {r.source_id: r for r in worker.run_once()}
    assert set(bad.values()) <= set(again)
    with db.session() as session:
        gone = session.get(Source, bad["/gone.xml"])
        assert gone is not None and gone.error_count == 2
        assert gone.interval_seconds > settings.min_interval
        assert session.query(Article).count() == 2
