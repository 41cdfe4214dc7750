"""What a URL is, as a source: a feed, a page that links its feed, an article, or a section page.

``discover`` fetches the URL once (and the linked feed, to check that it parses).
``article_links`` lists the links of a section page that look like articles.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

import lxml.html
from lxml import etree

from tidings.sources.feeds import FeedError, parse_feed
from tidings.sources.http import ACCEPT_FEED, Fetcher, FetchError, FetchResult

FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/feed+json")
ARTICLE_TYPES = {"article", "newsarticle", "blogposting", "reportagenewsarticle", "report"}
MIN_ARTICLE_TEXT = 500  # characters of text in the one <article> of an article page


@dataclass(frozen=True)
class DiscoveredSource:
    url: str
    kind: str  # feed | page | section
    title: str | None = None


def discover(fetcher: Fetcher, url: str) -> DiscoveredSource:
    """Fetch url and say what kind of source it is; a page that links a feed gives the feed."""
    result = fetcher.fetch(url, accept=ACCEPT_FEED)
    try:
        feed = parse_feed(result.body, url=result.url, headers=result.headers)
        return DiscoveredSource(result.url, "feed", feed.title)
    except FeedError:
        if not _is_html(result):
            raise FetchError(
                f"{result.url} is neither a feed nor an HTML page "
                f"({result.content_type or 'no content type'})",
                url=result.url,
                permanent=True,
            ) from None
    document = parse_html(result.body, result.headers.get("content-type"))
    for feed_url in feed_links(document, result.url):
        found = _try_feed(fetcher, feed_url)
        if found is not None:
            return found
    kind = "page" if is_article_page(document) else "section"
    return DiscoveredSource(result.url, kind, page_title(document))


def _try_feed(fetcher: Fetcher, url: str) -> DiscoveredSource | None:
    try:
        result = fetcher.fetch(url, accept=ACCEPT_FEED)
        feed = parse_feed(result.body, url=result.url, headers=result.headers)
    except (FetchError, FeedError):
        return None
    return DiscoveredSource(result.url, "feed", feed.title)


def _is_html(result: FetchResult) -> bool:
    if result.content_type in ("text/html", "application/xhtml+xml"):
        return True
    return bool(re.search(rb"<(!doctype\s+html|html[\s>])", result.body[:2048].lower()))


# -- HTML -------------------------------------------------------------------------------------


def parse_html(body: bytes | str, content_type: str | None = None) -> etree._Element:
    """An lxml HTML tree; the charset from Content-Type wins, else the page's own meta tag."""
    charset = _charset(content_type)
    if isinstance(body, bytes) and charset:
        body = body.decode(charset, "replace")
    if not (body.strip() if isinstance(body, str) else body.strip()):
        return lxml.html.fromstring("<html></html>")
    try:
        return lxml.html.document_fromstring(body)
    except (etree.ParserError, ValueError):
        return lxml.html.fromstring("<html></html>")


def _charset(content_type: str | None) -> str | None:
    match = re.search(r"charset=[\"']?([\w.:-]+)", content_type or "", re.IGNORECASE)
    if not match:
        return None
    try:
        "".encode(match.group(1))
    except LookupError:
        return None
    return match.group(1)


def feed_links(document: etree._Element, page_url: str) -> list[str]:
    """Feeds the page announces with <link rel="alternate">: RSS/Atom first, then JSON Feed."""
    base = _base_url(document, page_url)
    found: list[tuple[int, str]] = []
    for link in document.iter("link"):
        rels = (link.get("rel") or "").lower().split()
        kind = (link.get("type") or "").split(";", 1)[0].strip().lower()
        href = (link.get("href") or "").strip()
        if "alternate" in rels and kind in FEED_TYPES and href:
            found.append((kind == "application/feed+json", urljoin(base, href)))
    ordered = [url for _, url in sorted(found, key=lambda pair: pair[0])]
    return list(dict.fromkeys(ordered))


def _base_url(document: etree._Element, page_url: str) -> str:
    base = document.find(".//base[@href]")
    return urljoin(page_url, base.get("href", "")) if base is not None else page_url


def is_article_page(document: etree._Element) -> bool:
    """An article: og:type article, JSON-LD of an article type, or one substantial <article>."""
    og_type = _meta(document, "og:type")
    if og_type and og_type.lower() == "article":
        return True
    if _json_ld_types(document) & ARTICLE_TYPES:
        return True
    articles = list(document.iter("article"))
    return len(articles) == 1 and len(articles[0].text_content().strip()) >= MIN_ARTICLE_TEXT


