"""digest queue and items, deliveries indexed in claim order

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 12:50:00

A digest used to take its notifications by setting ``notifications.digest_id``: a new version of
every (wide, five times indexed) notification row, and a foreign-key check each.  Now a
notification routed to the digest waits in ``digest_queue`` and a digest moves it into
``digest_items``.  Existing data moves with it: notifications a digest took become its items,
those still waiting are queued, and ``notifications.digest_id`` is kept only on the digest inbox
entries (their link to the digest).

``ix_deliveries_due`` gains ``id``, the claim's second sort key: on PostgreSQL a claim then reads
the first entries of the index instead of sorting every pending delivery (SQLite's index already
ended in the rowid).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
STORIES = "route = 'digest' AND kind != 'digest'"  # what digests take (entries excluded)


def upgrade() -> None:
    op.create_table(
        "digest_queue",
        sa.Column("notification_id", BIG_ID, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["notification_id"], ["notifications.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("notification_id"),
    )
    op.create_index("ix_digest_queue_due", "digest_queue", ["user_id", "mode", "created_at"])
    op.create_table(
        "digest_items",
        sa.Column("notification_id", BIG_ID, autoincrement=False, nullable=False),
        sa.Column("digest_id", BIG_ID, nullable=False),
        sa.ForeignKeyConstraint(["digest_id"], ["digests.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("notification_id"),
    )
    op.create_index("ix_digest_items_digest", "digest_items", ["digest_id", "notification_id"])
    op.execute(
        "INSERT INTO digest_items (notification_id, digest_id) SELECT id, digest_id "
        f"FROM notifications WHERE {STORIES} AND digest_id IS NOT NULL"
    )
    op.execute(
        "INSERT INTO digest_queue (notification_id, user_id, mode, created_at) "
        f"SELECT id, user_id, mode, created_at FROM notifications "
        f"WHERE {STORIES} AND digest_id IS NULL"
    )
    op.drop_index("ix_notifications_digest", table_name="notifications")
    op.execute(
        "UPDATE notifications SET digest_id = NULL WHERE kind != 'digest' AND digest_id IS NOT NULL"
    )
    op.create_index("ix_notifications_route", "notifications", ["user_id", "route", "created_at"])
    op.drop_index("ix_deliveries_due", table_name="deliveries")
    op.create_index("ix_deliveries_due", "deliveries", ["status", "next_attempt_at", "id"])
    op.create_index(
        "ix_notifications_digest_entry",
        "notifications",
        ["digest_id"],
        sqlite_where=sa.text("digest_id IS NOT NULL"),
        postgresql_where=sa.text("digest_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_due", table_name="deliveries")
    op.create_index("ix_deliveries_due", "deliveries", ["status", "next_attempt_at"])
    op.drop_index("ix_notifications_digest_entry", table_name="notifications")
    op.drop_index("ix_notifications_route", table_name="notifications")
    op.execute(
        "UPDATE notifications SET digest_id = (SELECT i.digest_id FROM digest_items i "
        "WHERE i.notification_id = notifications.id) "
        "WHERE id IN (SELECT notification_id FROM digest_items)"
    )
    op.create_index(
        "ix_notifications_digest", "notifications", ["user_id", "route", "digest_id", "created_at"]
    )
    op.drop_index("ix_digest_items_digest", table_name="digest_items")
    op.drop_table("digest_items")
    op.drop_index("ix_digest_queue_due", table_name="digest_queue")
    op.drop_table("digest_queue")
