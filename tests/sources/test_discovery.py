"""Discovery: what a URL is as a source, and the article links of a section page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.httpserver import HTTPTestServer, Reply

from tidings.config import Settings
from tidings.sources.discovery import DiscoveredSource, article_links, discover
from tidings.sources.http import Fetcher, FetchError

FEEDS = Path(__file__).parent.parent / "data" / "feeds"
RSS = (FEEDS / "rss20.xml").read_bytes()
ATOM = (FEEDS / "atom10.xml").read_bytes()
JSON_FEED = (FEEDS / "jsonfeed11.json").read_bytes()
HTML = "text/html; charset=utf-8"


@pytest.fixture
def fetcher() -> Iterator[Fetcher]:
    with Fetcher(Settings.from_env({}, allow_private_networks=True)) as f:
        yield f


def page(head: str = "", body: str = "") -> bytes:
    return f"<!DOCTYPE html><html><head><title>Oneindia</title>{head}</head><body>{body}</body></html>".encode()


def test_a_feed_url_is_a_feed(http_server: HTTPTestServer, fetcher: Fetcher) -> None:
    url = http_server.route("/feed.rss", Reply(body=RSS, content_type="application/rss+xml"))
    assert discover(fetcher, url) == DiscoveredSource(url, "feed", "Oneindia News")


def test_a_feed_served_as_text_html_is_still_a_feed(
    http_server: HTTPTestServer, fetcher: Fetcher
) -> None:
    url = http_server.route("/feed", Reply(body=ATOM, content_type="text/html"))
    assert discover(fetcher, url).kind == "feed"


def test_html_page_links_its_feed_relative_href_resolved_rss_preferred(
    http_server: HTTPTestServer, fetcher: Fetcher
) -> None:
    head = (
        '<link rel="alternate" type="application/feed+json" href="/feed.json" title="JSON">'
        '<link rel="alternate" type="application/rss+xml" href="feeds/main.rss" title="Main">'
        '<link rel="alternate" type="application/atom+xml" href="/comments.atom" title="Comments">'
    )
    http_server.route("/news/", Reply(body=page(head), content_type=HTML))
    http_server.route("/news/feeds/main.rss", Reply(body=RSS, content_type="application/rss+xml"))
    http_server.route("/feed.json", Reply(body=JSON_FEED, content_type="application/feed+json"))
    found = discover(fetcher, http_server.url("/news/"))
    assert found == DiscoveredSource(
        http_server.url("/news/feeds/main.rss"), "feed", "Oneindia News"
    )


def test_a_linked_feed_that_is_broken_falls_back_to_the_next(
    http_server: HTTPTestServer, fetcher: Fetcher
) -> None:
    head = (
        '<link rel="alternate" type="application/rss+xml" href="/gone.rss">'
        '<link rel="alternate" type="application/feed+json" href="/feed.json">'
    )
    http_server.route("/", Reply(body=page(head), content_type=HTML))
    http_server.route("/feed.json", Reply(body=JSON_FEED, content_type="application/feed+json"))
    found = discover(fetcher, http_server.url("/"))
    assert (found.url, found.kind) == (http_server.url("/feed.json"), "feed")


def test_base_href_is_honoured(http_server: HTTPTestServer, fetcher: Fetcher) -> None:
    head = '<base href="/static/"><link rel="alternate" type="application/atom+xml" href="f.atom">'
    http_server.route("/", Reply(body=page(head), content_type=HTML))
    http_server.route("/static/f.atom", Reply(body=ATOM))
    assert discover(fetcher, http_server.url("/")).url == http_server.url("/static/f.atom")


ARTICLE_TEXT = "<p>" + "Syrian President Bashar al-Assad plans to visit North Korea. " * 12 + "</p>"


@pytest.mark.parametrize(
    "head_and_body",
    [
        ('<meta property="og:type" content="article"><meta property="og:title" content="Assad">',
         "<p>short</p>"),
        ('<script type="application/ld+json">{"@context":"https://schema.org",'
         '"@graph":[{"@type":"WebPage"},{"@type":"NewsArticle","headline":"Assad"}]}</script>', ""),
        ("", f"<nav><a href='/'>Home</a></nav><article><h1>Assad</h1>{ARTICLE_TEXT}</article>"),
    ],
    ids=["og-type", "json-ld", "one-article-element"],
)  # fmt: skip
def test_an_article_page_without_feed_is_a_page_source(
    http_server: HTTPTestServer, fetcher: Fetcher, head_and_body: tuple[str, str]
) -> None:
    url = http_server.route("/world/assad-plans-to-visit-kim",
                            Reply(body=page(*head_and_body), content_type=HTML))  # fmt: skip
    assert discover(fetcher, url).kind == "page"


def test_a_section_page_without_feed_is_a_section_source(
    http_server: HTTPTestServer, fetcher: Fetcher
) -> None:
    teasers = "".join(
        f"<article><a href='/world/story-number-{n}-here'>Story {n}</a></article>" for n in range(5)
    )
    url = http_server.route("/world/", Reply(body=page(body=teasers), content_type=HTML))
    assert discover(fetcher, url) == DiscoveredSource(url, "section", "Oneindia")


def test_something_neither_feed_nor_html_is_refused(
    http_server: HTTPTestServer, fetcher: Fetcher
) -> None:
    url = http_server.route(
        "/logo.png", Reply(body=b"\x89PNG\r\n\x1a\n....", content_type="image/png")
    )
    with pytest.raises(FetchError, match=r"neither a feed nor an HTML page \(image/png\)"):
        discover(fetcher, url)


def test_discovery_passes_fetch_errors_on(http_server: HTTPTestServer, fetcher: Fetcher) -> None:
    with pytest.raises(FetchError, match="HTTP 404"):
        discover(fetcher, http_server.url("/missing"))


SECTION = """<!DOCTYPE html><html><head><base href="https://news.example/"></head><body>
<header><a href="/world/header-promo-story-link">promo</a></header>
<nav><a href="/">Home</a> <a href="/section/world/">World</a>
     <a href="/international/a-nav-story-about-things">nav story</a></nav>
