"""The one HTTP door, against a real local server: caps, redirects, encodings, politeness."""

from __future__ import annotations

import threading
import tracemalloc
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import brotli
import httpx
import pytest
from tests.httpserver import HTTPTestServer, RecordedRequest, Reply

from tidings.clock import FrozenClock
from tidings.config import Settings
from tidings.sources.http import Fetcher, FetchError


def make_settings(**overrides: Any) -> Settings:
    return Settings.from_env({}, **{"allow_private_networks": True, **overrides})


@pytest.fixture
def fetcher() -> Iterator[Fetcher]:
    with Fetcher(make_settings()) as f:
        yield f


# -- the basics -----------------------------------------------------------------------------


def test_identifying_user_agent_and_compression_offer_are_sent(
    http_server: HTTPTestServer, fetcher: Fetcher
) -> None:
    http_server.route("/feed", Reply(body=b"ok"))
    result = fetcher.fetch(http_server.url("/feed"))
    request = http_server.requests_to("/feed")[0]
    assert request.headers["User-Agent"] == Settings().user_agent
    assert (
        "br" in request.headers["Accept-Encoding"] and "gzip" in request.headers["Accept-Encoding"]
    )
    assert (result.status, result.body, result.not_modified) == (200, b"ok", False)
    assert result.elapsed >= 0


@pytest.mark.parametrize("encoding", ["gzip", "br"])
def test_gzip_and_brotli_bodies_are_decoded(
    http_server: HTTPTestServer, fetcher: Fetcher, encoding: str
) -> None:
    text = "Assad plans to visit Kim Jong-un. " * 500
    http_server.route("/feed", Reply(body=text.encode(), encoding=encoding))
    assert fetcher.fetch(http_server.url("/feed")).body == text.encode()


def test_raw_deflate_as_some_servers_send_it_is_decoded(
    http_server: HTTPTestServer, fetcher: Fetcher
) -> None:
    raw = zlib.compressobj(wbits=-15)
    body = raw.compress(b"deflated news" * 100) + raw.flush()
    http_server.route("/d", Reply(body=body, headers={"Content-Encoding": "deflate"}))
    assert fetcher.fetch(http_server.url("/d")).body == b"deflated news" * 100


def test_unknown_content_encoding_is_a_clear_error(
    http_server: HTTPTestServer, fetcher: Fetcher
) -> None:
    http_server.route("/z", Reply(body=b"????", headers={"Content-Encoding": "zstd"}))
    with pytest.raises(FetchError, match="unsupported content encoding 'zstd'"):
        fetcher.fetch(http_server.url("/z"))


# -- conditional GET ------------------------------------------------------------------------


def test_etag_and_last_modified_are_sent_back_verbatim_and_304_is_not_modified(
    http_server: HTTPTestServer, fetcher: Fetcher
) -> None:
    etag, modified = 'W/"a1b2-c3"', "Mon, 04 Mar 2024 06:03:00 GMT"

    def feed(request: RecordedRequest) -> Reply:
        if request.headers.get("If-None-Match") == etag:
            return Reply(304)
        return Reply(body=b"<rss/>", headers={"ETag": etag, "Last-Modified": modified})

    http_server.route("/feed", feed)
    first = fetcher.fetch(http_server.url("/feed"))
    second = fetcher.fetch(
        http_server.url("/feed"),
        etag=first.headers["etag"],
        last_modified=first.headers["last-modified"],
    )
    sent = http_server.requests_to("/feed")[1].headers
    assert (sent["If-None-Match"], sent["If-Modified-Since"]) == (etag, modified)
    assert "If-None-Match" not in http_server.requests_to("/feed")[0].headers
    assert second.not_modified and second.status == 304 and second.body == b""


# -- redirects ------------------------------------------------------------------------------


