"""Delivery benchmark: the outbox sender beside a bare pywebpush loop, and a topic's fan-out.

(a) **Web Push end to end** — pending deliveries claimed by ``DeliveryWorker.run_due`` (lease,
    message built from the notification row, payload fitted to 4 KB, aes128gcm encryption,
    VAPID signature, POST through the guarded client, attempt recorded, delivery marked sent),
    notifications per second; beside it a **bare pywebpush loop** (``pywebpush.webpush`` with a
    kept-alive ``requests.Session``, one push after another) sending the same payloads to the
    same receiver.  Rounds alternate (bare, ours, bare, ours …); the best round of each counts.
    Beside the rates: the CPU time of this process per push for each (the sender is one
    process, the bare loop one thread) and, on PostgreSQL, of the server backends serving the
    sender — what a push cost, whatever else ran on the machine.
(b) **Fan-out** — one story matching a topic that N readers (default 100,000) follow, each with
    one push subscription: the time until every inbox row (and its delivery row) is committed
    by the notifier hook, then until every push has been handed to the receiver.

The push receiver runs in its own process (it does not share the sender's GIL): a keep-alive
HTTP/1.1 server that counts each POST and answers 201.  **It does not decrypt** (decryption
would make the receiver the bottleneck and measure it instead); the test suite's receiver
(``tests/pushreceiver.py``) decrypts and checks VAPID.  The database is a fresh SQLite file,
or a fresh PostgreSQL database made next to ``--database-url``.

Finally the digest benchmark (``benchmarks/digests.py``, its ``run(args)``) runs if present.

Usage::

    python benchmarks/deliver.py                               # SQLite, 3000 pushes, 100k fan-out
    python benchmarks/deliver.py --database-url postgresql://postgres@127.0.0.1/postgres
    python benchmarks/deliver.py --pushes 1000 --fanout 10000 --skip-digests
    python benchmarks/deliver.py --skip-web-push --skip-fanout-pushes --skip-digests  # (b) rows
"""

from __future__ import annotations

import argparse
import base64
import multiprocessing
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pywebpush import webpush
from sqlalchemy import delete, func, insert, select, update

from _common import empty_database_url, server_cpu
from tidings.alerts.store import create_alert
from tidings.clock import naive_utc
from tidings.config import Settings
from tidings.delivery.channels.webpush import push_payload, vapid_keys
from tidings.delivery.notify import Notifier
from tidings.delivery.outbox import DeliveryWorker, notification_message
from tidings.store.db import Database
from tidings.store.models import (
    Article,
    Channel,
    Delivery,
    DeliveryAttempt,
    Notification,
    Story,
    Topic,
    TopicFollow,
    User,
)

NOW = naive_utc(datetime.now(UTC))
TITLE = "Syrian dictator Bashar al-Assad to meet Kim Jong-un in North Korea"
TEXT = (
    "North Korea's state-run Korean Central News Agency (KCNA) on Sunday, June 3 reported that "
    "Syrian President Bashar al-Assad has planned to pay a visit to North Korean Supreme Leader "
    "Kim Jong-un. It will potentially be a visit by the first head of state to meet the North "
    "Korean leader in his own country. The Syrian leader reportedly revealed his plan about the "
    "visit on May 30 as he received the credentials of North Korea's new ambassador to Syria. "
) * 4
SNIPPET = (
    "…reported that Syrian President Bashar al-Assad has planned to pay a visit to North Korean "
    "Supreme Leader Kim Jong-un. It will potentially be a visit by the first head of state…"
)
SNIPPET_HTML = SNIPPET.replace("Assad", "<mark>Assad</mark>").replace(
    "Kim Jong-un", "<mark>Kim Jong-un</mark>"
)


# -- the receiver, in its own process ---------------------------------------------------------


def _serve(port: Any, count: Any) -> None:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with count.get_lock():
                count.value += 1
            self.send_response(201)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port.value = server.server_address[1]
    server.serve_forever()


