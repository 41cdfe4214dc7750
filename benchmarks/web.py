"""Web benchmark: the inbox API under an open-loop load of concurrent readers, beside baselines.

What runs, all on loopback (127.0.0.1):

* **the app**: the real ``create_app`` under uvicorn (``--workers N`` processes, default 1),
  on a database holding ``--readers`` readers (10,000) × ``--per-reader`` notifications (200):
  2M inbox rows with titles, URLs, sources, snippets (plain and marked up), story ids, the
  reader's alert ids and terms, most older ones read, some clicked, a few readers' oldest
  ones cleared; each reader has two alerts and one API token (bearer).
* **bare SQL baseline** (``sql``): a bare Starlette endpoint under the same uvicorn that does
  the same work by hand: SHA-256 of the bearer token, the same three SQL queries (token →
  user; the page, newest first; the unread count) on one DB-API connection per thread, and
  ``json.dumps`` of the same JSON.  No ORM, no FastAPI, no pydantic, no token ``last_used_at``
  write.  Sync endpoint, so it runs in the same thread pool as the app's handlers.
* **static baseline** (``static``): the same Starlette/uvicorn returning a ready body of the
  same size — the floor of the HTTP server, the client and loopback on this machine.

The load is a **second process** (raw asyncio, HTTP/1.1 keep-alive, ``--connections``
connections): an **open loop** at a fixed rate (``--rate``, default 500 req/s) for
``--duration`` seconds after ``--warmup`` seconds, each request for a reader chosen at random.
A request is due at its scheduled time whether or not earlier ones have finished; its latency
is counted **from that scheduled time**, so a server that falls behind shows its queueing
(no coordinated omission).  Scenarios: ``page`` = ``GET /api/v1/notifications`` (first page,
50 items), ``unread`` = ``GET /api/v1/notifications?unread=true``.

Reported per run: achieved req/s, p50/p90/p99/max latency, errors, response size, the load
average, and the server's CPU milliseconds per request (every server process, from psutil —
robust to other jobs on the machine).  Ratios: app ÷ bare-SQL p99 and CPU per request.

Seeding 2M rows takes a while (bulk: ``executemany`` on SQLite, ``COPY`` on PostgreSQL);
``--reuse`` keeps the SQLite file (``--data-dir``/``web-10000x200.db``) and the PostgreSQL
database (``tidings_bench_web_10000x200``, made beside ``--postgres-url``'s) between runs, and
reuses them when their counts match.  Without ``--reuse`` a run seeds its own (named after its
process id) and removes them at the end, leaving kept ones alone.

Usage::

    python benchmarks/web.py                                   # both databases, 500 req/s
    python benchmarks/web.py --database sqlite --reuse --duration 20 --rate 500
    python benchmarks/web.py --database postgres --postgres-url postgresql://postgres@127.0.0.1/postgres
    python benchmarks/web.py --workers 2                       # uvicorn worker processes

Target (issue 5): p99 ≤ 50 ms at 500 req/s with 10,000 × 200 stored, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import cProfile
import hashlib
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src")]

PG_DATABASE = "tidings_bench_web"
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_DATA_DIR = Path("/tmp/tidings-bench-web")
PAGE_LIMIT = 50  # the API's default page size
SCENARIOS = {
    "page": "/api/v1/notifications",
    "unread": "/api/v1/notifications?unread=true",
}
T0 = datetime(2026, 10, 1, 6, 0, 0)
SPAN = timedelta(days=30)  # the stored notifications spread over a month


# -- tokens -------------------------------------------------------------------------------------


def reader_token(index: int) -> str:
    """The bearer token of reader ``index`` (0-based), derived so that any process knows it and
    a reused database keeps working; shaped like ``create_api_token``'s (``tid_`` + 43)."""
    digest = hashlib.sha256(f"tidings-bench-web:{index}".encode()).digest()
    return "tid_" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def token_hash(token: str) -> str:
    from tidings.web.security import token_hash as app_token_hash

    return app_token_hash(token)


# -- the seeded database ------------------------------------------------------------------------

