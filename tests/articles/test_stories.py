"""Stories: near-duplicate articles from several outlets are one story, across workers."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from datasketch import LeanMinHash
from sqlalchemy import select
from sqlalchemy.orm import Session

from tidings.articles import stories
from tidings.articles.stories import (
    THRESHOLD,
    StoryIndex,
    minhash_bytes,
    minhash_from_bytes,
    story_sources,
    text_minhash,
)
from tidings.clock import FrozenClock
from tidings.store.db import Database
from tidings.store.models import Article, Story

PAGES = Path(__file__).parent.parent / "data" / "pages"
STORIES = PAGES / "stories"
NOW = datetime(2018, 6, 4, 12, 0, tzinfo=UTC)


def text(name: str) -> str:
    if name == "oneindia_seed":
        expected = json.loads((PAGES / "oneindia_assad_kim.json").read_text(encoding="utf-8"))
        return str(expected["expected"]["text"])
    return (STORIES / f"{name}.txt").read_text(encoding="utf-8")


def assign(
    index: StoryIndex, session: Session, article: Article, signature: bytes | None = None
) -> int:
    """One article at a time, the way the batch path does it: the article's MinHash, its story
    (``place``, unless it has one), the article written (a new one once, story included), and
    the index told at once (the worker tells it only after the commit)."""
    minhash = (
        minhash_from_bytes(signature) if signature
        else text_minhash(article.text or article.title or "")
    )
    article.minhash = minhash_bytes(minhash) if minhash is not None else None
    if article.story_id is None:
        [article.story_id] = index.place(session, [(minhash, article.title or "")])
    if article.id is None:
        session.add(article)
        session.flush()
    index.add(article.id, article.story_id, minhash, article.fetched_at)
    return article.story_id


def similarity(a: str, b: str) -> float:
    first, second = text_minhash(text(a)), text_minhash(text(b))
    assert first is not None and second is not None
    return float(first.jaccard(second))


@pytest.mark.parametrize("copy", ["assad_kim_outlet_light", "assad_kim_outlet_rewrite"])
def test_agency_story_and_an_outlets_edited_copy_are_near_duplicates(copy: str) -> None:
    assert similarity("assad_kim_agency", copy) >= THRESHOLD


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("assad_kim_agency", "un_report_chemical_weapons"),
        ("assad_kim_agency", "trump_kim_summit"),
        ("assad_kim_outlet_light", "trump_kim_summit"),
        ("oneindia_seed", "un_report_chemical_weapons"),
        ("trump_kim_summit", "un_report_chemical_weapons"),
    ],
)
def test_different_stories_about_the_same_people_are_not(a: str, b: str) -> None:
    assert similarity(a, b) < THRESHOLD / 2


def test_minhash_survives_storage_as_bytes() -> None:
    minhash = text_minhash(text("assad_kim_agency"))
    assert minhash is not None
    data = minhash_bytes(minhash)
    assert len(data) == 512
    assert minhash_from_bytes(data).jaccard(minhash) == 1.0


def test_a_one_line_brief_is_too_short_to_compare() -> None:
    assert text_minhash("Assad to visit Kim, KCNA says.") is None


def store(session: Session, url: str, name: str, *, fetched_at: datetime = NOW) -> Article:
    body = text(name)
    article = Article(
        url=url,
        title=body.split(".")[0][:80],
        text=body,
        content_hash=hashlib.sha256(body.encode()).hexdigest(),
        fetched_at=fetched_at.replace(tzinfo=None),
        updated_at=fetched_at.replace(tzinfo=None),
    )
    session.add(article)
    session.flush()
    return article


def test_outlets_running_one_agency_story_share_a_story(db: Database) -> None:
    index = StoryIndex(clock=FrozenClock(NOW))
    with db.session() as session:
        agency = assign(
            index, session, store(session, "https://agency.example/assad", "assad_kim_agency")
        )
        light = assign(
            index, session,
            store(session, "https://www.gazette.example/w/assad", "assad_kim_outlet_light")
        )
        rewrite = assign(
            index, session,
            store(session, "https://daily.example/assad", "assad_kim_outlet_rewrite")
        )
        other = assign(
            index, session,
            store(session, "https://agency.example/un", "un_report_chemical_weapons")
        )
    assert agency == light == rewrite != other
    with db.session() as session:
        story = session.get(Story, agency)
        assert story is not None and story.article_count == 3
        assert story_sources(session, agency) == [
            "agency.example",
            "gazette.example",
            "daily.example",
        ]
        assert story_sources(session, other) == ["agency.example"]
        stored = session.scalars(select(Article.minhash)).all()
    assert all(data is not None and len(data) == 512 for data in stored)


def test_an_article_updated_in_place_keeps_its_story(db: Database) -> None:
    index = StoryIndex(clock=FrozenClock(NOW))
    with db.session() as session:
        article = store(session, "https://agency.example/assad", "assad_kim_agency")
        story_id = assign(index, session, article)
    with db.session() as session:
        again = session.get(Article, article.id)
        assert again is not None
        again.text = text("trump_kim_summit")  # rewritten completely, still the same article
        assert assign(index, session, again) == story_id
    with db.session() as session:
        story = session.get(Story, story_id)
        assert story is not None and story.article_count == 1
        assert len(session.scalars(select(Story)).all()) == 1


def test_workers_see_each_others_articles_before_assigning(db: Database) -> None:
    first, second = StoryIndex(clock=FrozenClock(NOW)), StoryIndex(clock=FrozenClock(NOW))
    with db.session() as session:
        second.refresh(session)  # the second worker started before the agency story arrived
        story = assign(
            first, session, store(session, "https://agency.example/a", "assad_kim_agency")
        )
    with db.session() as session:
        copy = store(session, "https://gazette.example/a", "assad_kim_outlet_light")
        assert assign(second, session, copy) == story
    assert len(first) == 1 and len(second) == 2


def test_index_is_rebuilt_at_start_from_stored_minhashes(db: Database) -> None:
    with db.session() as session:
        story = assign(
            StoryIndex(clock=FrozenClock(NOW)), session,
            store(session, "https://agency.example/a", "assad_kim_agency")
        )
    restarted = StoryIndex(clock=FrozenClock(NOW))
    with db.session() as session:
        copy = store(session, "https://gazette.example/a", "assad_kim_outlet_rewrite")
        assert assign(restarted, session, copy) == story


def test_articles_older_than_the_window_start_new_stories(db: Database) -> None:
    clock = FrozenClock(NOW)
    index = StoryIndex(clock=clock)
    with db.session() as session:
        old = assign(index, session, store(session, "https://agency.example/a", "assad_kim_agency"))
    clock.advance(days=8)
    with db.session() as session:
        copy = store(
            session, "https://gazette.example/a", "assad_kim_outlet_light", fetched_at=clock.now
        )
        assert assign(index, session, copy) != old
    assert len(index) == 1


def test_a_story_lost_to_a_rollback_is_not_joined(db: Database) -> None:
    index = StoryIndex(clock=FrozenClock(NOW))
    with pytest.raises(RuntimeError), db.session() as session:
        assign(index, session, store(session, "https://agency.example/a", "assad_kim_agency"))
        raise RuntimeError("the worker's transaction fails after assigning")
    with db.session() as session:
        copy = store(session, "https://gazette.example/a", "assad_kim_outlet_light")
        story_id = assign(index, session, copy)
    with db.session() as session:
        story = session.get(Story, story_id)
        assert story is not None and story.article_count == 1


def test_a_cold_start_loads_every_recent_article_in_batches(db: Database) -> None:
    minhash = text_minhash(text("assad_kim_agency"))
    assert minhash is not None
    naive = NOW.replace(tzinfo=None)
    with db.session() as session:
        story = Story(title="Assad to visit Kim", first_seen_at=naive, updated_at=naive)
        session.add(story)
        session.flush()
        session.add_all(
            Article(
                url=f"https://outlet{i}.example/assad",
                title="Assad to visit Kim",
                text="…",
                content_hash=str(i),
                story_id=story.id,
                minhash=minhash_bytes(minhash),
                fetched_at=naive,
                updated_at=naive,
            )
            for i in range(1200)
        )
    index = StoryIndex(clock=FrozenClock(NOW))
    with db.session() as session:
        index.refresh(session)
        copy = store(session, "https://gazette.example/a", "assad_kim_outlet_light")
        assert assign(index, session, copy) == story.id
    assert len(index) == 1201


def test_story_sources_are_one_name_per_site(db: Database) -> None:
    index = StoryIndex(clock=FrozenClock(NOW))
    with db.session() as session:
        first = store(session, "https://www.oneindia.com/a", "assad_kim_agency")
        first.sitename = "Oneindia"
        story = assign(index, session, first)
        assign(
            index, session, store(session, "https://oneindia.com/amp/a", "assad_kim_outlet_light")
        )
        assign(
            index, session, store(session, "https://daily.example/a", "assad_kim_outlet_rewrite")
        )
        assert story_sources(session, story) == ["Oneindia", "daily.example"]


def test_a_row_committed_out_of_id_order_is_found_by_the_tail_rescan(db: Database) -> None:
    index = StoryIndex(clock=FrozenClock(NOW))
    with db.session() as session:
        late = store(session, "https://late.example/un", "un_report_chemical_weapons")
        assign(index, session, store(session, "https://agency.example/a", "assad_kim_agency"))
    # Another worker finishes the lower-id article only now.
    minhash = text_minhash(text("un_report_chemical_weapons"))
    assert minhash is not None
    with db.session() as session:
        naive = NOW.replace(tzinfo=None)
        story = Story(title="UN report", first_seen_at=naive, updated_at=naive)
        session.add(story)
        session.flush()
        row = session.get(Article, late.id)
        assert row is not None
        row.story_id, row.minhash = story.id, minhash_bytes(minhash)
    with db.session() as session:
        for _ in range(stories.RESCAN_EVERY - 2):
            index.refresh(session)
        assert late.id not in index.entries
        copy = store(session, "https://copy.example/un", "un_report_chemical_weapons")
        assert assign(index, session, copy) == story.id


def hashed(name: str) -> tuple[LeanMinHash | None, str]:
    return text_minhash(text(name)), name


def test_near_duplicates_in_one_batch_share_a_story_before_either_is_in_the_index(
    db: Database,
) -> None:
    index = StoryIndex(clock=FrozenClock(NOW))
    with db.session() as session:
        agency, other, light, brief = index.place(session, [
            hashed("assad_kim_agency"), hashed("un_report_chemical_weapons"),
            hashed("assad_kim_outlet_light"), (None, "A one-line brief"),
        ])
        assert len(index) == 0  # learned only once committed (``add``)
        counts = {i: n for i, n in session.execute(select(Story.id, Story.article_count))}
    assert agency == light and len({agency, other, brief}) == 3
    assert counts == {agency: 2, other: 1, brief: 1}


def test_a_batch_joins_stories_already_stored(db: Database) -> None:
    index = StoryIndex(clock=FrozenClock(NOW))
    with db.session() as session:
        story = assign(
            index, session, store(session, "https://agency.example/a", "assad_kim_agency")
        )
    with db.session() as session:
        placed = index.place(
            session, [hashed("assad_kim_outlet_light"), hashed("assad_kim_outlet_rewrite")]
        )
        assert placed == [story, story]
        joined = session.get(Story, story)
        assert joined is not None and joined.article_count == 3


def test_a_rolled_back_batch_leaves_the_index_as_it_was(db: Database) -> None:
    index = StoryIndex(clock=FrozenClock(NOW))
    with pytest.raises(RuntimeError), db.session() as session:
        index.place(session, [hashed("assad_kim_agency"), hashed("assad_kim_outlet_light")])
        raise RuntimeError("the worker's transaction fails before its commit")
    assert len(index) == 0
    with db.session() as session:
        [story] = index.place(session, [hashed("assad_kim_outlet_rewrite")])
        assert session.scalars(select(Story.id)).all() == [story]
