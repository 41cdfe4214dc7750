"""Digest benchmark: daily digests built and handed to SMTP for many readers.

Workload: N readers (UTC, digest at 07:30), each with one email channel, two alerts and 20
daily notifications waiting (title, source, byline, a 200-character snippet with highlights;
every fifth story matched by both alerts).  The database is seeded with bulk inserts (not
timed).  Each size runs in its own child process, so its peak RSS starts from a clean heap:

1. **build** — ``DigestScheduler.run_due()`` at 07:30: every reader's digest row, the 20
   notifications taken from the digest queue, the email delivery and the inbox entry (wall
   clock, the CPU time of the process and, on PostgreSQL, of the server's backends).  With
   ``--build-workers N`` the scheduler runs in N processes started together, as in N
   ``tidings worker`` processes (on PostgreSQL they share the readers out: each locks those it
   builds and skips those another holds; SQLite serializes them);
2. **send** — the product's path: ``--workers`` processes each run a ``DeliveryWorker``
   (``--threads`` sender threads, one kept SMTP session each) until no delivery is left: claim
   a batch, build its digest messages at once (``digest_messages``: grouped by alert, then
   story; HTML and plain text), compose, hand over, record the attempt and mark it sent.  The
   workers start together once all are ready (imports not timed); the CPU time of every worker
   process (and of the PostgreSQL backends) is summed;
3. with ``--together`` instead of 1 and 2: ``--workers`` processes each run a real ``tidings
   worker`` loop (``Worker.run``: its digest thread builds while its loop sends, as in
   production), started together; timed from the start to the last email handed over (the
   parent polls the outbox every 0.1 s), with the moment the first one was;
4. **bare** — beside it, the same SMTP server fed one pre-composed digest email of the same
   size over one kept connection by a bare ``smtplib`` loop in one process: the most that
   server accepts from one client.  Run before and after ours; the faster of the two counts.

Two SMTP servers receive, each in its own process, accepting and discarding:

* **sink** — a minimal asyncio SMTP sink written here for the benchmark (``SinkProtocol``):
  just enough SMTP for ``smtplib`` (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT), the end
  of DATA found with one ``bytes.find`` per chunk.  Not a mail server: a receiver that costs
  little, so that the sender is what is measured.  Every digest is sent to it.  It offers
  PIPELINING (RFC 2920), as Postfix and most relays do: our sender then writes MAIL, RCPT
  and DATA at once (two round trips per email); the bare loop (``smtplib.sendmail``) never
  pipelines (four).
* **aiosmtpd** — the SMTP server of the test suite, which reads DATA one line at a time in
  Python (~300 lines per digest): it caps both senders at a few hundred emails per second on
  this machine.  It does not offer PIPELINING.  The first ``--aiosmtpd-limit`` digests go to
  it.

Besides rates, the senders' CPU time per email (``time.process_time`` of every sending process,
every thread) is reported for ours and for the bare loop: robust to other load on the machine.

Usage::

    python benchmarks/digests.py                        # 10k, 50k and 100k readers, SQLite
    python benchmarks/digests.py --sizes 100000 --aiosmtpd-limit 3000
    python benchmarks/digests.py --sizes 10000 --database-url postgresql://…
    python benchmarks/digests.py --sizes 100000 --workers 2 --threads 4
    python benchmarks/digests.py --sizes 100000 --build-workers 2 --database-url postgresql://…
    python benchmarks/digests.py --sizes 100000 --together --database-url postgresql://…
"""

from __future__ import annotations

import argparse
import asyncio
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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

from _common import empty_database_url, server_cpu
from tidings.clock import FrozenClock, naive_utc
from tidings.config import Settings
from tidings.delivery.channels.email import EmailChannel, shared_smtp
from tidings.delivery.digests import DigestScheduler, digest_messages
from tidings.delivery.message import Message
from tidings.delivery.outbox import DeliveryWorker
from tidings.store.db import Database
from tidings.store.models import Delivery
from tidings.worker import Worker

