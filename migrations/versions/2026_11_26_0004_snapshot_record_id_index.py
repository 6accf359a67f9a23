"""index Snapshots by record id: captures are named by their WARC-Record-ID

The crawl refers to a capture by its record id and looks the row up when the
crawl ends (and when a requisite names its page); without an index each such
lookup outside the recorder's memory scans the table.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 03:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("snapshots", schema=None) as batch_op:
        batch_op.create_index("ix_snapshots_record_id", ["record_id"])


def downgrade() -> None:
    with op.batch_alter_table("snapshots", schema=None) as batch_op:
        batch_op.drop_index("ix_snapshots_record_id")
