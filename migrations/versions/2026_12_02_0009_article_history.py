"""an article's history: every source it ever cited, claims and citations kept when re-read

Adding an article again used to replace its claims and citations, so a source that resolution
no longer picked (one that had gone 404, say) dropped out of the article with its changes, and
every claim got a new id. Now claims and citations are matched and updated in place; those no
longer in the article are marked ``retired_at`` instead of deleted; ``article_sources`` keeps
every source the article ever cited (a source no current citation names is "formerly cited").
``sources.untracked_at`` marks a source whose checks a user stopped; ``sources.tracked_by_user``
one tracked with ``citewatch track URL`` (removing an article keeps those tracked).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 15:30:00
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN, which SQLite has: a batch rebuild of ``sources`` would drop a table that
    # other tables' foreign keys name.
    op.add_column("claims", sa.Column("retired_at", sa.DateTime(), nullable=True))
    op.add_column("citations", sa.Column("retired_at", sa.DateTime(), nullable=True))
    op.add_column("sources", sa.Column("untracked_at", sa.DateTime(), nullable=True))
    op.add_column(
        "sources", sa.Column("tracked_by_user", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.create_table(
        "article_sources",
        sa.Column(
            "article_id", sa.Integer(), sa.ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column(
            "source_id", sa.Integer(), sa.ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("citation_id", sa.Integer(), sa.ForeignKey("citations.id", ondelete="SET NULL")),
        sa.Column("role", sa.String(16), nullable=False),  # link | outlet | front-page | article
        sa.Column("first_cited_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_article_sources_source", "article_sources", ["source_id"])
    _backfill()


def _backfill() -> None:
    """What each article cites today: its links' sources, tracked candidates, front pages."""
    bind = op.get_bind()
    meta = sa.MetaData()
    citations = sa.Table("citations", meta, autoload_with=bind)
    candidates = sa.Table("candidates", meta, autoload_with=bind)
    sources = sa.Table("sources", meta, autoload_with=bind)
    articles = sa.Table("articles", meta, autoload_with=bind)
    ledger = sa.Table("article_sources", meta, autoload_with=bind)
    now = datetime.now(UTC).replace(tzinfo=None)  # noqa: TID251 - naive UTC, as stored; a migration does not import the library
    rows: dict[tuple[int, int], dict[str, object]] = {}

    def cite(article_id: int, source_id: int | None, citation_id: int | None, role: str) -> None:
        if source_id is not None:
            rows.setdefault(
                (article_id, source_id),
                {
                    "article_id": article_id,
                    "source_id": source_id,
                    "citation_id": citation_id,
                    "role": role,
                    "first_cited_at": now,
                },
            )

    for article_id, source_id in bind.execute(sa.select(articles.c.id, articles.c.source_id)):
        cite(article_id, source_id, None, "article")
    query = sa.select(citations.c.id, citations.c.article_id, citations.c.source_id, citations.c.kind)
    for cid, article_id, source_id, kind in bind.execute(query):
        cite(article_id, source_id, cid, "outlet" if kind == "outlet" else "link")
    tracked = (
        sa.select(candidates.c.citation_id, citations.c.article_id, candidates.c.source_id)
        .join(citations, citations.c.id == candidates.c.citation_id)
        .where(candidates.c.source_id.is_not(None))
    )
    for cid, article_id, source_id in bind.execute(tracked):
        cite(article_id, source_id, cid, "outlet")
    by_url = {url: sid for url, sid in bind.execute(sa.select(sources.c.url, sources.c.id))}
    query = sa.select(citations.c.id, citations.c.article_id, citations.c.resolution)
    for cid, article_id, resolution in bind.execute(query.where(citations.c.kind == "outlet")):
        if isinstance(resolution, str):  # a JSON column reflected as text
            resolution = json.loads(resolution)
        front = resolution.get("front_page") if isinstance(resolution, dict) else None
        cite(article_id, by_url.get(front) if front else None, cid, "front-page")
    if rows:
        op.bulk_insert(ledger, list(rows.values()))


def downgrade() -> None:
    op.drop_index("ix_article_sources_source", table_name="article_sources")
    op.drop_table("article_sources")
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.drop_column("tracked_by_user")
        batch_op.drop_column("untracked_at")
    with op.batch_alter_table("citations", schema=None) as batch_op:
        batch_op.drop_column("retired_at")
    with op.batch_alter_table("claims", schema=None) as batch_op:
        batch_op.drop_column("retired_at")
