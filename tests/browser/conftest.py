"""The real-browser harness: Debian's Chromium driven by Playwright against the real app.

* ``browser``: Chromium launched by Playwright from ``shutil.which("chromium")`` (Playwright's
  own download cannot work here).  Missing Chromium fails the tests when ``CI`` is set and
  skips them, saying why, otherwise.
* ``site``: the app (``create_app``) under uvicorn in a thread on ``http://127.0.0.1:PORT``
  (``TIDINGS_BASE_URL`` is that origin, so the API's origin checks see the page's own origin;
  127.0.0.1 is a secure context, so service workers run), on the database of the
  ``database_url`` fixture (SQLite file, PostgreSQL); a real ``Worker`` the test runs
  (``site.check_now()``) against a local news site (``site.publish(...)`` adds an article to
  its feed); a local push service (``tests.pushreceiver``) that receives and decrypts the
  server's Web Push deliveries.
* ``open_context``: a browser context on the site (closed after the test), with the browser's
  uncaught page errors collected; ``with_push=True`` installs ``fake_push.js`` (the push
  service's part only, see there) for a subscription of the local push receiver.
* ``shots``: full-page screenshots of each step under ``test-artifacts/screenshots/<test>/``
  (the artifacts directory is ``$TIDINGS_TEST_ARTIFACTS`` when set).
* ``DevTools``: a page seen through the Chrome DevTools Protocol: its service worker
  registrations, ``deliver_push`` (``ServiceWorker.deliverPushMessage``), and the events its
  ``EventSource`` streams receive.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from fastapi import FastAPI
from playwright.sync_api import (
    Browser,
    BrowserContext,
    CDPSession,
    Page,
    expect,
    sync_playwright,
)
from sqlalchemy import update

from tests.newsroom import Feed, NewsArticle, Newsroom, paragraphs
from tests.pushreceiver import PushReceiver, Subscription, running_push_receiver
from tests.servers import listening_socket, serving, url_of
from tidings.accounts import create_user
from tidings.cli.sources import add_source
from tidings.clock import naive_utc, utcnow
from tidings.config import Settings
from tidings.delivery.vapid import VapidKeys
from tidings.pipeline import CheckReport
from tidings.store.db import Database
from tidings.store.models import Source
from tidings.web.app import create_app
from tidings.worker import Extractor, Worker

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 10_000  # any one wait in a page
expect.set_options(timeout=TIMEOUT_MS)
FAKE_PUSH_JS = Path(__file__).with_name("fake_push.js")
PASSWORD = "a long and proper passphrase"
KEYWORD = "lighthouse"  # not a word of the generated news: only the test's articles have it

T = TypeVar("T")


def artifacts_dir() -> Path:
    return Path(os.environ.get("TIDINGS_TEST_ARTIFACTS") or ROOT / "test-artifacts")


def wait_until(
    check: Callable[[], T | None],
    what: str,
    timeout: float = 10.0,
    *,
    pause: Callable[[float], object] | None = None,
    explain: Callable[[], object] | None = None,
) -> T:
    """``check()``'s first truthy result, looked at every 20 ms until ``timeout`` seconds.

    ``pause(seconds)`` waits between looks; Playwright's sync API hands over the browser's
    events (CDP events, page events) only while one of its calls runs, so a condition on
    them passes ``pause=page.wait_for_timeout``-like waits (see ``DevTools.pause``).
    ``explain()`` says what was seen instead, in the timeout's message."""
    deadline = datetime.now(UTC) + timedelta(seconds=timeout)
    between = pause or threading.Event().wait
    while True:
        result = check()
        if result:
            return result
        if datetime.now(UTC) > deadline:
            seen = f"; {explain()}" if explain is not None else ""
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{seen}")
        between(0.02)


# -- the browser ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, one per test module."""
    path = shutil.which("chromium")
    if path is None:
        why = "chromium is not installed (apt-get install chromium); the browser tests need it"
        if os.environ.get("CI"):
            pytest.fail(f"{why}; .ci/run installs it when CI=true")
        pytest.skip(why)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


# -- the local news site ----------------------------------------------------------------------


class CoastNews:
    """A local news site with one feed, ``/feeds/coast.xml``; ``publish`` adds an article."""

    FEED = "/feeds/coast.xml"

    def __init__(self) -> None:
        self.room = Newsroom()
        self.room.feeds[self.FEED] = Feed(self.FEED, [])
        self.rng = random.Random(5)

    def publish(self, title: str, lead: str, *, age: timedelta = timedelta(0)) -> NewsArticle:
        number = len(self.room.pages) + 1
        slug = "-".join(re.findall(r"[a-z]+", title.lower())[:5])
        article = NewsArticle(
            path=f"/news/coast/{number}-{slug}",
            title=title,
            author="Morwenna Tregear",
            published=datetime.now(UTC).replace(microsecond=0) - age,
            paragraphs=[lead, *paragraphs(self.rng, 6)],
        )
        self.room.pages[article.path] = article
        self.room.feeds[self.FEED].articles.insert(0, article)
        return article

    def url(self, article: NewsArticle) -> str:
        return self.room.base_url + article.path


