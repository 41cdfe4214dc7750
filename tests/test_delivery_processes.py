"""Exactly-once inbox, at-least-once push, proven on real processes: a burst of articles through
``tidings worker`` processes sharing one PostgreSQL, ``kill -9`` at random moments, restarts,
and then every expected inbox notification exists exactly once and every expected push reached
the push service at least once (a repeat only ever with the same tag)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.newsroom import Newsroom
from tests.pushreceiver import PushReceiver, running_push_receiver
from tests.test_worker_processes import add_feeds, wait_for, worker_env
from tidings.alerts.model import MatchArticle
from tidings.alerts.query import parse
from tidings.alerts.reference import evaluate
from tidings.alerts.store import create_alert
from tidings.clock import naive_utc, utcnow
from tidings.delivery.vapid import VapidKeys
from tidings.store.db import Database
from tidings.store.models import Alert, Article, Channel, Delivery, Notification, Source, User

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

WORKERS = 2
KILLS = 4


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A real ``tidings worker`` in its own process group (kill -9 takes its children too)."""
    with log.open("wb") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "tidings", "worker"],
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )


def stop(proc: subprocess.Popen[bytes], log: Path) -> None:
    """Ctrl-C, once the worker is running (its handler installed), stops it cleanly."""
    wait_for(lambda: "Ctrl-C stops it" in log.read_text(), 60, "the worker to be running")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(60) == 0, log.read_text()[-3000:]


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def add_readers(
    db: Database, room: Newsroom, receiver: PushReceiver, data_dir: Path, rng: random.Random
) -> dict[int, str]:
    """Readers whose alerts are phrases from known articles (and some that match nothing);
    each has one push subscription at the receiver.  Returns user id → subscription path."""
    server_key = VapidKeys.load_or_create(data_dir).application_server_key
    titles = [page.title.lower().split() for page in room.pages.values()]
    queries = [
        [f'"{" ".join(rng.choice(titles)[2:5])}"'],
        [f'"{" ".join(rng.choice(titles)[:3])}"', f'"{" ".join(rng.choice(titles)[3:6])}"'],
        [f'"{" ".join(rng.choice(titles)[1:4])}"', "daily"],  # inbox and digest, no push
        ['intitle:"' + " ".join(rng.choice(titles)[4:7]) + '"'],
        ["zebra giraffe"],  # matches nothing
        [f'"{" ".join(rng.choice(titles)[:2])}" OR "{" ".join(rng.choice(titles)[5:7])}"'],
    ]
    paths: dict[int, str] = {}
    with db.session() as session:
        for number, alert_queries in enumerate(queries):
            user = User(email=f"reader{number}@example.com", created_at=naive_utc(utcnow()))
            session.add(user)
            session.flush()
            mode = "daily" if "daily" in alert_queries else "quick"
            for query in alert_queries:
                if query != "daily":
                    create_alert(session, user_id=user.id, query=query, mode=mode)
            subscription = receiver.subscribe(server_key)
            session.add(
                Channel(
                    user_id=user.id,
                    kind="webpush",
                    config=subscription.to_json(),
                    endpoint=subscription.endpoint,
                    created_at=naive_utc(utcnow()),
                    last_seen_at=naive_utc(utcnow()),
                )
            )
            paths[user.id] = subscription.path
    return paths


def expected_inbox(db: Database) -> set[tuple[int, int]]:
    """(reader, story) for every stored article a reader's alert matches — computed with the
    reference evaluator, independently of the matching engine and the notifier."""
    with db.session() as session:
        alerts = session.execute(select(Alert.user_id, Alert.query)).all()
        articles = session.execute(
            select(
                Article.id,
                Article.title,
                Article.text,
                Article.url,
                Article.language,
                Article.story_id,
            )
        ).all()
    expected: set[tuple[int, int]] = set()
    for article_id, title, text, url, language, story_id in articles:
        article = MatchArticle(article_id, title, text, url, language)
        expected |= {
            (user_id, story_id) for user_id, query in alerts if evaluate(parse(query), article)[0]
        }
    return expected


def reached(db: Database, threshold: int) -> Callable[[], bool]:
    """Whether the work done (articles stored + pushes sent) reached ``threshold``, or all of it
    is done: the moments to kill a worker at are moments of progress, not of the wall clock."""

    def check() -> bool:
        return work_done(db) >= threshold or all_done(db, 6, 30)

    return check


def work_done(db: Database) -> int:
    """Articles stored plus pushes sent."""
    with db.session() as session:
        articles = session.scalar(select(func.count()).select_from(Article))
        sent = session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.status == "sent")
        )
    return (articles or 0) + (sent or 0)


def all_done(db: Database, feeds: int, articles: int) -> bool:
    with db.session() as session:
        fetched = session.scalar(
            select(func.count()).select_from(Source).where(Source.last_fetch_at.is_not(None))
        )
        stored = session.scalar(select(func.count()).select_from(Article))
        pending = session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.status == "pending")
        )
    return fetched == feeds and stored == articles and pending == 0


def test_killed_workers_lose_no_notification_and_repeat_none(
    postgres_url: str, tmp_path: Path
) -> None:
    rng = random.Random(20260603)
    room = Newsroom.generate(feeds=6, articles_per_feed=5, seed=11)
    db = Database(postgres_url)
    env = worker_env(
        postgres_url,
        TIDINGS_CLAIM_LEASE="3",
        TIDINGS_FETCH_CONCURRENCY="2",
        TIDINGS_DATA_DIR=str(tmp_path / "data"),
    )
    with room.serve(), running_push_receiver() as receiver:
        paths = add_readers(db, room, receiver, tmp_path / "data", rng)
        add_feeds(db, room.feed_urls())
        logs = [tmp_path / f"worker{i}-0.log" for i in range(WORKERS)]
        workers = [start_worker(env, log) for log in logs]
        try:
            for kill, threshold in enumerate(sorted(rng.sample(range(4, 40), KILLS))):
                wait_for(reached(db, threshold), 120, f"progress {threshold}")
                victim = rng.randrange(WORKERS)
                kill_group(workers[victim])
                logs[victim] = tmp_path / f"worker{victim}-{kill + 1}.log"
                workers[victim] = start_worker(env, logs[victim])
            wait_for(lambda: all_done(db, 6, 30), 180, "every article stored and pushed")
            for proc, log in zip(workers, logs, strict=True):
                stop(proc, log)
        finally:
            for proc in workers:
                if proc.poll() is None:
                    kill_group(proc)
        received = [(push.path, push.payload["tag"]) for push in receiver.received]
    with db.session() as session:
        inbox = session.execute(
            select(Notification.user_id, Notification.story_id, Notification.id, Notification.route)
        ).all()
        statuses = set(session.scalars(select(Delivery.status)))
    expected = expected_inbox(db)
    assert len(expected) >= 5, "the readers' alerts should match several known articles"
    assert len(inbox) == len(expected)  # exactly once …
    assert {(user, story) for user, story, _, _ in inbox} == expected  # … every one of them
    assert {route for *_, route in inbox} == {"quick", "digest"}
    wanted = {(paths[user], str(note)) for user, _, note, route in inbox if route == "quick"}
    assert wanted <= set(received), "a push never reached the push service"
    assert set(received) <= wanted, "a push with a tag that is not its reader's notification"
    assert statuses == {"sent"}
    db.dispose()
