"""indexes that let citewatch status count a million sources without reading their rows

``status`` counted sources by state, paused and tracked in one pass over the table: 0.5 s at a
million sources, most of the command's time. With the state index carrying ``analysed_through``
and one on (paused, next_check_at), each count reads a narrow index instead; failing sources
are grouped by host from (state, host_key, last_checked_at), and the last day's captures are
counted from (captured_at, source_id, record_type, status), which replaces the index on
``captured_at`` alone.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 16:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_sources_state_analysed", "sources", ["state", "analysed_through"])
    op.create_index("ix_sources_paused_next", "sources", ["paused", "next_check_at"])
    op.create_index("ix_sources_state_host", "sources", ["state", "host_key", "last_checked_at"])
    op.drop_index("ix_sources_state", table_name="sources")
    op.create_index(
        "ix_snapshots_captured_kind", "snapshots", ["captured_at", "source_id", "record_type", "status"]
    )
    op.drop_index("ix_snapshots_captured_at", table_name="snapshots")


def downgrade() -> None:
    op.create_index("ix_snapshots_captured_at", "snapshots", ["captured_at"])
    op.drop_index("ix_snapshots_captured_kind", table_name="snapshots")
    op.drop_index("ix_sources_state_host", table_name="sources")
    op.create_index("ix_sources_state", "sources", ["state"])
    op.drop_index("ix_sources_paused_next", table_name="sources")
    op.drop_index("ix_sources_state_analysed", table_name="sources")
