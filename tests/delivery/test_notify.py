"""Matches → notifications → deliveries, on SQLite and PostgreSQL: one inbox item per reader per
story, attachments, routing (quiet hours, budget, digest modes), channel choice, fan-out."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from tidings.alerts.store import create_alert
from tidings.clock import FrozenClock, as_utc, naive_utc
from tidings.delivery.notify import DELIVERIES, Notifier, delivery_row, insert_ignoring
from tidings.delivery.snippets import make_snippet, token_spans
from tidings.store.db import Database
from tidings.store.models import (
    Article,
    Channel,
    Delivery,
    DigestQueue,
    Notification,
    Story,
    Topic,
    TopicFollow,
    User,
)

NOW = datetime(2026, 6, 3, 12, 0, tzinfo=UTC)
# The seed page's article, as the extractor gives it (tests/data/pages/oneindia_assad_kim.*).
SEED = Path(__file__).parents[1] / "data/pages/oneindia_assad_kim.json"
ASSAD_TITLE = "Syrian dictator Bashar al-Assad to meet Kim Jong-un in North Korea"
ASSAD_TEXT = (
    "North Korea's state-run Korean Central News Agency (KCNA) on Sunday, June 3 reported that "
    "Syrian President Bashar al-Assad has planned to pay a visit to North Korean Supreme Leader "
    "Kim Jong-un. It will potentially be a visit by the first head of state to meet the North "
    "Korean leader in his own country.\n\nKim Jong Un and Bashar al-Assad\n\nThe Syrian leader "
    "reportedly revealed his plan about the visit on May 30."
)


# -- building a small world -------------------------------------------------------------------


def add_user(db: Database, email: str, **settings: Any) -> int:
    with db.session() as s:
        user = User(email=email, created_at=naive_utc(NOW), **settings)
        s.add(user)
        s.flush()
        return user.id


def add_channel(db: Database, user_id: int, kind: str = "webhook", **config: Any) -> int:
    config = config or {"url": "https://hooks.example.com/x", "secret": "s3cret"}
    with db.session() as s:
        channel = Channel(
            user_id=user_id,
            kind=kind,
            config=config,
            created_at=naive_utc(NOW),
            endpoint=config.get("endpoint") if kind == "webpush" else None,
            last_seen_at=naive_utc(NOW) if kind == "webpush" else None,
        )
        s.add(channel)
        s.flush()
        return channel.id


def add_alert(db: Database, query: str, user_id: int | None = None, **options: Any) -> int:
    with db.session() as s:
        return create_alert(s, user_id=user_id, query=query, **options).id


def add_topic(db: Database, slug: str, query: str, followers: dict[int, str]) -> int:
    with db.session() as s:
        topic = Topic(slug=slug, name=slug.title(), created_at=naive_utc(NOW))
        s.add(topic)
        s.flush()
        create_alert(s, user_id=None, topic_id=topic.id, query=query)
        s.add_all(
            TopicFollow(user_id=u, topic_id=topic.id, mode=m, created_at=naive_utc(NOW))
            for u, m in followers.items()
        )
        return topic.id


def new_story(db: Database, title: str = ASSAD_TITLE) -> int:
    with db.session() as s:
        story = Story(title=title, first_seen_at=naive_utc(NOW), updated_at=naive_utc(NOW))
        s.add(story)
        s.flush()
        return story.id


def store(
    db: Database,
    notifier: Notifier,
    story_id: int,
    *,
    url: str = "https://www.oneindia.com/international/assad-kim.html",
    title: str = ASSAD_TITLE,
    text: str = ASSAD_TEXT,
    site: str = "Oneindia",
) -> int:
    """Store an article of ``story_id`` the way the pipeline does: hook in its transaction."""
    with db.session() as s:
        article = s.scalar(select(Article).where(Article.url == url))
        if article is None:
            article = Article(
                url=url,
                title=title,
                text=text,
                author="Shubham",
                sitename=site,
                language="en",
                story_id=story_id,
                content_hash="x",
                published=naive_utc(NOW),
                fetched_at=naive_utc(NOW),
                updated_at=naive_utc(NOW),
            )
            s.add(article)
            s.flush()
        notifier(s, article)
        return article.id


def notifications(db: Database) -> list[Notification]:
    with db.session() as s:
        return list(s.scalars(select(Notification).order_by(Notification.user_id, Notification.id)))


def deliveries(db: Database) -> list[Delivery]:
    with db.session() as s:
        return list(s.scalars(select(Delivery).order_by(Delivery.id)))


def digest_queue(db: Database) -> list[tuple[int, int, str]]:
    """What waits for a digest: (notification, reader, mode)."""
    q = DigestQueue
    with db.session() as s:
        rows = s.execute(
            select(q.notification_id, q.user_id, q.mode).order_by(q.user_id, q.notification_id)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


# -- snippets ---------------------------------------------------------------------------------


def test_snippet_highlights_kim_jong_un_as_written_for_the_phrase_alert() -> None:
    seed = json.loads(SEED.read_text(encoding="utf-8"))["expected"]["text"]
    snippet = make_snippet(seed, ["kim jong un"])
    assert "<mark>Kim Jong-un</mark>" in snippet.html
    assert "Kim Jong-un" in snippet.text and "<mark>" not in snippet.text
    assert len(snippet.text) <= 210


def test_snippet_prefers_the_passage_with_the_most_matched_terms() -> None:
    text = (
        "Assad spoke. "
        + "Filler words here. " * 30
        + "Later Assad and Kim Jong Un met in Pyongyang. "
        + "More filler. " * 30
    )
    snippet = make_snippet(text, ["assad", "kim jong un"])
    assert "<mark>Assad</mark> and <mark>Kim Jong Un</mark> met" in snippet.html
    assert snippet.text.startswith("…") and snippet.text.endswith("…")


def test_snippet_html_is_escaped_and_accents_and_width_fold_like_the_matcher() -> None:
    text = "Tom & Jerry <b>met</b> Pokémon trainers in Ｔｏｋｙｏ, said Ash."
    snippet = make_snippet(text, ["pokemon", "tokyo"])
    assert "&amp;" in snippet.html and "&lt;b&gt;" in snippet.html
    assert "<mark>Pokémon</mark>" in snippet.html and "<mark>Ｔｏｋｙｏ</mark>" in snippet.html
    assert snippet.text == text


def test_token_spans_agree_with_the_analysis_on_many_scripts() -> None:
    from tidings.alerts.analysis import analyze

    text = "Straße İstanbul ﬁne 金正恩 हिंदी समाचार Ελληνικά Ünïcödé Korea's 3½"
    assert [span.token for span in token_spans(text)] == analyze(text)


# -- notifications ----------------------------------------------------------------------------


def test_one_notification_per_reader_per_story_lists_every_matched_alert(db: Database) -> None:
    reader = add_user(db, "reader@example.com")
    channel = add_channel(db, reader)
    assad = add_alert(db, "assad", reader)
    kim = add_alert(db, '"kim jong un"', reader)
    add_alert(db, "putin", reader)
    notifier = Notifier(db, clock=FrozenClock(NOW))
    store(db, notifier, new_story(db))
    [note] = notifications(db)
    assert note.alert_ids == sorted([assad, kim])
    assert set(note.terms) == {"assad", "kim jong un"}
    assert note.route == "quick" and note.mode == "quick"
    assert note.title == ASSAD_TITLE and note.source == "Oneindia" and note.byline == "Shubham"
    assert "<mark>Kim Jong-un</mark>" in (note.snippet_html or "")
    [delivery] = deliveries(db)
    assert delivery.key == f"n{note.id}:c{channel}"
    assert as_utc(delivery.next_attempt_at) == NOW and delivery.status == "pending"


def test_a_second_outlets_article_attaches_without_a_new_delivery(db: Database) -> None:
    reader = add_user(db, "reader@example.com")
    add_channel(db, reader)
    assad = add_alert(db, "assad", reader)
    notifier = Notifier(db, clock=FrozenClock(NOW))
    story = new_story(db)
    store(db, notifier, story)
    summit = add_alert(db, "summit", reader)  # added later: the notifier picks it up
    store(
        db,
        notifier,
        story,
        url="https://news.example.org/assad-kim-summit",
        text=ASSAD_TEXT + " A summit is planned.",
        site="Example News",
    )
    [note] = notifications(db)
    assert note.also_reported_by == 1
    assert note.alert_ids == [assad, summit]
    assert len(deliveries(db)) == 1


def test_a_replayed_article_writes_nothing_new(db: Database) -> None:
    reader = add_user(db, "reader@example.com")
    add_channel(db, reader)
    add_alert(db, "assad", reader)
    notifier = Notifier(db, clock=FrozenClock(NOW))
    story = new_story(db)
    store(db, notifier, story)
    before = [(n.id, n.alert_ids, n.also_reported_by) for n in notifications(db)]
    store(db, notifier, story)
    assert [(n.id, n.alert_ids, n.also_reported_by) for n in notifications(db)] == before
    assert len(deliveries(db)) == 1


def test_a_replayed_delivery_key_is_a_no_op(db: Database) -> None:
    reader = add_user(db, "reader@example.com")
    channel = add_channel(db, reader)
    add_alert(db, "assad", reader)
    store(db, Notifier(db, clock=FrozenClock(NOW)), new_story(db))
    [note] = notifications(db)
    with db.session() as s:
        written = insert_ignoring(
            s, DELIVERIES, [delivery_row(note.id, channel, NOW, NOW)], ["key"], [DELIVERIES.c.id]
        )
    assert written == []
    assert len(deliveries(db)) == 1


def test_quiet_hours_hold_a_quick_alert_until_they_end(db: Database) -> None:
    reader = add_user(
        db, "night@example.com", timezone="Europe/London", quiet_start="22:00", quiet_end="07:00"
    )
    add_channel(db, reader)
    add_alert(db, "assad", reader)
    late = datetime(2026, 6, 3, 22, 30, tzinfo=UTC)  # 23:30 in London (BST)
    store(db, Notifier(db, clock=FrozenClock(late)), new_story(db))
    [note] = notifications(db)
    morning = datetime(2026, 6, 4, 6, 0, tzinfo=UTC)  # 07:00 BST
    assert note.route == "held" and as_utc(note.hold_until) == morning
    [delivery] = deliveries(db)
    assert as_utc(delivery.next_attempt_at) == morning


def test_past_the_hourly_budget_a_quick_alert_goes_to_the_digest(db: Database) -> None:
    reader = add_user(db, "busy@example.com", quick_budget_per_hour=1)
    add_channel(db, reader)
    add_alert(db, "assad", reader)
    clock = FrozenClock(NOW)
    notifier = Notifier(db, clock=clock)
    store(db, notifier, new_story(db))
    clock.advance(minutes=30)
    store(db, notifier, new_story(db), url="https://other.example/assad-again")
    clock.advance(minutes=31)
    store(db, notifier, new_story(db), url="https://third.example/assad-later")
    assert [n.route for n in notifications(db)] == ["quick", "digest", "quick"]
    assert len(deliveries(db)) == 2
    [moved] = [n for n in notifications(db) if n.route == "digest"]
    assert digest_queue(db) == [(moved.id, moved.user_id, "quick")]  # the next daily digest's


def test_daily_and_weekly_alerts_go_to_the_digest(db: Database) -> None:
    daily = add_user(db, "daily@example.com")
    weekly = add_user(db, "weekly@example.com")
    both = add_user(db, "both@example.com")
    for user in (daily, weekly, both):
        add_channel(db, user)
    add_alert(db, "assad", daily, mode="daily")
    add_alert(db, "assad", weekly, mode="weekly")
    add_alert(db, "assad", both, mode="weekly")
    add_alert(db, "kim", both, mode="daily")
    store(db, Notifier(db, clock=FrozenClock(NOW)), new_story(db))
    assert [(n.mode, n.route) for n in notifications(db)] == [
        ("daily", "digest"),
        ("weekly", "digest"),
        ("daily", "digest"),
    ]
    assert deliveries(db) == []
    assert digest_queue(db) == [(n.id, n.user_id, n.mode) for n in notifications(db)]


def test_each_alert_chooses_its_channels(db: Database) -> None:
    picky = add_user(db, "picky@example.com")
    phone = add_channel(db, picky)
    add_channel(db, picky, url="https://hooks.example.com/other", secret="x")
    add_alert(db, "assad", picky, channels=[phone])
    add_alert(db, "kim", picky, mode="daily")  # not quick: its "all channels" does not count
    everywhere = add_user(db, "all@example.com")
    mine = {
        add_channel(db, everywhere, url=f"https://h.example.com/{i}", secret="x") for i in range(2)
    }
    add_alert(db, "assad", everywhere)
    with db.session() as s:
        s.add(Channel(user_id=everywhere, kind="inbox", config={}, created_at=naive_utc(NOW)))
    store(db, Notifier(db, clock=FrozenClock(NOW)), new_story(db))
    by_channel = {d.channel_id for d in deliveries(db)}
    assert by_channel == {phone} | mine


def test_a_topic_fans_out_to_its_followers_with_their_modes(db: Database) -> None:
    quick = [add_user(db, f"q{i}@example.com") for i in range(3)]
    daily = add_user(db, "d@example.com")
    for user in quick + [daily]:
        add_channel(db, user, url=f"https://h.example.com/{user}", secret="x")
    add_topic(db, "korea", "site:oneindia.com kim", {**{u: "quick" for u in quick}, daily: "daily"})
    own = add_alert(db, "assad", quick[0])
    store(db, Notifier(db, clock=FrozenClock(NOW)), new_story(db))
    notes = notifications(db)
    assert [(n.user_id, n.route) for n in notes] == [(u, "quick") for u in quick] + [
        (daily, "digest")
    ]
    assert own in notes[0].alert_ids and len(notes[0].alert_ids) == 2
    assert len(deliveries(db)) == 3


def test_no_match_no_notification(db: Database) -> None:
    reader = add_user(db, "reader@example.com")
    add_alert(db, "putin", reader)
    store(db, Notifier(db, clock=FrozenClock(NOW)), new_story(db))
    assert notifications(db) == []
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Delivery)) == 0
