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
    assert drift(db) == []


def digest_indexes(db: Database) -> dict[str | None, list[str | None]]:
    """``digests``' indexes by name, the unique constraint's included (reflected as an index
    on SQLite, as a constraint on PostgreSQL)."""
    inspector = inspect(db.engine)
    found = {ix["name"]: ix["column_names"] for ix in inspector.get_indexes("digests")}
    for unique in inspector.get_unique_constraints("digests"):
        found[unique["name"]] = unique["column_names"]
    return found


def drift(db: Database) -> list[Any]:
    """How the database's schema differs from the models' (``compare_metadata``)."""
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        return compare_metadata(context, Base.metadata)


def drifted(db: Database) -> set[tuple[str, str]]:
    """What the database lacks (``add_index``) or has too many (``remove_index``) of the
    models' indexes, by name."""
    return {(d[0], d[1].name) for d in drift(db)}


def test_0004_drops_the_digest_index_the_unique_constraint_duplicates(db: Database) -> None:
    """At 0003 ``digests`` had two indexes on (user_id, mode, cutoff); 0004 drops the plain
    one, leaves the unique constraint's, and the schema is then the models' (and back)."""
    columns = ["user_id", "mode", "cutoff"]
    config = alembic_config(db)
    command.downgrade(config, "0003")
    at_0003 = digest_indexes(db)
    assert at_0003["ix_digests_user_mode_cutoff"] == columns
    assert list(at_0003.values()).count(columns) == 2
    assert drifted(db) == {
        ("remove_index", "ix_digests_user_mode_cutoff"),
        ("add_index", "ix_deliveries_digest"),  # 0005's
    }

    command.upgrade(config, "0004")
    at_0004 = digest_indexes(db)
    assert "ix_digests_user_mode_cutoff" not in at_0004
    assert list(at_0004.values()) == [columns]  # the unique constraint's, alone
    assert drifted(db) == {("add_index", "ix_deliveries_digest")}  # 0005's

    command.downgrade(config, "0003")
    assert digest_indexes(db) == at_0003
    command.upgrade(config, "head")
    assert drift(db) == []


def indexes_of(db: Database, table: str) -> dict[str | None, tuple[list[str | None], bool, str]]:
    """A table's indexes by name: (columns, unique, the condition of a partial one)."""
    return {
        ix["name"]: (
            ix["column_names"],
            bool(ix["unique"]),
            str(ix.get("dialect_options", {}).get(f"{db.dialect}_where", "")),
        )
        for ix in inspect(db.engine).get_indexes(table)
    }


def test_0005_indexes_the_deliveries_of_a_digest(db: Database) -> None:
    """0005 adds ``ix_deliveries_digest`` (partial: only digest deliveries have a ``digest_id``)
    and the schema is then the models'; its downgrade drops it again."""
    config = alembic_config(db)
    command.downgrade(config, "0004")
    at_0004 = indexes_of(db, "deliveries")
    assert "ix_deliveries_digest" not in at_0004
    assert drifted(db) == {("add_index", "ix_deliveries_digest")}

    command.upgrade(config, "0005")
    columns, unique, where = indexes_of(db, "deliveries")["ix_deliveries_digest"]
    assert columns == ["digest_id"] and not unique
    assert "digest_id IS NOT NULL" in where.replace("(", "").replace(")", "")
    assert drift(db) == []

    command.downgrade(config, "0004")
    assert indexes_of(db, "deliveries") == at_0004
    command.upgrade(config, "head")
    assert drift(db) == []


# Tidings never deletes a story or an article (no code path does), so the references to them
# (``notifications.story_id``, ``notifications.article_id``, ``source_entries.article_id``) have
# no index of their own.  Every other referenced table has its rows deleted: sources, topics,
# users and, cascading from them, channels, digests, notifications and deliveries.
NEVER_DELETED = {"stories", "articles"}


def references_to_deleted_rows(db: Database) -> list[tuple[str, str, str]]:
    """(table, column, referenced table) of every foreign key whose parent rows are deleted."""
    inspector = inspect(db.engine)
    found = []
    for table in inspector.get_table_names():
        for key in inspector.get_foreign_keys(table):
            assert len(key["constrained_columns"]) == 1, key  # none is composite
            if key["referred_table"] not in NEVER_DELETED:
                found.append((table, key["constrained_columns"][0], key["referred_table"]))
    return found


def test_every_reference_to_deleted_rows_leads_an_index(db: Database) -> None:
    """Deleting a row looks up the rows referencing it (to cascade, set null or refuse): with no
    index led by the referencing column, a scan of the whole referencing table per row deleted
    (PostgreSQL does not index referencing columns by itself).  The primary key, a unique
    constraint or any index counts when the column comes first."""
    inspector = inspect(db.engine)
    missing = []
    for table, column, parent in references_to_deleted_rows(db):
        leading = {ix["column_names"][0] for ix in inspector.get_indexes(table)}
        leading |= {u["column_names"][0] for u in inspector.get_unique_constraints(table)}
        leading |= set(inspector.get_pk_constraint(table)["constrained_columns"][:1])
        if column not in leading:
            missing.append(f"{table}.{column} -> {parent}")
    assert missing == []
    assert ("deliveries", "digest_id", "digests") in references_to_deleted_rows(db)


def test_deletes_find_the_referencing_rows_by_index(db: Database) -> None:
    """The plans, not just the schema: no referencing table is scanned when a row is deleted.
    SQLite shows its foreign key actions in ``EXPLAIN QUERY PLAN`` of the ``DELETE``.
    PostgreSQL's are queries its triggers run, planned generically (``$1`` for the key): each is
    planned here the same way, with sequential scans a last resort (``enable_seqscan`` off), so
    a sequential scan in the plan means no index can serve it (a partial index whose condition
    ``column = $1`` does not imply would not)."""
    references = references_to_deleted_rows(db)
    with db.engine.connect() as connection:
        if db.dialect == "sqlite":
            for parent in sorted({parent for _, _, parent in references}):
                plan = connection.exec_driver_sql(
                    f"EXPLAIN QUERY PLAN DELETE FROM {parent} WHERE rowid = 1"
                ).all()
                steps = [row[3] for row in plan]
                assert not [s for s in steps if s.startswith("SCAN")], (parent, steps)
                if parent == "digests":
                    assert (
                        "SEARCH deliveries USING COVERING INDEX ix_deliveries_digest (digest_id=?)"
                        in steps
                    )
            return
        connection.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
        connection.exec_driver_sql("SET enable_seqscan = off")
        for number, (table, column, _) in enumerate(references):
            connection.exec_driver_sql(
                f"PREPARE lookup_{number} (bigint) AS SELECT 1 FROM ONLY public.{table} x"
                f" WHERE $1 OPERATOR(pg_catalog.=) {column} FOR KEY SHARE OF x"
            )
            lines = connection.exec_driver_sql(f"EXPLAIN EXECUTE lookup_{number} (1)")
            generic = "\n".join(line[0] for line in lines)
            assert "Seq Scan" not in generic, (table, column, generic)
            if (table, column) == ("deliveries", "digest_id"):
                assert "ix_deliveries_digest" in generic, generic
        connection.exec_driver_sql("DEALLOCATE ALL")
        connection.rollback()
