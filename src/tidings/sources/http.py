"""All outbound HTTP goes through here: one shared client, polite and safe.

``Fetcher.fetch(url)`` applies, on every request:

* the private-network guard (``tidings.sources.network``): the host is resolved and every
  address checked before each hop, redirects included, and the connection is pinned to the
  checked addresses (unless ``settings.allow_private_networks``);
* a whole-fetch deadline (``settings.fetch_timeout``): each network operation gets at most the
  time left, and the body is abandoned as soon as the deadline passes, so a response that
  trickles one byte at a time fails instead of stalling a worker;
* a body cap (``settings.max_body_bytes``) on the *decoded* body, checked while streaming;
* a redirect cap (``settings.max_redirects``), followed by hand so each hop is checked;
* gzip, deflate and brotli; the identifying User-Agent; conditional GET with the stored ETag and
  Last-Modified sent back verbatim; a per-host concurrency limit; robots.txt on request.

Failures raise ``FetchError``, whose message is meant for the user (``tidings sources list``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import httpx

from tidings.clock import Clock, utcnow
from tidings.config import Settings
from tidings.sources.decoding import DecodingError, decoder_for
from tidings.sources.network import (
    AddressGuard,
    AddressRefused,
    PinnedTransport,
    ResolveFailed,
    Resolver,
)
from tidings.sources.robots import RobotsCache
from tidings.sources.schedule import parse_retry_after

ACCEPT_ANY = "*/*"
ACCEPT_FEED = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/xml;q=0.9, "
    "text/xml;q=0.9, application/json;q=0.8, text/html;q=0.7, */*;q=0.5"
)
REDIRECTS = {301, 302, 303, 307, 308}
TEMPORARY_CLIENT_ERRORS = {408, 425, 429}


class FetchError(Exception):
    """A fetch that failed.  ``permanent`` means retrying the same URL will not help."""

    def __init__(
        self,
        message: str,
        *,
        url: str,
        status: int | None = None,
        retry_after: float | None = None,
        permanent: bool = False,
    ) -> None:
        super().__init__(message)
        self.url, self.status = url, status
        self.retry_after, self.permanent = retry_after, permanent


@dataclass(frozen=True)
class FetchResult:
    url: str  # the final URL, after redirects
    status: int
    headers: httpx.Headers
    body: bytes
    not_modified: bool
    elapsed: float  # seconds

    @property
    def content_type(self) -> str:
        """The media type alone, lower case: ``text/html``."""
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()


@dataclass(frozen=True)
class _Hop:
    """One request's answer before redirects are followed."""

    url: str
    status: int
    headers: httpx.Headers
    body: bytes


