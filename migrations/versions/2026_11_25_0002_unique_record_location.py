"""one Snapshot row per WARC record: unique (warc_file_id, offset)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 04:25:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("snapshots", schema=None) as batch_op:
        batch_op.create_index("ux_snapshots_record_location", ["warc_file_id", "offset"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("snapshots", schema=None) as batch_op:
        batch_op.drop_index("ux_snapshots_record_location")
