"""OPML import and export (the subscription lists feed readers trade).

Parsing uses expat directly and refuses any entity declaration, the way defusedxml does: no
entity bombs, and external entities are never fetched.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any
from xml.parsers import expat


class OpmlError(ValueError):
    """Not an OPML file we can read."""


@dataclass(frozen=True)
class OpmlOutline:
    url: str  # the feed: xmlUrl
    title: str | None = None
    site_url: str | None = None  # htmlUrl


def parse_opml(data: bytes) -> list[OpmlOutline]:
    """Every outline with an ``xmlUrl``, nested folders included, in document order, once each."""
    reader = _OutlineReader()
    parser = expat.ParserCreate()
    parser.StartElementHandler = reader.start
    parser.EntityDeclHandler = _refuse_entities
    parser.UnparsedEntityDeclHandler = _refuse_entities
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise OpmlError(f"invalid OPML: {exc}") from exc
    if reader.root != "opml":
        raise OpmlError(f"not an OPML file (root element is <{reader.root or 'nothing'}>)")
    return reader.outlines


class _OutlineReader:
    def __init__(self) -> None:
        self.root: str | None = None
        self.outlines: list[OpmlOutline] = []
        self._seen: set[str] = set()

    def start(self, name: str, attributes: dict[str, str]) -> None:
        if self.root is None:
            self.root = name.lower()
        if name.lower() != "outline":
            return
        attrs = {key.lower(): value.strip() for key, value in attributes.items()}
        url = attrs.get("xmlurl")
        if url and url not in self._seen:
            self._seen.add(url)
            title = attrs.get("title") or attrs.get("text") or None
            self.outlines.append(OpmlOutline(url, title, attrs.get("htmlurl") or None))


def _refuse_entities(*_args: Any) -> None:
    raise OpmlError("OPML with entity declarations is refused")


def render_opml(outlines: list[OpmlOutline], title: str = "Tidings sources") -> str:
    """An OPML 2.0 document listing the outlines as RSS subscriptions."""
    root = ET.Element("opml", version="2.0")
    ET.SubElement(ET.SubElement(root, "head"), "title").text = title
    body = ET.SubElement(root, "body")
    for outline in outlines:
        attributes = {"type": "rss", "text": outline.title or outline.url, "xmlUrl": outline.url}
        if outline.title:
            attributes["title"] = outline.title
        if outline.site_url:
            attributes["htmlUrl"] = outline.site_url
        ET.SubElement(body, "outline", attributes)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
