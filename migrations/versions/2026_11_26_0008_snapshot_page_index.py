"""index Snapshots by their page: a page's requisites and browser resources

A change page, a diff and a WACZ export look up a page's rendered DOM or its
requisites by ``page_id``; without an index each lookup scans the table (8 ms
at 100,000 snapshots, growing with the archive).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 11:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("snapshots", schema=None) as batch_op:
        batch_op.create_index("ix_snapshots_page_id", ["page_id"])


def downgrade() -> None:
    with op.batch_alter_table("snapshots", schema=None) as batch_op:
        batch_op.drop_index("ix_snapshots_page_id")
