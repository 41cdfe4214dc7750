"""Helpers the benchmarks share: an empty database (SQLite or a throw-away PostgreSQL one) and
the PostgreSQL server's CPU time."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import psutil
from sqlalchemy import create_engine, make_url, text

from tidings.config import Settings
from tidings.store.db import Database


@contextmanager
def postgres_database(server_url: str, prefix: str) -> Iterator[str]:
    """The URL of a new, empty database ``{prefix}_{random}`` on the PostgreSQL server of
    ``server_url``, dropped afterwards."""
    admin_url = make_url(Settings(database_url=server_url).sqlalchemy_url)
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def empty_database_url(server_url: str, folder: Path, prefix: str) -> Iterator[str]:
    """An empty database's URL: a SQLite file in ``folder`` when ``server_url`` is empty, else a
    new PostgreSQL database ``{prefix}_…`` on that server (dropped afterwards)."""
    if not server_url:
        folder.mkdir(parents=True, exist_ok=True)
        yield f"sqlite:///{folder / f'{prefix}.db'}"
        return
    with postgres_database(server_url, prefix) as url:
        yield url


def server_cpu(db: Database) -> float:
    """CPU seconds so far of the PostgreSQL backends serving ``db`` (0 for SQLite, which runs
    in this process): with this process's CPU, what the work cost whatever else ran."""
    name = db.engine.url.database
    if db.dialect != "postgresql" or not name:
        return 0.0
    total = 0.0
    for process in psutil.process_iter(["cmdline"]):
        if name in (process.info["cmdline"] or [""])[0].split():
            with suppress(psutil.Error):
                times = process.cpu_times()
                total += times.user + times.system
    return total
