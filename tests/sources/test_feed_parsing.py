"""Feed parsing: every format from fixtures next to their expected output, and what goes wrong."""

from __future__ import annotations

import json
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tidings.sources.feeds import FeedError, ParsedFeed, parse_feed

FEEDS = Path(__file__).parent.parent / "data" / "feeds"
FIXTURES = sorted(p for p in FEEDS.iterdir() if not p.name.endswith(".expected.json"))


def summary(feed: ParsedFeed) -> dict[str, object]:
    """What a fixture's .expected.json records."""

    def when(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "format": feed.format, "title": feed.title, "site_url": feed.site_url,
        "ttl_minutes": feed.ttl_minutes, "hub_url": feed.hub_url, "self_url": feed.self_url,
        "entries": [
            {"key": e.key, "link": e.link, "title": e.title, "published": when(e.published),
             "updated": when(e.updated), "summary": e.summary, "content": e.content}
            for e in feed.entries
        ],
    }  # fmt: skip


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: p.name)
def test_each_feed_format_parses_to_its_expected_output(fixture: Path) -> None:
    feed = parse_feed(fixture.read_bytes(), url=f"https://news.example/feeds/{fixture.name}")
    expected = json.loads((FEEDS / f"{fixture.stem}.expected.json").read_text())
    assert summary(feed) == expected


def test_the_fixtures_cover_rss_091_092_10_20_atom_and_json_feed_10_11() -> None:
    formats = {parse_feed(p.read_bytes(), url="https://news.example/").format for p in FIXTURES}
    assert formats == {"rss091n", "rss092", "rss10", "rss20", "atom10", "json1", "json1.1"}


def test_entry_dates_are_aware_utc_datetimes() -> None:
    feed = parse_feed((FEEDS / "rss20.xml").read_bytes(), url="https://news.example/feed.rss")
    assert feed.entries[0].published == datetime(2024, 3, 4, 0, 33, tzinfo=UTC)


def rss(items: str, channel: str = "") -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
        f"<link>https://news.example/</link>{channel}{items}</channel></rss>"
    ).encode()


def item(body: str = "Body", title: str = "Title", updated: str = "") -> str:
    extra = f"<atom:updated xmlns:atom='http://www.w3.org/2005/Atom'>{updated}</atom:updated>"
    return (
        f"<item><title>{title}</title><link>/a-story-about-things</link><guid isPermaLink='false'>g1</guid>"
        f"<description>{body}</description>{extra if updated else ''}</item>"
    )


def test_version_changes_when_an_entry_is_edited_in_place_and_key_stays() -> None:
    before = parse_feed(rss(item("First text")), url="https://news.example/").entries[0]
    same = parse_feed(rss(item("First text")), url="https://news.example/").entries[0]
    edited = parse_feed(rss(item("Corrected text")), url="https://news.example/").entries[0]
    assert before.version == same.version
    assert edited.version != before.version
    assert edited.key == before.key == "g1"


def test_version_changes_when_only_the_updated_date_moves() -> None:
    first = parse_feed(rss(item(updated="2024-03-04T09:00:00Z")), url="https://n.example/")
    later = parse_feed(rss(item(updated="2024-03-04T10:00:00Z")), url="https://n.example/")
    assert first.entries[0].version != later.entries[0].version


def test_entry_without_guid_is_keyed_by_its_absolute_link() -> None:
    body = rss("<item><title>x</title><link>/world/a-story-without-guid</link></item>")
    entry = parse_feed(body, url="https://news.example/feed").entries[0]
    assert entry.key == entry.link == "https://news.example/world/a-story-without-guid"


def test_websub_links_come_from_http_link_headers_too() -> None:
    headers = {"Link": '<https://hub.example/>; rel="hub", </feed.rss>; rel="self"'}
    feed = parse_feed(rss(item()), url="https://news.example/feed.rss", headers=headers)
    assert (feed.hub_url, feed.self_url) == (
        "https://hub.example/",
        "https://news.example/feed.rss",
    )


def test_valid_empty_feed_is_a_feed_without_entries() -> None:
    feed = parse_feed(rss(""), url="https://news.example/")
    assert feed.entries == [] and feed.title == "T"


# -- bad input ------------------------------------------------------------------------------

