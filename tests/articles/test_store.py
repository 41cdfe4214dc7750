"""Storing a batch of extracted articles: identity by URL, updates in place, stories across the
batch, and nothing learned by the story index from a batch that was rolled back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from tests.articles.test_boilerplate import add_source
from tests.articles.test_stories import text
from tidings.articles.extract import ExtractedArticle
from tidings.articles.store import StoredArticle, store_articles
from tidings.articles.stories import StoryIndex, text_signature
from tidings.clock import FrozenClock
from tidings.store.db import Database
from tidings.store.models import Article, Story

NOW = datetime(2018, 6, 4, 12, 0, tzinfo=UTC)


def extracted(url: str, name: str, *, title: str | None = None) -> ExtractedArticle:
    body = text(name)
    return ExtractedArticle(
        url=url, title=title or body.split(".")[0][:80], author="Shubham", published=NOW,
        sitename=None, language="en", text=body, canonical_url=url,
        signature=text_signature(body),
    )


def store(
    db: Database, index: StoryIndex, batch: list[tuple[int | None, ExtractedArticle]]
) -> list[StoredArticle]:
    """One batch in one transaction; the index learns it after the commit, as the worker does."""
    with db.session() as session:
        stored = store_articles(session, batch, stories=index, min_pages=3, now=NOW)
    for item in stored:
        item.index(index)
    return stored


def count(db: Database, model: type) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_a_batch_from_two_sources_groups_near_duplicates_into_one_story(db: Database) -> None:
    agency, gazette = add_source(db, "https://agency.example/rss"), add_source(db, "https://g.example/rss")
    index = StoryIndex(clock=FrozenClock(NOW))
    stored = store(db, index, [
        (agency, extracted("https://agency.example/assad", "assad_kim_agency")),
        (agency, extracted("https://agency.example/un", "un_report_chemical_weapons")),
        (gazette, extracted("https://g.example/assad", "assad_kim_outlet_light")),
    ])
    assert [item.created for item in stored] == [True, True, True]
    first, other, copy = (item.article for item in stored)
    assert first.story_id == copy.story_id != other.story_id
    assert (first.source_id, copy.source_id) == (agency, gazette)
    with db.session() as session:
        rows = session.execute(select(Article.id, Article.story_id, Article.title)).all()
        story = session.get(Story, first.story_id)
        assert story is not None and story.article_count == 2
    assert sorted(rows) == sorted((a.id, a.story_id, a.title) for a in (first, other, copy))
    assert len(index) == 3


def test_the_same_url_twice_in_a_batch_is_one_article_updated_in_place(db: Database) -> None:
    source = add_source(db, "https://agency.example/rss")
    index = StoryIndex(clock=FrozenClock(NOW))
    url = "https://agency.example/assad"
    first, again = store(db, index, [
        (source, extracted(url, "assad_kim_agency")),
        (source, extracted(url, "assad_kim_outlet_light", title="Assad to visit Kim (updated)")),
    ])
    assert (first.created, again.created) == (True, False)
    assert again.article.id == first.article.id and again.article.story_id == first.article.story_id
    with db.session() as session:
        article = session.scalars(select(Article)).one()
        assert article.title == "Assad to visit Kim (updated)"
        assert article.text == text("assad_kim_outlet_light")
    assert (count(db, Article), count(db, Story)) == (1, 1)


def test_an_unchanged_article_stored_again_is_not_written(db: Database) -> None:
    source = add_source(db, "https://agency.example/rss")
    index = StoryIndex(clock=FrozenClock(NOW))
    page = extracted("https://agency.example/assad", "assad_kim_agency")
    [first] = store(db, index, [(source, page)])
    [again] = store(db, index, [(source, page)])
    assert not again.created and not again.regrouped
    assert (again.article.id, again.article.story_id) == (first.article.id, first.article.story_id)
    assert again.article.text == page.text  # the hooks see the stored article
    with db.session() as session:
        story = session.get(Story, first.article.story_id)
        assert story is not None and story.article_count == 1


def test_a_rolled_back_batch_is_not_learned_by_the_story_index(db: Database) -> None:
    source = add_source(db, "https://agency.example/rss")
    index = StoryIndex(clock=FrozenClock(NOW))
    with pytest.raises(RuntimeError), db.session() as session:
        store_articles(session, [(source, extracted("https://agency.example/a", "assad_kim_agency"))],
                       stories=index, min_pages=3, now=NOW)
        raise RuntimeError("a hook fails before the commit")
    assert len(index) == 0 and count(db, Article) == 0
    [copy] = store(db, index, [(source, extracted("https://g.example/a", "assad_kim_outlet_light"))])
    with db.session() as session:
        story = session.get(Story, copy.article.story_id)
        assert story is not None and story.article_count == 1