<main>
  <a href="/international/assad-plans-to-visit-kim-jong-un-2836243.html">Assad</a>
  <a href="https://www.news.example/international/assad-plans-to-visit-kim-jong-un-2836243.html#comments">again</a>
  <a href="international/kim-to-host-summit-in-june">relative</a>
  <a href="/news/12345678">numeric id</a>
  <a href="/2024/03/04/short">dated</a>
  <a href="/tag/north-korea-news-today">tag</a>
  <a href="/author/shubham-kumar-singh">author</a>
  <a href="/topics/kim-jong-un">topic</a>
  <a href="/section/world/">section</a>
  <a href="/world/">world</a>
  <a href="/about">about</a>
  <a href="/images/a-photo-of-the-summit.jpg">image</a>
  <a href="https://other.example/world/someone-elses-great-story">elsewhere</a>
  <a href="mailto:desk@news.example">mail</a>
  <a href="javascript:void(0)">js</a>
  <a href="/international/assad-plans-to-visit-kim-jong-un-2836243.html?page=2">page 2</a>
</main>
<footer><a href="/privacy-policy-and-terms-of-use">privacy</a></footer>
</body></html>"""


def test_article_links_of_a_section_page() -> None:
    assert article_links(SECTION, "https://news.example/section/world/") == [
        "https://news.example/international/assad-plans-to-visit-kim-jong-un-2836243.html",
        "https://www.news.example/international/assad-plans-to-visit-kim-jong-un-2836243.html",
        "https://news.example/international/kim-to-host-summit-in-june",
        "https://news.example/news/12345678",
        "https://news.example/2024/03/04/short",
        "https://news.example/international/assad-plans-to-visit-kim-jong-un-2836243.html?page=2",
    ]


def test_article_links_accepts_bytes_and_empty_pages() -> None:
    assert article_links(b"", "https://news.example/") == []
    body = b"<a href='/world/a-story-in-bytes'>x</a>"
    assert article_links(body, "https://news.example/") == [
        "https://news.example/world/a-story-in-bytes"
    ]
