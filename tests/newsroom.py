"""A local test news site: many feeds, each listing generated article pages.

Real HTTP on 127.0.0.1 (an ephemeral port), a log of every request, and a way to hold a
path's response until the test releases it (to catch a worker mid-fetch).  Also used by the
ingest benchmark, so the pages are news-length and extractable.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape

WORDS = (
    "government minister election court ruling economy market shares bank inflation rate "
    "climate storm flood city council police report hospital doctors patients school "
    "teachers budget parliament vote opposition leader president summit talks trade deal "
    "energy prices oil gas company profits workers strike union border security army "
    "village farmers harvest drought water river bridge railway airport flights tourists "
    "museum festival film music artist football club match season coach players stadium "
    "scientists study research space mission satellite phone software data privacy"
).split()
NAMES = ["Amara Okafor", "Lena Fischer", "Rahul Mehta", "Sofia Alvarez", "Kenji Watanabe",
         "Claire Dubois", "Tom Becker", "Nadia Haddad"]


def sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(9, 22))]
    return " ".join(words).capitalize() + "."


def paragraphs(rng: random.Random, count: int) -> list[str]:
    return [" ".join(sentence(rng) for _ in range(rng.randint(3, 5))) for _ in range(count)]


@dataclass
class NewsArticle:
    path: str
    title: str
    author: str
    published: datetime
    paragraphs: list[str]

    def html(self, base: str) -> str:
        """The page as a news site serves it: the article inside the usual weight of chrome
        (head scripts and styles, a mega-menu, ad slots, sidebars, a link-heavy footer)."""
        rng = random.Random(self.path)
        stamp = self.published.isoformat()
        body = _with_ad_slots([f"<p>{escape(p)}</p>" for p in self.paragraphs], rng)
        return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{escape(self.title)} | Test Gazette</title>
<link rel="canonical" href="{base}{self.path}">
<meta property="og:site_name" content="Test Gazette">
<meta property="og:title" content="{escape(self.title)}">
<meta property="article:published_time" content="{stamp}">
<meta name="author" content="{escape(self.author)}">
{_head_weight(rng)}</head><body>
<header>{_mega_menu(rng)}
<div class="promo">For Quick Alerts ALLOW NOTIFICATIONS</div>
<div class="ticker">Breaking: {escape(sentence(rng))}</div></header>
<main><article><h1>{escape(self.title)}</h1>
<p class="byline">By {escape(self.author)} | <time datetime="{stamp}">{stamp}</time></p>
{body}</article>
<section class="related"><h2>Related stories</h2>{_link_list(rng, 8)}</section>
<section class="comments"><h2>Comments</h2><p>Comments are closed.</p></section></main>
<aside><h3>Most read</h3>{_link_list(rng, 10)}<h3>Trending</h3>{_link_list(rng, 10)}
<form class="newsletter"><label>Email <input type="email"></label><button>Sign up</button></form>
</aside>
<footer>{_footer(rng)}</footer>
<div class="modal">Notification Settings Time Settings Done</div></body></html>"""


def _head_weight(rng: random.Random) -> str:
    """Inline styles, tracking config and preloads, as real article pages carry (~40 KB)."""
    style = " ".join(f".c{i}{{margin:{i % 9}px;color:#{rng.randrange(16**6):06x}}}"
                     for i in range(600))
    config = ",".join(f'"k{i}":"{rng.choice(WORDS)}-{rng.randrange(10**8)}"' for i in range(900))
    preloads = "".join(f'<link rel="preload" href="/static/{i}.js" as="script">' for i in range(20))
    return f"<style>{style}</style><script>window.__CONFIG__={{{config}}};</script>{preloads}"


def _mega_menu(rng: random.Random) -> str:
    sections = []
    for s in range(12):
        links = "".join(f'<li><a href="/{s}/{i}">{rng.choice(WORDS).title()}</a></li>'
                        for i in range(15))
        sections.append(f'<li class="menu"><a href="/{s}">{rng.choice(WORDS).title()}</a>'
                        f"<ul>{links}</ul></li>")
    return f'<nav class="mega"><ul>{"".join(sections)}</ul></nav>'


def _link_list(rng: random.Random, count: int) -> str:
    items = "".join(
        f'<li><a href="/story/{rng.randrange(10**6)}"><img src="/i/{i}.jpg" alt="">'
        f"{escape(' '.join(rng.choice(WORDS) for _ in range(8)).capitalize())}</a></li>"
        for i in range(count)
    )
    return f"<ul>{items}</ul>"


