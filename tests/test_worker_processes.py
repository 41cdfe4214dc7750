"""Several ``tidings worker`` processes share one PostgreSQL: no double fetch, no lost source."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import func, select

from tests.newsroom import Newsroom
from tidings.cli.sources import add_source
from tidings.store.db import Database
from tidings.store.models import Article, FetchAttempt, Source

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def worker_env(database_url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        TIDINGS_DATABASE_URL=database_url,
        TIDINGS_ALLOW_PRIVATE_NETWORKS="1",
        TIDINGS_MIN_INTERVAL="3600",
        TIDINGS_EXTRACT_PROCESSES="1",
        TIDINGS_LOG_LEVEL="INFO",
        **extra,
    )
    return env


@contextmanager
def worker_process(env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """A real `tidings worker` in its own process group (so kill -9 takes its children too)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tidings", "worker"], env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll until ``condition`` holds; waiting on an outcome, not sleeping for timing."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def stop_cleanly(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()


def add_feeds(db: Database, urls: list[str]) -> None:
    with db.session() as session:
        for url in urls:
            add_source(session, url)


def fetched_sources(db: Database) -> int:
    with db.session() as session:
        return session.scalar(
            select(func.count()).select_from(Source).where(Source.last_fetch_at.is_not(None))
        ) or 0


def test_two_workers_never_fetch_the_same_due_source_twice(postgres_url: str) -> None:
    room = Newsroom.generate(feeds=24, articles_per_feed=2)
    # Each worker fetches one source at a time; the first two feed requests wait for each
    # other, so both workers are provably claiming at the same time.
    room.gate = threading.Barrier(2)
    db = Database(postgres_url)
    with room.serve():
        add_feeds(db, room.feed_urls())
        env = worker_env(postgres_url, TIDINGS_FETCH_CONCURRENCY="1")
        with worker_process(env) as first, worker_process(env) as second:
            wait_for(lambda: fetched_sources(db) == 24, 180, "every source to be fetched")
            stop_cleanly(first)
            stop_cleanly(second)
    feed_requests = {p: n for p, n in room.requests.items() if p.startswith("/feeds/")}
    assert len(feed_requests) == 24
    assert set(feed_requests.values()) == {1}, feed_requests
    with db.session() as session:
        attempts = session.execute(
            select(FetchAttempt.source_id, FetchAttempt.worker, FetchAttempt.status)
        ).all()
        articles = session.scalar(select(func.count()).select_from(Article))
    assert len(attempts) == 24
    assert len({source for source, _, _ in attempts}) == 24
    assert {status for _, _, status in attempts} == {"ok"}
    assert len({worker for _, worker, _ in attempts}) == 2
    assert articles == 48
    db.dispose()


def test_a_worker_killed_mid_fetch_leaves_the_source_to_be_claimed_again(
    postgres_url: str,
) -> None:
    room = Newsroom.generate(feeds=1, articles_per_feed=3)
    [feed_path] = room.feeds
    arrived, release = room.hold(feed_path)
    db = Database(postgres_url)
    env = worker_env(postgres_url, TIDINGS_CLAIM_LEASE="2")
    with room.serve():
        add_feeds(db, room.feed_urls())
        with worker_process(env) as doomed:
            assert arrived.wait(60), "the worker never fetched the feed"
            os.killpg(doomed.pid, signal.SIGKILL)
            doomed.wait()
        with db.session() as session:
            source = session.scalars(select(Source)).one()
            assert source.claimed_by is not None  # the dead worker's claim is still there…
            assert source.last_fetch_at is None
        release.set()
        with worker_process(env) as survivor:
            # …until its lease runs out; then another worker claims and fetches it.
            wait_for(lambda: fetched_sources(db) == 1, 120, "the source to be fetched again")
            stop_cleanly(survivor)
    assert room.requests[feed_path] == 2
    with db.session() as session:
        source = session.scalars(select(Source)).one()
        assert source.status == "ok" and source.claimed_by is None
        assert session.scalar(select(func.count()).select_from(Article)) == 3
        attempts = session.scalars(select(FetchAttempt.status).order_by(FetchAttempt.id)).all()
    assert attempts == ["running", "ok"]  # the killed attempt stays on record, unfinished
    db.dispose()
