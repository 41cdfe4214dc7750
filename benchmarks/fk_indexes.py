"""The index on ``deliveries.digest_id`` (migration 0005): what it saves, what it costs.

Seeded (bulk ``INSERT … SELECT``, not timed): ``--readers`` other readers with one email channel
each, ``--others`` of their deliveries (half for ``--others / 2`` of their digests, half for as
many of their notifications, which have no ``digest_id``), and one reader with ``--digests``
daily digests, each with its inbox entry and two deliveries (email and Web Push).  Then, in
rounds alternating without the index (``before``: the schema at 0004) and with it (``after``):

1. **delete** — ``tidings.accounts.delete_user`` of that reader (what ``DELETE
   /api/v1/admin/users/{id}`` runs): the database cascades from ``users`` to their digests, and
   from each digest to its deliveries (``ON DELETE CASCADE``), looked up by ``digest_id``.
   Timed up to the flush; rolled back, so every round deletes the same rows.
2. **insert** — ``tidings.delivery.digests.write_deliveries`` for ``--inserts`` of the other
   readers' digests (one ``INSERT … SELECT``: a delivery each, ``digest_id`` set), as a digest
   pass writes them; timed with its commit, then deleted (and, on PostgreSQL, the table
   vacuumed) untimed.

The plan of a digest's ``DELETE`` (SQLite's ``EXPLAIN QUERY PLAN``, which shows the foreign key
actions; PostgreSQL's generic plan of the query its cascade trigger runs) is printed with each
state.

Usage::

    python benchmarks/fk_indexes.py                       # SQLite
    python benchmarks/fk_indexes.py --database-url postgresql://postgres@127.0.0.1/postgres
    python benchmarks/fk_indexes.py --digests 30 --others 200000 --rounds 3
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

from sqlalchemy import Table, select, text

from _common import empty_database_url
from tidings.accounts import delete_user
from tidings.clock import naive_utc
from tidings.delivery.digests import write_deliveries
from tidings.store.db import Database
from tidings.store.models import Delivery, Digest, User

INDEX = next(
    ix for ix in cast(Table, Delivery.__table__).indexes if ix.name == "ix_deliveries_digest"
)
BASE = naive_utc(datetime(2025, 1, 1, 7, 30, tzinfo=UTC))
NUMBERS = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count) "


def seed(db: Database, readers: int, others: int, digests: int) -> int:
    """Fill the database; return the id of the reader to delete (their id is ``readers + 1``)."""
    half = others // 2
    per_reader = -(-half // readers)  # digests of each other reader
    victim = readers + 1
    times = {"base": BASE, "now": BASE + timedelta(days=per_reader + digests + 1)}
    step = "CAST(:base AS TIMESTAMP)" if db.dialect == "postgresql" else "datetime(:base)"

    def day(offset: str) -> str:
        if db.dialect == "postgresql":
            return f"{step} + ({offset}) * INTERVAL '1 day'"
        return f"datetime(:base, '+' || ({offset}) || ' days')"

    statements = [
        # Every reader (the one to delete last), one email channel each.
        (
            "INSERT INTO users (id, email, is_admin, timezone, digest_time, weekly_day,"
            " created_at) " + NUMBERS + "SELECT i, 'reader' || CAST(i AS TEXT) || '@example.org',"
            " false, 'UTC', '07:30', 0, :now FROM n",
            {"count": victim},
        ),
        (
            "INSERT INTO channels (id, user_id, kind, config, enabled, created_at) "
            + NUMBERS
            + "SELECT i, i, 'email', '{}', true, :now FROM n",
            {"count": victim},
        ),
        (
            "INSERT INTO channels (id, user_id, kind, config, endpoint, enabled, created_at)"
            " VALUES (:id, :user, 'webpush', '{}', 'https://push.example/1', true, :now)",
            {"id": victim + 1, "user": victim},
        ),
        # The other readers' digests (ids 1…half) and their deliveries.
        (
            "INSERT INTO digests (id, user_id, mode, cutoff, notification_count, sent,"
            f" created_at) {NUMBERS}SELECT i, (i - 1) % {readers} + 1, 'daily',"
            f" {day(f'(i - 1) / {readers}')}, 20, true, :now FROM n",
            {"count": half},
        ),
        (
            "INSERT INTO deliveries (key, digest_id, channel_id, status, attempts,"
            " next_attempt_at, sent_at, created_at) "
            + NUMBERS
            + "SELECT 'seed-d' || CAST(i AS TEXT), i, (i - 1) % "
            + str(readers)
            + " + 1, 'sent', 1, :now, :now, :now FROM n",
            {"count": half},
        ),
        # Their notifications (ids 1…others - half) and their deliveries: no digest_id.
        (
            "INSERT INTO notifications (id, user_id, kind, title, alert_ids, terms,"
            " also_reported_by, mode, route, created_at) "
            + NUMBERS
            + "SELECT i, (i - 1) % "
            + str(readers)
            + " + 1, 'story', 'A story', '[]', '[]', 0, 'quick', 'quick', :now FROM n",
            {"count": others - half},
        ),
        (
            "INSERT INTO deliveries (key, notification_id, channel_id, status, attempts,"
            " next_attempt_at, sent_at, created_at) "
            + NUMBERS
            + "SELECT 'n' || CAST(i AS TEXT), i, (i - 1) % "
            + str(readers)
            + " + 1, 'sent', 1, :now, :now, :now FROM n",
            {"count": others - half},
        ),
        # The reader to delete: their digests, inbox entries and deliveries (email, push).
        (
            "INSERT INTO digests (id, user_id, mode, cutoff, notification_count, sent,"
            f" created_at) {NUMBERS}SELECT :first + i, :user, 'daily', {day('i')}, 20, true,"
            " :now FROM n",
            {"count": digests, "first": half, "user": victim},
        ),
        (
            "INSERT INTO notifications (id, user_id, kind, title, alert_ids, terms,"
            " also_reported_by, mode, route, digest_id, created_at) "
            + NUMBERS
            + "SELECT :first + i, :user, 'digest', 'Your digest', '[]', '[]', 0, 'daily',"
            " 'digest', :digests + i, :now FROM n",
            {"count": digests, "first": others - half, "user": victim, "digests": half},
        ),
        (
            "INSERT INTO deliveries (key, digest_id, channel_id, status, attempts,"
            " next_attempt_at, sent_at, created_at) "
            + NUMBERS
            + "SELECT 'victim-d' || CAST(:first + i AS TEXT) || '-c' || CAST(c.id AS TEXT),"
            " :first + i, c.id, 'sent', 1, :now, :now, :now FROM n, channels c"
            " WHERE c.user_id = :user",
            {"count": digests, "first": half, "user": victim},
        ),
    ]
    with db.session() as session:
        for sql, parameters in statements:
            session.execute(text(sql), {**times, **parameters})
    analyze(db)
    return victim


def analyze(db: Database) -> None:
    if db.dialect == "postgresql":
        vacuum(db, "VACUUM ANALYZE")
    else:
        db.refresh_statistics()


def vacuum(db: Database, command: str) -> None:
    """PostgreSQL: run ``command``, a VACUUM (which no transaction may hold)."""
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(command))


def set_index(db: Database, present: bool) -> None:
    """The schema at 0004 (no index) or at 0005; new connections (no plan cached before)."""
    with db.engine.begin() as connection:
        connection.execute(text(f"DROP INDEX IF EXISTS {INDEX.name}"))
        if present:
            INDEX.create(connection)
    analyze(db)
    db.dispose()


def plan(db: Database, digest_id: int) -> list[str]:
    """How a digest's deletion finds its deliveries."""
    with db.engine.connect() as connection:
        if db.dialect == "sqlite":
            rows = connection.exec_driver_sql(
                f"EXPLAIN QUERY PLAN DELETE FROM digests WHERE id = {digest_id}"
            )
            return [row[3] for row in rows if "deliveries" in row[3]]
        # The query of PostgreSQL's ON DELETE CASCADE trigger, planned as it is: generic.
        connection.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
        connection.exec_driver_sql(
            "PREPARE cascade (bigint) AS DELETE FROM ONLY public.deliveries"
            " WHERE $1 OPERATOR(pg_catalog.=) digest_id"
        )
        lines = [row[0] for row in connection.exec_driver_sql("EXPLAIN EXECUTE cascade (1)")]
        connection.rollback()
        return [line.strip() for line in lines if "Scan" in line]