def page_title(document: etree._Element) -> str | None:
    title = _meta(document, "og:title") or document.findtext(".//title")
    return " ".join(title.split()) if title and title.strip() else None


def _meta(document: etree._Element, name: str) -> str | None:
    for meta in document.iter("meta"):
        if name in ((meta.get("property") or "").lower(), (meta.get("name") or "").lower()):
            return (meta.get("content") or "").strip() or None
    return None


def _json_ld_types(document: etree._Element) -> set[str]:
    types: set[str] = set()
    for script in document.iter("script"):
        if (script.get("type") or "").lower() == "application/ld+json":
            try:
                data = json.loads(script.text or "")
            except (ValueError, RecursionError):
                continue
            types |= _types_in(data)
    return types


def _types_in(data: object) -> set[str]:
    if isinstance(data, list):
        return set().union(*(_types_in(item) for item in data)) if data else set()
    if not isinstance(data, dict):
        return set()
    kind = data.get("@type")
    kinds = kind if isinstance(kind, list) else [kind]
    found = {k.lower() for k in kinds if isinstance(k, str)}
    return found | _types_in(data.get("@graph", []))


# -- article links of a section page ----------------------------------------------------------

NOT_ARTICLES = {
    "tag",
    "tags",
    "topic",
    "topics",
    "author",
    "authors",
    "category",
    "categories",
    "section",
    "sections",
    "search",
    "login",
    "signin",
    "signup",
    "register",
    "account",
    "subscribe",
    "newsletter",
    "newsletters",
    "about",
    "contact",
    "privacy",
    "terms",
    "feed",
    "rss",
    "page",
    "people",
    "profile",
    "user",
    "users",
    "live-tv",
    "video-gallery",
    "photos",
    "cookies",
    "advertise",
    "careers",
    "help",
    "faq",
    "sitemap",
    "archive",
    "archives",
    "amp",
}
NOT_PAGES = re.compile(
    r"\.(jpe?g|png|gif|webp|svg|ico|pdf|zip|mp3|mp4|css|js|xml|rss|atom|json|txt)$", re.I
)
SKIPPED_REGIONS = {"nav", "header", "footer"}


def article_links(html: str | bytes, base_url: str) -> list[str]:
    """Same-site links that look like articles, in page order, once each (fragments dropped)."""
    document = parse_html(html)
    base = _base_url(document, base_url)
    page = _normalized(base_url)
    links: dict[str, None] = {}
    for anchor in document.iter("a"):
        href = (anchor.get("href") or "").strip()
        if not href or _in_skipped_region(anchor):
            continue
        url = _normalized(urljoin(base, href))
        if url and url != page and _same_site(url, base_url) and looks_like_article(url):
            links.setdefault(url, None)
    return list(links)


def looks_like_article(url: str) -> bool:
    """Path heuristics: a slug of several words, a long numeric id, a dated path, or *.html."""
    path = urlsplit(url).path
    segments = [s for s in path.split("/") if s]
    if not segments or NOT_PAGES.search(path):
        return False
    if any(segment.lower() in NOT_ARTICLES for segment in segments[:-1] or segments):
        return False
    last = segments[-1]
    stem = re.sub(r"\.(s?html?|php|aspx?)$", "", last, flags=re.I)
    slug = len(re.findall(r"[a-z0-9]+", stem.lower())) >= 3 and bool(re.search(r"[-_]", stem))
    numeric_id = bool(re.search(r"\d{5,}", last))
    dated = bool(re.search(r"/(19|20)\d\d/\d\d?/", path)) and len(segments) >= 3
    document = stem != last and len(stem) >= 8  # story-name.html
    return slug or numeric_id or dated or document


def _in_skipped_region(anchor: etree._Element) -> bool:
    return any(parent.tag in SKIPPED_REGIONS for parent in anchor.iterancestors())


def _normalized(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ""
    return urlunsplit((parts.scheme, parts.netloc.lower(), parts.path or "/", parts.query, ""))


def _same_site(url: str, page_url: str) -> bool:
    return _site_host(url) == _site_host(page_url)


def _site_host(url: str) -> str:
    host = (urlsplit(url).hostname or "").lower()
    return host[4:] if host.startswith("www.") else host
