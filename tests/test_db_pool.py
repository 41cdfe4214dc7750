"""PostgreSQL connection pools: kept for the process's concurrency, pinged only after idling."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import event, text

from tidings.store import db as db_module
from tidings.store.db import Database

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg(postgres_url: str) -> Iterator[Database]:
    database = Database(postgres_url)
    yield database
    database.dispose()


def _count_connects(database: Database) -> list[int]:
    connects: list[int] = []
    for engine in (database.engine, database.reader):
        event.listen(engine, "connect", lambda *_: connects.append(1))
    return connects


def _at_once(database: Database, sessions: int) -> None:
    """Hold ``sessions`` reading and writing sessions open at the same time."""
    barrier = threading.Barrier(sessions)

    def use() -> None:
        with database.reading() as reading:
            reading.execute(text("SELECT 1"))
            with database.session() as writing:
                writing.execute(text("SELECT 1"))
                barrier.wait(timeout=30)

    threads = [threading.Thread(target=use) for _ in range(sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_a_pool_keeps_as_many_connections_as_the_web_threads_use(pg: Database) -> None:
    from tidings.web.app import WEB_THREADS

    connects = _count_connects(pg)
    _at_once(pg, WEB_THREADS)
    assert len(connects) == 2 * WEB_THREADS  # one of each kind per thread, opened once
    for _ in range(3):
        _at_once(pg, WEB_THREADS)
    assert len(connects) == 2 * WEB_THREADS  # and kept: no connection per checkout


def _backend(database: Database) -> int:
    with database.reading() as session:
        return int(session.scalar(text("SELECT pg_backend_pid()")) or 0)


def _terminate(database: Database, pid: int) -> None:
    with database.session() as session:
        session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})


def test_a_connection_that_died_while_idle_is_replaced_before_use(
    pg: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _backend(pg)
    _terminate(pg, first)  # the server drops it while it sits in the pool
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE", 0.0)  # it has idled long enough
    second = _backend(pg)  # no error: the ping found it dead, the pool connected again
    assert second != first


def test_only_a_connection_idle_for_a_while_is_pinged(
    pg: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    pings: list[object] = []
    monkeypatch.setattr(db_module, "_ping", pings.append)
    first = _backend(pg)
    assert _backend(pg) == first and pings == []  # used a moment ago: no round trip
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE", 0.0)
    assert _backend(pg) == first and len(pings) == 1
