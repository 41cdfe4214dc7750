"""Shared fixtures: a real SQLite file and a real PostgreSQL database for every storage test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine, make_url, text

from tidings.config import Settings
from tidings.store.db import Database
from tidings.worker import Extractor

# The machine's local server with trust auth (.ci/run's default too), used when
# TIDINGS_TEST_POSTGRES_URL is not set and it answers: `make test` on a fresh clone then runs
# the PostgreSQL tests as CI does.  Set the variable (empty: none) to choose otherwise.
LOCAL_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def _postgres_url() -> str:
    url = os.environ.get("TIDINGS_TEST_POSTGRES_URL")
    if url is not None:
        return url
    try:
        psycopg.connect(LOCAL_POSTGRES_URL, connect_timeout=2).close()
    except psycopg.Error:
        return ""
    return LOCAL_POSTGRES_URL


POSTGRES_URL = _postgres_url()
TEMPLATE = f"tidings_template_{os.getpid()}"


def _admin_url() -> str:
    url = make_url(POSTGRES_URL).set(drivername="postgresql+psycopg")
    return url.render_as_string(hide_password=False)


def _require_postgres() -> None:
    if not POSTGRES_URL:
        if os.environ.get("CI"):
            pytest.fail("TIDINGS_TEST_POSTGRES_URL is not set: PostgreSQL tests must run in CI")
        if "TIDINGS_TEST_POSTGRES_URL" in os.environ:
            pytest.skip("TIDINGS_TEST_POSTGRES_URL is empty")
        pytest.skip(
            f"TIDINGS_TEST_POSTGRES_URL is not set and no server answers at {LOCAL_POSTGRES_URL}"
        )


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A migrated template database; each test gets a fresh copy of it."""
    _require_postgres()
    admin = create_engine(_admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{TEMPLATE}"'))
        conn.execute(text(f'CREATE DATABASE "{TEMPLATE}"'))
    url = make_url(_admin_url()).set(database=TEMPLATE).render_as_string(hide_password=False)
    db = Database(url)
    db.upgrade()
    db.dispose()
    yield TEMPLATE
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)'))
    admin.dispose()


def new_postgres_database(template: str) -> str:
    """Create a fresh PostgreSQL database from the template; return its URL."""
    name = f"tidings_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(_admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    admin.dispose()
    return make_url(_admin_url()).set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(url: str) -> None:
    name = make_url(url).database
    admin = create_engine(_admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty, migrated database: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'tidings.db'}"
        db = Database(url)
        db.upgrade()
        db.dispose()
        yield url
        return
    template = request.getfixturevalue("postgres_template")
    url = new_postgres_database(template)
    yield url
    drop_postgres_database(url)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """An open ``Database`` on SQLite and on PostgreSQL (every storage test runs on both)."""
    database = Database(database_url)
    yield database
    database.dispose()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings for a test: its own data dir, its database, private networks allowed."""
    return Settings.from_env(
        {},
        data_dir=tmp_path / "data",
        database_url=database_url,
        allow_private_networks=True,
    )


@pytest.fixture
def postgres_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database (for tests about several processes sharing one)."""
    template = request.getfixturevalue("postgres_template")
    url = new_postgres_database(template)
    yield url
    drop_postgres_database(url)


@pytest.fixture(scope="session")
def extractor() -> Iterator[Extractor]:
    """One extraction process pool for the whole run (starting one costs a second or two)."""
    pool = Extractor(2)
    yield pool
    pool.close()
