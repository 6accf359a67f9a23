"""daemon: a host key per source, and the table of the daemon's periodic jobs

``sources.host_key`` is a number computed from a source's host name
(archive.urls.host_key). The daemon's workers split due sources by it, each
claiming the keys that fall to it, so every check of one host goes through one
worker, whose per-host delay and concurrency then hold for the whole daemon.
``apscheduler_jobs`` is APScheduler's job store (scheduler.py): the few
periodic jobs of the daemon, kept across restarts. Its shape is APScheduler's
own, created here so that the schema has one author.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 07:20:00
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from urllib.parse import urlsplit

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 5000


def _host_key(url: str) -> int:
    # A copy of archive.urls.host_key as it was when this migration was written.
    host = (urlsplit(url).hostname or "").lower()
    return zlib.crc32(host.encode("utf-8", "replace")) & 0x7FFFFFFF


def upgrade() -> None:
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.add_column(sa.Column("host_key", sa.Integer(), nullable=False, server_default="0"))
    conn = op.get_bind()
    sources = sa.table(
        "sources", sa.column("id", sa.Integer), sa.column("url", sa.Text), sa.column("host_key")
    )
    last = 0
    while True:
        rows = conn.execute(
            sa.select(sources.c.id, sources.c.url)
            .where(sources.c.id > last)
            .order_by(sources.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            break
        conn.execute(
            sa.update(sources)
            .where(sources.c.id == sa.bindparam("sid"))
            .values(host_key=sa.bindparam("key")),
            [{"sid": r.id, "key": _host_key(r.url)} for r in rows],
        )
        last = rows[-1].id
    op.create_table(
        "apscheduler_jobs",
        sa.Column("id", sa.Unicode(191), primary_key=True),
        sa.Column("next_run_time", sa.Float(25), index=True),
        sa.Column("job_state", sa.LargeBinary(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("apscheduler_jobs")
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.drop_column("host_key")