def test_redirects_are_followed_and_the_final_url_reported(
    http_server: HTTPTestServer, fetcher: Fetcher
) -> None:
    http_server.route("/old", Reply.redirect("/older", 301))
    http_server.route("/older", Reply.redirect(http_server.url("/feed.xml"), 308))
    http_server.route("/feed.xml", Reply(body=b"here"))
    result = fetcher.fetch(http_server.url("/old"))
    assert (result.url, result.body) == (http_server.url("/feed.xml"), b"here")


def test_a_cookie_set_on_a_redirect_is_sent_on_the_next_hop(
    http_server: HTTPTestServer, fetcher: Fetcher
) -> None:
    """A consent page that sets a cookie and sends the reader on: the cookie goes along."""
    http_server.route("/article", Reply(302, headers={
        "Location": "/article/full", "Set-Cookie": "consent=yes; Path=/"}))
    http_server.route("/article/full", Reply(body=b"the article"))
    result = fetcher.fetch(http_server.url("/article"))
    assert result.body == b"the article"
    first, second = http_server.requests
    assert "Cookie" not in first.headers
    assert second.headers["Cookie"] == "consent=yes"


def test_redirect_loop_is_reported_as_a_loop(http_server: HTTPTestServer, fetcher: Fetcher) -> None:
    http_server.route("/a", Reply.redirect("/b"))
    http_server.route("/b", Reply.redirect("/a"))
    with pytest.raises(FetchError, match="redirect loop") as caught:
        fetcher.fetch(http_server.url("/a"))
    assert caught.value.permanent
    assert len(http_server.requests) == 2


def test_too_many_redirects_stop_at_the_cap(http_server: HTTPTestServer) -> None:
    for n in range(10):
        http_server.route(f"/r{n}", Reply.redirect(f"/r{n + 1}"))
    with (
        Fetcher(make_settings(max_redirects=3)) as fetcher,
        pytest.raises(FetchError, match=r"too many redirects \(4\) starting at .*/r0"),
    ):
        fetcher.fetch(http_server.url("/r0"))
    assert len(http_server.requests) == 4  # the first request and three redirects


# -- status errors --------------------------------------------------------------------------


def test_503_with_retry_after_seconds(http_server: HTTPTestServer, fetcher: Fetcher) -> None:
    http_server.route("/feed", Reply(503, b"busy", headers={"Retry-After": "120"}))
    with pytest.raises(FetchError) as caught:
        fetcher.fetch(http_server.url("/feed"))
    error = caught.value
    assert str(error) == f"HTTP 503 from {http_server.url('/feed')}"
    assert (error.status, error.retry_after, error.permanent) == (503, 120.0, False)


def test_429_with_retry_after_date_is_temporary(http_server: HTTPTestServer) -> None:
    clock = FrozenClock(datetime(2024, 3, 4, 6, 0, tzinfo=UTC))
    http_server.route("/feed", Reply(429, headers={"Retry-After": "Mon, 04 Mar 2024 06:30:00 GMT"}))
    with Fetcher(make_settings(), clock=clock) as fetcher, pytest.raises(FetchError) as caught:
        fetcher.fetch(http_server.url("/feed"))
    assert (caught.value.retry_after, caught.value.permanent) == (1800.0, False)


@pytest.mark.parametrize(
    ("status", "permanent"), [(404, True), (410, True), (403, True), (500, False), (502, False)]
)
def test_client_errors_are_permanent_server_errors_are_not(
    http_server: HTTPTestServer, fetcher: Fetcher, status: int, permanent: bool
) -> None:
    http_server.route("/x", Reply(status))
    with pytest.raises(FetchError, match=f"HTTP {status} from") as caught:
        fetcher.fetch(http_server.url("/x"))
    assert caught.value.permanent is permanent and caught.value.retry_after is None


def test_connection_refused_is_a_temporary_error() -> None:
    with HTTPTestServer() as server:
        url = server.url("/gone")
    with Fetcher(make_settings()) as fetcher, pytest.raises(FetchError, match="cannot fetch") as c:
        fetcher.fetch(url)
    assert not c.value.permanent


def test_non_http_urls_are_refused(fetcher: Fetcher) -> None:
    with pytest.raises(FetchError, match="not an http"):
        fetcher.fetch("file:///etc/passwd")


