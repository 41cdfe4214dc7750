"""Serving the demo outlets over HTTP on 127.0.0.1, one port per outlet.

``DemoSite`` owns one publication ``Timeline`` shared by its outlets (one article per step,
whichever outlet it belongs to) and one threaded HTTP server per outlet. Every request reads the
clock and renders what is published at that moment; feeds and pages carry ETag and
Last-Modified and answer a matching conditional request with 304.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from tidings.clock import Clock, utcnow
from tidings.demo.site import feeds, pages
from tidings.demo.site.catalogue import DemoArticle, Outlet, load_articles, outlet_named
from tidings.demo.site.timeline import Publication, Timeline

DEFAULT_OUTLETS = ("Daily Courier", "Morning Wire")
ROBOTS_TXT = b"User-agent: *\nDisallow: /private/\nAllow: /\n"
GZIP_THRESHOLD = 1024
POLL_SECONDS = 0.05  # how soon stop() is noticed


@dataclass(frozen=True)
class Response:
    """What one request gets back, before conditional-request and encoding handling."""

    status: int
    content_type: str
    body: bytes
    last_modified: datetime | None = None
    cache_seconds: int = 0

    @property
    def etag(self) -> str:
        return 'W/"' + hashlib.sha1(self.body).hexdigest()[:20] + '"'


def is_not_modified(
    response: Response, if_none_match: str | None, if_modified_since: str | None
) -> bool:
    """Whether the client's cached copy (If-None-Match, else If-Modified-Since) is current."""
    if response.status != 200:
        return False
    if if_none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or response.etag.removeprefix("W/") in tags
    if not if_modified_since or response.last_modified is None:
        return False
    try:
        since = parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError):
        return False
    return since.tzinfo is not None and response.last_modified.replace(microsecond=0) <= since


def _html(body: str, status: int = 200, last_modified: datetime | None = None) -> Response:
    return Response(status, "text/html; charset=utf-8", body.encode("utf-8"), last_modified)


Route = tuple[re.Pattern[str], str]
ROUTES: tuple[Route, ...] = tuple(
    (re.compile(pattern), handler)
    for pattern, handler in (
        (r"^/$", "home"),
        (r"^/feed\.rss$", "rss"),
        (r"^/feed\.atom$", "atom"),
        (r"^/feed\.json$", "json_feed"),
        (r"^/robots\.txt$", "robots"),
        (r"^/section/(?P<section>[a-z-]+)/?$", "section"),
        (r"^/section/(?P<section>[a-z-]+)/feed\.rss$", "section_rss"),
        (r"^/private(?:/.*)?$", "private"),
        (r"^/(?P<section>[a-z-]+)/(?P<slug>[a-z0-9-]+)/?$", "article"),
    )
)


class OutletSite:
    """One outlet's pages and feeds, rendered from the shared timeline at request time."""

    def __init__(self, outlet: Outlet, demo: DemoSite) -> None:
        self.outlet = outlet
        self.demo = demo
        self.base_url = ""

    def context(self) -> pages.PageContext:
        now = self.demo.clock()
        edition = [
            p for p in self.demo.timeline.edition(now) if p.article.outlet == self.outlet.key
        ]
        return pages.PageContext(self.outlet, self.base_url, edition, self.demo.canonical_url)

    def respond(self, path: str) -> Response:
        """The response for a GET of ``path`` at the current clock time."""
        for pattern, name in ROUTES:
            match = pattern.match(path)
            if match:
                handler: Callable[..., Response] = getattr(self, f"_{name}")
                return handler(self.context(), **match.groupdict())
        return self._not_found(self.context())

    def _feed_response(
        self, body: bytes, kind: str, ctx: pages.PageContext, section: str = ""
    ) -> Response:
        shown = ctx.in_section(section) if section else ctx.edition
        modified = feeds.newest_activity(shown[: feeds.FEED_LIMIT], self.demo.timeline.started_at)
        return Response(200, kind, body, modified, self.demo.cache_seconds)

    def _home(self, ctx: pages.PageContext) -> Response:
        return _html(pages.render_home(ctx), last_modified=_newest(ctx.edition))

    def _rss(self, ctx: pages.PageContext) -> Response:
        body = feeds.render_rss(ctx, self.demo.ttl_minutes)
        return self._feed_response(body, "application/rss+xml; charset=utf-8", ctx)

    def _atom(self, ctx: pages.PageContext) -> Response:
        body = feeds.render_atom(ctx)
        return self._feed_response(body, "application/atom+xml; charset=utf-8", ctx)

    def _json_feed(self, ctx: pages.PageContext) -> Response:
        body = feeds.render_json_feed(ctx)
        return self._feed_response(body, "application/feed+json; charset=utf-8", ctx)

    def _robots(self, ctx: pages.PageContext) -> Response:
        return Response(200, "text/plain; charset=utf-8", ROBOTS_TXT)

    def _section(self, ctx: pages.PageContext, section: str) -> Response:
        if section not in self.outlet.sections:
            return self._not_found(ctx)
        body = pages.render_section(ctx, section)
        return _html(body, last_modified=_newest(ctx.in_section(section)))

    def _section_rss(self, ctx: pages.PageContext, section: str) -> Response:
        if section not in self.outlet.sections:
            return self._not_found(ctx)
        body = feeds.render_rss(ctx, self.demo.ttl_minutes, section)
        return self._feed_response(body, "application/rss+xml; charset=utf-8", ctx, section)

    def _private(self, ctx: pages.PageContext) -> Response:
        message = "This page is for subscribers only."
        return _html(pages.render_message(ctx, "Members only", message), status=403)

    def _article(self, ctx: pages.PageContext, section: str, slug: str) -> Response:
        path = f"/{section}/{slug}"
        for publication in ctx.edition:
            if publication.path == path:
                body = pages.render_article(ctx, publication)
                return _html(body, last_modified=publication.last_activity)
        return self._not_found(ctx)

    def _not_found(self, ctx: pages.PageContext) -> Response:
        message = "The page you were looking for does not exist or has not been published yet."
        return _html(pages.render_message(ctx, "Page not found", message), status=404)


