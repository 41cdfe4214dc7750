from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from tidings.clock import naive_utc
from tidings.store.claims import claim_due_sources, release_claim, renew_claim
from tidings.store.db import Database
from tidings.store.models import Source

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def add_sources(db: Database, count: int, *, due_in: timedelta = timedelta(0)) -> list[int]:
    with db.session() as s:
        rows = [
            Source(url=f"http://127.0.0.1/feed{i}", next_check_at=naive_utc(NOW + due_in),
                   created_at=naive_utc(NOW))
            for i in range(count)
        ]
        s.add_all(rows)
        s.flush()
        return [r.id for r in rows]


def claim(db: Database, worker: str, now: datetime = NOW, limit: int = 100) -> list[int]:
    with db.session() as s:
        return claim_due_sources(s, worker, now, lease_seconds=60, limit=limit)


def test_only_due_sources_are_claimed(db: Database) -> None:
    due = add_sources(db, 3)
    with db.session() as s:
        s.add(Source(url="http://127.0.0.1/later", next_check_at=naive_utc(NOW + timedelta(hours=1)),
                     created_at=naive_utc(NOW)))
    assert claim(db, "a") == due


def test_a_claimed_source_is_not_claimed_again_while_leased(db: Database) -> None:
    ids = add_sources(db, 4)
    assert claim(db, "a", limit=2) == ids[:2]
    assert claim(db, "b") == ids[2:]
    assert claim(db, "c") == []


def test_concurrent_claims_never_overlap(db: Database) -> None:
    add_sources(db, 60)
    results: dict[str, list[int]] = {}
    barrier = threading.Barrier(4)

    def worker(name: str) -> None:
        barrier.wait()
        got: list[int] = []
        while batch := claim(db, name, limit=3):
            got += batch
        results[name] = got

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = [i for got in results.values() for i in got]
    assert len(claimed) == 60
    assert len(set(claimed)) == 60


def test_an_expired_lease_makes_the_source_claimable_again(db: Database) -> None:
    [source_id] = add_sources(db, 1)
    assert claim(db, "dead") == [source_id]
    assert claim(db, "b", now=NOW + timedelta(seconds=59)) == []
    assert claim(db, "b", now=NOW + timedelta(seconds=61)) == [source_id]


def test_only_the_claim_holder_may_release_or_renew(db: Database) -> None:
    [source_id] = add_sources(db, 1)
    claim(db, "slow")
    later = NOW + timedelta(seconds=61)
    assert claim(db, "b", now=later) == [source_id]
    with db.session() as s:
        assert not renew_claim(s, source_id, "slow", later, lease_seconds=60)
        assert not release_claim(s, source_id, "slow", status="ok")
        assert release_claim(
            s, source_id, "b", status="ok", next_check_at=naive_utc(later + timedelta(hours=1))
        )
    with db.session() as s:
        source = s.get(Source, source_id)
        assert source is not None
        assert source.claimed_by is None
        assert source.status == "ok"
