"""WebSub in the pipeline: a feed naming a hub gets subscribed; a signed push makes it due now."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from tests.httpserver import HTTPTestServer, Reply, serve
from tests.newsroom import Newsroom
from tests.sources.test_websub import Hub, served
from tidings.cli.sources import add_source
from tidings.clock import FrozenClock, as_utc
from tidings.config import Settings
from tidings.store.db import Database
from tidings.store.models import Source
from tidings.web.app import create_app
from tidings.worker import Extractor, Worker

START = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)


def feed_with_hub(server: HTTPTestServer, article_url: str) -> bytes:
    return f"""<?xml version="1.0"?>
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel>
<title>Pushed news</title><link>{server.url('/')}</link>
<atom:link rel="hub" href="{server.url('/hub')}"/>
<atom:link rel="self" href="{server.url('/feed.rss')}"/>
<item><title>One</title><link>{article_url}</link><guid>{article_url}</guid></item>
</channel></rss>""".encode()


@pytest.fixture
def server() -> Iterator[HTTPTestServer]:
    with serve() as http_server:
        yield http_server


def test_a_feed_with_a_hub_is_subscribed_and_a_push_makes_it_due_now(
    settings: Settings, db: Database, server: HTTPTestServer, extractor: Extractor
) -> None:
    clock = FrozenClock(START)
    article = next(iter(Newsroom.generate(1, 1).pages.values()))
    page = article.html(server.url("").rstrip("/")).encode()
    article_url = server.route("/a1", Reply(200, page, content_type="text/html"))
    feed = feed_with_hub(server, article_url)
    server.route("/feed.rss", Reply(200, feed, content_type="application/rss+xml"))
    hub = Hub(feed)
    server.route("/hub", hub)
    with served(create_app(settings, db, clock=clock)) as web_url:
        settings = dataclasses.replace(settings, base_url=web_url)
        with db.session() as session:
            source, _ = add_source(session, server.url("/feed.rss"))
            source.next_check_at = START.replace(tzinfo=None)
        with Worker(settings, db, clock=clock, extractor=extractor) as worker:
            [report] = worker.run_once()
            assert report.ok and report.new_articles == 1
            assert hub.done.wait(10), "the worker never subscribed at the hub"
            assert hub.form["hub.callback"] == f"{web_url}/websub/{source.id}"
            assert hub.form["hub.topic"] == server.url("/feed.rss")
            assert hub.verification is not None and hub.verification.text == "c-4242"
            assert hub.push is not None and hub.push.status_code == 204
            with db.session() as session:
                pushed = session.get(Source, source.id)
                assert pushed is not None
                assert as_utc(pushed.next_check_at) == START  # due now, not at the next poll
                assert as_utc(pushed.websub_lease_until) is not None
            [again] = worker.run_once()
            assert again.ok
    assert len(server.requests_to("/feed.rss")) == 2
    assert len(server.requests_to("/hub")) == 1  # subscribed once: the lease is still long
