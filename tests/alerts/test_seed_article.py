"""The seed page's article against alerts a reader would write, through engine and reference."""

from __future__ import annotations

from pathlib import Path

import pytest

from tidings.alerts.engine import AlertIndex
from tidings.alerts.model import Match, MatchArticle
from tidings.alerts.query import parse
from tidings.alerts.reference import evaluate

SEED = Path(__file__).parent / "data" / "seed_page.txt"  # shared/seed/000_269066d8fa8cfee5.txt
TITLE = "Syrian dictator Bashar al-Assad to meet Kim Jong-un in North Korea"
URL = "https://www.oneindia.com/international/syrian-dictator-bashar-al-assad-to-meet-kim-jong-un-in-north-korea-2707037.html"


@pytest.fixture(scope="module")
def article() -> MatchArticle:
    page = SEED.read_text()
    body = page.split("Google Oneindia News", 1)[1].split("For Daily Alerts", 1)[0]
    assert "Kim Jong-un" in body and "Kim Jong Un" in body and "Donald Trump" in body
    return MatchArticle(1, TITLE, body, URL, "en")


CASES = [
    ('"Kim Jong Un"', True, ("kim jong un",)),
    ("Kim Jong-un", True, ("kim", "jong un")),
    ('assad "north korea" -trump', False, ()),
    ('assad "north korea"', True, ("assad", "north korea")),
    ("site:oneindia.com", True, ()),
    ("site:oneindia.com/international", True, ()),
    ("site:oneindia.com/inter", False, ()),
    ("site:india.com", False, ()),
    ("intitle:assad", True, ("assad",)),
    ("intitle:trump", False, ()),
    ("trump -intitle:trump", True, ("trump",)),
    ('intitle:"north korea" lang:en', True, ("north korea",)),
    ("lang:fr assad", False, ()),
    ("putin OR xi", False, ()),
    ("(putin OR assad) (singapore OR pyongyang)", True, ("assad", "singapore")),
    ('"korea north"', False, ()),
    ('"korean supreme leader"', True, ("korean supreme leader",)),
]


@pytest.mark.parametrize(("query", "matches", "terms"), CASES)
def test_seed_article_reference(article, query, matches, terms):
    assert evaluate(parse(query), article) == (matches, list(terms))


def test_seed_article_engine_agrees(article):
    index = AlertIndex()
    for alert_id, (query, _, _) in enumerate(CASES, start=1):
        index.add(alert_id, query)
    expected = [
        Match(alert_id, terms)
        for alert_id, (_, matches, terms) in enumerate(CASES, start=1)
        if matches
    ]
    assert sorted(index.match(article)) == expected


def test_phrase_never_spans_title_and_text():
    article = MatchArticle(1, "Talks with North", "Korea agreed", None, None)
    assert evaluate(parse('"north korea"'), article) == (False, [])
    index = AlertIndex()
    index.add(1, '"north korea"')
    index.add(2, "north korea")
    assert sorted(index.match(article)) == [Match(2, ("north", "korea"))]
