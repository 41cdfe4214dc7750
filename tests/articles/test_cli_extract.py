"""``tidings extract``: files and URLs (from a local HTTP server) in, one result per input out."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.articles.localsite import Site, serve
from tidings.cli import main

PAGES = Path(__file__).parent.parent / "data" / "pages"
SEED = PAGES / "oneindia_assad_kim.html"
NO_ARTICLE = PAGES / "section_page_no_article.html"
FRENCH = PAGES / "lemonde_like_no_lang.html"


@pytest.fixture
def site() -> Iterator[Site]:
    pages: dict[str, bytes | str] = {
        "/robots.txt": "User-agent: *\nDisallow: /private/\n",
        "/international/assad-kim.html": SEED.read_bytes(),
        "/private/assad-kim.html": SEED.read_bytes(),
    }
    with serve(pages) as served:
        yield served


def extract(*args: str, allow_private: bool = True) -> Result:
    env = {"TIDINGS_ALLOW_PRIVATE_NETWORKS": "1" if allow_private else "0"}
    return CliRunner().invoke(main, ["extract", *args], env=env, catch_exceptions=False)


def lines(result: Result) -> list[dict[str, object]]:
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_json_gives_one_object_per_input_in_order_and_reports_failures(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.html")
    result = extract("--json", str(SEED), missing, str(NO_ARTICLE), str(FRENCH))
    assert result.exit_code == 1
    seed, gone, empty, french = lines(result)
    assert list(seed) == ["url", "title", "author", "published", "sitename", "language", "text"]
    assert seed["title"] == "Syrian dictator Bashar al-Assad to meet Kim Jong-un in North Korea"
    assert seed["author"] == "Shubham" and seed["published"] == "2018-06-04T06:06:57+00:00"
    assert seed["url"] == (
        "https://www.oneindia.com/international/"
        "syrian-dictator-bashar-al-assad-to-meet-kim-jong-un-in-north-korea-2710921.html"
    )
    assert gone["input"] == missing and "No such file" in str(gone["error"])
    assert empty == {"input": str(NO_ARTICLE), "error": "no article found in input"}
    assert french["language"] == "fr"


def test_exit_status_is_zero_when_every_input_has_an_article() -> None:
    result = extract("--json", str(SEED), str(FRENCH))
    assert result.exit_code == 0
    assert [line["sitename"] for line in lines(result)] == ["Oneindia", "Le Quotidien du Monde"]


def test_url_inputs_are_fetched_over_http(site: Site) -> None:
    page = site.url("/international/assad-kim.html?utm_source=push&id=7")
    result = extract("--json", page, site.url("/missing.html"), site.url("/private/assad-kim.html"))
    fetched, missing, private = lines(result)
    # The page's canonical link names another site (oneindia.com), so the identity is the
    # fetched URL, tracking parameters removed.
    assert fetched["url"] == site.url("/international/assad-kim.html?id=7")
    assert fetched["author"] == "Shubham"
    assert missing["input"] == site.url("/missing.html") and "404" in str(missing["error"])
    assert "robots.txt" in str(private["error"])
    assert "/robots.txt" in site.requests and "/private/assad-kim.html" not in site.requests
    assert result.exit_code == 1


def test_private_addresses_are_refused_unless_allowed(site: Site) -> None:
    result = extract("--json", site.url("/international/assad-kim.html"), allow_private=False)
    assert result.exit_code == 1
    assert "error" in lines(result)[0]
    assert site.requests == []


def test_human_format_shows_title_byline_date_site_language_then_text() -> None:
    result = extract(str(SEED), str(NO_ARTICLE))
    assert result.exit_code == 1
    head = result.stdout.splitlines()[:5]
    assert head[0] == "Syrian dictator Bashar al-Assad to meet Kim Jong-un in North Korea"
    assert head[1] == "By Shubham · 2018-06-04 06:06 UTC · Oneindia · en"
    assert head[3] == ""
    assert head[4].startswith("North Korea's state-run Korean Central News Agency")
    assert "ALLOW NOTIFICATIONS" not in result.stdout
    assert f"{NO_ARTICLE}: no article found" in result.stderr