OUTLETS = [
    ("Reuters", "reuters.com"),
    ("Associated Press", "apnews.com"),
    ("BBC News", "bbc.co.uk"),
    ("The Guardian", "theguardian.com"),
    ("Al Jazeera", "aljazeera.com"),
    ("NPR", "npr.org"),
    ("Deutsche Welle", "dw.com"),
    ("France 24", "france24.com"),
    ("The Korea Herald", "koreaherald.com"),
    ("NK News", "nknews.org"),
    ("The Japan Times", "japantimes.co.jp"),
    ("South China Morning Post", "scmp.com"),
    ("The Hindu", "thehindu.com"),
    ("ABC News", "abc.net.au"),
    ("CBC News", "cbc.ca"),
    ("Le Monde", "lemonde.fr"),
    ("El País", "elpais.com"),
    ("Der Spiegel", "spiegel.de"),
    ("Financial Times", "ft.com"),
    ("Bloomberg", "bloomberg.com"),
    ("Axios", "axios.com"),
    ("Politico", "politico.com"),
    ("The Verge", "theverge.com"),
    ("Ars Technica", "arstechnica.com"),
]
SECTIONS = ["world", "politics", "business", "technology", "science", "asia", "europe", "sport"]
PEOPLE = [
    "Kim Jong-un",
    "Bashar al-Assad",
    "Moon Jae-in",
    "Shinzo Abe",
    "Angela Merkel",
    "Emmanuel Macron",
    "Justin Trudeau",
    "Jacinda Ardern",
    "Narendra Modi",
    "Xi Jinping",
    "Recep Tayyip Erdogan",
    "Olaf Scholz",
    "Giorgia Meloni",
    "Pedro Sánchez",
    "Lula da Silva",
]
SUBJECTS = [
    "talks",
    "sanctions",
    "summit",
    "election",
    "budget",
    "trade deal",
    "climate pact",
    "vaccine rollout",
    "chip exports",
    "rail strike",
    "flood relief",
    "central bank",
    "missile test",
    "peace plan",
    "energy prices",
    "housing reform",
    "AI rules",
    "heatwave",
]
VERBS = [
    "meets",
    "rejects",
    "backs",
    "warns over",
    "signs",
    "delays",
    "criticises",
    "announces",
    "defends",
    "calls for",
    "pledges",
    "questions",
]
PLACES = [
    "Pyongyang",
    "Seoul",
    "Damascus",
    "Tokyo",
    "Berlin",
    "Paris",
    "Ottawa",
    "Wellington",
    "New Delhi",
    "Beijing",
    "Ankara",
    "Rome",
    "Madrid",
    "Brasília",
    "Geneva",
    "Brussels",
]
SENTENCES = [
    "Officials said the meeting would take place later this month after weeks of preparation.",
    "The announcement came as negotiators met for a third day behind closed doors.",
    "Analysts said the move could reshape the region's politics for years to come.",
    "Opposition leaders criticised the plan, saying it had been rushed through parliament.",
    "The ministry did not respond to a request for comment on Tuesday.",
    "Markets reacted cautiously, with shares in the sector edging lower in early trading.",
    "State media reported the visit would be the first by a head of state in years.",
    "Aid groups warned that thousands of families were still waiting for help.",
]
NAMES = [
    "Hyonhee Shin",
    "Josh Smith",
    "Laura Kuenssberg",
    "Patrick Wintour",
    "Anne Gearan",
    "Mari Yamaguchi",
    "Ben Westcott",
    "Katya Adler",
    "Jon Henley",
    "Ayesha Rascoe",
]


