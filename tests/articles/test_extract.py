"""Extraction of fixture news pages (tests/data/pages/*.html) against their expected output."""

from __future__ import annotations

import json
import pickle
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tidings.articles.extract import (
    ExtractionError,
    declared_charset,
    decode_html,
    extract_article,
    parse_date,
)

PAGES = Path(__file__).parent.parent / "data" / "pages"
SEED = PAGES / "oneindia_assad_kim.html"
SEED_URL = (
    "https://www.oneindia.com/international/"
    "syrian-dictator-bashar-al-assad-to-meet-kim-jong-un-in-north-korea-2710921.html"
)
# Everything on the seed page that is the site's chrome, not the article.
SEED_CLUTTER = [
    "For Quick Alerts",
    "ALLOW NOTIFICATIONS",
    "For Daily Alerts",
    "Oneindia App Download",
    "Get Instant News Updates",
    "Enable",
    "Notification Settings",
    "Time Settings",
    "Done",
    "Clear Notification",
    "Do you want to clear all the notifications from your inbox?",
    "Latest News",
    "Monsoon arrives in Kerala",
    "Sensex closes higher",
    "Privacy Policy",
    "All rights reserved",
    "Google Oneindia News",
]


def _expected(page: Path) -> dict[str, object]:
    return json.loads(page.with_suffix(".json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


@pytest.mark.parametrize("page", sorted(PAGES.glob("*.html")), ids=lambda p: p.stem)
def test_fixture_page_extracts_to_its_expected_output(page: Path) -> None:
    case = _expected(page)
    if "error" in case:
        with pytest.raises(ExtractionError, match=str(case["error"])):
            extract_article(page.read_bytes(), case["given_url"])  # type: ignore[arg-type]
        return
    got = asdict(extract_article(page.read_bytes(), case["given_url"]))  # type: ignore[arg-type]
    got["published"] = got["published"].isoformat() if got["published"] else None
    assert got.pop("signature") is None  # only the pipeline's extraction processes sign
    assert got == case["expected"]


def test_seed_page_chrome_does_not_reach_the_text() -> None:
    text = extract_article(SEED.read_bytes(), SEED_URL).text
    for phrase in SEED_CLUTTER:
        assert phrase.casefold() not in text.casefold(), phrase
    assert text.startswith("North Korea's state-run Korean Central News Agency (KCNA)")
    assert text.endswith("shows his confidence in engaging with other dictators.")
    assert len(text.splitlines()) == 9


def test_seed_page_title_byline_date_and_site_come_through() -> None:
    article = extract_article(SEED.read_text(encoding="utf-8"), SEED_URL)
    assert article.title == "Syrian dictator Bashar al-Assad to meet Kim Jong-un in North Korea"
    assert article.author == "Shubham"
    assert article.published == datetime(2018, 6, 4, 6, 6, 57, tzinfo=UTC)
    assert article.sitename == "Oneindia"
    assert article.language == "en"


def test_visible_date_is_used_when_the_page_has_no_date_meta() -> None:
    html = SEED.read_text(encoding="utf-8")
    html = html.replace('<meta property="article:published_time"', '<meta property="x-none"')
    html = html.replace('"datePublished"', '"x-none"').replace('"dateModified"', '"x-none2"')
    published = extract_article(html, SEED_URL).published
    assert published is not None
    assert published.date().isoformat() == "2018-06-04"
    assert published.tzinfo is UTC


def test_language_is_detected_from_the_text_when_the_page_does_not_say() -> None:
    html = SEED.read_text(encoding="utf-8").replace('<html lang="en">', "<html>")
    assert extract_article(html, SEED_URL).language == "en"
    french = (PAGES / "lemonde_like_no_lang.html").read_bytes()
    assert extract_article(french).language == "fr"


def test_windows_1252_page_keeps_its_curly_quotes_and_euro_sign() -> None:
    raw = (PAGES / "harbourgazette_windows1252.html").read_bytes()
    assert declared_charset(raw) == "cp1252"
    text = extract_article(raw).text
    assert "“We’ve held our prices for two years,”" in text
    assert "€3.20" in text and "Renée" in text


def test_undeclared_legacy_encoding_is_detected() -> None:
    html = (PAGES / "harbourgazette_windows1252.html").read_bytes()
    html = html.replace(
        b'<meta http-equiv="Content-Type" content="text/html; charset=windows-1252">', b""
    )
    assert declared_charset(html) is None
    assert "Renée Dubois" in extract_article(html).text


def test_byte_order_mark_decides_the_encoding() -> None:
    html = "<html><body><p>Zürich</p></body></html>"
    assert decode_html(html.encode("utf-16")) == html
    assert decode_html(b"\xef\xbb\xbf" + html.encode("utf-8")) == html


def test_canonical_link_with_tracking_parameters_gives_a_clean_identity() -> None:
    raw = (PAGES / "harbourgazette_windows1252.html").read_bytes()
    article = extract_article(raw, "https://harbourgazette.co.uk/b?utm_source=x")
    assert article.canonical_url == (
        "https://www.harbourgazette.co.uk/business/cafe-owners-euro-rise?page=2"
    )


def test_canonical_link_to_another_site_is_not_the_identity() -> None:
    html = SEED.read_text(encoding="utf-8").replace(
        "https://www.oneindia.com/international/syrian",
        "https://syndicator.example/international/syrian",
    )
    page_url = "https://www.oneindia.com/international/assad-kim.html?utm_medium=push"
    assert extract_article(html, page_url).canonical_url == (
        "https://www.oneindia.com/international/assad-kim.html"
    )


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"   ",
        b"\x00\x01\x02\xff\xfe binary",
        "just a line of text",
        "<html><body></body></html>",
    ],
)
def test_unreadable_or_empty_input_raises_extraction_error(content: str | bytes) -> None:
    with pytest.raises(ExtractionError, match="no article found in"):
        extract_article(content, "https://example.com/x")