def time_delete(db: Database, victim: int, half: int) -> float:
    with db.sessions() as session:
        user = session.get(User, victim)
        assert user is not None
        started = time.perf_counter()
        delete_user(session, user)
        elapsed = time.perf_counter() - started
        left = session.scalar(
            text("SELECT count(*) FROM deliveries WHERE digest_id > :n"), {"n": half}
        )
        assert left == 0, left  # the cascade went through: none of theirs is left
        session.rollback()
    return elapsed


def time_insert(db: Database, digest_ids: list[int]) -> float:
    started = time.perf_counter()
    with db.session() as session:
        write_deliveries(session, digest_ids, BASE)
    elapsed = time.perf_counter() - started
    with db.session() as session:
        deleted = session.execute(text("DELETE FROM deliveries WHERE key LIKE 'd%'"))
        assert deleted.rowcount == len(digest_ids), deleted.rowcount  # type: ignore[attr-defined]
    if db.dialect == "postgresql":
        vacuum(db, "VACUUM deliveries")
    return elapsed


def count(db: Database, where: str) -> int:
    with db.engine.connect() as connection:
        return int(connection.execute(text(f"SELECT count(*) FROM {where}")).scalar_one())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default="", help="PostgreSQL server (default SQLite)")
    parser.add_argument("--readers", type=int, default=1000, help="other readers")
    parser.add_argument("--others", type=int, default=200_000, help="other readers' deliveries")
    parser.add_argument("--digests", type=int, default=365, help="digests of the deleted reader")
    parser.add_argument("--inserts", type=int, default=100_000, help="deliveries inserted")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each state")
    args = parser.parse_args(argv)
    if args.inserts > args.others // 2:
        parser.error("--inserts is at most --others / 2 (one per other reader's digest)")
    with (
        tempfile.TemporaryDirectory() as folder,
        empty_database_url(args.database_url, Path(folder), "tidings_fk") as url,
    ):
        db = Database(url)
        db.upgrade()
        started = time.perf_counter()
        victim = seed(db, args.readers, args.others, args.digests)
        total = count(db, "deliveries")
        mine = count(db, f"deliveries WHERE digest_id > {args.others // 2}")
        print(
            f"{db.dialect}: seeded in {time.perf_counter() - started:.1f} s: {total:,}"
            f" deliveries ({mine} of the reader to delete, {args.digests} digests)",
            flush=True,
        )
        with db.engine.connect() as connection:
            targets = list(
                connection.scalars(
                    select(Digest.id).where(Digest.user_id <= args.readers).order_by(Digest.id)
                )
            )[: args.inserts]
        results: dict[str, dict[str, list[float]]] = {
            state: {"delete": [], "insert": []} for state in ("before", "after")
        }
        for round_ in range(args.rounds):
            for state in ("before", "after"):
                set_index(db, present=state == "after")
                if round_ == 0:
                    print(f"  {state}: {plan(db, args.others // 2 + 1)}", flush=True)
                deleted = time_delete(db, victim, args.others // 2)
                inserted = time_insert(db, targets)
                results[state]["delete"].append(deleted)
                results[state]["insert"].append(inserted)
                print(
                    f"  round {round_ + 1} {state:6}: delete reader {deleted * 1000:8.1f} ms"
                    f"   insert {len(targets):,} deliveries {inserted * 1000:8.1f} ms",
                    flush=True,
                )
        for state, figures in results.items():
            print(f"{db.dialect} {state:6}: " + "   ".join(summary(figures[k], k) for k in figures))
        db.dispose()


def summary(values: list[float], what: str) -> str:
    return (
        f"{what} median {statistics.median(values) * 1000:.1f} ms"
        f" (min {min(values) * 1000:.1f}, max {max(values) * 1000:.1f})"
    )


if __name__ == "__main__":
    main()
