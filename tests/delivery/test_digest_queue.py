"""The digest queue: notifications wait in ``digest_queue`` and a digest moves them into
``digest_items`` — late commits, replays, concurrent schedulers, and the 0002 migration that
moved existing data dirs onto it.  SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import select, text

import tidings.delivery.digests as digests_module
from tests.delivery.test_digests import add_reader, notify, write_notification
from tidings.clock import FrozenClock, naive_utc
from tidings.config import Settings
from tidings.delivery.digests import DigestScheduler, digest_messages, lock_readers
from tidings.store.db import Database, alembic_config
from tidings.store.models import Channel, Digest, DigestItem, DigestQueue, Notification

FIRST = datetime(2024, 3, 1, 7, 30, tzinfo=UTC)  # the first 07:30 UTC after joining
SECOND = FIRST + timedelta(days=1)


@pytest.fixture
def postgres(postgres_url: str, tmp_path: Path) -> Iterator[tuple[Database, Settings]]:
    """A PostgreSQL database and settings for it: for what only PostgreSQL's concurrency and
    planner show."""
    db = Database(postgres_url)
    yield db, Settings.from_env({}, data_dir=tmp_path / "data", database_url=postgres_url)
    db.dispose()


def add_story(db: Database, reader: int, at: datetime, title: str) -> int:
    return notify(db, reader, at, title=title)


def taken(db: Database) -> dict[int, int]:
    """``{notification: digest}`` of every digest item."""
    with db.session() as s:
        return dict(s.execute(select(DigestItem.notification_id, DigestItem.digest_id)).all())


def queued(db: Database) -> set[int]:
    with db.session() as s:
        return set(s.scalars(select(DigestQueue.notification_id)))


def digests(db: Database, reader: int | None = None) -> list[Digest]:
    with db.session() as s:
        query = select(Digest).order_by(Digest.user_id, Digest.cutoff)
        if reader is not None:
            query = query.where(Digest.user_id == reader)
        return list(s.scalars(query))


def scheduler(settings: Settings, db: Database, at: datetime, **options: object) -> DigestScheduler:
    return DigestScheduler(settings, db, clock=FrozenClock(at), worker_id="test", **options)  # type: ignore[arg-type]


def test_a_replay_builds_nothing_and_a_late_commit_waits_for_the_next_digest(settings, db):
    reader = add_reader(db, "reader@example.com")
    early = add_story(db, reader, FIRST - timedelta(hours=2), "Early")
    assert scheduler(settings, db, FIRST).build(FIRST).built == 1
    # Stamped before the first cutoff, committed after that digest was built:
    late = add_story(db, reader, FIRST - timedelta(minutes=5), "Late")
    replay = scheduler(settings, db, FIRST).build(FIRST)  # the same pass again
    assert (replay.built, replay.notifications) == (0, 0)
    first = digests(db, reader)
    assert len(first) == 1 and taken(db) == {early: first[0].id} and queued(db) == {late}
    assert scheduler(settings, db, SECOND).build(SECOND).notifications == 1
    one, two = digests(db, reader)
    assert taken(db) == {early: one.id, late: two.id} and queued(db) == set()
    assert (one.notification_count, two.notification_count) == (1, 1)


def test_taking_a_notification_does_not_rewrite_it(settings, db):
    reader = add_reader(db, "reader@example.com")
    note = add_story(db, reader, FIRST - timedelta(hours=1), "A story")
    scheduler(settings, db, FIRST).build(FIRST)
    [digest] = digests(db, reader)
    with db.session() as s:
        stored = s.get(Notification, note)
        entry = s.scalars(select(Notification).where(Notification.kind == "digest")).one()
        assert stored is not None and stored.digest_id is None and stored.route == "digest"
        assert entry.digest_id == digest.id  # only the inbox entry links to its digest
        [message] = digest_messages(s, [digest.id], "email", settings).values()
    assert [story.title for section in message.sections for story in section.stories] == ["A story"]


def test_a_notification_committing_after_the_build_goes_to_the_next_digest_on_postgres(postgres):
    db, settings = postgres
    reader = add_reader(db, "reader@example.com")
    with db.sessions() as writer, writer.begin():  # the notifier's transaction, still open
        late = write_notification(writer, reader, FIRST - timedelta(minutes=5), title="Late").id
        report = scheduler(settings, db, FIRST).build(FIRST)  # does not wait for it
        assert (report.built, report.empty) == (1, 1)
    assert queued(db) == {late} and taken(db) == {}
    scheduler(settings, db, SECOND).build(SECOND)
    assert taken(db) == {late: digests(db, reader)[1].id}


def test_concurrent_schedulers_on_postgres_share_the_readers_and_take_each_story_once(postgres):
    db, settings = postgres
    readers = [add_reader(db, f"reader{k}@example.com") for k in range(6)]
    stories = {
        add_story(db, reader, FIRST - timedelta(minutes=k + 1), f"Story {reader}.{k}"): reader
        for reader in readers
        for k in range(3)
    }
    with db.session() as other:  # another scheduler, mid-build on the first two readers
        assert lock_readers(other, readers[:2]) == set(readers[:2])
        report = scheduler(settings, db, FIRST, batch_size=4).build(FIRST)
        assert report.readers == set(readers[2:]) and report.notifications == 12
    report = scheduler(settings, db, FIRST, batch_size=4).build(FIRST)
    assert report.readers == set(readers[:2]) and report.notifications == 6
    assert scheduler(settings, db, FIRST).build(FIRST).built == 0  # both done: a no-op
    by_reader = {d.user_id: d for d in digests(db)}
    assert len(digests(db)) == len(readers) == len(by_reader)
    assert {n: by_reader[r].id for n, r in stories.items()} == taken(db)
    assert queued(db) == set()


def test_a_data_dir_at_0001_upgrades_and_the_next_digest_takes_exactly_what_was_waiting(
    settings, database_url
):
    db = Database(database_url)
    config = alembic_config(db)
    command.downgrade(config, "0001")
    reader = add_reader(db, "reader@example.com")
    with db.session() as s:  # as 0001 kept them: a digest took ``digest_id`` notifications
        old = Digest(
            user_id=reader,
            mode="daily",
            cutoff=naive_utc(FIRST),
            notification_count=2,
            sent=True,
            created_at=naive_utc(FIRST),
        )
        s.add(old)
        s.flush()
        before = FIRST - timedelta(hours=1)
        was_taken = [
            write_notification(
                s, reader, before, title=f"Taken {k}", queue=False, digest_id=old.id
            ).id
            for k in range(2)
        ]
        waiting = [
            write_notification(
                s, reader, FIRST + timedelta(hours=k), title=f"Waiting {k}", queue=False
            )
            for k in range(1, 3)
        ]
        waiting_ids = [note.id for note in waiting]
        entry = Notification(
            user_id=reader,
            kind="digest",
            title="Your daily digest: 2 stories",
            mode="daily",
            route="digest",
            digest_id=old.id,
            created_at=naive_utc(FIRST),
        )
        quick = Notification(
            user_id=reader, title="Now", mode="quick", route="quick", created_at=naive_utc(FIRST)
        )
        s.add_all([entry, quick])
        s.flush()
        old_id, entry_id = old.id, entry.id
    command.upgrade(config, "head")
    assert taken(db) == dict.fromkeys(was_taken, old_id)
    assert queued(db) == set(waiting_ids)
    with db.session() as s:
        links = dict(s.execute(select(Notification.id, Notification.digest_id)).all())
    assert links[entry_id] == old_id and all(links[n] is None for n in was_taken)
    report = scheduler(settings, db, SECOND).build(SECOND)
    assert (report.built, report.notifications) == (1, 2)
    new = digests(db, reader)[-1]
    assert new.window_start is not None and new.notification_count == 2
    assert taken(db) == {**dict.fromkeys(was_taken, old_id), **dict.fromkeys(waiting_ids, new.id)}
    assert queued(db) == set()
    command.downgrade(config, "0001")  # and back: the digests' notifications carry their id
    with db.session() as s:
        links = dict(s.execute(select(Notification.id, Notification.digest_id)).all())
    assert [links[n] for n in was_taken + waiting_ids] == [old_id] * 2 + [new.id] * 2
    command.upgrade(config, "head")
    db.dispose()


def readers_with_a_story(db: Database, count: int) -> list[int]:
    readers = [add_reader(db, f"reader{k}@example.com") for k in range(count)]
    for reader in readers:
        add_story(db, reader, FIRST - timedelta(hours=1), f"Story {reader}")
        with db.session() as s:
            s.add(Channel(user_id=reader, kind="email", config={}, created_at=naive_utc(FIRST)))
    return readers


def analysed_rows(db: Database) -> dict[str, float]:
    """Rows in the digest tables as the planner knows them (-1 until first analysed)."""
    with db.session() as s:
        rows = s.execute(
            text(
                "SELECT relname, reltuples FROM pg_class "
                "WHERE relname IN ('digests', 'digest_items', 'deliveries')"
            )
        )
        return {name: tuples for name, tuples in rows}


def test_a_large_pass_on_postgres_leaves_fresh_statistics_for_the_senders(postgres):
    db, settings = postgres
    readers_with_a_story(db, 3)

    def analysed() -> dict[str, float]:
        return analysed_rows(db)

    small = scheduler(settings, db, FIRST, analyze_after=4).build(FIRST)
    assert small.built == 3 and set(analysed().values()) == {-1}  # below the threshold
    scheduler(settings, db, SECOND, analyze_after=3).build(SECOND)
    assert analysed() == {"digests": 6, "digest_items": 3, "deliveries": 3}


def test_a_long_pass_on_postgres_refreshes_statistics_as_it_goes(postgres, monkeypatch):
    """The senders send while a pass builds (``Worker.run``): its tables are analysed after
    ``analyze_after`` digests, again at twice as many, …, and at the end."""
    db, settings = postgres
    readers_with_a_story(db, 7)
    batches = digests_module.reader_batches
    seen: list[float] = []  # digests the planner knew of as each batch began

    def watched(*args: object) -> Iterator[object]:
        for batch in batches(*args):  # type: ignore[arg-type]
            seen.append(analysed_rows(db)["digests"])
            yield batch

    monkeypatch.setattr(digests_module, "reader_batches", watched)
    built = scheduler(settings, db, FIRST, analyze_after=2, batch_size=1).build(FIRST)
    assert built.built == 7
    assert seen == [-1, -1, 2, 2, 4, 4, 4]  # analysed after 2 and after 4 digests
    assert analysed_rows(db)["digests"] == 7  # and at the end