def _stories(count: int, seed: int) -> list[tuple[Any, ...]]:
    """(id, title, url, source, byline, published, snippet, snippet_html, terms JSON)."""
    rng = random.Random(seed)
    stories = []
    for index in range(count):
        person, subject = rng.choice(PEOPLE), rng.choice(SUBJECTS)
        title = f"{person} {rng.choice(VERBS)} {subject} in {rng.choice(PLACES)}"
        outlet, domain = rng.choice(OUTLETS)
        published = T0 + SPAN * (index / count) - timedelta(minutes=rng.randint(5, 90))
        slug = "-".join(title.lower().replace(",", "").split())[:80]
        url = f"https://www.{domain}/{rng.choice(SECTIONS)}/{published:%Y/%m/%d}/{slug}-{index + 1}"
        body = f"{person} {rng.choice(VERBS)} the {subject}. " + " ".join(rng.sample(SENTENCES, 2))
        snippet = "…" + body[:200].rsplit(" ", 1)[0] + "…"
        terms = [person] if rng.random() < 0.7 else [person, subject]
        marked = snippet
        for term in terms:
            marked = marked.replace(term, f"<mark>{term}</mark>")
        byline = rng.choice(NAMES) if rng.random() < 0.8 else None
        stories.append(
            (index + 1, title, url, outlet, byline, published, snippet, marked, json.dumps(terms))
        )
    return stories


NOTIFICATION_COLUMNS = (
    "id, user_id, kind, story_id, article_id, title, url, source, byline, published, snippet, "
    "snippet_html, alert_ids, terms, also_reported_by, mode, route, hold_until, digest_id, "
    "created_at, read_at, cleared_at, clicked_at"
)


def _notifications(
    readers: int, per_reader: int, stories: Sequence[tuple[Any, ...]], seed: int
) -> Iterator[tuple[Any, ...]]:
    """Every reader's inbox, written in time order: round after round, each round one new
    notification for every reader in a shuffled order (so a reader's rows are spread over the
    table as in a real inbox).  Older ones are mostly read; some are clicked; 3% of readers
    cleared their oldest 30."""
    rng = random.Random(seed)
    order = list(range(readers))
    total = readers * per_reader
    step = SPAN / total
    fresh = min(40, per_reader)  # the newest rounds, mostly unread
    clearers = {u for u in range(readers) if u % 33 == 7}
    modes = ("quick",) * 14 + ("daily",) * 5 + ("weekly",)
    serial = 0
    for rnd in range(per_reader):
        rng.shuffle(order)
        read_share = 0.92 if rnd < per_reader - fresh else 0.3
        for user in order:
            serial += 1
            created = T0 + step * serial
            story = stories[(user * 7919 + rnd * 97) % len(stories)]
            first_alert = 2 * user + 1
            alerts = [first_alert] if rng.random() < 0.75 else [first_alert, first_alert + 1]
            mode = modes[rng.randrange(len(modes))]
            read_at = clicked = None
            if rng.random() < read_share:
                read_at = created + timedelta(minutes=rng.randint(1, 600))
                if rng.random() < 0.3:
                    clicked = read_at
            cleared = created + timedelta(days=1) if user in clearers and rnd < 30 else None
            yield (
                serial,
                user + 1,
                "broadcast" if rng.random() < 0.01 else "story",
                story[0],
                None,
                story[1],
                story[2],
                story[3],
                story[4],
                story[5],
                story[6],
                story[7],
                json.dumps(alerts),
                story[8],
                rng.randint(0, 12),
                mode,
                "quick" if mode == "quick" else "digest",
                None,
                None,
                created,
                read_at,
                cleared,
                clicked,
            )


def _chunks(rows: Iterable[tuple[Any, ...]], size: int) -> Iterator[list[tuple[Any, ...]]]:
    chunk: list[tuple[Any, ...]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _tables(readers: int, per_reader: int) -> Iterator[tuple[str, str, Iterable[tuple[Any, ...]]]]:
    """(table, columns, rows) in the order they must be written."""
    created = T0 - timedelta(days=60)
    yield (
        "users",
        "id, email, password_hash, is_admin, timezone, digest_time, weekly_day, quiet_start, "
        "quiet_end, quick_budget_per_hour, created_at",
        (
            (
                u + 1,
                f"reader{u}@bench.example",
                None,
                False,
                "UTC",
                "07:30",
                0,
                None,
                None,
                None,
                created,
            )
            for u in range(readers)
        ),
    )
    yield (
        "api_tokens",
        "id, token_hash, user_id, name, created_at, last_used_at",
        (
            (u + 1, token_hash(reader_token(u)), u + 1, "bench", created, None)
            for u in range(readers)
        ),
    )
    yield (
        "alerts",
        "id, user_id, topic_id, query, mode, channels, feed_secret, created_at, updated_at",
        (
            (
                2 * u + k + 1,
                u + 1,
                None,
                query,
                "quick",
                None,
                hashlib.sha256(f"feed:{u}:{k}".encode()).hexdigest()[:32],
                created,
                created,
            )
            for u in range(readers)
            for k, query in enumerate((f'"{PEOPLE[u % len(PEOPLE)]}"', SUBJECTS[u % len(SUBJECTS)]))
        ),
    )
    stories = _stories(max(20_000, per_reader * 4), seed=5)
    yield (
        "stories",
        "id, title, first_seen_at, updated_at, article_count",
        ((s[0], s[1], s[5], s[5], 1 + s[0] % 7) for s in stories),
    )
    yield ("notifications", NOTIFICATION_COLUMNS, _notifications(readers, per_reader, stories, 7))


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):  # SQLAlchemy's SQLite DATETIME storage format
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


