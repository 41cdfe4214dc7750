from __future__ import annotations

from sqlalchemy import inspect

from tidings.store.db import Database


def test_migrations_create_every_table(db: Database) -> None:
    tables = set(inspect(db.engine).get_table_names())
    assert {"sources", "articles", "stories", "alerts", "alert_changes", "users"} <= tables


def test_upgrade_is_idempotent(db: Database) -> None:
    db.upgrade()
    db.upgrade()
    assert "alembic_version" in inspect(db.engine).get_table_names()