@contextmanager
def receiver() -> Iterator[tuple[str, Any]]:
    """(base URL, POST counter) of a push receiver running in a child process."""
    port = multiprocessing.Value("i", 0)
    count = multiprocessing.Value("q", 0)
    process = multiprocessing.Process(target=_serve, args=(port, count), daemon=True)
    process.start()
    while port.value == 0:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port.value}", count
    finally:
        process.kill()
        process.join()


# -- a database to write to -------------------------------------------------------------------


@contextmanager
def fresh_database(database_url: str, data_dir: Path) -> Iterator[Database]:
    """A migrated, empty database: SQLite in ``data_dir``, or a new PostgreSQL database."""
    with empty_database_url(database_url, data_dir, "tidings_bench") as url:
        db = Database(url)
        db.upgrade()
        try:
            yield db
        finally:
            db.dispose()


def subscription_keys(count: int) -> list[dict[str, str]]:
    """``count`` browser-side key sets (P-256 public point and auth secret), as a browser sends."""
    keys = []
    for _ in range(count):
        point = (
            ec.generate_private_key(ec.SECP256R1())
            .public_key()
            .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        )
        keys.append({"p256dh": _b64(point), "auth": _b64(os.urandom(16))})
    return keys


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def bulk(db: Database, table: Any, rows: list[dict[str, Any]], size: int = 5000) -> None:
    for start in range(0, len(rows), size):
        with db.session() as session:
            session.execute(insert(table), rows[start : start + size])


def add_readers(db: Database, count: int, base_url: str, key_sets: int = 64) -> None:
    """``count`` readers, each with one push subscription at the receiver."""
    keys = subscription_keys(min(count, key_sets))
    users = [{"id": i + 1, "email": f"r{i}@example.com", "created_at": NOW} for i in range(count)]
    bulk(db, User, users)
    channels = [
        {
            "user_id": i + 1,
            "kind": "webpush",
            "endpoint": f"{base_url}/push/{i}",
            "config": {"endpoint": f"{base_url}/push/{i}", "keys": keys[i % len(keys)]},
            "created_at": NOW,
            "last_seen_at": NOW,
        }
        for i in range(count)
    ]
    bulk(db, Channel, channels)


# -- (a) web push end to end ------------------------------------------------------------------


def seed_pending(db: Database, readers: int, per_reader: int) -> None:
    """``per_reader`` quick notifications per reader, each with a pending push delivery."""
    bulk(
        db,
        Story,
        [
            {"id": s + 1, "title": TITLE, "first_seen_at": NOW, "updated_at": NOW}
            for s in range(per_reader)
        ],
    )
    notifications: list[dict[str, Any]] = []
    deliveries: list[dict[str, Any]] = []
    for user in range(1, readers + 1):
        for story in range(1, per_reader + 1):
            nid = len(notifications) + 1
            notifications.append(_notification(nid, user, story))
            deliveries.append(
                {
                    "key": f"n{nid}:c{user}",
                    "notification_id": nid,
                    "channel_id": user,
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": NOW,
                    "created_at": NOW,
                }
            )
    bulk(db, Notification, notifications)
    bulk(db, Delivery, deliveries)


def _notification(nid: int, user: int, story: int) -> dict[str, Any]:
    return {
        "id": nid,
        "user_id": user,
        "story_id": story,
        "kind": "story",
        "title": f"{TITLE} ({nid})",
        "url": f"https://www.oneindia.com/international/{nid}.html",
        "source": "Oneindia",
        "byline": "Shubham",
        "published": NOW,
        "snippet": SNIPPET,
        "snippet_html": SNIPPET_HTML,
        "alert_ids": [],
        "terms": ["assad", "kim jong un"],
        "also_reported_by": 2,
        "mode": "quick",
        "route": "quick",
        "created_at": NOW,
    }


def reset_pending(db: Database) -> None:
    with db.session() as session:
        session.execute(delete(DeliveryAttempt))
        session.execute(
            update(Delivery).values(
                status="pending",
                attempts=0,
                sent_at=None,
                next_attempt_at=NOW,
                claimed_by=None,
                claimed_until=None,
            )
        )