def seed_sqlite(path: Path, readers: int, per_reader: int) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=OFF")  # one bulk load; WAL again below, as the app has it
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-2000000")  # 2 GB: pages are written once, not re-spilled
    with conn:
        for table, columns, rows in _tables(readers, per_reader):
            marks = ", ".join("?" * len(columns.split(",")))
            sql = f"INSERT INTO {table} ({columns}) VALUES ({marks})"
            for chunk in _chunks(rows, 20_000):
                conn.executemany(sql, [tuple(map(_sqlite_value, row)) for row in chunk])
            print(f"  {table}: written", file=sys.stderr, flush=True)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()


def seed_postgres(url: str, readers: int, per_reader: int) -> None:
    import psycopg

    with psycopg.connect(url) as conn:
        for table, columns, rows in _tables(readers, per_reader):
            with conn.cursor() as cur, cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
            print(f"  {table}: written", file=sys.stderr, flush=True)
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")  # what autovacuum would do soon after a bulk load


def _seeded(url: str, readers: int, per_reader: int) -> bool:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            users = conn.execute(text("SELECT count(*) FROM users")).scalar()
            top = conn.execute(text("SELECT max(id) FROM notifications")).scalar()
            first = conn.execute(text("SELECT token_hash FROM api_tokens WHERE id = 1")).scalar()
    except Exception:
        return False
    finally:
        engine.dispose()
    return users == readers and top == readers * per_reader and first == token_hash(reader_token(0))


def _update_indexes(url: str) -> None:
    """A reused database gets the migrations since it was seeded, then the indexes models.py
    has now: missing ones are made, and ones whose columns or condition changed are made
    again."""
    from sqlalchemy import create_engine, inspect

    from tidings.store.models import Base

    _create_schema(url)  # Alembic: up to head, idempotent
    engine = create_engine(url)
    with engine.begin() as conn:
        for table in Base.metadata.sorted_tables:
            found = {i["name"]: i for i in inspect(conn).get_indexes(table.name)}
            for index in table.indexes:
                old = found.get(index.name)
                if old is not None and old["column_names"] == [c.name for c in index.columns]:
                    option = "sqlite_where" if conn.dialect.name == "sqlite" else "postgresql_where"
                    wanted = index.dialect_options[conn.dialect.name]["where"]
                    stored = old.get("dialect_options", {}).get(option)
                    if _condition(wanted) == _condition(stored):
                        continue
                if old is not None:
                    print(f"  index {index.name} changed: made again", file=sys.stderr)
                    index.drop(conn)
                index.create(conn)
    engine.dispose()


def _condition(where: Any) -> str:
    """A partial index's condition, comparable across how each database spells it back."""
    text = "" if where is None else str(where)
    return "".join(ch for ch in text.lower() if ch not in "() \n")


