"""Pulling the article out of a news page: text, title, byline, date, site, language, identity.

trafilatura does the extraction.  Around it Tidings does only cheap things: decode bytes
honestly, read a handful of ``<head>`` facts from the tree trafilatura parses anyway (the
canonical link, ``<html lang>``, the publication time), and choose the article's identity URL.
The page is parsed once; trafilatura works on a copy of that tree.

``extract_article`` is a plain top-level function with picklable arguments and result, so the
pipeline can run it in a process pool.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from lxml.html import HtmlElement

from tidings.articles.language import detect_language, language_from_tag
from tidings.articles.urls import identity_url

# Less body text than this is a headline, a teaser or a stray prompt ("For Quick Alerts")
# left over from a section page, not an article.  (A hundred characters of Chinese or
# Japanese are already a few sentences; of English, some twenty words.)
MIN_ARTICLE_CHARS = 100


class ExtractionError(ValueError):
    """The input holds no article Tidings can read; not ``permanent`` when trying the page
    again may do (its extraction timed out or its process died)."""

    def __init__(self, message: str, *, permanent: bool = True) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class ExtractedArticle:
    """What a page says about its article.  ``canonical_url`` is the article's identity."""

    url: str | None
    title: str | None
    author: str | None
    published: datetime | None  # aware, UTC
    sitename: str | None
    language: str | None
    text: str
    canonical_url: str | None
    # The text's MinHash for story grouping, when the caller asked for it (stored form).
    signature: bytes | None = None


@dataclass(frozen=True)
class PageHead:
    """The few facts Tidings reads from a page's markup itself."""

    canonical: str | None = None
    og_url: str | None = None
    language: str | None = None
    published: datetime | None = None  # from <meta>: trusted
    jsonld_published: datetime | None = None  # from JSON-LD: trusted when the day agrees

    def published_on(self, extracted: datetime | None) -> datetime | None:
        """The publication time: the page's meta, else JSON-LD (if it agrees with the day
        trafilatura found, as JSON-LD often lists related articles too), else that day."""
        if self.published:
            return self.published
        jsonld = self.jsonld_published
        if jsonld and (extracted is None or _same_local_day(jsonld, extracted)):
            return jsonld
        return extracted


def _same_local_day(moment: datetime, day: datetime) -> bool:
    """Whether ``moment`` falls on calendar ``day`` (midnight UTC) in some time zone (UTC-12…+14)."""
    return day - timedelta(hours=14) <= moment < day + timedelta(hours=36)


def extract_article(html: str | bytes, url: str | None = None) -> ExtractedArticle:
    """Extract the article from ``html`` (text, or bytes in whatever encoding the page uses).

    ``url`` is where the page came from, if known.  Raises ``ExtractionError`` when the input
    is not HTML or holds no article.
    """
    from trafilatura.utils import load_html

    text = decode_html(html) if isinstance(html, bytes) else html
    tree = load_html(text) if text.strip() else None
    if tree is None:
        raise ExtractionError(f"no article found in {url or 'input'}: not readable as HTML")
    head = read_head(tree)
    article = _extracted(tree, head, url, fast=True) or _extracted(tree, head, url, fast=False)
    if article is None:
        raise ExtractionError(f"no article found in {url or 'input'}")
    return article


def _extracted(
    tree: HtmlElement, head: PageHead, url: str | None, *, fast: bool
) -> ExtractedArticle | None:
    """trafilatura's article, if it found one with at least ``MIN_ARTICLE_CHARS`` of text.

    Precision is favoured: for alerts, a stray "ALLOW NOTIFICATIONS" in the text is worse than
    a missed caption.  The fast pass (trafilatura's own extractor, no backup algorithms) finds
    most articles at two thirds of the cost; only when it finds none do the backups run.
    """
    import trafilatura

    document = trafilatura.bare_extraction(
        tree, url=url, with_metadata=True, include_comments=False, favor_precision=True, fast=fast
    )
    article = _article(document, head, url) if document is not None else None
    return article if article is not None and len(article.text) >= MIN_ARTICLE_CHARS else None


def _article(document: Any, head: PageHead, url: str | None) -> ExtractedArticle:
    title = _clean(document.title)
    text = _without_heading(_tidy_text(document.text or ""), title)
    trafilatura_date = parse_date(document.date)
    identity = identity_url(url, [head.canonical, head.og_url])
    return ExtractedArticle(
        url=url or identity,
        title=title,
        author=_clean(document.author),
        published=head.published_on(trafilatura_date),
        sitename=_clean(document.sitename),
        language=head.language or detect_language(text),
        text=text,
        canonical_url=identity,
    )