def test_section_page_of_headlines_is_not_an_article() -> None:
    with pytest.raises(ExtractionError, match="no article found in https://www.oneindia.com/"):
        extract_article(
            (PAGES / "section_page_no_article.html").read_bytes(), "https://www.oneindia.com/"
        )


def test_extraction_runs_in_a_process_pool_and_pickles() -> None:
    raw = SEED.read_bytes()
    with ProcessPoolExecutor(max_workers=1) as pool:
        article = pool.submit(extract_article, raw, SEED_URL).result(timeout=60)
    assert article == extract_article(raw, SEED_URL)
    assert pickle.loads(pickle.dumps(article)) == article


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2018-06-04T11:36:57+05:30", datetime(2018, 6, 4, 6, 6, 57, tzinfo=UTC)),
        ("2018-06-04T06:06:57Z", datetime(2018, 6, 4, 6, 6, 57, tzinfo=UTC)),
        ("2018-06-04", datetime(2018, 6, 4, tzinfo=UTC)),
        ("Mon, 04 Jun 2018 11:36:57 +0530", datetime(2018, 6, 4, 6, 6, 57, tzinfo=UTC)),
        ("yesterday", None),
        ("", None),
        (None, None),
    ],
)
def test_dates_become_aware_utc(value: str | None, expected: datetime | None) -> None:
    assert parse_date(value) == expected


def test_article_without_paragraph_markup_is_found_by_the_backup_extractors() -> None:
    paragraphs = [
        "The harbour ferry will run every twenty minutes from the first of July, the operator "
        "said on Monday, after a winter of complaints about overcrowded boats.",
        "Extra evening sailings will be added on Fridays and Saturdays until the end of "
        "September, and season tickets remain valid.",
    ]
    html = (
        "<html><head><title>Ferry timetable changes</title></head><body><div id='story'><span>"
        + "</span><span>".join(paragraphs)
        + "</span></div><div class='menu'><a href='/'>Home</a></div></body></html>"
    )
    text = extract_article(html, "https://gazette.example/ferry").text
    assert all(paragraph in text for paragraph in paragraphs)
