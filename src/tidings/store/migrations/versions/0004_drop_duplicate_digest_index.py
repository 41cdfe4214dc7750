"""drop ix_digests_user_mode_cutoff: the unique constraint on the same columns indexes them already

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 21:30:00

``digests`` had two indexes on ``(user_id, mode, cutoff)``: the unique constraint's (which
``ON CONFLICT (user_id, mode, cutoff)`` needs) and the plain ``ix_digests_user_mode_cutoff``.
Every digest inserted (one per reader and mode in a daily pass: ~100,000) wrote both.  The
lookups of a reader's latest cutoff (``max(cutoff)`` by user and mode) read the unique
constraint's index just as well: SQLite's ``sqlite_autoindex_digests_1``, PostgreSQL's
``digests_user_id_mode_cutoff_key``.
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_digests_user_mode_cutoff", table_name="digests")


def downgrade() -> None:
    op.create_index("ix_digests_user_mode_cutoff", "digests", ["user_id", "mode", "cutoff"])