SEED = 20180603
NOW = datetime(2024, 3, 1, 7, 30, tzinfo=UTC)
JOINED = NOW - timedelta(days=1, hours=1)
PER_READER = 20
RUN_LIMIT = 10_000  # DeliveryWorker.run_due's default: what a `tidings worker` pass sends at most
WORDS = (
    "government minister election police court market shares storm flood summit talks visit "
    "president parliament budget report league final record energy prices health study"
).split()


# --- the SMTP servers --------------------------------------------------------------------


class SinkProtocol(asyncio.Protocol):
    """A minimal SMTP sink (benchmark only): replies 250 to everything, 354 to DATA, and finds
    the end of the message (CRLF.CRLF) with one search per received chunk; discards it."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.in_data = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.reply(b"220 sink ESMTP\r\n")

    def reply(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        replies: list[bytes] = []
        while self.step(replies):
            pass
        if replies:
            self.reply(b"".join(replies))

    def step(self, replies: list[bytes]) -> bool:
        """Consume one command or one whole message from the buffer; False when incomplete."""
        buffer = self.buffer
        if self.in_data:
            end = buffer.find(b"\r\n.\r\n")
            if end < 0:
                return False
            del buffer[: end + 5]
            self.in_data = False
            replies.append(b"250 2.0.0 accepted\r\n")
            return True
        end = buffer.find(b"\r\n")
        if end < 0:
            return False
        verb = bytes(buffer[:4]).upper()
        del buffer[: end + 2]
        if verb in (b"EHLO", b"HELO"):
            replies.append(b"250-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 0\r\n")
        elif verb == b"DATA":
            self.in_data = True
            buffer[:0] = b"\r\n"  # an empty message ends right here: CRLF.CRLF all the same
            replies.append(b"354 go ahead\r\n")
        elif verb == b"QUIT":
            replies.append(b"221 bye\r\n")
        else:
            replies.append(b"250 OK\r\n")
        return True


def serve_sink(ready: Any) -> None:
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(loop.create_server(SinkProtocol, "127.0.0.1", 0))
    assert isinstance(server, asyncio.Server)
    ready.put(server.sockets[0].getsockname()[1])
    loop.run_forever()


def serve_aiosmtpd(ready: Any) -> None:
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


SERVERS = {"sink": serve_sink, "aiosmtpd": serve_aiosmtpd}


def start_smtp(kind: str) -> tuple[multiprocessing.process.BaseProcess, int]:
    context = multiprocessing.get_context("spawn")
    ready = context.Queue()
    process = context.Process(target=SERVERS[kind], args=(ready,), daemon=True)
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
        connection.execute(  # queued for the digest, as the notifier queues them
            text(
                "INSERT INTO digest_queue (notification_id, user_id, mode, created_at) "
                "SELECT id, user_id, mode, created_at FROM notifications WHERE route = 'digest'"
            )
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


def measure(url: str, ports: dict[str, int], args: argparse.Namespace) -> dict[str, Any]:
    data_dir = Path(args.data_dir)
    db = Database(url)
    with db.session() as session:  # connect first: the server's CPU is counted from here
        session.execute(select(1))
    if args.together:
        return measure_together(db, data_dir, ports["sink"], args)
    if args.build_workers > 1:
        result: dict[str, Any] = build_with_workers(db, data_dir, args)
    else:
        wall, cpu, server = time.perf_counter(), time.process_time(), server_cpu(db)
        built = DigestScheduler(
            settings_for(url, data_dir, 0), db, clock=FrozenClock(NOW), worker_id="bench"
        ).run_due()
        result = {
            "digests": built,
            "build_s": time.perf_counter() - wall,
            "build_cpu_s": time.process_time() - cpu,
            "build_server_cpu_s": server_cpu(db) - server,
            "rss_build_mb": peak_rss_mb(),
        }
    result["build_workers"] = args.build_workers
    with db.session() as session:  # the bare loop's email: a digest composed by our channel
        message = digest_messages(session, [1], "email", settings_for(url, data_dir, 0))[1]
    for kind, limit in (("aiosmtpd", args.aiosmtpd_limit), ("sink", 0)):
        if limit < 0:
            continue
        settings = settings_for(url, data_dir, ports[kind])
        bare_before = bare_loop(settings, message, ports[kind], args.bare_count)
        sent = send_with_workers(db, data_dir, ports[kind], args, limit)
        bare_after = bare_loop(settings, message, ports[kind], args.bare_count)
        bare = max((bare_before, bare_after), key=lambda b: b["per_s"])
        count = sent["sent"]
        result[kind] = {
            **sent,
            "per_s": count / sent["send_s"] if sent["send_s"] else 0.0,
            "cpu_ms": 1000 * sent["cpu_s"] / count if count else 0.0,
            "server_cpu_ms": 1000 * sent["server_cpu_s"] / count if count else 0.0,
            "bare_per_s": bare["per_s"],
            "bare_cpu_ms": bare["cpu_ms"],
            "email_bytes": bare["bytes"],
        }
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def measure_together(
    db: Database, data_dir: Path, port: int, args: argparse.Namespace
) -> dict[str, Any]:
    """``--workers`` processes each running ``Worker.run`` (digest thread and sending loop) into
    the sink, started together; the wall clock until every digest email is handed over (and
    until the first was), the processes' CPU and the database server's."""
    with db.session() as session:
        readers = session.scalar(text("SELECT count(*) FROM users")) or 0
    workers = start_ready(
        db, data_dir, "--worker-process", ["--port", str(port)], args.workers
    )
    sent_query = select(func.count()).select_from(Delivery).where(Delivery.status == "sent")
    server, started = server_cpu(db), time.perf_counter()
    tell(workers, "go")
    first = None
    with db.reading() as session:
        while (sent := session.scalar(sent_query) or 0) < readers:
            if sent and first is None:
                first = time.perf_counter() - started
            time.sleep(0.1)  # the outbox polled: 0.1 s resolution
    wall, server = time.perf_counter() - started, server_cpu(db) - server
    tell(workers, "quit")
    reports = []
    for worker in workers:
        assert worker.stdout is not None
        reports.append(json.loads(worker.stdout.readline()))
        worker.wait()
    with db.reading() as session:
        built = session.scalar(text("SELECT count(*) FROM digests")) or 0
    return {
        "together": True,
        "digests": built,
        "sent": sent,
        "total_s": wall,
        "first_s": first if first is not None else wall,
        "cpu_s": sum(r["cpu_s"] for r in reports),
        "server_cpu_s": server,
        "workers": args.workers,
        "worker_rss_mb": max(r["rss_mb"] for r in reports),
    }


def worker_process(args: argparse.Namespace) -> None:
    """One ``tidings worker`` (``Worker.run`` in a thread, the product's defaults) at the
    digest time; prints "ready", runs from "go" to "quit", then prints its CPU time."""
    settings = settings_for(args.worker_process, Path(args.data_dir), args.port)
    db = Database(args.worker_process)
    with db.session() as session:
        session.execute(select(1))
    worker = Worker(settings, db, clock=FrozenClock(NOW))
    stop = threading.Event()
    print("ready", flush=True)
    sys.stdin.readline()
    cpu = time.process_time()
    running = threading.Thread(target=worker.run, args=(stop,))
    running.start()
    sys.stdin.readline()
    stop.set()
    running.join()
    cpu = time.process_time() - cpu
    worker.close()
    shared_smtp(settings).close()
    print(json.dumps({"cpu_s": cpu, "rss_mb": peak_rss_mb()}), flush=True)
    db.dispose()


def settings_for(url: str, data_dir: Path, port: int) -> Settings:
    return Settings.from_env(
        {},
        data_dir=data_dir,
        database_url=url,
        smtp_url=f"smtp://127.0.0.1:{port}",
        base_url="https://news.example",
    )


def send_with_workers(
    db: Database, data_dir: Path, port: int, args: argparse.Namespace, limit: int
) -> dict[str, Any]:
    """Send the pending deliveries (all, or ``limit`` of them shared out) with ``args.workers``
    worker processes started together; their summed CPU time (and the PostgreSQL backends',
    sampled while the workers' connections are open), the wall clock from the start signal to
    the last one done, and the largest peak RSS."""
    share = -(-limit // args.workers) if limit else 0
    options = ["--port", str(port), "--threads", str(args.threads), "--limit", str(share)]
    reports, wall, server = with_processes(db, data_dir, "--send-worker", options, args.workers)
    return {
        "sent": sum(r["sent"] for r in reports),
        "send_s": wall,
        "server_cpu_s": server,
        "cpu_s": sum(r["cpu_s"] for r in reports),
        "workers": args.workers,
        "threads": args.threads,
        "worker_rss_mb": max(r["rss_mb"] for r in reports),
    }


def build_with_workers(db: Database, data_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Build the due digests with ``args.build_workers`` processes each running the
    ``DigestScheduler``, as that many ``tidings worker`` processes do (on PostgreSQL they
    share the readers out: each locks the readers it builds, skipping those another holds)."""
    reports, wall, server = with_processes(db, data_dir, "--build-worker", [], args.build_workers)
    return {
        "digests": sum(r["built"] for r in reports),
        "build_s": wall,
        "build_cpu_s": sum(r["cpu_s"] for r in reports),
        "build_server_cpu_s": server,
        "rss_build_mb": max(r["rss_mb"] for r in reports),
    }


def with_processes(
    db: Database, data_dir: Path, mode: str, options: list[str], count: int
) -> tuple[list[dict[str, Any]], float, float]:
    """Start ``count`` processes of this script in ``mode`` (``--send-worker`` or
    ``--build-worker``), let them go together once all are ready (imported and connected), and
    return their reports, the wall clock from the signal to the last one done, and the server
    CPU of the database meanwhile."""
    workers = start_ready(db, data_dir, mode, options, count)
    server, started = server_cpu(db), time.perf_counter()
    tell(workers, "go")
    reports = []
    for worker in workers:
        assert worker.stdout is not None
        reports.append(json.loads(worker.stdout.readline()))
    wall, server = time.perf_counter() - started, server_cpu(db) - server
    tell(workers, "quit")
    for worker in workers:
        worker.wait()
    return reports, wall, server


def start_ready(
    db: Database, data_dir: Path, mode: str, options: list[str], count: int
) -> list[subprocess.Popen[str]]:
    """``count`` processes of this script in ``mode``, each having said it is "ready"."""
    command = [sys.executable, __file__, mode, db.url, "--data-dir", str(data_dir), *options]
    workers = [
        subprocess.Popen(
            [*command, "--worker-id", f"bench-{k}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for k in range(count)
    ]
    for worker in workers:
        assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
    return workers


def tell(workers: list[subprocess.Popen[str]], word: str) -> None:
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write(f"{word}\n")
        worker.stdin.flush()


def send_worker(args: argparse.Namespace) -> None:
    """One worker process: a ``DeliveryWorker`` sending until no delivery is due (or its
    ``--limit`` is reached).  Prints "ready", waits for "go", prints its report as JSON, and
    keeps its connections until "quit" (their server CPU is read meanwhile)."""
    settings = settings_for(args.send_worker, Path(args.data_dir), args.port)
    db = Database(args.send_worker)
    with db.session() as session:
        session.execute(select(1))
    worker = DeliveryWorker(settings, db, worker_id=args.worker_id, concurrency=args.threads)
    print("ready", flush=True)
    sys.stdin.readline()
    cpu, sent = time.process_time(), 0
    while not args.limit or sent < args.limit:
        done = worker.run_due(limit=min(args.limit - sent, RUN_LIMIT) if args.limit else RUN_LIMIT)
        if not done:
            break
        sent += done
    worker.close()
    shared_smtp(settings).close()
    cpu = time.process_time() - cpu
    print(json.dumps({"sent": sent, "cpu_s": cpu, "rss_mb": peak_rss_mb()}), flush=True)
    sys.stdin.readline()
    db.dispose()


def build_worker(args: argparse.Namespace) -> None:
    """One process building digests as a ``tidings worker``'s scheduler does; the same
    ready/go/report/quit exchange as ``send_worker``."""
    settings = settings_for(args.build_worker, Path(args.data_dir), 0)
    db = Database(args.build_worker)
    with db.session() as session:
        session.execute(select(1))
    scheduler = DigestScheduler(settings, db, clock=FrozenClock(NOW), worker_id=args.worker_id)
    print("ready", flush=True)
    sys.stdin.readline()
    cpu = time.process_time()
    built = scheduler.run_due()
    cpu = time.process_time() - cpu
    print(json.dumps({"built": built, "cpu_s": cpu, "rss_mb": peak_rss_mb()}), flush=True)
    sys.stdin.readline()
    db.dispose()


def bare_loop(settings: Settings, message: Message, port: int, count: int) -> dict[str, float]:
    """A bare smtplib loop sending one composed digest over one connection, ``count`` times:
    emails per second and CPU milliseconds per email."""
    data = EmailChannel("reader1@example.com", settings).compose(message).as_bytes()
    options = ["BODY=8BITMIME"]  # as ours: both servers take 8BITMIME
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(count):
            smtp.sendmail("tidings@news.example", ["reader1@example.com"], data, options)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"per_s": count / wall, "cpu_ms": 1000 * cpu / count, "bytes": len(data)}


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM: unlike ``ru_maxrss`` it is not inherited from
    the parent that forked us, whose seeding peak would hide ours)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- driving it --------------------------------------------------------------------------


def run_size(readers: int, ports: dict[str, int], args: argparse.Namespace) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="tidings-digests-") as tmp,
        empty_database_url(args.database_url, Path(tmp), "tidings_digests") as url,
    ):
        started = time.perf_counter()
        seed(url, readers)
        seeded = time.perf_counter() - started
        child = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                url,
                "--ports",
                json.dumps(ports),
                "--workers",
                str(args.workers),
                "--build-workers",
                str(args.build_workers),
                "--threads",
                str(args.threads),
                "--data-dir",
                str(Path(tmp) / "data"),
                "--aiosmtpd-limit",
                str(args.aiosmtpd_limit),
                "--bare-count",
                str(args.bare_count),
                *(["--together"] if args.together else []),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        result: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
        result.update(readers=readers, seed_s=seeded)
        return result


