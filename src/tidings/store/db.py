"""Opening the database: engine, sessions and migrations, for SQLite and PostgreSQL alike."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from tidings.config import Settings

MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_ANALYSIS_LIMIT = 1000


class Database:
    """Two engines on one database and their session factories.

    ``with db.session() as s:`` writes: it commits or rolls back.  ``with db.reading() as s:``
    only reads, on connections the database itself keeps from writing (a write there raises
    ``sqlalchemy.exc.OperationalError`` on SQLite, ``InternalError`` on PostgreSQL): it takes
    no write lock, so reads run beside a writer.  Open no writing session inside a reading
    one (on SQLite each kind has its own lock; taken in both orders they would deadlock).
    """

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.engine: Engine = _create_engine(url, echo=echo)
        self.reader: Engine = _create_reader_engine(url, echo=echo)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.read_sessions = sessionmaker(self.reader, expire_on_commit=False)
        # SQLite has one writer at a time.  Threads of this process queue here instead of in
        # SQLite's busy handler, which sleeps in growing steps; other processes still wait
        # there (busy_timeout), which is correct, only slower.
        self._writer = threading.RLock() if self.engine.dialect.name == "sqlite" else None
        # And one reader at a time: SQLite reads in several threads of one process contend
        # for the GIL, which cost more CPU than they overlapped (benchmarks/web.py: ~1.65 ms
        # of CPU a request one at a time, ~2.0-2.5 ms 32 at a time).
        self._reader = threading.RLock() if self.engine.dialect.name == "sqlite" else None

    @classmethod
    def from_settings(cls, settings: Settings, *, upgrade: bool = True) -> Database:
        if not settings.database_url:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = cls(settings.sqlalchemy_url)
        if upgrade:
            db.upgrade()
        return db

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        with _holding(self._writer), self.sessions() as session, session.begin():
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session that only reads, on a connection in autocommit mode: each statement is a
        transaction of its own and sees what was committed when it started (as in a READ
        COMMITTED transaction), without waiting for a writer.  SQLite: no ``BEGIN`` (nor the
        write lock of ``BEGIN IMMEDIATE``), a ``query_only`` connection.  PostgreSQL: no
        ``BEGIN``/``COMMIT`` round trips, a connection whose transactions are read-only."""
        with _holding(self._reader), self.read_sessions() as session:
            yield session

    def upgrade(self, revision: str = "head") -> None:
        """Apply Alembic migrations up to ``revision`` (idempotent)."""
        from alembic import command

        command.upgrade(alembic_config(self), revision)
        self.refresh_statistics()

    def refresh_statistics(self) -> None:
        """SQLite: sample the tables' statistics for the query planner (``ANALYZE`` over at
        most ``SQLITE_ANALYSIS_LIMIT`` rows an index: milliseconds, however large the file).
        Without them it may read a reader's unread count through the wrong index — 200 rows
        from all over the file instead of ~40 index entries (benchmarks/web.py: 12 ms of CPU a
        request instead of ~1.5).  Run at every start (``upgrade``), so they follow the data.
        PostgreSQL's autovacuum keeps its own."""
        if self.dialect != "sqlite":
            return
        with self.session() as session:
            session.execute(text(f"PRAGMA analysis_limit={SQLITE_ANALYSIS_LIMIT}"))
            session.execute(text("ANALYZE"))

    def dispose(self) -> None:
        self.engine.dispose()
        self.reader.dispose()


@contextmanager
def _holding(lock: threading.RLock | None) -> Iterator[None]:
    if lock is None:
        yield
        return
    with lock:
        yield


def alembic_config(db: Database) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = db.engine
    return config


def _create_engine(url: str, *, echo: bool) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, echo=echo, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    return _postgres_engine(url, echo=echo)


def _create_reader_engine(url: str, *, echo: bool) -> Engine:
    if url.startswith("sqlite"):
        # One connection (one warm page cache) does: readers take turns (Database._reader);
        # more only for a reading session opened inside another.
        engine = create_engine(
            url, echo=echo, connect_args={"timeout": 30}, pool_size=1, max_overflow=4
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "connect", _sqlite_query_only)
        return engine  # no BEGIN: _sqlite_pragmas leaves the connection in autocommit mode
    engine = _postgres_engine(url, echo=echo, isolation_level="AUTOCOMMIT")
    event.listen(engine, "connect", _postgres_read_only)
    return engine


# A PostgreSQL engine keeps as many connections as a process uses at once (the web app's
# threads, a worker's): a smaller pool opens and closes a connection for every checkout above
# it — a backend forked per request under load (benchmarks/web.py: one connect every 2.5
# requests with the default 5).
POOL_SIZE = 20
POOL_OVERFLOW = 20
# A connection idle this long is pinged before use (one round trip): the server may have
# restarted or dropped it meanwhile.  One in use more recently is not — a ping per checkout
# cost ~0.3 ms of CPU a request — and if it died anyway, the statement's error invalidates the
# pool's connections (SQLAlchemy's disconnect handling) and the next checkout connects afresh.
PING_AFTER_IDLE = 10.0


def _postgres_engine(url: str, *, echo: bool, **options: Any) -> Engine:
    engine = create_engine(
        url, echo=echo, pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW, **options
    )
    event.listen(engine, "checkin", _note_checkin)
    event.listen(engine, "checkout", _ping_if_idle)
    return engine


def _note_checkin(_dbapi_connection: Any, record: Any) -> None:
    record.info["checked_in"] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    idle_since = record.info.get("checked_in")
    if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE:
        return  # new, or used a moment ago
    try:
        _ping(dbapi_connection)
    except Exception as exc:
        # The pool discards this connection and checks out another (up to three tries).
        raise DisconnectionError(f"stale connection: {exc}") from exc


def _ping(dbapi_connection: Any) -> None:
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    if not dbapi_connection.autocommit:
        dbapi_connection.rollback()  # the ping's transaction


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy issue BEGIN itself (see _sqlite_begin_immediate).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin_immediate(connection: Any) -> None:
    # Take the write lock at BEGIN: two processes never both read then fail to upgrade a
    # lock mid-transaction, so claims and upserts serialize cleanly.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_query_only(dbapi_connection: Any, _record: Any) -> None:
    # A write fails: "attempt to write a readonly database".  (Not memory-mapped: a third less
    # CPU for an inbox page when nothing writes, but twice as much with writes between reads.)
    dbapi_connection.execute("PRAGMA query_only=ON")


def _postgres_read_only(dbapi_connection: Any, _record: Any) -> None:
    # Autocommit runs each statement in a transaction of its own, read-only by this default.
    autocommit = dbapi_connection.autocommit
    dbapi_connection.autocommit = True
    dbapi_connection.execute("SET default_transaction_read_only = on")
    dbapi_connection.autocommit = autocommit
