from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from tidings.store.db import Database
from tidings.store.models import Base


def test_migrations_create_every_table(db: Database) -> None:
    tables = set(inspect(db.engine).get_table_names())
    assert {"sources", "articles", "stories", "alerts", "alert_changes", "users"} <= tables


def test_upgrade_is_idempotent(db: Database) -> None:
    db.upgrade()
    db.upgrade()
    assert "alembic_version" in inspect(db.engine).get_table_names()


def test_migrations_build_the_schema_the_models_describe(db: Database) -> None:
    """No drift: what the migrations made is what ``tidings.store.models`` declares (tables,
    columns, indexes — partial ones included), on each database."""
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        assert compare_metadata(context, Base.metadata) == []
