"""Preview: the recent articles an alert would have matched, as the reference evaluator says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tidings.alerts.model import MatchArticle
from tidings.alerts.preview import PreviewMatch, RecentArticles
from tidings.alerts.query import QueryError, format_query, parse
from tidings.alerts.reference import evaluate
from tidings.clock import FrozenClock, naive_utc
from tidings.store.models import Article

from .test_engine_agrees import articles, queries

NOW = datetime(2018, 6, 10, 12, 0, tzinfo=UTC)


def _recent(items: list[tuple[MatchArticle, float]]) -> RecentArticles:
    recent = RecentArticles(FrozenClock(NOW))
    for article, age_days in items:
        recent.add(article, NOW - timedelta(days=age_days))
    return recent


stored = st.lists(
    st.tuples(articles, st.integers(0, 10 * 24).map(lambda hours: hours / 24)),
    min_size=1,
    max_size=12,
).map(
    lambda items: [
        (MatchArticle(i, a.title, a.text, a.url, a.language), age)
        for i, (a, age) in enumerate(items)
    ]
)


@settings(max_examples=120, deadline=None)
@given(stored, queries, st.sampled_from([1, 7]))
def test_preview_agrees_with_reference(items, tree, days):
    tree = parse(format_query(tree))  # what the preview reads: the query as analysed
    recent = _recent(items)
    result = recent.preview(tree, days=days, limit=100)
    newest_first = sorted(
        ((age, -article.id, article) for article, age in items if age <= days),
        key=lambda x: (x[0], x[1]),
    )
    expected = []
    for _, _, article in newest_first:
        matched, terms = evaluate(tree, article)
        if matched:
            expected.append(PreviewMatch(article.id, tuple(terms)))
    assert result.matches == expected
    assert result.total == len(expected)


def test_preview_limits_what_it_shows_but_counts_everything():
    items = [
        (MatchArticle(i, "Kim Jong-un", "in Pyongyang", None, "en"), i / 10) for i in range(30)
    ]
    result = _recent(items).preview('"kim jong un"', limit=5)
    assert result.total == 30
    assert [m.article_id for m in result.matches] == [0, 1, 2, 3, 4]


def test_preview_rejects_bad_query():
    with pytest.raises(QueryError, match="unbalanced parenthesis at column 1"):
        _recent([]).preview("(kim")


def test_prune_forgets_old_articles_and_keeps_answers():
    items = [
        (MatchArticle(1, "Assad", "old news", "https://oneindia.com/world/a", "en"), 9),
        (MatchArticle(2, "Assad in Korea", "new", "https://oneindia.com/world/b", "en"), 1),
    ]
    recent = _recent(items)
    assert recent.preview("assad", days=10).total == 2
    assert recent.prune(days=7) == 1
    assert len(recent) == 1
    result = recent.preview('assad site:oneindia.com/world "in korea"', days=10)
    assert result.matches == [PreviewMatch(2, ("assad", "in korea"))]


def test_load_from_the_database(db):
    with db.session() as s:
        for number, (title, age) in enumerate(
            [("Kim meets Assad", 1), ("Kim again", 3), ("Kim long ago", 30)]
        ):
            at = naive_utc(NOW - timedelta(days=age))
            s.add(
                Article(
                    url=f"https://example.org/{number}",
                    title=title,
                    text="Body text.",
                    language="en",
                    content_hash=str(number),
                    fetched_at=at,
                    updated_at=at,
                )
            )
    recent = RecentArticles(FrozenClock(NOW))
    assert recent.load(db, days=7) == 2
    result = recent.preview("kim -assad")
    assert result.total == 1
    assert result.matches[0].terms == ("kim",)