# -- the running app --------------------------------------------------------------------------


@dataclass
class Site:
    """The app served on 127.0.0.1, its worker, the news site it follows and a push service."""

    origin: str
    settings: Settings
    db: Database
    app: FastAPI
    worker: Worker
    news: CoastNews
    push: PushReceiver
    source_id: int

    def check_now(self) -> list[CheckReport]:
        """The feed falls due now and the worker makes a pass: fetch → extract → store →
        match → notify → deliver (the real pipeline)."""
        with self.db.session() as session:
            session.execute(
                update(Source)
                .where(Source.id == self.source_id)
                .values(next_check_at=naive_utc(utcnow()))
            )
        reports = self.worker.run_once()
        assert reports and all(report.ok for report in reports), reports
        return reports

    @property
    def vapid_public_key(self) -> str:
        return VapidKeys.load_or_create(self.settings.data_dir).application_server_key

    def add_reader(self, email: str, *, admin: bool = False) -> int:
        """A reader (or admin) with the password ``PASSWORD``; their id."""
        with self.db.session() as session:
            return create_user(session, email, password=PASSWORD, admin=admin).id

    def push_subscription(self) -> Subscription:
        """A browser's subscription at the local push service (keys made here), bound to the
        server's VAPID key as a real push service binds it."""
        return self.push.subscribe(application_server_key=self.vapid_public_key)


@pytest.fixture
def site(settings: Settings, db: Database, extractor: Extractor) -> Iterator[Site]:
    """The app on a real port, its database (SQLite file / PostgreSQL) holding the news
    site's first articles, and the worker that will fetch the next ones."""
    news = CoastNews()
    news.publish(
        f"Storm damages the old {KEYWORD} on the harbour wall",
        f"The {KEYWORD} on the harbour wall lost its lantern in the night's storm, "
        "the harbour master said on Monday morning.",
        age=timedelta(hours=3),
    )
    news.publish(
        f"Volunteers repaint the {KEYWORD} before the summer season",
        f"Twenty volunteers spent the weekend repainting the {KEYWORD} red and white, "
        "as it has been since the first keepers lived there.",
        age=timedelta(hours=2),
    )
    news.publish(
        "Ferry timetable changes for the winter months",
        "The island ferry runs twice a day from November, the operator announced.",
        age=timedelta(hours=1),
    )
    with ExitStack() as stack:
        stack.enter_context(news.room.serve())
        push = stack.enter_context(running_push_receiver())
        sock = listening_socket()
        origin = url_of(sock)
        live = dataclasses.replace(settings, base_url=origin, fetch_timeout=5.0)
        with db.session() as session:
            source, _ = add_source(session, news.room.base_url + CoastNews.FEED, kind="feed")
            source.next_check_at = naive_utc(utcnow())
            source_id = source.id
        worker = stack.enter_context(Worker(live, db, extractor=extractor))
        app = create_app(live, db)
        site = Site(origin, live, db, app, worker, news, push, source_id)
        [report] = site.check_now()
        assert report.new_articles == 3, report
        stack.enter_context(
            serving(app, sock, access_log=False, ws="none", timeout_graceful_shutdown=2)
        )
        yield site


# -- browser contexts -------------------------------------------------------------------------


@dataclass
class Tab:
    """A browser context on the site, with what went wrong in its pages."""

    context: BrowserContext
    origin: str
    errors: list[str] = field(default_factory=list)
    subscription: Subscription | None = None

    def new_page(self) -> Page:
        return self.context.new_page()

    def open(self, path: str) -> Page:
        """A new page of this context on ``path``."""
        page = self.context.new_page()
        page.goto(path)
        return page

    def sign_in(self, email: str) -> None:
        """Log in through the API (``POST /api/v1/auth/login``): the session cookie lands in
        this context's cookie jar, as after the login form."""
        reply = self.context.request.post(
            "/api/v1/auth/login", data={"email": email, "password": PASSWORD}
        )
        assert reply.ok, reply.text()

    def api(self, page: Page, method: str, path: str, body: Any = None) -> Any:
        """The REST API called from ``page`` the way its own scripts call it (session cookie,
        CSRF token): ``tidings.api`` of ``static/app.js``."""
        page.wait_for_function("() => window.tidings && window.tidings.api")
        return page.evaluate(
            "([method, path, body]) => window.tidings.api(method, path, body === null ? undefined : body)",
            [method, path, body],
        )

    def assert_no_page_errors(self) -> None:
        assert self.errors == [], "uncaught errors in the pages:\n" + "\n".join(self.errors)