@contextlib.contextmanager
def database(kind: str, args: argparse.Namespace) -> Iterator[tuple[str, Path]]:
    """(SQLAlchemy URL, data dir) of a seeded database; removed afterwards unless --reuse."""
    from sqlalchemy import create_engine, make_url, text

    from tidings.config import Settings

    data_dir = Path(args.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    readers, per_reader = args.readers, args.per_reader
    if kind == "sqlite":
        path = data_dir / _name("web-", args, ".db")
        url = f"sqlite:///{path}"
        if not (args.reuse and path.exists() and _seeded(url, readers, per_reader)):
            for leftover in data_dir.glob(path.name + "*"):
                leftover.unlink()
            _create_schema(url)
            started = time.perf_counter()
            print(f"seeding SQLite {path} ({readers:,} × {per_reader})…", file=sys.stderr)
            seed_sqlite(path, readers, per_reader)
            print(f"  seeded in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        else:
            _update_indexes(url)
        try:
            yield url, data_dir
        finally:
            if not args.reuse:
                for leftover in data_dir.glob(path.name + "*"):
                    leftover.unlink()
        return
    admin_url = make_url(Settings(database_url=args.postgres_url).sqlalchemy_url)
    name = _name(PG_DATABASE + "_", args)
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        if not (args.reuse and _seeded(url, readers, per_reader)):
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            _create_schema(url)
            started = time.perf_counter()
            print(f"seeding PostgreSQL {name} ({readers:,} × {per_reader})…", file=sys.stderr)
            seed_postgres(
                make_url(url).set(drivername="postgresql").render_as_string(hide_password=False),
                readers,
                per_reader,
            )
            print(f"  seeded in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        else:
            _update_indexes(url)
        yield url, data_dir
    finally:
        if not args.reuse:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _name(prefix: str, args: argparse.Namespace, suffix: str = "") -> str:
    """The kept database's name (by size) with --reuse; else one of this run only, so that a
    run without --reuse never touches a kept one."""
    if args.reuse:
        return f"{prefix}{args.readers}x{args.per_reader}{suffix}"
    return f"{prefix}run{os.getpid()}{suffix}"


def _create_schema(url: str) -> None:
    from tidings.store.db import Database

    db = Database(url)
    db.upgrade()
    db.dispose()


# -- the servers (child processes) --------------------------------------------------------------


def app_factory() -> Any:
    """The real app, for uvicorn (``--factory``): settings from TIDINGS_* like ``tidings web``."""
    from tidings.config import Settings
    from tidings.store.db import Database
    from tidings.web.app import create_app

    settings = Settings.from_env()
    return create_app(settings, Database(settings.sqlalchemy_url))


class BareInbox:
    """The inbox page by hand: the same SQL on one DB-API connection per thread, json.dumps."""

    COLUMNS = (
        "id, kind, title, url, source, byline, published, snippet, snippet_html, alert_ids, "
        "terms, also_reported_by, mode, route, created_at, read_at, clicked_at"
    )

    def __init__(self, url: str) -> None:
        self.sqlite = url.startswith("sqlite")
        self.url = url
        self.local = threading.local()
        self.mark = "?" if self.sqlite else "%s"

    def connection(self) -> Any:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            if self.sqlite:
                conn = sqlite3.connect(self.url.split("///", 1)[1], check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
            else:
                import psycopg

                conn = psycopg.connect(self.url.replace("+psycopg", ""), autocommit=True)
            self.local.conn = conn
        return conn

    def page(self, token: str, unread: bool) -> bytes | None:
        conn, m = self.connection(), self.mark
        row = conn.execute(
            f"SELECT user_id FROM api_tokens WHERE token_hash = {m}", (token_hash(token),)
        ).fetchone()
        if row is None:
            return None
        user_id = row[0]
        where = f"user_id = {m} AND cleared_at IS NULL"
        if unread:
            where += " AND read_at IS NULL"
        rows = conn.execute(
            f"SELECT {self.COLUMNS} FROM notifications WHERE {where} "
            f"ORDER BY id DESC LIMIT {PAGE_LIMIT + 1}",
            (user_id,),
        ).fetchall()
        count = conn.execute(
            f"SELECT count(*) FROM notifications WHERE user_id = {m} AND cleared_at IS NULL "
            "AND read_at IS NULL",
            (user_id,),
        ).fetchone()[0]
        names = [name.strip() for name in self.COLUMNS.split(",")]
        items = []
        for values in rows[:PAGE_LIMIT]:
            item = dict(zip(names, values, strict=True))
            for key in ("alert_ids", "terms"):
                if isinstance(item[key], str):
                    item[key] = json.loads(item[key])
            for key in ("published", "created_at", "read_at", "clicked_at"):
                value = item[key]
                if isinstance(value, str):
                    item[key] = value.replace(" ", "T")
                elif isinstance(value, datetime):
                    item[key] = value.isoformat()
            items.append(item)
        cursor = rows[PAGE_LIMIT - 1][0] if len(rows) > PAGE_LIMIT else None
        return json.dumps(
            {"items": items, "next_cursor": cursor, "unread_count": count},
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()


def bare_factory() -> Any:
    """The baselines' Starlette app: ``sql`` (same queries by hand) or ``static`` (a ready
    body of the same size)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    inbox = BareInbox(os.environ["BENCH_URL"])
    kind = os.environ["BENCH_KIND"]
    ready = inbox.page(reader_token(0), unread=False) or b"{}"

    def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    def notifications(request: Request) -> Response:
        if kind == "static":
            return Response(ready, media_type="application/json")
        header = request.headers.get("authorization", "")
        token = header[7:] if header[:7].lower() == "bearer " else ""
        body = inbox.page(token, request.query_params.get("unread") == "true")
        if body is None:
            return JSONResponse({"detail": "unauthorized"}, status_code=401)
        return Response(body, media_type="application/json")

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/api/v1/notifications", notifications),
        ]
    )


def serve(args: argparse.Namespace) -> None:
    """Child process: uvicorn serving the app or a baseline on 127.0.0.1:port."""
    import uvicorn

    from tidings.cli.serve import HTTP, LOOP

    factory = "app_factory" if args.kind == "app" else "bare_factory"
    profile = _thread_profiles() if args.profile else None
    uvicorn.run(
        f"web:{factory}",
        factory=True,
        app_dir=str(Path(__file__).parent),
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        loop=LOOP,  # the event loop, HTTP parser and log level of `tidings web`
        http=HTTP,
        log_level="warning",
    )
    if profile is not None:
        _dump_profiles(profile, args.profile)


def _thread_profiles() -> list[cProfile.Profile]:
    """cProfile (CPU time) in every thread (handlers run in a thread pool); merged at the end."""
    profiles: list[cProfile.Profile] = []

    def start(*_: Any) -> None:
        profile = cProfile.Profile(time.thread_time)  # CPU time: lock waits do not count
        profiles.append(profile)
        profile.enable()

    threading.setprofile(start)
    start()
    return profiles


def _dump_profiles(profiles: list[cProfile.Profile], path: str) -> None:
    import pstats

    for profile in profiles:
        with contextlib.suppress(Exception):
            profile.disable()
    stats = pstats.Stats(profiles[0])
    for profile in profiles[1:]:
        with contextlib.suppress(TypeError):
            stats.add(profile)
    stats.dump_stats(path)


# -- the load (a child process) -----------------------------------------------------------------


async def _load(args: argparse.Namespace) -> dict[str, Any]:
    import psutil

    loop = asyncio.get_running_loop()
    host = f"127.0.0.1:{args.port}"
    requests = [
        (
            f"GET {args.path} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\n"
            f"Authorization: Bearer {reader_token(u)}\r\n\r\n"
        ).encode()
        for u in range(args.readers)
    ]
    server = psutil.Process(args.server_pid)
    idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(args.connections):
        idle.put_nowait(await asyncio.open_connection("127.0.0.1", args.port))
    latencies: list[float] = []
    errors: dict[str, int] = {}
    size = {"bytes": 0, "count": 0, "bad": 0}
    finished: list[float] = []

    async def one(due: float, request: bytes, measured: bool, check: bool) -> None:
        reader, writer = await idle.get()
        error = None
        try:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length)
            if status != 200:
                error = f"HTTP {status}"
            elif check:
                doc = json.loads(body)
                if not (isinstance(doc.get("items"), list) and "unread_count" in doc):
                    size["bad"] += 1
            size["bytes"] += len(body)
            size["count"] += 1
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            error = type(exc).__name__
            writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", args.port)
        finally:
            idle.put_nowait((reader, writer))
        done = loop.time()
        if measured:
            if error is None:
                latencies.append(done - due)
                finished.append(done)
            else:
                errors[error] = errors.get(error, 0) + 1

    rng = random.Random(args.seed)
    warm = int(args.warmup * args.rate)
    total = warm + int(args.duration * args.rate)
    start = loop.time() + 0.05
    tasks = []
    cpu_before = load_before = None
    own_before = time.process_time()
    for i in range(total):
        due = start + i / args.rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if i == warm:
            cpu_before, own_before = _cpu(server), time.process_time()
            load_before = os.getloadavg()[0]
        request = requests[rng.randrange(len(requests))]
        tasks.append(asyncio.create_task(one(due, request, i >= warm, i % 50 == 0)))
    measured_start = start + warm / args.rate
    _, pending = await asyncio.wait(tasks, timeout=args.drain)
    for task in pending:
        task.cancel()
    if pending:
        errors["unfinished"] = len(pending)
    cpu_after, own_after = _cpu(server), time.process_time()
    count = total - warm
    latencies.sort()
    elapsed = (max(finished) if finished else loop.time()) - measured_start
    return {
        "sent": count,
        "ok": len(latencies),
        "errors": errors,
        "bad_bodies": size["bad"],
        "achieved": len(latencies) / elapsed if elapsed > 0 else 0.0,
        "p50": _pct(latencies, 50),
        "p90": _pct(latencies, 90),
        "p99": _pct(latencies, 99),
        "max": latencies[-1] * 1000 if latencies else float("nan"),
        "body_kb": size["bytes"] / max(1, size["count"]) / 1024,
        "server_cpu_ms": (cpu_after - (cpu_before or 0.0)) * 1000 / max(1, len(latencies)),
        "client_cpu_ms": (own_after - own_before) * 1000 / max(1, count),
        "load": load_before,
    }


def _cpu(process: Any) -> float:
    """CPU seconds of a process and its children (uvicorn's worker processes)."""
    total = 0.0
    for proc in [process, *process.children(recursive=True)]:
        with contextlib.suppress(Exception):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


def _pct(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(len(values) * pct / 100))] * 1000


def load(args: argparse.Namespace) -> None:
    print(json.dumps(asyncio.run(_load(args))))


# -- the run --------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def server(
    kind: str, url: str, data_dir: Path, args: argparse.Namespace
) -> Iterator[tuple[int, int]]:
    """(port, pid) of a server child process, ready."""
    port = _free_port()
    env = dict(os.environ)
    env.update(
        TIDINGS_DATA_DIR=str(data_dir),
        TIDINGS_DATABASE_URL=url,
        BENCH_URL=url,
        BENCH_KIND=kind,
        PYTHONPATH=os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")]),
    )
    command = [
        sys.executable,
        __file__,
        "_serve",
        "--kind",
        kind,
        "--port",
        str(port),
        "--workers",
        str(args.workers if kind == "app" else 1),
    ]
    if kind == "app" and args.profile:
        command += ["--profile", args.profile]
    process = subprocess.Popen(command, env=env)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the {kind} server did not start") from None
                time.sleep(0.2)
        yield port, process.pid
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_load(port: int, pid: int, path: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [
        sys.executable,
        __file__,
        "_load",
        "--port",
        str(port),
        "--server-pid",
        str(pid),
        "--path",
        path,
        "--rate",
        str(args.rate),
        "--duration",
        str(args.duration),
        "--warmup",
        str(args.warmup),
        "--connections",
        str(args.connections),
        "--readers",
        str(args.readers),
        "--seed",
        str(args.seed),
    ]
    out = subprocess.run(
        command,
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _row(db: str, scenario: str, side: str, r: dict[str, Any]) -> str:
    errors = sum(r["errors"].values()) + r["bad_bodies"]
    return (
        f"| {db} | {scenario} | {side} | {r['achieved']:.0f} | {r['p50']:.1f} | {r['p90']:.1f} | "
        f"{r['p99']:.1f} | {r['max']:.1f} | {errors} | {r['server_cpu_ms']:.2f} | "
        f"{r['body_kb']:.1f} | {r['load']:.1f} |"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("TIDINGS_TEST_POSTGRES_URL", DEFAULT_PG_URL),
        help=f"server to create {PG_DATABASE}_* on (TIDINGS_TEST_POSTGRES_URL)",
    )
    parser.add_argument("--readers", type=int, default=10_000)
    parser.add_argument("--per-reader", type=int, default=200)
    parser.add_argument("--rate", type=float, default=500.0, help="requests per second")
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds before measuring")
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn processes for the app")
    parser.add_argument("--scenarios", default="page,unread")
    parser.add_argument(
        "--sides",
        default="app,sql,static",
        help="app, sql (bare SQL baseline), static (ready body)",
    )
    parser.add_argument("--reuse", action="store_true", help="keep/reuse the seeded databases")
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR))
    parser.add_argument("--profile", help="write the app server's cProfile stats here")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    kinds = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    sides = args.sides.split(",")
    header = (
        "| database | scenario | server | req/s | p50 ms | p90 ms | p99 ms | max ms | errors | "
        "server CPU ms/req | KB/resp | load |\n"
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    )
    lines = [header]
    summary = []
    print(
        f"target {args.rate:.0f} req/s for {args.duration:.0f} s (+{args.warmup:.0f} s warm-up), "
        f"{args.connections} connections, {args.readers:,} readers × {args.per_reader}, "
        f"app workers {args.workers}; {os.cpu_count()} cores",
        flush=True,
    )
    for kind in kinds:
        with database(kind, args) as (url, data_dir):
            results: dict[tuple[str, str], dict[str, Any]] = {}
            for side in sides:
                scenarios = args.scenarios.split(",") if side != "static" else ["page"]
                with server(side, url, data_dir, args) as (port, pid):
                    for scenario in scenarios:
                        result = run_load(port, pid, SCENARIOS[scenario], args)
                        results[(scenario, side)] = result
                        line = _row(kind, scenario, side, result)
                        lines.append(line)
                        print(line, flush=True)
                        print(
                            json.dumps(
                                {
                                    "database": kind,
                                    "scenario": scenario,
                                    "server": side,
                                    "workers": args.workers if side == "app" else 1,
                                    "rate": args.rate,
                                    **result,
                                }
                            ),
                            file=sys.stderr,
                        )
            for scenario in args.scenarios.split(","):
                app, bare = results.get((scenario, "app")), results.get((scenario, "sql"))
                if app and bare:
                    summary.append(
                        f"{kind} {scenario}: app p99 {app['p99']:.1f} ms vs bare SQL "
                        f"{bare['p99']:.1f} ms (ratio {app['p99'] / bare['p99']:.2f}); "
                        f"server CPU/request {app['server_cpu_ms']:.2f} vs "
                        f"{bare['server_cpu_ms']:.2f} ms (ratio "
                        f"{app['server_cpu_ms'] / bare['server_cpu_ms']:.2f}); target p99 ≤ 50 ms "
                        f"at {args.rate:.0f} req/s: "
                        f"{'met' if app['p99'] <= 50 and app['achieved'] >= 0.98 * args.rate and not app['errors'] else 'MISSED'}"
                    )
    print("\n" + "\n".join(lines))
    print("\n".join(summary))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in {"_serve", "_load"}:
        child = argparse.ArgumentParser()
        child.add_argument("mode")
        child.add_argument("--port", type=int, required=True)
        child.add_argument("--kind", default="app")
        child.add_argument("--workers", type=int, default=1)
        child.add_argument("--profile")
        child.add_argument("--server-pid", type=int, default=0)
        child.add_argument("--path", default=SCENARIOS["page"])
        child.add_argument("--rate", type=float, default=500.0)
        child.add_argument("--duration", type=float, default=20.0)
        child.add_argument("--warmup", type=float, default=5.0)
        child.add_argument("--connections", type=int, default=64)
        child.add_argument("--readers", type=int, default=10_000)
        child.add_argument("--seed", type=int, default=11)
        child.add_argument("--drain", type=float, default=30.0)
        child_args = child.parse_args()
        (serve if child_args.mode == "_serve" else load)(child_args)
    else:
        main()