class Fetcher:
    """One shared, thread-safe HTTP client with every politeness and safety rule applied."""

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.BaseTransport | None = None,
        resolver: Resolver | None = None,
        clock: Clock = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._clock, self._monotonic = clock, monotonic
        self._guard = AddressGuard(
            allow_private=settings.allow_private_networks, resolver=resolver, monotonic=monotonic
        )
        # The transport is used directly: redirects are followed by hand here, and nothing
        # else httpx.Client adds (auth, proxies, event hooks, a second URL parse per request)
        # is wanted — except its cookie jar, kept below, so a cookie set on one response is
        # sent back on the next request to that site (e.g. a redirect through a consent page).
        self._transport = transport or PinnedTransport(self._guard)
        self._headers = {
            "User-Agent": settings.user_agent,
            "Accept-Encoding": "gzip, deflate, br",
            "Connection": "keep-alive",
        }
        self._cookies = httpx.Cookies()
        self._hosts: dict[str, threading.BoundedSemaphore] = {}
        self._hosts_lock = threading.Lock()
        self.robots = RobotsCache(self._fetch_robots, settings.user_agent, monotonic=monotonic)

    # -- public -----------------------------------------------------------------------------

    def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        accept: str | None = None,
        obey_robots: bool = False,
    ) -> FetchResult:
        """GET url, following redirects; 304 gives ``not_modified=True``; errors raise FetchError."""
        started = self._monotonic()
        target = self._checked_url(url)  # a refused address says so, rather than "robots.txt"
        if obey_robots and not self.robots.allowed(url):
            raise FetchError(f"disallowed by robots.txt: {url}", url=url, permanent=True)
        headers = _conditional_headers(etag, last_modified) | {"Accept": accept or ACCEPT_ANY}
        hop = self._follow(url, target, headers, deadline=started + self.settings.fetch_timeout)
        if hop.status == 304:
            return self._result(hop, started, not_modified=True)
        if not 200 <= hop.status < 300:
            raise self._status_error(hop)
        return self._result(hop, started, not_modified=False)

    def post_form(self, url: str, form: Mapping[str, str]) -> FetchResult:
        """POST a form (no redirects followed); a non-2xx answer raises FetchError."""
        started = self._monotonic()
        target = self._checked_url(url)
        hop = self._send(url, target, {}, started + self.settings.fetch_timeout, form=form)
        if not 200 <= hop.status < 300:
            raise self._status_error(hop)
        return self._result(hop, started, not_modified=False)

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- redirects --------------------------------------------------------------------------

    def _follow(
        self, url: str, target: httpx.URL, headers: dict[str, str], deadline: float
    ) -> _Hop:
        """GET ``url`` (``target`` is it parsed and checked), following redirects by hand."""
        seen = {_without_fragment(url)}
        current = url
        for hop_number in range(self.settings.max_redirects + 1):
            if hop_number:
                target = self._checked_url(current)
            hop = self._send(current, target, headers, deadline)
            location = hop.headers.get("location")
            if hop.status not in REDIRECTS or not location:
                return hop
            current = str(target.join(location.strip()))
            if _without_fragment(current) in seen:
                raise FetchError(
                    f"redirect loop: {current} again, starting at {url}", url=url, permanent=True
                )
            seen.add(_without_fragment(current))
        raise FetchError(
            f"too many redirects ({self.settings.max_redirects + 1}) starting at {url}",
            url=url,
            permanent=True,
        )

    # -- one request ------------------------------------------------------------------------

    def _send(
        self,
        url: str,
        target: httpx.URL,
        headers: dict[str, str],
        deadline: float,
        form: Mapping[str, str] | None = None,
    ) -> _Hop:
        """One request to one URL (``target``: parsed and checked by ``_checked_url``): host
        slot, deadline, cookies, capped and decoded body."""
        with self._host_slot(target.host), self._errors_as_fetch_errors(url, target.host):
            left = self._time_left(url, deadline)
            request = httpx.Request(
                "POST" if form is not None else "GET",
                target,
                headers=self._headers | headers,
                data=dict(form) if form is not None else None,
                extensions={"timeout": {"connect": left, "read": left, "write": left,
                                        "pool": left}},
            )
            if self._cookies:
                self._cookies.set_cookie_header(request)
            response = self._transport.handle_request(request)
            response.request = request
            if "set-cookie" in response.headers:
                self._cookies.extract_cookies(response)
            try:
                redirect = response.status_code in REDIRECTS
                body = b"" if redirect else self._read_body(response, url, deadline)
            finally:
                response.close()
        return _Hop(url, response.status_code, response.headers, body)

    def _checked_url(self, url: str) -> httpx.URL:
        try:
            target = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise FetchError(f"invalid URL {url!r}: {exc}", url=url, permanent=True) from exc
        if target.scheme not in ("http", "https") or not target.host:
            raise FetchError(f"not an http(s) URL: {url}", url=url, permanent=True)
        if not self.settings.allow_private_networks:
            with self._errors_as_fetch_errors(url, target.host):
                self._guard.addresses(target.host, target.port or _default_port(target))
        return target

    def _read_body(self, response: httpx.Response, url: str, deadline: float) -> bytes:
        declared = response.headers.get("content-length", "")
        plain = not response.headers.get("content-encoding")
        if plain and declared.isdigit() and int(declared) > self.settings.max_body_bytes:
            raise self._too_large(url)  # known too large before reading a byte
        decoder = decoder_for(response.headers.get("content-encoding"))
        body = bytearray()
        for raw in response.iter_raw():
            self._time_left(url, deadline)
            self._append(body, decoder.decode(raw), url)
        self._append(body, decoder.finish(), url)
        return bytes(body)

    def _append(self, body: bytearray, pieces: Iterable[bytes], url: str) -> None:
        for piece in pieces:
            body += piece
            if len(body) > self.settings.max_body_bytes:
                raise self._too_large(url)

    def _time_left(self, url: str, deadline: float) -> float:
        left = deadline - self._monotonic()
        if left <= 0:
            raise self._timed_out(url)
        return left

    @contextmanager
    def _errors_as_fetch_errors(self, url: str, host: str) -> Iterator[None]:
        try:
            yield
        except AddressRefused as exc:
            raise FetchError(str(exc), url=url, permanent=True) from exc
        except ResolveFailed as exc:
            raise FetchError(str(exc), url=url) from exc
        except DecodingError as exc:
            raise FetchError(f"{exc} from {url}", url=url, permanent=True) from exc
        except httpx.TimeoutException as exc:
            raise self._timed_out(url) from exc
        except httpx.TransportError as exc:
            raise FetchError(
                f"cannot fetch {url} from {host}: {exc or type(exc).__name__}", url=url
            ) from exc

    @contextmanager
    def _host_slot(self, host: str) -> Iterator[None]:
        """At most ``settings.per_host_concurrency`` requests to one host at a time."""
        with self._hosts_lock:
            slot = self._hosts.get(host.lower())
            if slot is None:
                slot = threading.BoundedSemaphore(self.settings.per_host_concurrency)
                self._hosts[host.lower()] = slot
        with slot:
            yield

    # -- results and errors -----------------------------------------------------------------

    def _result(self, hop: _Hop, started: float, *, not_modified: bool) -> FetchResult:
        elapsed = self._monotonic() - started
        return FetchResult(hop.url, hop.status, hop.headers, hop.body, not_modified, elapsed)

    def _status_error(self, hop: _Hop) -> FetchError:
        now: datetime = self._clock()
        return FetchError(
            f"HTTP {hop.status} from {hop.url}",
            url=hop.url,
            status=hop.status,
            retry_after=parse_retry_after(hop.headers.get("retry-after"), now),
            permanent=400 <= hop.status < 500 and hop.status not in TEMPORARY_CLIENT_ERRORS,
        )

    def _too_large(self, url: str) -> FetchError:
        return FetchError(
            f"response larger than {_megabytes(self.settings.max_body_bytes)} from {url}",
            url=url,
            permanent=True,
        )

    def _timed_out(self, url: str) -> FetchError:
        return FetchError(
            f"timed out after {self.settings.fetch_timeout:g} s fetching {url}", url=url
        )

    def _fetch_robots(self, robots_url: str) -> tuple[int | None, bytes]:
        try:
            result = self.fetch(robots_url, accept="text/plain, */*;q=0.5")
        except FetchError as exc:
            return exc.status, b""
        return result.status, result.body


def _conditional_headers(etag: str | None, last_modified: str | None) -> dict[str, str]:
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    return headers


def _without_fragment(url: str) -> str:
    return url.split("#", 1)[0]


def _default_port(url: httpx.URL) -> int:
    return 443 if url.scheme == "https" else 80


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):g} MB" if size >= 1024 * 1024 else f"{size} bytes"
