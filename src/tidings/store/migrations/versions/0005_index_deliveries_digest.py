"""index deliveries.digest_id: a deleted digest's ON DELETE CASCADE no longer scans every delivery

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 21:50:00

``deliveries.digest_id`` references ``digests.id`` with ``ON DELETE CASCADE``, and digests are
deleted with their reader (``DELETE /api/v1/admin/users/{id}`` cascades from ``users``).  It
was the one cascading (or ``SET NULL``) foreign key of a table whose parent rows are deleted
with no index led by its column: each digest deleted read the whole ``deliveries`` table (one
row per channel per notification or digest: millions), on SQLite (``SCAN deliveries``) and on
PostgreSQL (which does not index referencing columns by itself).  Only digest deliveries have
a ``digest_id``: the index is partial (``WHERE digest_id IS NOT NULL``), so the notification
deliveries written every minute do not add to it.

The other unindexed references (``notifications.story_id``, ``notifications.article_id``,
``source_entries.article_id``) point at stories and articles, which Tidings never deletes.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _where(condition: str) -> dict[str, Any]:
    return {"sqlite_where": sa.text(condition), "postgresql_where": sa.text(condition)}


def upgrade() -> None:
    op.create_index(
        "ix_deliveries_digest", "deliveries", ["digest_id"], **_where("digest_id IS NOT NULL")
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_digest", table_name="deliveries")