def bare_jobs(db: Database) -> list[tuple[dict[str, Any], bytes]]:
    """(subscription, payload) of every delivery: exactly what our sender would push."""
    with db.session() as session:
        rows = session.execute(
            select(Channel.config, Notification)
            .join(Delivery, Delivery.channel_id == Channel.id)
            .join(Notification, Delivery.notification_id == Notification.id)
            .order_by(Delivery.id)
        ).all()
        return [(config, push_payload(notification_message(n, []))) for config, n in rows]


def run_bare(jobs: list[tuple[dict[str, Any], bytes]], settings: Settings) -> float:
    """Seconds for a plain pywebpush loop to push every job."""
    vapid = vapid_keys(settings.data_dir).vapid
    session = requests.Session()
    started = time.perf_counter()
    for subscription, payload in jobs:
        webpush(
            subscription,
            payload.decode(),
            vapid_private_key=vapid,
            vapid_claims={"sub": "mailto:bench@example.com"},
            ttl=86400,
            requests_session=session,
        )
    return time.perf_counter() - started


def run_ours(db: Database, settings: Settings, concurrency: int) -> tuple[float, int]:
    """Seconds for ``DeliveryWorker`` to send every pending delivery; how many it attempted."""
    with DeliveryWorker(settings, db, worker_id="bench", concurrency=concurrency) as sender:
        started = time.perf_counter()
        attempted = 0
        while done := sender.run_due(limit=100_000):
            attempted += done
        return time.perf_counter() - started, attempted


