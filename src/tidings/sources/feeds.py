"""Feeds: RSS 0.9x/1.0/2.0 and Atom through feedparser, JSON Feed 1.0/1.1 by hand.

``parse_feed`` turns a fetched body into a ``ParsedFeed`` or raises ``FeedError`` with a message
for the user.  Safety: the body is handed to feedparser as a stream (a bare ``bytes`` argument
that happens to be a file name would be *opened*), and feedparser strips every entity
declaration that is not a plain character reference before parsing, so entity bombs and external
entities never expand (see ``tests/sources/test_feed_parsing.py``).
"""

from __future__ import annotations

import calendar
import hashlib
import html
import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import feedparser
import httpx

from tidings.sources.websub import link_header_rels


class FeedError(ValueError):
    """A body that is not a feed we can read."""


@dataclass(frozen=True)
class FeedEntry:
    key: str  # stable identity: guid / id, else the link
    link: str | None  # absolute
    title: str | None
    published: datetime | None
    updated: datetime | None
    summary: str | None
    content: str | None  # HTML when the feed carries it
    version: str  # changes when the entry is updated in place


@dataclass(frozen=True)
class ParsedFeed:
    title: str | None
    site_url: str | None
    entries: list[FeedEntry] = field(default_factory=list)
    ttl_minutes: int | None = None
    hub_url: str | None = None
    self_url: str | None = None
    format: str = ""  # feedparser's version (rss20, atom10, …) or json1.0 / json1.1


def parse_feed(
    body: bytes, *, url: str, headers: Mapping[str, str] | httpx.Headers | None = None
) -> ParsedFeed:
    """Parse a feed fetched from ``url`` (the final URL: relative links resolve against it)."""
    http_headers = httpx.Headers(headers or {})
    head = _head(body)
    if not head:
        raise FeedError("empty response: expected a feed")
    if head.startswith((b"{", b"[")):
        feed = parse_json_feed(body, url=url)
    elif _looks_like_html(head):
        raise FeedError("expected a feed but got an HTML page")
    else:
        feed = _parse_xml_feed(body, url, http_headers)
    return _with_link_headers(feed, http_headers, url)


# -- XML feeds --------------------------------------------------------------------------------


def _parse_xml_feed(body: bytes, url: str, headers: httpx.Headers) -> ParsedFeed:
    parsed = feedparser.parse(
        io.BytesIO(without_entity_declarations(body)),
        response_headers={
            "content-type": headers.get("content-type", "application/xml"),
            "content-location": url,
        },
    )
    if not parsed.entries and (_broken(parsed) or not parsed.version):
        raise FeedError(_not_a_feed(parsed))
    info = parsed.feed
    links = {link.get("rel"): link.get("href") for link in info.get("links", [])}
    return ParsedFeed(
        title=_plain_title(info),
        site_url=_absolute(url, info.get("link")),
        entries=[_xml_entry(entry, url) for entry in parsed.entries],
        ttl_minutes=_int(info.get("ttl")),
        hub_url=_absolute(url, links.get("hub")),
        self_url=_absolute(url, links.get("self")),
        format=parsed.version or "unknown",
    )


def without_entity_declarations(body: bytes) -> bytes:
    """The body with its DOCTYPE removed if that declares entities.

    feedparser only strips entity declarations that start a line, and expat's own guard lets an
    entity expand to 100 times the document's size: a 10 MB feed could become 1 GB.  Feeds have
    no business declaring entities; without the declarations the references stay unexpanded.
    """
    if body.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00")):
        if b"<!entity" in _head(body, 1 << 20):
            raise FeedError("refused: the feed declares XML entities")
        return body
    root = _ROOT_ELEMENT.search(body)
    prolog = body[: root.start()] if root else body
    if b"<!entity" not in prolog.lower():
        return body
    stripped = _DOCTYPE.sub(b"", prolog, count=1)
    if b"<!entity" in stripped.lower():
        raise FeedError("refused: the feed declares XML entities")
    return stripped + body[len(prolog) :]


_ROOT_ELEMENT = re.compile(rb"<[A-Za-z_]")
_DOCTYPE = re.compile(rb"<!DOCTYPE[^\[>]*(?:\[.*?\]\s*)?>", re.S | re.I)
_HARMLESS = (feedparser.NonXMLContentType, feedparser.CharacterEncodingOverride)


def _broken(parsed: Any) -> bool:
    """feedparser's bozo flag, except for complaints about the Content-Type or charset label."""
    return bool(parsed.get("bozo")) and not isinstance(parsed.get("bozo_exception"), _HARMLESS)


def _not_a_feed(parsed: Any) -> str:
    if _broken(parsed):
        problem = parsed.get("bozo_exception")
        return f"invalid XML: {_one_line(str(problem)) or type(problem).__name__}"
    return "expected a feed but got an XML document that is not RSS or Atom"


def _xml_entry(entry: Any, base: str) -> FeedEntry:
    link = _absolute(base, entry.get("link"))
    title, summary = _plain_title(entry), _text(entry.get("summary"))
    content = _xml_content(entry)
    # dict.get: feedparser's own .get("updated_parsed") falls back to the published date.
    updated = _from_struct(dict.get(entry, "updated_parsed"))
    return FeedEntry(
        key=_text(entry.get("id")) or link or _digest(title, summary, content),
        link=link,
        title=title,
        published=_from_struct(dict.get(entry, "published_parsed")) or updated,
        updated=updated,
        summary=summary,
        content=content,
        version=entry_version(updated, title, summary, content),
    )


