"""The demo's publication schedule, as pure arithmetic on clock times (no server)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tidings.demo.site.catalogue import load_articles
from tidings.demo.site.timeline import Publication, Timeline

START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
ARTICLES = load_articles()


def timeline(initial: int = 30, every: float = 5.0) -> Timeline:
    return Timeline(ARTICLES, START, every, initial)


def test_initial_articles_are_out_at_start_with_past_dates_in_order() -> None:
    schedule = timeline(initial=30)
    edition = schedule.edition(START)
    assert len(edition) == 30
    dates = [p.published_at for p in reversed(edition)]
    assert dates == sorted(dates) and len(set(dates)) == 30
    assert all(d < START for d in dates)
    assert START - dates[0] > timedelta(hours=5)  # spread over hours, not seconds


def test_one_article_is_published_per_step_and_not_before() -> None:
    schedule = timeline(initial=30, every=5.0)
    assert len(schedule.edition(START + timedelta(seconds=4.999))) == 30
    assert len(schedule.edition(START + timedelta(seconds=5))) == 31
    assert len(schedule.edition(START + timedelta(seconds=27))) == 35
    assert schedule.edition(START + timedelta(seconds=5))[0].article == ARTICLES[30]
    assert schedule.edition(START + timedelta(seconds=5))[0].published_at == START + timedelta(
        seconds=5
    )


def test_a_clock_before_the_start_sees_only_the_initial_articles() -> None:
    assert len(timeline(initial=30).edition(START - timedelta(minutes=1))) == 30
    early = timeline(initial=30).edition(START - timedelta(days=2))
    assert early == []


def test_scripted_update_adds_paragraphs_in_place_after_its_steps() -> None:
    index = next(i for i, a in enumerate(ARTICLES) if a.update is not None)
    article = ARTICLES[index]
    assert article.update is not None
    schedule = timeline(initial=len(ARTICLES) - 20)
    step = schedule.publication_step(index)
    before = _find(schedule, article.slug, step + article.update.after - 1)
    after = _find(schedule, article.slug, step + article.update.after)
    assert before.paragraphs == article.paragraphs
    assert after.paragraphs == article.paragraphs + article.update.paragraphs
    assert after.published_at == before.published_at
    assert after.modified_at == schedule.step_time(step + article.update.after)


def test_after_the_last_article_each_step_refreshes_one_article_round_robin() -> None:
    schedule = timeline(initial=30)
    everything = schedule.live_count
    assert len(schedule.edition(schedule.step_time(everything + 100))) == len(ARTICLES)
    first = _find(schedule, ARTICLES[0].slug, everything + 1)
    assert first.modified_at == schedule.step_time(everything + 1)
    assert first.paragraphs[-1].startswith("Updated ")
    untouched = _find(schedule, ARTICLES[1].slug, everything + 1)
    assert untouched.modified_at == untouched.published_at
    again = _find(schedule, ARTICLES[0].slug, everything + 1 + len(ARTICLES))
    assert again.modified_at == schedule.step_time(everything + 1 + len(ARTICLES))


def test_initial_count_is_clamped_and_publish_every_must_be_positive() -> None:
    assert timeline(initial=10_000).initial == len(ARTICLES)
    assert timeline(initial=-3).initial == 0
    with pytest.raises(ValueError, match="publish_every"):
        timeline(every=0)


def _find(schedule: Timeline, slug: str, step: int) -> Publication:
    edition = schedule.edition(schedule.step_time(step))
    return next(p for p in edition if p.article.slug == slug)
