"""A running worker builds digests in a thread of its own while its loop sends: each batch of
digests it commits goes out at once, not after the last one is built; a failed pass is logged
and tried again.  Real SMTP server (aiosmtpd), SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

import tidings.delivery.digests as digests_module
import tidings.worker as worker_module
from tests.delivery.test_digests import add_channel, add_reader, notify
from tests.smtpserver import Mailbox, smtp_url
from tidings.clock import FrozenClock
from tidings.config import Settings
from tidings.delivery.digests import DigestScheduler
from tidings.store.db import Database
from tidings.store.models import Digest
from tidings.worker import Extractor, Worker

DUE = datetime(2024, 3, 1, 7, 30, tzinfo=UTC)  # the readers' (UTC) digest time
WAIT = 30.0  # seconds: how long a condition may take before the test fails


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Wait (polling, bounded) for ``condition``; fail naming ``what``."""
    deadline = threading.Event()
    timer = threading.Timer(WAIT, deadline.set)
    timer.start()
    try:
        while not condition():
            if deadline.wait(0.01):
                pytest.fail(f"no {what} within {WAIT:g} s")
    finally:
        timer.cancel()


def readers_with_due_digests(db: Database, count: int) -> list[int]:
    readers = []
    for number in range(count):
        reader = add_reader(db, f"reader{number}@example.com")
        add_channel(db, reader, "email", {"address": f"reader{number}@example.com"})
        notify(db, reader, DUE - timedelta(hours=2), title=f"Story {number}")
        readers.append(reader)
    return readers


@pytest.fixture
def running(
    settings: Settings, db: Database, extractor: Extractor, smtp_server: Mailbox
) -> Iterator[Callable[[], Worker]]:
    """Start ``Worker.run`` in a thread (readers are added first); stopped at the end."""
    settings = replace(settings, smtp_url=smtp_url(smtp_server), base_url="https://news.example")
    stop = threading.Event()
    threads: list[threading.Thread] = []
    workers: list[Worker] = []

    def start() -> Worker:
        worker = Worker(settings, db, clock=FrozenClock(DUE), extractor=extractor)
        workers.append(worker)
        assert worker.digests is not None
        worker.digests.batch_size = 1  # one reader a transaction: batches to tell apart
        thread = threading.Thread(target=worker.run, args=(stop,), kwargs={"idle_poll": 0.02})
        threads.append(thread)
        thread.start()
        return worker

    yield start
    stop.set()
    for thread in threads:
        thread.join(WAIT)
        assert not thread.is_alive(), "the worker did not stop"
    for worker in workers:
        worker.close()


def test_the_first_batch_of_digests_is_sent_while_the_next_is_still_to_build(
    running, db, smtp_server, monkeypatch
):
    first, second = readers_with_due_digests(db, 2)
    batches = digests_module.reader_batches
    first_sent = threading.Event()

    def held_batches(*args: Any) -> Iterator[Any]:
        for number, batch in enumerate(batches(*args)):
            if number == 1:  # the second batch waits for the first batch's e-mail
                wait_until(lambda: bool(smtp_server.messages), "e-mail of the first batch")
                first_sent.set()
            yield batch

    monkeypatch.setattr(digests_module, "reader_batches", held_batches)
    running()
    wait_until(lambda: len(smtp_server.messages) == 2, "second e-mail")
    assert first_sent.is_set()
    recipients = [message["To"] for message in smtp_server.messages]
    assert recipients == ["reader0@example.com", "reader1@example.com"]
    assert built_for(db) == [first, second]


def test_a_failed_digest_pass_is_logged_and_tried_again(
    running, db, smtp_server, monkeypatch, caplog
):
    readers_with_due_digests(db, 1)
    batches = digests_module.reader_batches
    failures = []

    def failing_once(*args: Any) -> Iterator[Any]:
        if not failures:
            failures.append(1)
            raise RuntimeError("the database went away")
        yield from batches(*args)

    monkeypatch.setattr(digests_module, "reader_batches", failing_once)
    monkeypatch.setattr(worker_module, "DIGEST_RETRY", 0.01)
    caplog.set_level(logging.ERROR, logger="tidings.worker")
    running()
    wait_until(lambda: len(smtp_server.messages) == 1, "digest e-mail after the retry")
    [record] = [r for r in caplog.records if "building digests failed" in r.getMessage()]
    assert record.exc_info is not None and "the database went away" in str(record.exc_info[1])
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Digest)) == 1


def test_a_stop_ends_a_digest_pass_between_batches_and_the_next_pass_builds_the_rest(
    settings, db, monkeypatch
):
    first, *rest = readers_with_due_digests(db, 3)
    batches = digests_module.reader_batches
    stop = threading.Event()

    def stopping_after_the_first(*args: Any) -> Iterator[Any]:
        for batch in batches(*args):
            yield batch
            stop.set()  # a stop requested while the first batch was being built

    monkeypatch.setattr(digests_module, "reader_batches", stopping_after_the_first)
    scheduler = DigestScheduler(settings, db, clock=FrozenClock(DUE), worker_id="t", batch_size=1)
    assert scheduler.run_due(stop) == 1
    assert built_for(db) == [first]
    monkeypatch.setattr(digests_module, "reader_batches", batches)
    assert scheduler.run_due() == 2  # not taken for a finished pass: the rest are due still
    assert built_for(db) == [first, *rest]


def built_for(db: Database) -> list[int]:
    with db.session() as session:
        return list(session.scalars(select(Digest.user_id).order_by(Digest.id)))