def _plain_title(item: Any) -> str | None:
    """Titles as plain text: feedparser keeps an HTML title's markup and escapes."""
    title = _text(item.get("title"))
    detail = item.get("title_detail") or {}
    if title and "html" in (detail.get("type") or ""):
        title = _text(html.unescape(_TAG.sub("", title)))
    return title


_TAG = re.compile(r"<[^>]*>")


def _xml_content(entry: Any) -> str | None:
    contents = entry.get("content") or []
    html = [c for c in contents if "html" in (c.get("type") or "")]
    chosen = (html or contents or [None])[0]
    return _text(chosen.get("value")) if chosen else None


def _from_struct(value: Any) -> datetime | None:
    """feedparser's UTC ``time.struct_time`` as an aware datetime."""
    if not value:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC)
    except (OverflowError, ValueError, OSError):
        return None


# -- JSON Feed --------------------------------------------------------------------------------


def parse_json_feed(body: bytes, *, url: str) -> ParsedFeed:
    """JSON Feed 1.0 and 1.1 (https://jsonfeed.org/version/1.1)."""
    try:
        document = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise FeedError(f"invalid JSON Feed: {_one_line(str(exc))[:200]}") from exc
    if not isinstance(document, dict) or not str(document.get("version", "")).startswith(
        "https://jsonfeed.org/version/"
    ):
        raise FeedError("expected a feed but got JSON that is not a JSON Feed")
    items = document.get("items")
    if not isinstance(items, list):
        raise FeedError("invalid JSON Feed: no items list")
    hubs = [h for h in document.get("hubs") or [] if isinstance(h, dict)]
    websub = [h.get("url") for h in hubs if str(h.get("type", "")).lower() == "websub"]
    return ParsedFeed(
        title=_text(document.get("title")),
        site_url=_absolute(url, document.get("home_page_url")),
        entries=[_json_entry(item, url) for item in items if isinstance(item, dict)],
        hub_url=_absolute(url, (websub or [None])[0]),
        self_url=_absolute(url, document.get("feed_url")),
        format="json" + str(document["version"]).rsplit("/", 1)[-1],
    )


def _json_entry(item: dict[str, Any], base: str) -> FeedEntry:
    link = _absolute(base, item.get("url") or item.get("external_url"))
    title, summary = _text(item.get("title")), _text(item.get("summary"))
    content = _text(item.get("content_html")) or _text(item.get("content_text"))
    updated = _iso_date(item.get("date_modified"))
    identity = item.get("id")
    return FeedEntry(
        key=str(identity) if identity not in (None, "") else (link or _digest(title, content)),
        link=link,
        title=title,
        published=_iso_date(item.get("date_published")),
        updated=updated,
        summary=summary,
        content=content,
        version=entry_version(updated, title, summary, content),
    )


def _iso_date(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# -- shared -----------------------------------------------------------------------------------


def entry_version(
    updated: datetime | None, title: str | None, summary: str | None, content: str | None
) -> str:
    """A digest of the entry's updated date and what it says: it changes when either does."""
    stamp = updated.isoformat() if updated is not None else None
    return _digest(stamp, title, content or summary)[:32]


def _with_link_headers(feed: ParsedFeed, headers: httpx.Headers, url: str) -> ParsedFeed:
    """WebSub links may come in HTTP ``Link`` headers instead of (or as well as) the feed."""
    rels = link_header_rels(headers, url)
    if not rels.get("hub") and not rels.get("self"):
        return feed
    return ParsedFeed(
        title=feed.title,
        site_url=feed.site_url,
        entries=feed.entries,
        ttl_minutes=feed.ttl_minutes,
        hub_url=rels.get("hub") or feed.hub_url,
        self_url=rels.get("self") or feed.self_url,
        format=feed.format,
    )


_HTML_START = re.compile(rb"<(!doctype\s+html|html[\s>]|head[\s>]|body[\s>])")


def _head(body: bytes, size: int = 2048) -> bytes:
    """The start of the body, lower-cased, as ASCII-compatible bytes (UTF-16/32 decoded)."""
    start = body[:size]
    boms = (
        (b"\x00\x00\xfe\xff", "utf-32"),
        (b"\xff\xfe\x00\x00", "utf-32"),
        (b"\xff\xfe", "utf-16"),
        (b"\xfe\xff", "utf-16"),
    )
    for bom, codec in boms:
        if start.startswith(bom):
            start = start.decode(codec, "ignore").encode("utf-8")
            break
    return start.lstrip(b"\xef\xbb\xbf \t\r\n\x00").lower()


def _looks_like_html(head: bytes) -> bool:
    """HTML, not XML: an HTML doctype or root before any feed root element."""
    html = _HTML_START.search(head)
    feed = re.search(rb"<(rss|feed|rdf:rdf|channel)[\s>]", head)
    return html is not None and (feed is None or html.start() < feed.start())


def _absolute(base: str, link: Any) -> str | None:
    if not isinstance(link, str) or not link.strip():
        return None
    return urljoin(base, link.strip())


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _int(value: Any) -> int | None:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _digest(*parts: str | None) -> str:
    return hashlib.sha256("\x1f".join(p or "" for p in parts).encode()).hexdigest()


def _one_line(text: str) -> str:
    return " ".join(text.split())