def web_push(args: argparse.Namespace, data_dir: Path) -> None:
    settings = Settings.from_env({}, data_dir=data_dir, allow_private_networks=True)
    readers, per_reader = max(1, args.pushes // 10), 10
    with receiver() as (base_url, count), fresh_database(args.database_url, data_dir) as db:
        add_readers(db, readers, base_url)
        seed_pending(db, readers, per_reader)
        jobs = bare_jobs(db)
        ours_best, bare_best = float("inf"), float("inf")
        ours_cpu, bare_cpu, server = float("inf"), float("inf"), 0.0
        for round_number in range(args.rounds):
            before = count.value
            cpu = time.process_time()
            bare = run_bare(jobs, settings)
            bare_cpu = min(bare_cpu, time.process_time() - cpu)
            reset_pending(db)
            cpu, server_before = time.process_time(), server_cpu(db)
            ours, attempted = run_ours(db, settings, args.concurrency)
            if time.process_time() - cpu < ours_cpu:
                ours_cpu, server = time.process_time() - cpu, server_cpu(db) - server_before
            assert attempted == len(jobs) and count.value - before == 2 * len(jobs)
            print(
                f"  round {round_number + 1}: bare {len(jobs) / bare:,.0f}/s, "
                f"ours {len(jobs) / ours:,.0f}/s; load average {os.getloadavg()[0]:.1f}",
                file=sys.stderr,
                flush=True,
            )
            ours_best, bare_best = min(ours, ours_best), min(bare, bare_best)
            reset_pending(db)
    n = len(jobs)
    on_server = f" + database server {server / n * 1000:.2f}" if args.database_url else ""
    print(
        f"(a) web push end to end, {n:,} notifications, {args.concurrency} sender threads, "
        f"{db_name(args)}"
    )
    print(
        f"    Tidings DeliveryWorker: {n / ours_best:,.0f} notifications/s; "
        f"CPU a push {ours_cpu / n * 1000:.2f} ms{on_server}"
    )
    print(
        f"    bare pywebpush loop:    {n / bare_best:,.0f} notifications/s; "
        f"CPU a push {bare_cpu / n * 1000:.2f} ms"
    )
    print(
        f"    ratio: {bare_best / ours_best:.2f} (target >= 0.8); "
        f"CPU a push, bare / ours: {bare_cpu / ours_cpu:.2f}"
    )


# -- (b) fan-out ------------------------------------------------------------------------------


def seed_topic(db: Database, followers: int) -> None:
    with db.session() as session:
        session.add(Topic(id=1, slug="korea", name="Korea", created_at=NOW))
        session.flush()
        create_alert(session, user_id=None, topic_id=1, query='"kim jong un"')
    bulk(
        db,
        TopicFollow,
        [
            {"user_id": u + 1, "topic_id": 1, "mode": "quick", "created_at": NOW}
            for u in range(followers)
        ],
    )


def store_breaking_story(db: Database, notifier: Notifier) -> None:
    """The article arrives: stored with its story, the notifier hook in its transaction."""
    with db.session() as session:
        story = Story(title=TITLE, first_seen_at=NOW, updated_at=NOW)
        session.add(story)
        session.flush()
        article = Article(
            url="https://www.oneindia.com/international/assad-kim.html",
            title=TITLE,
            text=TEXT,
            author="Shubham",
            sitename="Oneindia",
            language="en",
            story_id=story.id,
            content_hash="x",
            fetched_at=NOW,
            updated_at=NOW,
        )
        session.add(article)
        session.flush()
        notifier(session, article)


def count_rows(db: Database, model: Any) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def fan_out(args: argparse.Namespace, data_dir: Path) -> None:
    settings = Settings.from_env({}, data_dir=data_dir, allow_private_networks=True)
    n = args.fanout
    with receiver() as (base_url, count), fresh_database(args.database_url, data_dir) as db:
        add_readers(db, n, base_url)
        seed_topic(db, n)
        notifier = Notifier(db)
        server = server_cpu(db)
        started, cpu = time.perf_counter(), time.process_time()
        store_breaking_story(db, notifier)
        inbox, cpu = time.perf_counter() - started, time.process_time() - cpu
        server = server_cpu(db) - server
        assert count_rows(db, Notification) == n and count_rows(db, Delivery) == n
        print(f"(b) fan-out: one story, a topic followed by {n:,} readers, {db_name(args)}")
        print(
            f"    every inbox row (and delivery row) committed: {inbox:.1f} s (target <= 30 s); "
            f"CPU: this process {cpu:.1f} s, database server {server:.1f} s; "
            f"load average {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        if args.skip_fanout_pushes:
            return
        sent, _ = run_ours(db, settings, args.concurrency)
        pushed = time.perf_counter() - started
        assert count.value == n, f"receiver got {count.value} of {n}"
    print(
        f"    every push handed to the receiver: {pushed:.1f} s after the article "
        f"({n / sent:,.0f} pushes/s)"
    )


def db_name(args: argparse.Namespace) -> str:
    return "PostgreSQL" if args.database_url else "SQLite"


# -- the digest engineer's part ---------------------------------------------------------------


def run_digests(args: argparse.Namespace) -> None:
    """``benchmarks/digests.py``'s ``run``.  Imported by its own name (this script's folder is
    on ``sys.path``, and so in the processes it spawns): its SMTP servers' spawned processes
    import it again to find their target."""
    import digests

    forwarded = ["--database-url", args.database_url] if args.database_url else []
    digests.run(digests.parse_args(forwarded))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default="", help="PostgreSQL server to benchmark on")
    parser.add_argument("--pushes", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--fanout", type=int, default=100_000)
    parser.add_argument("--skip-digests", action="store_true")
    parser.add_argument("--skip-web-push", action="store_true", help="skip (a)")
    parser.add_argument(
        "--skip-fanout-pushes",
        action="store_true",
        help="(b): stop once the inbox rows are committed (do not send the pushes)",
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="tidings-bench-") as tmp:
        if not args.skip_web_push:
            web_push(args, Path(tmp) / "push")
        fan_out(args, Path(tmp) / "fanout")
    sys.stdout.flush()
    if not args.skip_digests:
        run_digests(args)


if __name__ == "__main__":
    main()
