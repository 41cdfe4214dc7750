"""Bad input at the fetch-and-parse level, served by a real local server: a clear error or a
correct feed, never a crash, a hang or an exhausted memory."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from tests.httpserver import HTTPTestServer, Reply

from tidings.config import Settings
from tidings.sources.feeds import FeedError, ParsedFeed, parse_feed
from tidings.sources.http import Fetcher, FetchError

CAFE = "Café “quoted” — ok"


def rss(title: str, declaration: str = '<?xml version="1.0" encoding="utf-8"?>') -> str:
    return (
        f'{declaration}<rss version="2.0"><channel><title>Desk</title><link>/</link>'
        f"<item><title>{title}</title><link>/world/a-story-here</link></item></channel></rss>"
    )


def bomb() -> bytes:
    levels = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    return (
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY l0 "lol">{levels}]>'
        '<rss version="2.0"><channel><title>&l9;</title><item><title>&l9;</title>'
        "<link>/world/a-story-here</link></item></channel></rss>"
    ).encode()


@pytest.fixture
def fetch_feed(http_server: HTTPTestServer) -> Iterator[Callable[[Reply], ParsedFeed]]:
    settings = Settings.from_env({}, allow_private_networks=True, max_body_bytes=1024 * 1024)
    with Fetcher(settings) as fetcher:

        def run(reply: Reply) -> ParsedFeed:
            url = http_server.route("/feed", reply)
            result = fetcher.fetch(url)
            return parse_feed(result.body, url=result.url, headers=result.headers)

        yield run


GOOD = [
    ("cp1252-declared-utf8", Reply(body=rss(CAFE).encode("cp1252"))),
    ("cp1252-header-says-utf8",
     Reply(body=rss(CAFE).encode("cp1252"), content_type="application/rss+xml; charset=utf-8")),
    ("latin1-undeclared",
     Reply(body=rss("Café ok", declaration="").encode("latin-1"), content_type="text/xml")),
    ("latin1-header-only",
     Reply(body=rss("Café ok", declaration="").encode("latin-1"),
           content_type="application/xml; charset=iso-8859-1")),
    ("utf16-bom", Reply(body=rss(CAFE, '<?xml version="1.0" encoding="utf-16"?>').encode("utf-16"))),
    ("utf8-bom", Reply(body=b"\xef\xbb\xbf" + rss(CAFE).encode())),
    ("gzip-served-as-html", Reply(body=rss(CAFE).encode(), encoding="gzip", content_type="text/html")),
    ("brotli", Reply(body=rss(CAFE).encode(), encoding="br")),
]  # fmt: skip


@pytest.mark.parametrize("reply", [r for _, r in GOOD], ids=[n for n, _ in GOOD])
def test_feeds_with_wrong_or_missing_encodings_come_through(
    fetch_feed: Callable[[Reply], ParsedFeed], reply: Reply
) -> None:
    entry = fetch_feed(reply).entries[0]
    assert entry.title is not None and entry.title.startswith("Café ")
    assert entry.link is not None and entry.link.endswith("/world/a-story-here")


BAD = [
    ("invalid-xml", Reply(body=b"<rss><channel><title>x</titl"), FeedError, "invalid XML"),
    ("html-instead-of-feed",
     Reply(body=b"<!doctype html><html><body>Welcome</body></html>", content_type="text/html"),
     FeedError, "expected a feed but got an HTML page"),
    ("empty", Reply(body=b""), FeedError, "empty response"),
    ("entity-bomb", Reply(body=bomb()), None, None),
    ("too-large", Reply(body=iter([b"<rss>" + b" " * 65536] * 40)), FetchError,
     "response larger than 1 MB"),
    ("not-found", Reply(404), FetchError, "HTTP 404 from"),
    ("server-error", Reply(500, headers={"Retry-After": "60"}), FetchError, "HTTP 500 from"),
]  # fmt: skip


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("reply", "error", "message"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_bad_feeds_fail_with_a_clear_message(
    fetch_feed: Callable[[Reply], ParsedFeed],
    reply: Reply,
    error: type[Exception] | None,
    message: str | None,
) -> None:
    if error is None:  # parses, but nothing expands
        feed = fetch_feed(reply)
        assert "lollol" not in repr(feed)
        return
    with pytest.raises(error, match=message):
        fetch_feed(reply)
