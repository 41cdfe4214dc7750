from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from tidings.store.db import Database, alembic_config
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


def digest_indexes(db: Database) -> dict[str | None, list[str | None]]:
    """``digests``' indexes by name, the unique constraint's included (reflected as an index
    on SQLite, as a constraint on PostgreSQL)."""
    inspector = inspect(db.engine)
    found = {ix["name"]: ix["column_names"] for ix in inspector.get_indexes("digests")}
    for unique in inspector.get_unique_constraints("digests"):
        found[unique["name"]] = unique["column_names"]
    return found


def drift(db: Database) -> list[Any]:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        return compare_metadata(context, Base.metadata)


def test_0004_drops_the_digest_index_the_unique_constraint_duplicates(db: Database) -> None:
    """At 0003 ``digests`` had two indexes on (user_id, mode, cutoff); 0004 drops the plain
    one, leaves the unique constraint's, and the schema is then the models' (and back)."""
    columns = ["user_id", "mode", "cutoff"]
    config = alembic_config(db)
    command.downgrade(config, "0003")
    at_0003 = digest_indexes(db)
    assert at_0003["ix_digests_user_mode_cutoff"] == columns
    assert list(at_0003.values()).count(columns) == 2
    assert [(d[0], d[1].name) for d in drift(db)] == [
        ("remove_index", "ix_digests_user_mode_cutoff")
    ]

    command.upgrade(config, "0004")
    at_0004 = digest_indexes(db)
    assert "ix_digests_user_mode_cutoff" not in at_0004
    assert list(at_0004.values()) == [columns]  # the unique constraint's, alone
    assert drift(db) == []

    command.downgrade(config, "0003")
    assert digest_indexes(db) == at_0003
    command.upgrade(config, "head")
    assert drift(db) == []