HTML_PAGE = b"<!DOCTYPE html><html><head><title>News</title></head><body><p>hi</p></body></html>"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty response"),
        (b"  \r\n\t ", "empty response"),
        (HTML_PAGE, "expected a feed but got an HTML page"),
        (b"<html><body>Error</body></html>", "expected a feed but got an HTML page"),
        (b"\x00\x01\x02 binary junk", "invalid XML"),
        (b"<?xml version='1.0'?><rss version='2.0'><channel><title>cut off", "invalid XML"),
        (b"<?xml version='1.0'?><catalog><book>x</book></catalog>", "not RSS or Atom"),
        (b'{"hello": "world"}', "not a JSON Feed"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": 3}', "no items list"),
        (b"{not json", "invalid JSON Feed"),
        (b"[" * 100_000, "invalid JSON Feed"),
    ],
    ids=["empty", "blank", "html", "bare-html", "binary", "truncated", "other-xml",
         "other-json", "items-not-list", "bad-json", "deep-json"],
)  # fmt: skip
def test_bad_bodies_raise_a_clear_feed_error(body: bytes, message: str) -> None:
    with pytest.raises(FeedError, match=message):
        parse_feed(body, url="https://news.example/feed")


def test_a_body_that_names_a_local_file_is_not_opened() -> None:
    """feedparser opens a bytes argument that is a file name; parse_feed must never do that."""
    with pytest.raises(FeedError):
        parse_feed(str(FEEDS / "rss20.xml").encode(), url="https://news.example/feed")


def test_bozo_feed_that_still_has_entries_is_accepted() -> None:
    broken = b"<rss version='2.0'><channel><title>T</title><item><title>a</title></chnnel>"
    feed = parse_feed(broken, url="https://news.example/")
    assert [e.title for e in feed.entries] == ["a"]


@pytest.mark.parametrize(
    "body",
    [
        # windows-1252 bytes (curly quotes, é) in a document that declares UTF-8
        rss(item(title="Café “quoted”")).decode().encode("cp1252"),
        # Latin-1 with no XML declaration at all
        rss(item(title="Café “quoted”"))
        .decode()
        .split("?>", 1)[1]
        .replace("“", '"')
        .replace("”", '"')
        .encode("latin-1"),
        # UTF-16 with a byte order mark and a matching declaration
        rss(item(title="Café “quoted”")).decode().replace("utf-8", "utf-16").encode("utf-16"),
    ],
    ids=["cp1252-declared-utf8", "latin1-undeclared", "utf16-bom"],
)
def test_wrong_or_missing_encodings_still_give_the_right_text(body: bytes) -> None:
    entry = parse_feed(body, url="https://news.example/").entries[0]
    assert entry.title is not None and entry.title.startswith("Café ")


def billion_laughs(levels: int = 9) -> bytes:
    entities = '<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, levels + 1)
    )
    return (
        f'<?xml version="1.0"?><!DOCTYPE rss [{entities}]><rss version="2.0"><channel>'
        f"<title>&lol{levels};</title><item><title>&lol{levels};</title>"
        "<link>https://news.example/a-story-with-laughs</link></item></channel></rss>"
    ).encode()


def peak_memory(fn: object) -> tuple[object, int]:
    tracemalloc.start()
    try:
        result = fn()  # type: ignore[operator]
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.timeout(20)
def test_billion_laughs_does_not_expand() -> None:
    """10^9 'lol's if expanded; expat alone would allow 8 MB+ of expansion before stopping."""
    feed, peak = peak_memory(lambda: parse_feed(billion_laughs(), url="https://n.example/"))
    assert isinstance(feed, ParsedFeed)
    assert all("lollol" not in (e.title or "") for e in feed.entries)
    assert peak < 2 * 1024 * 1024


@pytest.mark.timeout(20)
def test_quadratic_blowup_entity_does_not_expand() -> None:
    """One 100 KB entity referenced 20 000 times would be 2 GB of text."""
    body = (
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "{"A" * 100_000}">]>'
        f'<rss version="2.0"><channel><title>t</title><item><title>{"&a;" * 20_000}</title>'
        "<link>https://news.example/a-story</link></item></channel></rss>"
    ).encode()
    _, peak = peak_memory(lambda: parse_feed(body, url="https://n.example/"))
    assert peak < 20 * 1024 * 1024


def test_external_entities_are_never_read() -> None:
    secret = FEEDS / "rss20.xml"
    body = (
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x SYSTEM "file://{secret}">]>'
        '<rss version="2.0"><channel><title>&x;</title><item><title>&x;</title>'
        "<link>https://news.example/a-story</link></item></channel></rss>"
    ).encode()
    feed = parse_feed(body, url="https://news.example/")
    assert "Oneindia" not in repr(feed)


def test_utf16_feed_that_declares_entities_is_refused() -> None:
    body = billion_laughs(3).decode().replace('<?xml version="1.0"?>', "").encode("utf-16")
    with pytest.raises(FeedError, match="declares XML entities"):
        parse_feed(body, url="https://news.example/")
