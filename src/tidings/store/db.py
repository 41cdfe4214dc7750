"""Opening the database: engine, sessions and migrations, for SQLite and PostgreSQL alike."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from tidings.config import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


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
    return create_engine(url, echo=echo, pool_pre_ping=True)


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
    engine = create_engine(url, echo=echo, pool_pre_ping=True, isolation_level="AUTOCOMMIT")
    event.listen(engine, "connect", _postgres_read_only)
    return engine


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
