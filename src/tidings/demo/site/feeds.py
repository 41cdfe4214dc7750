"""The demo outlets' feeds: RSS 2.0 (whole site and per section), Atom 1.0 and JSON Feed 1.1.

Feeds carry the headline, the standfirst and the dates, not the article text, as most news
feeds do: the full article is on the page the entry links to.
"""

from __future__ import annotations

import json
from datetime import datetime
from email.utils import format_datetime
from xml.etree import ElementTree as ET

from tidings.demo.site.pages import PageContext, iso, section_title
from tidings.demo.site.timeline import Publication

FEED_LIMIT = 50
ATOM_NS = "http://www.w3.org/2005/Atom"
DC_NS = "http://purl.org/dc/elements/1.1/"
ET.register_namespace("atom", ATOM_NS)
ET.register_namespace("dc", DC_NS)


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrib: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrib)
    if text is not None:
        element.text = text
    return element


def _to_bytes(root: ET.Element) -> bytes:
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def newest_activity(publications: list[Publication], default: datetime) -> datetime:
    """The feed's own last-modified time: its most recently published or updated entry."""
    return max((p.last_activity for p in publications), default=default)


def render_rss(ctx: PageContext, ttl_minutes: int | None, section: str = "") -> bytes:
    """RSS 2.0 for the whole outlet, or for one section."""
    publications = (ctx.in_section(section) if section else ctx.edition)[:FEED_LIMIT]
    path = f"/section/{section}/feed.rss" if section else "/feed.rss"
    title = f"{ctx.outlet.name} — {section_title(section)}" if section else ctx.outlet.name
    rss = ET.Element("rss", {"version": "2.0"})
    channel = _sub(rss, "channel")
    _sub(channel, "title", title)
    _sub(channel, "link", ctx.url(f"/section/{section}/" if section else "/"))
    _sub(channel, "description", ctx.outlet.tagline)
    _sub(channel, "language", "en")
    _sub(channel, f"{{{ATOM_NS}}}link", href=ctx.url(path), rel="self", type="application/rss+xml")
    built = newest_activity(publications, _epoch())
    _sub(channel, "lastBuildDate", format_datetime(built, usegmt=True))
    if ttl_minutes:
        _sub(channel, "ttl", str(ttl_minutes))
    for publication in publications:
        _rss_item(channel, ctx, publication)
    return _to_bytes(rss)


def _epoch() -> datetime:
    return datetime.fromisoformat("1970-01-01T00:00:00+00:00")


def _rss_item(channel: ET.Element, ctx: PageContext, publication: Publication) -> None:
    article = publication.article
    url = ctx.url(article.path)
    item = _sub(channel, "item")
    _sub(item, "title", article.title)
    _sub(item, "link", f"{url}?utm_source=rss&utm_medium=feed&utm_campaign={article.section}")
    _sub(item, "guid", url, isPermaLink="true")
    _sub(item, "pubDate", format_datetime(publication.published_at, usegmt=True))
    _sub(item, f"{{{DC_NS}}}creator", article.author)
    _sub(item, "category", section_title(article.section))
    _sub(item, "description", article.dek)


def render_atom(ctx: PageContext) -> bytes:
    """Atom 1.0 for the whole outlet."""
    publications = ctx.edition[:FEED_LIMIT]
    feed = ET.Element(f"{{{ATOM_NS}}}feed", {"xml:lang": "en"})
    _sub(feed, f"{{{ATOM_NS}}}id", ctx.url("/"))
    _sub(feed, f"{{{ATOM_NS}}}title", ctx.outlet.name)
    _sub(feed, f"{{{ATOM_NS}}}subtitle", ctx.outlet.tagline)
    _sub(feed, f"{{{ATOM_NS}}}updated", iso(newest_activity(publications, _epoch())))
    _sub(feed, f"{{{ATOM_NS}}}link", href=ctx.url("/feed.atom"), rel="self")
    _sub(feed, f"{{{ATOM_NS}}}link", href=ctx.url("/"), rel="alternate", type="text/html")
    for publication in publications:
        _atom_entry(feed, ctx, publication)
    return _to_bytes(feed)


def _atom_entry(feed: ET.Element, ctx: PageContext, publication: Publication) -> None:
    article = publication.article
    entry = _sub(feed, f"{{{ATOM_NS}}}entry")
    _sub(entry, f"{{{ATOM_NS}}}id", ctx.url(article.path))
    _sub(entry, f"{{{ATOM_NS}}}title", article.title)
    _sub(entry, f"{{{ATOM_NS}}}link", href=ctx.url(article.path), rel="alternate")
    _sub(entry, f"{{{ATOM_NS}}}published", iso(publication.published_at))
    _sub(entry, f"{{{ATOM_NS}}}updated", iso(publication.last_activity))
    author = _sub(entry, f"{{{ATOM_NS}}}author")
    _sub(author, f"{{{ATOM_NS}}}name", article.author)
    _sub(
        entry, f"{{{ATOM_NS}}}category", term=article.section, label=section_title(article.section)
    )
    _sub(entry, f"{{{ATOM_NS}}}summary", article.dek, type="text")


def render_json_feed(ctx: PageContext) -> bytes:
    """JSON Feed 1.1 for the whole outlet."""
    feed = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": ctx.outlet.name,
        "home_page_url": ctx.url("/"),
        "feed_url": ctx.url("/feed.json"),
        "description": ctx.outlet.tagline,
        "language": "en",
        "items": [_json_item(ctx, p) for p in ctx.edition[:FEED_LIMIT]],
    }
    return json.dumps(feed, ensure_ascii=False, indent=1).encode("utf-8")


def _json_item(ctx: PageContext, publication: Publication) -> dict[str, object]:
    article = publication.article
    return {
        "id": ctx.url(article.path),
        "url": ctx.url(article.path),
        "title": article.title,
        "summary": article.dek,
        "content_text": article.dek,
        "date_published": iso(publication.published_at),
        "date_modified": iso(publication.last_activity),
        "authors": [{"name": article.author}],
        "tags": [section_title(article.section), *article.tags],
    }
