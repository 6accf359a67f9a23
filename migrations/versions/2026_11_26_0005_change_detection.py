"""change detection: extracted metadata and fingerprints, each source's analysis state, change-log indexes

``extracted_texts`` keeps what trafilatura (or pypdf) found once per payload
digest: the main text, its title, byline and date, a fingerprint of the
normalised text and its word count. ``sources`` remembers how far its
snapshots were analysed, whether it is answering with its content
(``state``, ``state_reason``), its last capture that said so
(``observed_id``) and its last capture that had content (``baseline_id``),
which the next one is compared with. The change log is
listed newest first with keyset pagination, filtered by kind or source.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 04:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("extracted_texts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("title", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("author", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("published", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("fingerprint", sa.String(length=71), nullable=True))
        batch_op.add_column(sa.Column("words", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("error", sa.Text(), nullable=True))
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.add_column(sa.Column("state", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("state_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("state_since", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("baseline_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("observed_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("analysed_through", sa.Integer(), nullable=True))
        batch_op.create_index("ix_sources_state", ["state"])
    with op.batch_alter_table("changes", schema=None) as batch_op:
        batch_op.create_index("ix_changes_detected_id", ["detected_at", "id"])
        batch_op.create_index("ix_changes_kind_detected", ["kind", "detected_at", "id"])
        batch_op.create_index("ix_changes_source_detected", ["source_id", "detected_at", "id"])
        batch_op.create_index("ix_changes_new_snapshot", ["new_snapshot_id"])
    with op.batch_alter_table("snapshots", schema=None) as batch_op:
        batch_op.create_index("ix_snapshots_source_id_id", ["source_id", "id"])


def downgrade() -> None:
    with op.batch_alter_table("snapshots", schema=None) as batch_op:
        batch_op.drop_index("ix_snapshots_source_id_id")
    with op.batch_alter_table("changes", schema=None) as batch_op:
        batch_op.drop_index("ix_changes_new_snapshot")
        batch_op.drop_index("ix_changes_source_detected")
        batch_op.drop_index("ix_changes_kind_detected")
        batch_op.drop_index("ix_changes_detected_id")
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.drop_index("ix_sources_state")
        for name in (
            "analysed_through",
            "observed_id",
            "baseline_id",
            "state_since",
            "state_reason",
            "state",
        ):
            batch_op.drop_column(name)
    with op.batch_alter_table("extracted_texts", schema=None) as batch_op:
        for name in ("error", "words", "fingerprint", "published", "author", "title"):
            batch_op.drop_column(name)