def _newest(publications: list[Publication]) -> datetime | None:
    return max((p.last_activity for p in publications), default=None)


class _OutletServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], site: OutletSite) -> None:
        self.site = site
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _OutletServer
    protocol_version = "HTTP/1.1"
    server_version = "TidingsDemoNews/1.0"

    def do_GET(self) -> None:
        self._serve(send_body=True)

    def do_HEAD(self) -> None:
        self._serve(send_body=False)

    def _serve(self, send_body: bool) -> None:
        response = self.server.site.respond(urlsplit(self.path).path)
        not_modified = is_not_modified(
            response, self.headers.get("If-None-Match"), self.headers.get("If-Modified-Since")
        )
        body = b"" if not_modified else response.body
        gzipped = len(body) > GZIP_THRESHOLD and "gzip" in self.headers.get("Accept-Encoding", "")
        if gzipped:
            body = gzip.compress(body, mtime=0)
        self.send_response(304 if not_modified else response.status)
        self._send_headers(response, len(body), gzipped)
        if send_body:
            self.wfile.write(body)

    def _send_headers(self, response: Response, length: int, gzipped: bool) -> None:
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(length))
        self.send_header("ETag", response.etag)
        self.send_header("Vary", "Accept-Encoding")
        self.send_header("Cache-Control", f"public, max-age={response.cache_seconds}")
        if response.last_modified is not None:
            self.send_header("Last-Modified", format_datetime(response.last_modified, usegmt=True))
        if gzipped:
            self.send_header("Content-Encoding", "gzip")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the demo's terminal belongs to the pipeline's output."""


class DemoSite:
    """The offline demo news site: one or more outlets, each on its own 127.0.0.1 port.

    ``initial`` articles are out when the demo starts (default: about two-thirds), and at least
    the first ``seen`` (those a watcher already read on an earlier run, so what comes next is
    new to it); one more is published every ``publish_every`` seconds of ``clock`` time after
    that, counted from the moment the ``DemoSite`` is made. Once all are out, each further step
    updates one article in place, round-robin (see ``timeline``), so the demo never goes quiet.
    """

    def __init__(
        self,
        clock: Clock = utcnow,
        publish_every: float = 5.0,
        initial: int | None = None,
        outlets: tuple[str, ...] = DEFAULT_OUTLETS,
        seen: int = 0,
    ) -> None:
        self.clock = clock
        self.outlets = tuple(outlet_named(name) for name in outlets)
        articles = _articles_in_order({o.key for o in self.outlets})
        count = round(len(articles) * 2 / 3) if initial is None else initial
        count = max(count, seen)
        self.timeline = Timeline(articles, clock(), publish_every, count)
        self.sites = [OutletSite(outlet, self) for outlet in self.outlets]
        self._servers: list[tuple[_OutletServer, threading.Thread]] = []

    @property
    def cache_seconds(self) -> int:
        return max(1, round(self.timeline.step.total_seconds()))

    @property
    def ttl_minutes(self) -> int | None:
        """RSS ``ttl`` counts whole minutes: a site publishing faster than that says none."""
        minutes = round(self.timeline.step.total_seconds() / 60)
        return minutes or None

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve every outlet (the n-th on ``port + n``, or on free ports when ``port`` is 0);
        returns the first outlet's base URL."""
        try:
            for offset, site in enumerate(self.sites):
                self._serve(site, host, port + offset if port else 0)
        except OSError:
            self.stop()
            raise
        return self.sites[0].base_url

    def _serve(self, site: OutletSite, host: str, port: int) -> None:
        server = _OutletServer((host, port), site)
        site.base_url = f"http://{host}:{server.server_address[1]}"
        thread = threading.Thread(target=server.serve_forever, args=(POLL_SECONDS,), daemon=True)
        thread.start()
        self._servers.append((server, thread))

    def stop(self) -> None:
        """Stop serving and release the ports."""
        for server, thread in self._servers:
            server.shutdown()
            server.server_close()
            thread.join()
        self._servers.clear()

    def __enter__(self) -> DemoSite:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_urls(self) -> dict[str, str]:
        """Each served outlet's name and base URL."""
        return {site.outlet.name: site.base_url for site in self.sites}

    def feed_urls(self) -> list[str]:
        """One feed per outlet (its main feed) — the sources to add to watch the whole demo."""
        return [site.base_url + site.outlet.primary_feed for site in self.sites]

    def canonical_url(self, publication: Publication) -> str:
        """The article's canonical URL: its own, or the original's for a syndicated copy."""
        article = publication.article
        origin = _syndication_origin(article)
        for site in self.sites:
            if origin is not None and site.outlet.key == origin.outlet:
                return site.base_url + origin.path
        own = next(s for s in self.sites if s.outlet.key == article.outlet)
        return own.base_url + article.path


def _articles_in_order(outlet_keys: set[str]) -> tuple[DemoArticle, ...]:
    """The served outlets' articles in publication order (the bundle's file order)."""
    return tuple(a for a in load_articles() if a.outlet in outlet_keys)


def _syndication_origin(article: DemoArticle) -> DemoArticle | None:
    if not article.syndicated_from:
        return None
    outlet_key, _, slug = article.syndicated_from.partition("/")
    outlet = outlet_named(outlet_key)
    return next((a for a in outlet.articles if a.slug == slug), None)
