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
    """One engine and its session factory.  ``with db.session() as s:`` commits or rolls back."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.engine: Engine = _create_engine(url, echo=echo)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer at a time.  Threads of this process queue here instead of in
        # SQLite's busy handler, which sleeps in growing steps; other processes still wait
        # there (busy_timeout), which is correct, only slower.
        self._writer = threading.RLock() if self.engine.dialect.name == "sqlite" else None

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
        with self._serialized(), self.sessions() as session, session.begin():
            yield session

    @contextmanager
    def _serialized(self) -> Iterator[None]:
        if self._writer is None:
            yield
            return
        with self._writer:
            yield

    def upgrade(self, revision: str = "head") -> None:
        """Apply Alembic migrations up to ``revision`` (idempotent)."""
        from alembic import command

        command.upgrade(alembic_config(self), revision)

    def dispose(self) -> None:
        self.engine.dispose()


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