# --- decoding -------------------------------------------------------------------------------

_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_DECLARED_CHARSET = re.compile(
    rb"""<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_.:\-]+)|<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9_.:\-]+)""",
    re.IGNORECASE,
)
# Browsers read these labels as windows-1252 (WHATWG Encoding Standard); so do we.
_WINDOWS_1252_LABELS = {"iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "ascii", "us-ascii"}


def decode_html(data: bytes) -> str:
    """Decode a page: byte-order mark, then the charset the page declares, then UTF-8,
    then charset detection (trafilatura's), and as a last resort UTF-8 with replacement."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(encoding, errors="replace")
    for encoding in filter(None, (declared_charset(data), "utf-8")):
        try:
            return data.decode(encoding)
        except (LookupError, UnicodeDecodeError):
            continue
    from trafilatura.utils import decode_file

    return decode_file(data)


def declared_charset(data: bytes) -> str | None:
    """The charset a page declares in its first 4 KiB (``<meta charset>``, http-equiv, XML)."""
    match = _DECLARED_CHARSET.search(data[:4096])
    if not match:
        return None
    label = (match.group(1) or match.group(2)).decode("ascii").lower()
    if label in _WINDOWS_1252_LABELS:
        return "windows-1252"
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


# --- the page's own markup ------------------------------------------------------------------

_PUBLISHED_META = frozenset(
    {
        "article:published_time",
        "og:article:published_time",
        "og:published_time",
        "datepublished",
        "pubdate",
        "publishdate",
        "publish-date",
        "publish_date",
        "parsely-pub-date",
        "sailthru.date",
        "dc.date.issued",
        "dcterms.issued",
    }
)
_JSONLD_PUBLISHED = re.compile(r'"datePublished"\s*:\s*"([^"]{8,40})"')


def read_head(tree: HtmlElement) -> PageHead:
    """Canonical link, og:url, declared language and publication time, read from the tree."""
    meta = _head_meta(tree)
    published_values = [meta[name] for name in _PUBLISHED_META if name in meta]
    return PageHead(
        canonical=_canonical_link(tree),
        og_url=meta.get("og:url"),
        language=language_from_tag(_declared_language(tree, meta)),
        published=next(filter(None, map(parse_date, published_values)), None),
        jsonld_published=_jsonld_published(tree),
    )


def _head_meta(tree: HtmlElement) -> dict[str, str]:
    """``<meta>`` in ``<head>`` by property/name/itemprop/http-equiv (lower-cased); first wins."""
    found: dict[str, str] = {}
    for element in tree.iterfind(".//head//meta[@content]"):
        key = element.get("property") or element.get("name") or element.get("itemprop")
        key = key or element.get("http-equiv")
        if key:
            found.setdefault(key.strip().lower(), element.get("content", "").strip())
    return found


def _canonical_link(tree: HtmlElement) -> str | None:
    for element in tree.iterfind(".//head//link[@href]"):
        if "canonical" in (element.get("rel") or "").lower().split():
            return element.get("href")
    return None


def _declared_language(tree: HtmlElement, meta: dict[str, str]) -> str | None:
    root = tree.getroottree().getroot()
    declared = root.get("lang") or root.get("{http://www.w3.org/XML/1998/namespace}lang")
    return declared or meta.get("content-language") or meta.get("language")


def _jsonld_published(tree: HtmlElement) -> datetime | None:
    for script in tree.iterfind(".//script[@type='application/ld+json']"):
        match = _JSONLD_PUBLISHED.search(script.text or "")
        if match:
            return parse_date(match.group(1))
    return None


# --- values ---------------------------------------------------------------------------------


def parse_date(value: str | None) -> datetime | None:
    """An ISO 8601 or RFC 2822 date/time as an aware UTC datetime (naive values are UTC)."""
    if not value or not value.strip():
        return None
    parsed = _parse_iso(value.strip()) or _parse_rfc2822(value.strip())
    if parsed is None:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _parse_iso(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _parse_rfc2822(value: str) -> datetime | None:
    from email.utils import parsedate_to_datetime

    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None


def _clean(value: str | None) -> str | None:
    value = " ".join(value.split()) if value else None
    return value or None


def _without_heading(text: str, title: str | None) -> str:
    """The body without a first line that merely repeats the title (the page's ``<h1>``)."""
    first, _, rest = text.partition("\n")
    if title and rest and " ".join(first.split()).casefold() == title.casefold():
        return rest
    return text


def _tidy_text(text: str) -> str:
    lines = (line.strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)
