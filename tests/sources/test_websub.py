"""WebSub: subscribe at a real local hub, answer its verification, accept only signed pushes.

The callback app runs in uvicorn on 127.0.0.1; the hub is the test HTTP server, which on a
subscribe request verifies the intent and then pushes a signed feed, as a real hub does.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
from tests.httpserver import HTTPTestServer, RecordedRequest, Reply
from tests.servers import served

from tidings.clock import as_utc, naive_utc, utcnow
from tidings.config import Settings
from tidings.sources.http import Fetcher
from tidings.sources.websub import (
    callback_url,
    link_header_rels,
    sign,
    signature_valid,
    subscribe_source,
)
from tidings.store.db import Database
from tidings.store.models import Source
from tidings.web.websub import websub_app

FEED = (Path(__file__).parent.parent / "data" / "feeds" / "rss20.xml").read_bytes()


@dataclass
class Callback:
    base_url: str
    pushes: list[tuple[int, bytes, Mapping[str, str]]] = field(default_factory=list)

    def url(self, source_id: int) -> str:
        return callback_url(self.base_url, source_id)


@pytest.fixture
def callback(db: Database) -> Iterator[Callback]:
    """The WebSub callback app, recording what it hands to ``on_push``."""
    pushes: list[tuple[int, bytes, Mapping[str, str]]] = []
    app = websub_app(db, lambda sid, body, headers: pushes.append((sid, body, headers)))
    with served(app) as base_url:
        yield Callback(base_url, pushes)


def add_source(db: Database, hub: str | None, *, secret: str | None = None) -> int:
    now = naive_utc(utcnow())
    with db.session() as session:
        source = Source(url="https://news.example/feed.rss", hub_url=hub, websub_secret=secret,
                        next_check_at=now, created_at=now)  # fmt: skip
        session.add(source)
        session.flush()
        return source.id


def load(db: Database, source_id: int) -> Source:
    with db.session() as session:
        source = session.get(Source, source_id)
        assert source is not None
        session.expunge(source)
        return source


class Hub:
    """A hub: takes a subscription, verifies the intent at the callback, then pushes."""

    def __init__(self, push_body: bytes) -> None:
        self.push_body = push_body
        self.form: dict[str, str] = {}
        self.verification: httpx.Response | None = None
        self.push: httpx.Response | None = None
        self.done = threading.Event()

    def __call__(self, request: RecordedRequest) -> Reply:
        self.form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        threading.Thread(target=self._verify_and_push, daemon=True).start()
        return Reply(202)

    def _verify_and_push(self) -> None:
        try:
            params = {"hub.mode": "subscribe", "hub.topic": self.form["hub.topic"],
                      "hub.challenge": "c-4242", "hub.lease_seconds": "86400"}  # fmt: skip
            self.verification = httpx.get(self.form["hub.callback"], params=params)
            if self.verification.text == "c-4242":
                signature = sign(self.form["hub.secret"], self.push_body)
                self.push = httpx.post(self.form["hub.callback"], content=self.push_body,
                                       headers={"X-Hub-Signature": signature,
                                                "Content-Type": "application/rss+xml"})  # fmt: skip
        finally:
            self.done.set()


def test_subscribe_verify_and_receive_a_signed_push(
    db: Database, callback: Callback, http_server: HTTPTestServer
) -> None:
    hub = Hub(FEED)
    hub_url = http_server.route("/hub", hub)
    source_id = add_source(db, hub_url)
    with Fetcher(Settings.from_env({}, allow_private_networks=True)) as fetcher:
        subscription = subscribe_source(db, fetcher, source_id, base_url=callback.base_url,
                                        lease_seconds=86400)  # fmt: skip
    assert hub.done.wait(10)
    assert hub.form == {
        "hub.mode": "subscribe", "hub.topic": "https://news.example/feed.rss",
        "hub.callback": callback.url(source_id), "hub.secret": subscription.secret,
        "hub.lease_seconds": "86400",
    }  # fmt: skip
    assert len(subscription.secret) == 64
    assert hub.verification is not None and hub.verification.status_code == 200
    assert hub.push is not None and hub.push.status_code == 204
    assert [(sid, body) for sid, body, _ in callback.pushes] == [(source_id, FEED)]
    assert callback.pushes[0][2]["content-type"] == "application/rss+xml"
    lease = as_utc(load(db, source_id).websub_lease_until)
    assert lease is not None and abs(lease - (utcnow() + timedelta(days=1))) < timedelta(minutes=5)


def test_pushes_unsigned_or_badly_signed_are_refused_and_not_processed(
    db: Database, callback: Callback
) -> None:
    source_id = add_source(db, "https://hub.example/", secret="s3cret")
    url = callback.url(source_id)
    answers = [
        httpx.post(url, content=FEED).status_code,
        httpx.post(url, content=FEED, headers={"X-Hub-Signature": sign("wrong", FEED)}).status_code,
        httpx.post(url, content=FEED + b" ", headers={"X-Hub-Signature": sign("s3cret", FEED)}).status_code,
        httpx.post(url, content=FEED, headers={"X-Hub-Signature": "md5=abc"}).status_code,
    ]  # fmt: skip
    assert answers == [403, 403, 403, 403]
    assert callback.pushes == []
    good = httpx.post(
        url, content=FEED, headers={"X-Hub-Signature": sign("s3cret", FEED, "sha512")}
    )
    assert good.status_code == 204 and len(callback.pushes) == 1


def test_pushes_for_unknown_or_unsubscribed_sources_are_refused(
    db: Database, callback: Callback
) -> None:
    never = add_source(db, "https://hub.example/")
    signature = {"X-Hub-Signature": sign("anything", FEED)}
    assert httpx.post(callback.url(never), content=FEED, headers=signature).status_code == 404
    assert httpx.post(callback.url(99999), content=FEED, headers=signature).status_code == 404
    assert callback.pushes == []


def test_verification_is_echoed_only_for_a_subscription_we_asked_for(
    db: Database, callback: Callback
) -> None:
    ours = add_source(db, "https://hub.example/", secret="s3cret")

    def verify(source_id: int, **params: str) -> httpx.Response:
        return httpx.get(callback.url(source_id), params={"hub.challenge": "xyz", **params})

    topic = "https://news.example/feed.rss"
    assert verify(ours, **{"hub.mode": "subscribe", "hub.topic": topic}).text == "xyz"
    assert (
        verify(ours, **{"hub.mode": "subscribe", "hub.topic": "https://evil.example/"}).status_code
        == 404
    )
    assert verify(ours, **{"hub.mode": "unsubscribe", "hub.topic": topic}).status_code == 404
    assert verify(ours, **{"hub.mode": "bogus", "hub.topic": topic}).status_code == 404
    assert verify(4242, **{"hub.mode": "subscribe", "hub.topic": topic}).status_code == 404


def test_unsubscribe_is_confirmed_once_we_dropped_the_secret_and_denial_clears_it(
    db: Database, callback: Callback
) -> None:
    source_id = add_source(db, "https://hub.example/", secret="s3cret")
    topic = "https://news.example/feed.rss"
    denied = httpx.get(callback.url(source_id), params={"hub.mode": "denied", "hub.topic": topic})
    assert denied.status_code == 200 and load(db, source_id).websub_secret is None
    unsub = httpx.get(
        callback.url(source_id),
        params={"hub.mode": "unsubscribe", "hub.topic": topic, "hub.challenge": "bye"},
    )
    assert unsub.text == "bye"


def test_push_larger_than_the_cap_is_refused(db: Database) -> None:
    source_id = add_source(db, "https://hub.example/", secret="s")
    pushes: list[bytes] = []
    app = websub_app(db, lambda sid, body, headers: pushes.append(body), max_body_bytes=100)
    big = b"x" * 1000
    with served(app) as base_url:
        answer = httpx.post(callback_url(base_url, source_id), content=big,
                            headers={"X-Hub-Signature": sign("s", big)})  # fmt: skip
    assert answer.status_code == 413 and pushes == []


@pytest.mark.parametrize("method", ["sha1", "sha256", "sha384", "sha512"])
def test_every_websub_signature_method_is_checked(method: str) -> None:
    assert signature_valid("k", b"body", sign("k", b"body", method))
    assert not signature_valid("k", b"body!", sign("k", b"body", method))
    assert signature_valid(
        "k", b"body", sign("k", b"body", method).upper().replace(method.upper(), method)
    )


def test_link_headers_give_hub_and_self() -> None:
    headers = httpx.Headers([
        ("Link", '<https://hub.example/a>; rel="hub", <https://hub.example/b>; rel=hub'),
        ("Link", '</feed.rss>; rel="self alternate"'),
    ])  # fmt: skip
    rels = link_header_rels(headers, "https://news.example/x/")
    assert rels["hub"] == "https://hub.example/a"
    assert rels["self"] == rels["alternate"] == "https://news.example/feed.rss"