def report(results: list[dict[str, Any]]) -> None:
    if results and results[0].get("together"):
        report_together(results)
        return
    print("Build (every reader's digest, its notifications taken, its delivery and inbox entry):")
    print(
        "| readers | digests | build processes | build s | build CPU s | database server CPU s "
        "| peak RSS MB |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        print(
            f"| {r['readers']:,} | {r['digests']:,} | {r['build_workers']} | "
            f"{r['build_s']:.1f} | "
            f"{r['build_cpu_s']:.1f} | {r.get('build_server_cpu_s', 0):.1f} | "
            f"{r['rss_build_mb']:.0f} |"
        )
    print()
    print("Send (ours: DeliveryWorker processes; bare: one smtplib loop, pre-composed email):")
    print(
        "| readers | receiver | workers × threads | sent | ours s | ours emails/s | "
        "bare emails/s | ratio | ours CPU ms/email | server CPU ms/email | bare CPU ms/email | "
        "worker peak RSS MB | email KB |"
    )
    print(
        "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    )
    for r in results:
        for kind in ("sink", "aiosmtpd"):
            if kind in r:
                k = r[kind]
                print(
                    f"| {r['readers']:,} | {kind} | {k['workers']} × {k['threads']} | "
                    f"{k['sent']:,} | {k['send_s']:.1f} | {k['per_s']:,.0f} | "
                    f"{k['bare_per_s']:,.0f} | {k['per_s'] / k['bare_per_s']:.2f} | "
                    f"{k['cpu_ms']:.2f} | {k['server_cpu_ms']:.2f} | {k['bare_cpu_ms']:.2f} | "
                    f"{k['worker_rss_mb']:.0f} | {k['email_bytes'] / 1024:.1f} |"
                )
    print()
    print("Built and handed to SMTP (build + every digest at our rate into the sink):")
    for r in results:
        if "sink" in r and r["sink"]["per_s"]:
            total = r["build_s"] + r["digests"] / r["sink"]["per_s"]
            note = "" if r["sink"]["sent"] == r["digests"] else f", rate of {r['sink']['sent']:,}"
            print(f"  {r['readers']:,} readers: {total:.1f} s{note} (target <= 60 s for 100,000)")


def report_together(results: list[dict[str, Any]]) -> None:
    print("Built and handed to SMTP by `tidings worker` processes (digest thread + sender):")
    print(
        "| readers | digests | workers | emails sent | first email s | **all handed over s** "
        "| emails/s | CPU ms/email (workers + server) | worker peak RSS MB |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        print(
            f"| {r['readers']:,} | {r['digests']:,} | {r['workers']} | {r['sent']:,} | "
            f"{r['first_s']:.1f} | **{r['total_s']:.1f}** | {r['sent'] / r['total_s']:,.0f} | "
            f"{1000 * r['cpu_s'] / r['sent']:.2f} + {1000 * r['server_cpu_s'] / r['sent']:.2f} | "
            f"{r['worker_rss_mb']:.0f} |"
        )
    for r in results:
        print(f"  {r['readers']:,} readers: {r['total_s']:.1f} s (target <= 60 s for 100,000)")


def run(args: argparse.Namespace) -> None:
    """Run the digest benchmark (``benchmarks/deliver.py`` calls this with its arguments)."""
    sizes = args.sizes or [10_000, 50_000, 100_000]
    servers = {kind: start_smtp(kind) for kind in SERVERS}
    try:
        results = []
        for readers in sizes:
            result = run_size(int(readers), {k: port for k, (_, port) in servers.items()}, args)
            print(json.dumps(result), file=sys.stderr, flush=True)
            results.append(result)
        report(results)
    finally:
        for process, _ in servers.values():
            process.kill()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=None)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--workers", type=int, default=2, help="DeliveryWorker processes")
    parser.add_argument(
        "--build-workers",
        type=int,
        default=1,
        help="processes running the DigestScheduler for the build (1: in the measuring process)",
    )
    parser.add_argument(
        "--threads", type=int, default=16, help="sender threads per worker (the product default)"
    )
    parser.add_argument(
        "--aiosmtpd-limit",
        type=int,
        default=2000,
        help="digests sent to aiosmtpd (the rest go to the sink); -1: none",
    )
    parser.add_argument("--bare-count", type=int, default=2000, help="emails per bare loop")
    parser.add_argument(
        "--together",
        action="store_true",
        help="run --workers `tidings worker` loops (building while sending) into the sink",
    )
    parser.add_argument("--worker-process", default="", help=argparse.SUPPRESS)
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    parser.add_argument("--ports", default="{}", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", default="", help=argparse.SUPPRESS)
    parser.add_argument("--send-worker", default="", help=argparse.SUPPRESS)
    parser.add_argument("--build-worker", default="", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--worker-id", default="", help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=int, default=0, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    if args.send_worker:
        send_worker(args)
        return
    if args.build_worker:
        build_worker(args)
        return
    if args.worker_process:
        worker_process(args)
        return
    if args.child:
        print(json.dumps(measure(args.child, json.loads(args.ports), args)))
        return
    run(args)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