@pytest.fixture
def open_context(browser: Browser, site: Site) -> Iterator[Callable[..., Tab]]:
    """``open_context(with_push=False, timezone_id=None)``: a fresh browser context (its own
    cookies, storage, permissions and service workers; the system's time zone unless
    ``timezone_id``) on the site."""
    tabs: list[Tab] = []

    def open_one(*, with_push: bool = False, timezone_id: str | None = None) -> Tab:
        context = browser.new_context(
            base_url=site.origin, viewport={"width": 1280, "height": 900}, timezone_id=timezone_id
        )
        context.set_default_timeout(TIMEOUT_MS)
        tab = Tab(context, site.origin)
        context.on(
            "weberror",
            lambda error: tab.errors.append(f"{error.page and error.page.url}: {error.error}"),
        )
        if with_push:
            tab.subscription = site.push_subscription()
            config = dict(tab.subscription.to_json(), applicationServerKey=site.vapid_public_key)
            script = FAKE_PUSH_JS.read_text().replace("(CONFIG)", f"({json.dumps(config)})")
            context.add_init_script(script=script)
        tabs.append(tab)
        return tab

    yield open_one
    for tab in tabs:
        tab.context.close()


# -- screenshots ------------------------------------------------------------------------------


class Shots:
    """Full-page screenshots of each step, numbered in order, under one folder per test."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0
        shutil.rmtree(folder, ignore_errors=True)

    def take(self, page: Page, name: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Shots:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")
    return Shots(artifacts_dir() / "screenshots" / name)


# -- the DevTools protocol: service workers, Server-Sent Events -------------------------------


class DevTools:
    """A page's view through the Chrome DevTools Protocol: the service worker registrations
    (``ServiceWorker.enable``, ``workerRegistrationUpdated``/``workerVersionUpdated``), the
    push messages the browser's push service would deliver (``deliverPushMessage``), and the
    messages of the page's ``EventSource`` streams (``Network.eventSourceMessageReceived``)."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.cdp: CDPSession = page.context.new_cdp_session(page)
        self.registrations: dict[str, dict[str, Any]] = {}
        self.versions: dict[str, dict[str, Any]] = {}
        self.streams: list[str] = []  # request ids of GET /api/v1/events, in order
        self.stream_events: list[tuple[str, str, str]] = []  # (request id, event, data)
        self.cdp.on("ServiceWorker.workerRegistrationUpdated", self._registrations)
        self.cdp.on("ServiceWorker.workerVersionUpdated", self._versions)
        self.cdp.on("Network.requestWillBeSent", self._request)
        self.cdp.on("Network.eventSourceMessageReceived", self._stream_event)
        self.cdp.send("ServiceWorker.enable")
        self.cdp.send("Network.enable")

    def _registrations(self, event: dict[str, Any]) -> None:
        for registration in event["registrations"]:
            self.registrations[registration["registrationId"]] = registration

    def _versions(self, event: dict[str, Any]) -> None:
        for version in event["versions"]:
            self.versions[version["versionId"]] = version

    def _request(self, event: dict[str, Any]) -> None:
        if event["request"]["url"].split("?")[0].endswith("/api/v1/events"):
            self.streams.append(event["requestId"])

    def _stream_event(self, event: dict[str, Any]) -> None:
        self.stream_events.append((event["requestId"], event["eventName"], event["data"]))

    def wait_for_stream_event(self, name: str, *, after_stream: int) -> str:
        """The data of the first ``name`` event of a stream opened after the first
        ``after_stream`` ones (``len(devtools.streams)`` before the page was opened)."""

        def find() -> str | None:
            fresh = set(self.streams[after_stream:])
            for request_id, event, data in self.stream_events:
                if request_id in fresh and event == name:
                    return data
            return None

        return wait_until(
            find, f"a {name!r} event on a new /api/v1/events stream", pause=self.pause
        )

    def active_registration(self, scope: str) -> str:
        """The id of the live registration for ``scope`` whose worker is activated."""

        def find() -> str | None:
            for registration_id, registration in self.registrations.items():
                if registration["scopeURL"] != scope or registration["isDeleted"]:
                    continue
                if any(
                    v["registrationId"] == registration_id and v["status"] == "activated"
                    for v in self.versions.values()
                ):
                    return registration_id
            return None

        return wait_until(find, f"an activated service worker for {scope}", pause=self.pause)

    def pause(self, seconds: float) -> None:
        """Let Playwright deliver the browser's events while waiting."""
        self.page.wait_for_timeout(seconds * 1000)

    def deliver_push(self, origin: str, registration_id: str, payload: dict[str, Any]) -> None:
        """What the browser does when its push service hands it a message: a ``push`` event in
        the service worker with ``payload`` as its data."""
        self.cdp.send(
            "ServiceWorker.deliverPushMessage",
            {"origin": origin, "registrationId": registration_id, "data": json.dumps(payload)},
        )

    def close(self) -> None:
        self.cdp.detach()
