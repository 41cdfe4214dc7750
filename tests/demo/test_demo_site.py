"""The demo news site over real HTTP on 127.0.0.1, with publication driven by a FrozenClock."""

from __future__ import annotations

import itertools
import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

import feedparser
import httpx
import pytest
import trafilatura

from tidings.clock import FrozenClock
from tidings.demo.site import DemoSite
from tidings.demo.site.catalogue import load_articles, load_outlets

START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
SEED = Path("/work/shared/seed/000_269066d8fa8cfee5.txt")
SEED_SLUG = "assad-to-meet-kim-jong-un-in-north-korea"
DC_CALLS_TO_ACTION = (
    "Get Instant News Updates — Enable notifications",
    "Download the Daily Courier app for breaking news",
)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def site(clock: FrozenClock) -> Iterator[DemoSite]:
    demo = DemoSite(clock=clock, publish_every=5.0)
    demo.start()
    yield demo
    demo.stop()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False, timeout=10) as client:
        yield client


def courier(site: DemoSite) -> str:
    return site.base_urls["Daily Courier"]


def wire(site: DemoSite) -> str:
    return site.base_urls["Morning Wire"]


def feed_entries(http: httpx.Client, url: str) -> list[feedparser.FeedParserDict]:
    parsed = feedparser.parse(http.get(url).content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return list(parsed.entries)


def published_count(http: httpx.Client, site: DemoSite) -> int:
    return sum(len(feed_entries(http, url)) for url in site.feed_urls())


def seed_paragraphs() -> list[str]:
    lines = [line.strip() for line in SEED.read_text(encoding="utf-8").splitlines()]
    body = lines[lines.index("Google Oneindia News") + 1 : lines.index("For Daily Alerts", 10)]
    return [line for line in body if line and line != "Kim Jong Un and Bashar al-Assad"]


def page_text(html: str) -> str:
    return unescape(re.sub(r"<[^>]+>", " ", html))


def test_every_outlet_listens_on_loopback_only(site: DemoSite) -> None:
    assert len(site.base_urls) == 2
    for url in site.base_urls.values():
        assert urlsplit(url).hostname == "127.0.0.1"
    for server, _thread in site._servers:
        assert server.server_address[0] == "127.0.0.1"
    assert len(set(site.base_urls.values())) == 2


def test_rss_ttl_follows_the_publishing_pace(clock: FrozenClock, http: httpx.Client) -> None:
    with DemoSite(clock=clock, publish_every=120.0) as slow:
        slow.start()
        parsed = feedparser.parse(http.get(courier(slow) + "/feed.rss").content)
    assert parsed.feed.ttl == "2"


def test_rss_feed_is_valid_rss_2(site: DemoSite, http: httpx.Client) -> None:
    response = http.get(courier(site) + "/feed.rss")
    assert response.headers["content-type"].startswith("application/rss+xml")
    parsed = feedparser.parse(response.content)
    assert parsed.version == "rss20" and not parsed.bozo
    assert "ttl" not in parsed.feed  # publishing every 5 s: a ttl in minutes would slow readers
    assert parsed.feed.title == "Daily Courier"
    entry = parsed.entries[0]
    assert entry.title and entry.author and entry.summary and entry.published_parsed
    assert entry.id.startswith(courier(site) + "/") and "utm_source=rss" in entry.link


def test_atom_feed_is_valid_atom(site: DemoSite, http: httpx.Client) -> None:
    parsed = feedparser.parse(http.get(wire(site) + "/feed.atom").content)
    assert parsed.version == "atom10" and not parsed.bozo
    assert parsed.feed.title == "Morning Wire"
    for entry in parsed.entries:
        assert entry.link.startswith(wire(site) + "/")
        assert entry.published_parsed and entry.updated_parsed and entry.author


def test_json_feed_follows_version_1_1(site: DemoSite, http: httpx.Client) -> None:
    response = http.get(courier(site) + "/feed.json")
    assert response.headers["content-type"].startswith("application/feed+json")
    feed = json.loads(response.content)
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert feed["feed_url"] == courier(site) + "/feed.json"
    rss = feed_entries(http, courier(site) + "/feed.rss")
    assert [item["url"] for item in feed["items"]] == [entry.id for entry in rss]
    for item in feed["items"]:
        assert item["id"] and item["title"] and item["content_text"]
        assert datetime.fromisoformat(item["date_published"]) <= START


def test_section_feed_holds_only_its_section(site: DemoSite, http: httpx.Client) -> None:
    entries = feed_entries(http, courier(site) + "/section/sport/feed.rss")
    assert entries
    assert all(urlsplit(e.id).path.startswith("/sport/") for e in entries)
    assert http.get(courier(site) + "/section/astrology/feed.rss").status_code == 404


def test_every_page_links_its_feeds_and_the_links_work(site: DemoSite, http: httpx.Client) -> None:
    article = feed_entries(http, courier(site) + "/feed.rss")[0].id
    for url in (courier(site) + "/", courier(site) + "/section/world/", article):
        html = http.get(url).text
        links = re.findall(
            r'<link rel="alternate" type="([^"]+)" title="[^"]*" href="([^"]+)"', html
        )
        kinds = {kind for kind, _ in links}
        assert {"application/rss+xml", "application/atom+xml", "application/feed+json"} <= kinds
        assert all(http.get(href).status_code == 200 for _, href in links)


def test_seed_article_is_served_with_its_paragraphs_verbatim(
    site: DemoSite, http: httpx.Client
) -> None:
    response = http.get(courier(site) + "/world/" + SEED_SLUG)
    assert response.status_code == 200
    html = response.text
    text = page_text(html)
    for paragraph in seed_paragraphs():
        assert paragraph in text
    assert len(seed_paragraphs()) == 9
    assert "Syrian dictator Bashar al-Assad to meet Kim Jong-un in North Korea" in text
    assert 'rel="author"' in html and ">Shubham</a>" in html
    assert html.startswith('<!DOCTYPE html>\n<html lang="en">')
    assert f'<link rel="canonical" href="{courier(site)}/world/{SEED_SLUG}">' in html
    assert '<meta property="article:published_time" content="2025-03-01T' in html


def test_article_page_wraps_the_story_in_clutter_inside_and_out(
    site: DemoSite, http: httpx.Client
) -> None:
    html = http.get(courier(site) + "/world/" + SEED_SLUG).text
    text = page_text(html)
    for clutter in (
        "ALLOW NOTIFICATIONS",
        "For Daily Alerts",
        "Daily Courier App Download",
        "Notification Settings",
        "Time Settings",
        "Trending Now",
        "Privacy Policy",
        "Do you want to clear all the notifications from your inbox?",
    ):
        assert clutter in text
    body = unescape(html[html.index('<div class="story-body"') : html.index("</article>")])
    first, *_, last = seed_paragraphs()
    for call in DC_CALLS_TO_ACTION:
        position = body.index(call)
        assert body.index(first) < position < body.index(last)
    # The rotating "Also read" headline is another story's: it sits after the article, in an
    # <aside>, as real sites mark it up, never between the story's paragraphs.
    assert "Also read:" not in body
    after = html[html.index("</article>") : html.index("</main>")]
    assert re.search(r'<aside class="also-read"><strong>Also read:</strong> <a href="/', after)


def test_outlets_repeat_their_own_calls_to_action_on_every_article(
    site: DemoSite, http: httpx.Client
) -> None:
    for entry in feed_entries(http, courier(site) + "/feed.rss"):
        html = http.get(entry.id).text
        assert all(call in html for call in DC_CALLS_TO_ACTION)
    also_read = set()
    for entry in feed_entries(http, wire(site) + "/feed.atom"):
        html = unescape(http.get(entry.link).text)
        assert "Follow Morning Wire on WhatsApp for the day's top stories in one message." in html
        assert not any(call in html for call in DC_CALLS_TO_ACTION)
        also_read.add(re.search(r"<strong>Related:</strong> <a[^>]*>([^<]+)</a>", html).group(1))
    assert len(also_read) > 3  # the "Related" link rotates: not boilerplate


def test_extraction_drops_the_chrome_but_keeps_in_body_calls_to_action(
    site: DemoSite, http: httpx.Client
) -> None:
    url = courier(site) + "/world/" + SEED_SLUG
    result = trafilatura.bare_extraction(http.get(url).text, url=url, with_metadata=True)
    assert result.title == "Syrian dictator Bashar al-Assad to meet Kim Jong-un in North Korea"
    assert result.author == "Shubham" and result.sitename == "Daily Courier"
    assert result.date == "2025-03-01"
    assert all(paragraph in result.text for paragraph in seed_paragraphs())
    assert "ALLOW NOTIFICATIONS" not in result.text and "App Download" not in result.text
    assert all(call in result.text for call in DC_CALLS_TO_ACTION)  # left for boilerplate learning


def test_extracted_articles_hold_no_other_story_headline(
    site: DemoSite, http: httpx.Client
) -> None:
    """The sidebars and the rotating "Also read" link name other stories; none of them may
    reach an article's text, or an alert would match an article that only links to a match."""
    titles = {a.title for a in load_articles()}
    checked = 0
    for url in site.feed_urls():
        for entry in feed_entries(http, url):
            page = http.get(entry.link)
            html = page.text
            shown = re.search(
                r'<aside class="also-read"><strong>[^<]+</strong> <a[^>]*>([^<]+)</a>', html
            )
            assert shown is not None, entry.link  # the page does link another headline
            result = trafilatura.bare_extraction(
                html, url=str(page.url), with_metadata=True, favor_precision=True
            )
            assert result.title in titles
            assert unescape(shown.group(1)) not in result.text
            assert [t for t in titles if t != result.title and t in result.text] == []
            checked += 1
    assert checked == site.timeline.initial


def test_publication_advances_with_the_clock(
    site: DemoSite, clock: FrozenClock, http: httpx.Client
) -> None:
    articles = load_articles()
    initial = site.timeline.initial
    assert initial == round(len(articles) * 2 / 3)
    assert published_count(http, site) == initial
    upcoming = articles[initial]
    upcoming_url = site.base_urls[_outlet_name(upcoming.outlet)] + upcoming.path
    assert http.get(upcoming_url).status_code == 404
    clock.advance(seconds=4.9)
    assert published_count(http, site) == initial
    clock.advance(seconds=0.1)
    assert published_count(http, site) == initial + 1
    page = http.get(upcoming_url)
    assert page.status_code == 200
    published = (START + timedelta(seconds=5)).isoformat().replace("+00:00", "Z")
    assert f'<meta property="article:published_time" content="{published}">' in page.text
    clock.advance(seconds=5 * 3)
    assert published_count(http, site) == initial + 4


def test_conditional_get_answers_304_until_the_feed_changes(
    site: DemoSite, clock: FrozenClock, http: httpx.Client
) -> None:
    url = courier(site) + "/feed.rss"
    first = http.get(url)
    etag, last_modified = first.headers["etag"], first.headers["last-modified"]
    by_etag = http.get(url, headers={"If-None-Match": etag})
    assert by_etag.status_code == 304 and by_etag.content == b""
    by_date = http.get(url, headers={"If-Modified-Since": last_modified})
    assert by_date.status_code == 304
    for _ in itertools.takewhile(lambda _: http.get(url).headers["etag"] == etag, range(50)):
        clock.advance(seconds=5)
    changed = http.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert http.get(url, headers={"If-Modified-Since": last_modified}).status_code == 200


def test_an_article_is_updated_in_place(
    site: DemoSite, clock: FrozenClock, http: httpx.Client
) -> None:
    index, article = next((i, a) for i, a in enumerate(load_articles()) if a.update)
    assert article.update is not None
    url = site.base_urls[_outlet_name(article.outlet)] + article.path
    clock.now = site.timeline.step_time(site.timeline.publication_step(index))
    original = http.get(url).text
    clock.advance(seconds=5 * article.update.after)
    updated = http.get(url).text
    added = article.update.paragraphs[0]
    assert added not in page_text(original) and added in page_text(updated)
    assert _meta(original, "article:published_time") == _meta(updated, "article:published_time")
    assert _meta(original, "article:modified_time") < _meta(updated, "article:modified_time")
    assert _canonical(original) == _canonical(updated) == url


def test_after_the_last_article_the_site_keeps_refreshing_articles(
    site: DemoSite, clock: FrozenClock, http: httpx.Client
) -> None:
    clock.now = site.timeline.step_time(site.timeline.live_count)
    total = published_count(http, site)
    assert total == len(load_articles())
    first = load_articles()[0]
    url = site.base_urls[_outlet_name(first.outlet)] + first.path
    clock.advance(seconds=5)
    assert published_count(http, site) == total
    assert "has been updated with additional reporting" in http.get(url).text


def test_robots_txt_allows_all_but_private(site: DemoSite, http: httpx.Client) -> None:
    robots = RobotFileParser()
    robots.parse(http.get(courier(site) + "/robots.txt").text.splitlines())
    assert robots.can_fetch("Tidings", courier(site) + "/world/" + SEED_SLUG)
    assert not robots.can_fetch("Tidings", courier(site) + "/private/drafts")
    assert http.get(courier(site) + "/private/drafts").status_code == 403


def test_syndicated_copy_points_its_canonical_at_the_original(
    site: DemoSite, http: httpx.Client
) -> None:
    copy = next(a for a in load_articles() if a.syndicated_from)
    html = http.get(wire(site) + copy.path).text
    original = next(a for a in load_articles() if f"{a.outlet}/{a.slug}" == copy.syndicated_from)
    assert _canonical(html) == courier(site) + original.path


def test_gzip_is_served_when_asked(site: DemoSite, http: httpx.Client) -> None:
    response = http.get(courier(site) + "/feed.rss", headers={"Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert feedparser.parse(response.content).version == "rss20"


def test_module_entry_point_serves_until_interrupted(http: httpx.Client) -> None:
    command = [sys.executable, "-m", "tidings.demo.site", "--port", "0"]
    # Ctrl-C as a terminal gives it: a suite started in the background (a non-interactive
    # shell's `&`) hands its children SIGINT ignored, and Python then leaves it ignored.
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, text=True, preexec_fn=_interruptible
    )
    try:
        banner = "".join(
            itertools.takewhile(lambda line: "Ctrl-C" not in line, process.stdout or ())
        )
        feeds = re.search(r"Feeds to watch: (\S+) (\S+)", banner)
        assert feeds is not None, banner
        assert all(http.get(url).status_code == 200 for url in feeds.groups())
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0


def _interruptible() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _outlet_name(key: str) -> str:
    return next(o.name for o in load_outlets() if o.key == key)


def _meta(html: str, prop: str) -> str:
    match = re.search(rf'<meta property="{prop}" content="([^"]+)">', html)
    assert match is not None
    return match.group(1)


def _canonical(html: str) -> str:
    match = re.search(r'<link rel="canonical" href="([^"]+)">', html)
    assert match is not None
    return match.group(1)


def test_a_single_outlet_can_be_served_alone(clock: FrozenClock, http: httpx.Client) -> None:
    with DemoSite(clock=clock, outlets=("Morning Wire",)) as alone:
        alone.start()
        assert list(alone.base_urls) == ["Morning Wire"]
        assert all(a.outlet == "morning-wire" for a in alone.timeline.articles)
        copy = next(a for a in alone.timeline.articles if a.syndicated_from)
        html = http.get(alone.feed_urls()[0].removesuffix("/feed.atom") + copy.path).text
        assert _canonical(html) == alone.base_urls["Morning Wire"] + copy.path  # origin not served
    with pytest.raises(ValueError, match="Daily Courier, Morning Wire"):
        DemoSite(clock=clock, outlets=("Evening Post",))


def test_a_port_in_use_leaves_nothing_running(clock: FrozenClock, site: DemoSite) -> None:
    taken = int(urlsplit(wire(site)).port or 0)
    other = DemoSite(clock=clock)
    with pytest.raises(OSError):
        other.start(port=taken - 1)  # second outlet would need the taken port
    assert other._servers == []


def test_a_site_starts_past_the_articles_its_watcher_has_seen(clock: FrozenClock) -> None:
    total = len(load_articles())
    default = DemoSite(clock=clock).timeline.initial
    assert DemoSite(clock=clock, seen=3).timeline.initial == default
    resumed = DemoSite(clock=clock, seen=default + 5).timeline
    assert resumed.initial == default + 5 and resumed.live_count == total - default - 5
    assert DemoSite(clock=clock, seen=total + 1).timeline.live_count == 0