# -- size and time caps ---------------------------------------------------------------------

MB = 1024 * 1024


def fifty_megabytes() -> Iterator[bytes]:
    chunk = b"x" * (64 * 1024)
    for _ in range(50 * MB // len(chunk)):
        yield chunk


def test_a_50_mb_streamed_body_is_cut_off_at_the_cap(http_server: HTTPTestServer) -> None:
    http_server.route("/big", Reply(body=fifty_megabytes()))
    with (
        Fetcher(make_settings(max_body_bytes=10 * MB)) as fetcher,
        pytest.raises(FetchError, match=r"response larger than 10 MB from") as caught,
    ):
        fetcher.fetch(http_server.url("/big"))
    assert caught.value.permanent


def test_a_declared_content_length_over_the_cap_is_refused_before_reading(
    http_server: HTTPTestServer,
) -> None:
    http_server.route(
        "/big", Reply(body=fifty_megabytes(), headers={"Content-Length": str(50 * MB)})
    )
    with (
        Fetcher(make_settings(max_body_bytes=MB)) as fetcher,
        pytest.raises(FetchError, match="response larger than 1 MB"),
    ):
        fetcher.fetch(http_server.url("/big"))


def compression_bomb(encoding: str, size: int = 64 * MB) -> bytes:
    """``size`` zero bytes, compressed: a few hundred KB at most."""
    compressor: Any = (
        zlib.compressobj(9, wbits=31) if encoding == "gzip" else brotli.Compressor(quality=5)
    )
    step = getattr(compressor, "compress", None) or compressor.process
    block = b"\0" * MB
    parts = [step(block) for _ in range(size // MB)]
    parts.append(compressor.flush() if encoding == "gzip" else compressor.finish())
    return b"".join(parts)


@pytest.mark.parametrize("encoding", ["gzip", "br"])
def test_a_compression_bomb_is_cut_off_by_its_decoded_size_without_inflating_it(
    http_server: HTTPTestServer, encoding: str
) -> None:
    """64 MB of zeros in a small body: decoding stops at the cap, in small pieces."""
    bomb = compression_bomb(encoding)
    assert len(bomb) < MB
    http_server.route("/bomb", Reply(body=bomb, headers={"Content-Encoding": encoding}))
    tracemalloc.start()
    try:
        with (
            Fetcher(make_settings(max_body_bytes=MB)) as fetcher,
            pytest.raises(FetchError, match="response larger than 1 MB"),
        ):
            fetcher.fetch(http_server.url("/bomb"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * MB


def test_a_trickling_response_times_out_at_the_whole_fetch_deadline(
    http_server: HTTPTestServer,
) -> None:
    """One byte every 0.2 s: each read is quick, but the whole fetch must end at 1 s."""
    http_server.route("/slow", Reply(body=b"x" * 1000, trickle=0.2, chunk_size=1))
    with (
        Fetcher(make_settings(fetch_timeout=1.0)) as fetcher,
        pytest.raises(FetchError, match=r"timed out after 1 s") as caught,
    ):
        fetcher.fetch(http_server.url("/slow"))
    assert not caught.value.permanent
    assert caught.value.url == http_server.url("/slow")


# -- per-host concurrency -------------------------------------------------------------------


def test_per_host_concurrency_limit_is_honoured(http_server: HTTPTestServer) -> None:
    release = threading.Event()

    def held(_request: RecordedRequest) -> Reply:
        release.wait(10)
        return Reply(body=b"done")

    http_server.route("/held", held)
    settings = make_settings(per_host_concurrency=2)
    resolver = {"a.test": ["127.0.0.1"], "b.test": ["127.0.0.1"]}
    with Fetcher(settings, resolver=lambda host, _port: resolver[host]) as fetcher, \
            ThreadPoolExecutor(8) as pool:  # fmt: skip
        urls = [http_server.url("/held", host) for host in ["a.test"] * 5 + ["b.test"] * 3]
        futures = [pool.submit(fetcher.fetch, url) for url in urls]
        # Two per host arrive: four in all, since a.test and b.test are different hosts.
        assert http_server.wait_for(lambda s: s.active == 4)
        # No fifth comes while those are held (it would be a third to one host).
        assert not http_server.wait_for(lambda s: s.active > 4, timeout=0.5)
        release.set()
        assert [f.result().body for f in futures] == [b"done"] * 8
    assert http_server.peak_active == 4
    hosts = [r.host.split(":")[0] for r in http_server.requests]
    assert sorted(hosts) == ["a.test"] * 5 + ["b.test"] * 3


# -- robots.txt -----------------------------------------------------------------------------

# Tidings has its own group, so the "*" group does not apply to it (RFC 9309).
ROBOTS = b"User-agent: Tidings\nDisallow: /no-tidings/\n\nUser-agent: *\nDisallow: /\n"


def test_robots_txt_is_obeyed_for_article_pages_and_fetched_once(
    http_server: HTTPTestServer, fetcher: Fetcher
) -> None:
    http_server.route("/robots.txt", Reply(body=ROBOTS, content_type="text/plain"))
    http_server.route("/news/a-story-here", Reply(body=b"article"))
    assert fetcher.fetch(http_server.url("/news/a-story-here"), obey_robots=True).body == b"article"
    with pytest.raises(FetchError, match="disallowed by robots.txt") as caught:
        fetcher.fetch(http_server.url("/no-tidings/a-story"), obey_robots=True)
    assert caught.value.permanent
    assert len(http_server.requests_to("/robots.txt")) == 1
    assert not http_server.requests_to("/no-tidings/a-story")


def test_robots_txt_star_group_applies_when_tidings_has_none(
    http_server: HTTPTestServer, fetcher: Fetcher
) -> None:
    http_server.route("/robots.txt", Reply(body=b"User-agent: *\nDisallow: /private/\n"))
    with pytest.raises(FetchError, match="disallowed by robots.txt"):
        fetcher.fetch(http_server.url("/private/a-story"), obey_robots=True)
    assert not http_server.requests_to("/private/a-story")


def test_robots_txt_is_not_consulted_for_feeds(
    http_server: HTTPTestServer, fetcher: Fetcher
) -> None:
    http_server.route("/robots.txt", Reply(body=b"User-agent: *\nDisallow: /\n"))
    http_server.route("/feed.xml", Reply(body=b"<rss/>"))
    assert fetcher.fetch(http_server.url("/feed.xml")).body == b"<rss/>"
    assert not http_server.requests_to("/robots.txt")


@pytest.mark.parametrize(("status", "allowed"), [(404, True), (403, True), (503, False)])
def test_robots_txt_errors_4xx_allow_all_5xx_disallow(
    http_server: HTTPTestServer, fetcher: Fetcher, status: int, allowed: bool
) -> None:
    http_server.route("/robots.txt", Reply(status))
    http_server.route("/news/a-story-here", Reply(body=b"article"))
    if allowed:
        assert fetcher.fetch(http_server.url("/news/a-story-here"), obey_robots=True).status == 200
    else:
        with pytest.raises(FetchError, match="disallowed by robots.txt"):
            fetcher.fetch(http_server.url("/news/a-story-here"), obey_robots=True)


def test_robots_txt_cache_expires(http_server: HTTPTestServer) -> None:
    now = [0.0]
    http_server.route("/robots.txt", Reply(body=b"User-agent: *\nDisallow:\n"))
    http_server.route("/p/a-story-here", Reply(body=b"ok"))
    with Fetcher(make_settings(), monotonic=lambda: now[0]) as fetcher:
        fetcher.fetch(http_server.url("/p/a-story-here"), obey_robots=True)
        now[0] += 1800
        fetcher.fetch(http_server.url("/p/a-story-here"), obey_robots=True)
        assert len(http_server.requests_to("/robots.txt")) == 1
        now[0] += 3600
        fetcher.fetch(http_server.url("/p/a-story-here"), obey_robots=True)
    assert len(http_server.requests_to("/robots.txt")) == 2


# -- the private-network guard --------------------------------------------------------------


def test_loopback_is_refused_with_a_clear_message(http_server: HTTPTestServer) -> None:
    http_server.route("/feed", Reply(body=b"secret"))
    with (
        Fetcher(make_settings(allow_private_networks=False)) as fetcher,
        pytest.raises(
            FetchError,
            match=r"refused: 127\.0\.0\.1 is a private address \(set TIDINGS_ALLOW_PRIVATE_NETWORKS=1",
        ) as caught,
    ):
        fetcher.fetch(http_server.url("/feed"))
    assert caught.value.permanent
    assert http_server.requests == []


def test_a_name_resolving_to_a_private_address_is_refused_after_dns(
    http_server: HTTPTestServer,
) -> None:
    with (
        Fetcher(
            make_settings(allow_private_networks=False), resolver=lambda h, p: ["10.0.0.5"]
        ) as fetcher,
        pytest.raises(
            FetchError, match=r"refused: feeds\.example resolves to private address 10\.0\.0\.5"
        ),
    ):
        fetcher.fetch("http://feeds.example/feed")


def test_robots_check_does_not_hide_the_refusal(http_server: HTTPTestServer) -> None:
    with (
        Fetcher(make_settings(allow_private_networks=False)) as fetcher,
        pytest.raises(FetchError, match="refused"),
    ):
        fetcher.fetch(http_server.url("/a-story"), obey_robots=True)
    assert http_server.requests == []


PUBLIC = {"news.example": ["93.184.216.34"], "intranet.example": ["10.0.0.5"],
          "mapped.example": ["::ffff:192.168.1.1"]}  # fmt: skip


@pytest.mark.parametrize(
    "target",
    [
        "http://intranet.example/admin",
        "http://127.0.0.1:9/",
        "http://[::1]/",
        "http://mapped.example/",
        "http://169.254.169.254/latest/meta-data/",
    ],
)
def test_a_redirect_from_a_public_host_to_a_private_one_is_refused_at_that_hop(
    target: str,
) -> None:
    """The public internet is played by a MockTransport; the guard checks every hop's address."""
    seen: list[str] = []

    def public_internet(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(302, headers={"Location": target})

    with (
        Fetcher(
            make_settings(allow_private_networks=False),
            transport=httpx.MockTransport(public_internet),
            resolver=lambda host, _port: PUBLIC[host],
        ) as fetcher,
        pytest.raises(FetchError, match="refused: .* private address") as caught,
    ):
        fetcher.fetch("http://news.example/feed")
    assert seen == ["http://news.example/feed"]
    assert caught.value.permanent


def test_connections_go_to_the_checked_address_with_the_original_host_header(
    http_server: HTTPTestServer,
) -> None:
    """feeds.example exists nowhere: reaching the server proves the connection is pinned."""
    http_server.route("/feed", Reply(body=b"pinned"))
    with Fetcher(make_settings(), resolver=lambda host, port: ["127.0.0.1"]) as fetcher:
        result = fetcher.fetch(http_server.url("/feed", host="feeds.example"))
    assert result.body == b"pinned"
    assert http_server.requests[0].host == f"feeds.example:{http_server.port}"


def test_dns_rebinding_cannot_swap_the_address_after_the_check() -> None:
    """A resolver that answers public first and private after: the checked answer is the one used."""
    answers = iter([["93.184.216.34"], ["127.0.0.1"], ["127.0.0.1"]])
    resolved: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        resolved.extend(answer := next(answers))
        return answer

    from tidings.sources.network import AddressGuard

    guard = AddressGuard(allow_private=False, resolver=rebinding)
    assert guard.addresses("news.example", 80) == ["93.184.216.34"]
    assert guard.addresses("news.example", 80) == ["93.184.216.34"]  # cached: no new lookup
    assert resolved == ["93.184.216.34"]
