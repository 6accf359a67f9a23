"""schedule and leases: when each source was checked and changed, its failures and interval; leases

``next_check_at`` (indexed since 0001) says when a source is due; a paused
source has none. A worker claims due sources by inserting rows in ``leases``
(its name in ``claimed_by``, ``lease_until``): a small table of the work in
flight, so claiming writes a few pages, not a thousand scattered source rows.
A claim whose lease has ended counts for nothing and is taken over by the next
claimer: a dead worker's work returns to the queue by itself.
``last_checked_at``, ``last_change_at`` and ``failures`` are what the
scheduling policy (scheduler.py) reads; ``every_seconds`` is a source's own
interval. ``citewatch status`` counts recent captures by ``captured_at`` and
finds failing sources by ``failures``, both indexed.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 05:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ("every_seconds", "failures", "last_change_at", "last_checked_at")


def upgrade() -> None:
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_checked_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("last_change_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("failures", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("every_seconds", sa.Integer(), nullable=True))
        batch_op.create_index("ix_sources_failures", ["failures"])
    with op.batch_alter_table("snapshots", schema=None) as batch_op:
        batch_op.create_index("ix_snapshots_captured_at", ["captured_at"])
    op.create_table(
        "leases",
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=False),
        sa.Column("lease_until", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["source_id"], ["sources.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("source_id"),
    )


def downgrade() -> None:
    op.drop_table("leases")
    with op.batch_alter_table("snapshots", schema=None) as batch_op:
        batch_op.drop_index("ix_snapshots_captured_at")
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.drop_index("ix_sources_failures")
        for name in _COLUMNS:
            batch_op.drop_column(name)