def _with_ad_slots(paragraphs: list[str], rng: random.Random) -> str:
    out = []
    for i, paragraph in enumerate(paragraphs):
        out.append(paragraph)
        if i % 3 == 2:
            out.append(f'<div class="ad" id="ad-{i}" data-slot="{rng.randrange(10**9)}"></div>')
    return "\n".join(out)


def _footer(rng: random.Random) -> str:
    columns = "".join(f"<div><h4>{rng.choice(WORDS).title()}</h4>{_link_list(rng, 12)}</div>"
                      for _ in range(6))
    return f"{columns}<p>Copyright Test Gazette. All rights reserved.</p>"


@dataclass
class Feed:
    path: str
    articles: list[NewsArticle]

    def rss(self, base: str) -> str:
        items = "".join(
            f"<item><title>{escape(a.title)}</title><link>{base}{a.path}</link>"
            f"<guid>{base}{a.path}</guid><pubDate>{format_datetime(a.published)}</pubDate></item>"
            for a in self.articles
        )
        return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
                f"<title>Feed {self.path}</title><link>{base}/</link>{items}</channel></rss>")


@dataclass
class Newsroom:
    """Generated feeds and pages, served on 127.0.0.1."""

    feeds: dict[str, Feed] = field(default_factory=dict)
    pages: dict[str, NewsArticle] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)
    held: dict[str, threading.Event] = field(default_factory=dict)
    arrived: dict[str, threading.Event] = field(default_factory=dict)
    gate: threading.Barrier | None = None
    base_url: str = ""
    extra: dict[str, str] = field(default_factory=dict)  # other HTML pages (e.g. sections)
    _cache: dict[str, tuple[object, str]] = field(default_factory=dict)

    @classmethod
    def generate(cls, feeds: int, articles_per_feed: int, *, seed: int = 7) -> Newsroom:
        rng = random.Random(seed)
        room = cls()
        start = datetime(2026, 11, 1, tzinfo=UTC)
        for f in range(feeds):
            items = []
            for a in range(articles_per_feed):
                article = NewsArticle(
                    path=f"/news/{f}/{a}-{rng.choice(WORDS)}-{rng.choice(WORDS)}",
                    title=" ".join(rng.choice(WORDS) for _ in range(7)).capitalize(),
                    author=rng.choice(NAMES),
                    published=start + timedelta(hours=f * articles_per_feed + a),
                    paragraphs=paragraphs(rng, rng.randint(5, 9)),
                )
                items.append(article)
                room.pages[article.path] = article
            room.feeds[f"/feeds/{f}.xml"] = Feed(f"/feeds/{f}.xml", items)
        return room

    def rendered(self, path: str) -> str:
        """A page's HTML, rendered once (unless the test edited the article since)."""
        page = self.pages[path]
        key = (path, page.title, len(page.paragraphs), page.paragraphs[-1])
        if self._cache.get(path, (None, ""))[0] != key:
            self._cache[path] = (key, page.html(self.base_url))
        return self._cache[path][1]

    def feed_urls(self) -> list[str]:
        return [self.base_url + path for path in self.feeds]

    def hold(self, path: str) -> tuple[threading.Event, threading.Event]:
        """Hold responses to ``path``; returns (arrived, release) events."""
        self.arrived[path], self.held[path] = threading.Event(), threading.Event()
        return self.arrived[path], self.held[path]

    def respond(self, path: str) -> tuple[int, str, str]:
        self.requests[path] += 1
        if path in self.arrived:
            self.arrived[path].set()
            self.held[path].wait(60)
        if path in self.feeds:
            if self.gate is not None:
                self.gate.wait(60)
            return 200, "application/rss+xml", self.feeds[path].rss(self.base_url)
        if path in self.pages:
            return 200, "text/html; charset=utf-8", self.rendered(path)
        if path in self.extra:
            return 200, "text/html; charset=utf-8", self.extra[path]
        if path == "/robots.txt":
            return 200, "text/plain", "User-agent: *\nAllow: /\n"
        return 404, "text/plain", "not found"

    @contextmanager
    def serve(self) -> Iterator[Newsroom]:
        room = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as news sites serve

            def do_GET(self) -> None:  # noqa: N802
                status, ctype, body = room.respond(self.path)
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{server.server_address[1]}"
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            for event in self.held.values():
                event.set()
            server.shutdown()
            server.server_close()
