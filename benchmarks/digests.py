"""Digest benchmark: daily digests built and handed to SMTP for many readers.

Workload: N readers (UTC, digest at 07:30), each with one email channel, two alerts and 20
daily notifications waiting (title, source, byline, a 200-character snippet with highlights;
every fifth story matched by both alerts).  The database is seeded with bulk inserts (not
timed).  Each size runs in its own child process, so its peak RSS starts from a clean heap:

1. **build** — ``DigestScheduler.run_due()`` at 07:30: every reader's digest row, the 20
   notifications taken, the email delivery and the inbox entry;
2. **send** — every pending digest delivery claimed in batches, ``digest_message`` rendered
   (grouped by alert, then story; HTML and plain text) and handed to a local aiosmtpd (in
   its own process, accepting and discarding) through the email channel, whose SMTP sessions
   are reused across messages; ``--senders`` threads, one session each;
3. **bare** — beside it, the same SMTP server fed one pre-composed digest email of the same
   size over one kept connection by a bare ``smtplib`` loop: the ceiling the server allows.

Usage::

    python benchmarks/digests.py                        # 10k, 50k and 100k readers, SQLite
    python benchmarks/digests.py --sizes 10000 --database-url postgresql://…
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import resource
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from tidings.clock import FrozenClock, naive_utc
from tidings.config import Settings
from tidings.delivery.channels.email import EmailChannel, shared_smtp
from tidings.delivery.digests import DigestScheduler, digest_message
from tidings.store.db import Database
from tidings.store.models import Channel, Delivery

SEED = 20180603
NOW = datetime(2024, 3, 1, 7, 30, tzinfo=UTC)
JOINED = NOW - timedelta(days=1, hours=1)
PER_READER = 20
BATCH = 500
WORDS = (
    "government minister election police court market shares storm flood summit talks visit "
    "president parliament budget report league final record energy prices health study"
).split()


# --- the SMTP server ---------------------------------------------------------------------


def serve_smtp(ready: Any) -> None:
    """aiosmtpd on an ephemeral port: accepts every message and discards it."""
    from aiosmtpd.controller import Controller

    class Discard:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            return "250 OK"

    class Ephemeral(Controller):
        def _trigger_server(self) -> None:
            self.port = self.server.sockets[0].getsockname()[1]
            super()._trigger_server()

    controller = Ephemeral(Discard(), hostname="127.0.0.1", port=0, data_size_limit=0)
    controller.start()
    ready.put(controller.port)
    threading.Event().wait()


def start_smtp() -> tuple[multiprocessing.Process, int]:
    context = multiprocessing.get_context("spawn")
    ready = context.Queue()
    process = context.Process(target=serve_smtp, args=(ready,), daemon=True)
    process.start()
    return process, int(ready.get(timeout=30))


# --- seeding (not timed) -----------------------------------------------------------------


def sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize()


def seed(url: str, readers: int) -> None:
    """Readers, their email channel, two alerts each and 20 daily notifications, in bulk."""
    db = Database(url)
    db.upgrade()
    rng = random.Random(SEED)
    joined = naive_utc(JOINED)
    with db.session() as session:
        connection = session.connection()
        for start in range(1, readers + 1, 5000):
            ids = range(start, min(start + 5000, readers + 1))
            connection.execute(
                Database_table("users").insert(),
                [
                    {
                        "id": i,
                        "email": f"reader{i}@example.com",
                        "timezone": "UTC",
                        "digest_time": "07:30",
                        "weekly_day": 0,
                        "is_admin": False,
                        "created_at": joined,
                    }
                    for i in ids
                ],
            )
            connection.execute(
                Database_table("channels").insert(),
                [
                    {
                        "id": i,
                        "user_id": i,
                        "kind": "email",
                        "config": {"address": f"reader{i}@example.com"},
                        "enabled": True,
                        "created_at": joined,
                    }
                    for i in ids
                ],
            )
            connection.execute(
                Database_table("alerts").insert(),
                [
                    {
                        "id": 2 * i + k,
                        "user_id": i,
                        "query": q,
                        "mode": "daily",
                        "created_at": joined,
                        "updated_at": joined,
                    }
                    for i in ids
                    for k, q in ((0, "election"), (1, "storm OR flood"))
                ],
            )
            connection.execute(
                Database_table("notifications").insert(),
                [notification_row(rng, i, n, joined) for i in ids for n in range(PER_READER)],
            )
    db.dispose()


def notification_row(rng: random.Random, reader: int, n: int, joined: datetime) -> dict[str, Any]:
    title = sentence(rng, 8)
    snippet = sentence(rng, 30)[:200]
    alerts = [2 * reader, 2 * reader + 1] if n % 5 == 0 else [2 * reader + n % 2]
    return {
        "user_id": reader,
        "kind": "story",
        "story_id": None,
        "title": title,
        "url": f"https://news{n % 7}.example/{reader}/{n}",
        "source": f"News {n % 7}",
        "byline": "A. Reporter",
        "published": joined,
        "snippet": snippet,
        "snippet_html": snippet.replace("election", "<mark>election</mark>"),
        "alert_ids": alerts,
        "terms": ["election"],
        "also_reported_by": n % 4,
        "mode": "daily",
        "route": "digest",
        "created_at": joined + timedelta(minutes=n),
    }


def Database_table(name: str) -> Any:  # noqa: N802 (reads like the table it returns)
    from tidings.store.models import Base

    return Base.metadata.tables[name]


# --- the measured run (in a child process) -----------------------------------------------


def measure(url: str, smtp_port: int, senders: int, data_dir: Path, limit: int) -> dict[str, Any]:
    settings = Settings.from_env(
        {},
        data_dir=data_dir,
        database_url=url,
        smtp_url=f"smtp://127.0.0.1:{smtp_port}",
        base_url="https://news.example",
    )
    db = Database(url)
    started = time.perf_counter()
    built = DigestScheduler(settings, db, clock=FrozenClock(NOW), worker_id="bench").run_due()
    build_seconds = time.perf_counter() - started
    rss_after_build = peak_rss_mb()
    started = time.perf_counter()
    sent = send_all(settings, db, senders, limit)
    send_seconds = time.perf_counter() - started
    bare_rate, size = bare_loop(settings, db, smtp_port, min(sent, 5000))
    shared_smtp(settings).close()
    return {
        "digests": built,
        "sent": sent,
        "build_s": build_seconds,
        "send_s": send_seconds,
        "bare_per_s": bare_rate,
        "email_bytes": size,
        "rss_build_mb": rss_after_build,
        "peak_rss_mb": peak_rss_mb(),
    }


def send_all(settings: Settings, db: Database, senders: int, limit: int = 0) -> int:
    """Every pending digest delivery (or the first ``limit``): claimed in batches, rendered,
    handed over, marked sent."""
    lock = threading.Lock()
    cursor = {"after": 0, "claimed": 0}

    def next_batch() -> list[tuple[int, int, dict[str, Any]]]:
        with lock, db.session() as session:
            if limit and cursor["claimed"] >= limit:
                return []
            rows = session.execute(
                select(Delivery.id, Delivery.digest_id, Channel.config)
                .join(Channel, Channel.id == Delivery.channel_id)
                .where(Delivery.id > cursor["after"], Delivery.status == "pending")
                .order_by(Delivery.id)
                .limit(BATCH)
            ).all()
            if rows:
                cursor["after"] = rows[-1].id
                cursor["claimed"] += len(rows)
            return [(r.id, r.digest_id, r.config) for r in rows]

    def sender() -> int:
        done = 0
        while batch := next_batch():
            done += send_batch(settings, db, batch)
        shared_smtp(settings).close()
        return done

    with ThreadPoolExecutor(senders) as pool:
        return sum(pool.map(lambda _: sender(), range(senders)))


def send_batch(
    settings: Settings, db: Database, batch: list[tuple[int, int, dict[str, Any]]]
) -> int:
    connections = shared_smtp(settings)
    with db.session() as session:  # read the batch's digests, then let go of the database
        messages = [
            digest_message(session, digest_id, "email", settings) for _, digest_id, _ in batch
        ]
    for (_delivery, _digest, config), message in zip(batch, messages, strict=True):
        EmailChannel(config["address"], settings, connections=connections).send(message)
    with db.session() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_([row[0] for row in batch]))
            .values(status="sent", sent_at=naive_utc(NOW), attempts=1)
        )
    return len(batch)


def bare_loop(settings: Settings, db: Database, port: int, count: int) -> tuple[float, int]:
    """Messages/second of a bare smtplib loop sending one composed digest over one connection."""
    with db.session() as session:
        message = digest_message(session, 1, "email", settings)
    email = EmailChannel("reader1@example.com", settings).compose(message)
    data = email.as_bytes(policy=email.policy.clone(linesep="\r\n"))
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        started = time.perf_counter()
        for _ in range(count):
            smtp.sendmail("tidings@news.example", ["reader1@example.com"], data)
        return count / (time.perf_counter() - started), len(data)


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM: unlike ``ru_maxrss`` it is not inherited from
    the parent that forked us, whose seeding peak would hide ours)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- driving it --------------------------------------------------------------------------


def run_size(readers: int, smtp_port: int, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tidings-digests-") as tmp:
        url = getattr(args, "database_url", "") or f"sqlite:///{Path(tmp) / 'bench.db'}"
        url = fresh_database(url, tmp)
        started = time.perf_counter()
        seed(url, readers)
        seeded = time.perf_counter() - started
        child = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                url,
                "--port",
                str(smtp_port),
                "--senders",
                str(getattr(args, "senders", 2)),
                "--data-dir",
                str(Path(tmp) / "data"),
                "--send-limit",
                str(getattr(args, "send_limit", 0)),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        result: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
        result.update(readers=readers, seed_s=seeded)
        return result


def fresh_database(url: str, tmp: str) -> str:
    """SQLite: the file in ``tmp``.  PostgreSQL: the schema dropped and made again."""
    if url.startswith("sqlite"):
        return url
    from tidings.store.models import Base

    db = Database(url)
    Base.metadata.drop_all(db.engine)
    with db.engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    db.dispose()
    return url


def report(results: list[dict[str, Any]]) -> None:
    print(
        "| readers | digests | build s | send s | total s | emails/s | bare loop emails/s | ratio | email KB | peak RSS MB |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        rate = r["sent"] / r["send_s"] if r["send_s"] else 0.0
        send = r["digests"] / rate if rate else 0.0
        mark = "*" if r["sent"] < r["digests"] else ""
        print(
            f"| {r['readers']:,} | {r['digests']:,} | {r['build_s']:.1f} | {send:.1f}{mark} | "
            f"{r['build_s'] + send:.1f}{mark} | {rate:,.0f} | {r['bare_per_s']:,.0f} | {rate / r['bare_per_s']:.2f} | "
            f"{r['email_bytes'] / 1024:.1f} | {r['peak_rss_mb']:.0f} |"
        )


def run(args: argparse.Namespace) -> None:
    """Run the digest benchmark (``benchmarks/deliver.py`` calls this with its arguments)."""
    sizes = (
        getattr(args, "digest_sizes", None)
        or getattr(args, "sizes", None)
        or [10_000, 50_000, 100_000]
    )
    process, port = start_smtp()
    try:
        results = []
        for readers in sizes:
            result = run_size(int(readers), port, args)
            print(json.dumps(result), file=sys.stderr, flush=True)
            results.append(result)
        report(results)
    finally:
        process.kill()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=None)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--senders", type=int, default=2)
    parser.add_argument(
        "--send-limit",
        type=int,
        default=0,
        help="send only the first N digests of each size (the rate is extrapolated, marked *)",
    )
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", default="", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    if args.child:
        print(
            json.dumps(
                measure(args.child, args.port, args.senders, Path(args.data_dir), args.send_limit)
            )
        )
        return
    run(args)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
