"""Database models for the design's names, and the tables they need.

The schema is created only by the Alembic migrations in ``migrations/``; these
classes describe it for queries. ``snapshots`` doubles as the capture index a
replay server needs: every response, revisit and resource record written has a
row, and every failed fetch has one too (with ``outcome`` saying why and no
WARC location).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from archive.urls import host_key

MAX_ID = 2**63 - 1  # a row id: anything larger overflows the databases' integers


class Base(DeclarativeBase):
    pass


claim_citations = Table(
    "claim_citations",
    Base.metadata,
    Column("claim_id", ForeignKey("claims.id", ondelete="CASCADE"), primary_key=True),
    Column("citation_id", ForeignKey("citations.id", ondelete="CASCADE"), primary_key=True),
)


class Outlet(Base):
    """A publisher, by registered domain."""

    __tablename__ = "outlets"
    id: Mapped[int] = mapped_column(primary_key=True)
    domain: Mapped[str] = mapped_column(String(253), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime)


class Article(Base):
    """A citing document a user added."""

    __tablename__ = "articles"
    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str | None] = mapped_column(Text)
    canonical_url: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text)
    author: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime | None] = mapped_column(DateTime)
    added_at: Mapped[datetime] = mapped_column(DateTime)
    text: Mapped[str | None] = mapped_column(Text)
    input_kind: Mapped[str | None] = mapped_column(String(16))  # url | html | markdown | text
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id"))  # when added by URL
    claims: Mapped[list[Claim]] = relationship(back_populates="article", cascade="all, delete-orphan")
    citations: Mapped[list[Citation]] = relationship(back_populates="article", cascade="all, delete-orphan")


class Claim(Base):
    """A sentence of an Article with checkable content."""

    __tablename__ = "claims"
    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    terms: Mapped[Any] = mapped_column(JSON, default=dict)
    # Set when the article, read again, no longer has this sentence: kept, so that the changes
    # that named it still point somewhere; it is no longer numbered or checked.
    retired_at: Mapped[datetime | None] = mapped_column(DateTime)
    article: Mapped[Article] = relationship(back_populates="claims")
    citations: Mapped[list[Citation]] = relationship(secondary=claim_citations, back_populates="claims")


class Citation(Base):
    """An Article's reference to a Source (a link or DOI) or to an Outlet (a bare name)."""

    __tablename__ = "citations"
    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # link | outlet | doi
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id"), index=True)
    outlet_id: Mapped[int | None] = mapped_column(ForeignKey("outlets.id"), index=True)
    anchor_text: Mapped[str | None] = mapped_column(Text)
    context: Mapped[str | None] = mapped_column(Text)
    resolution: Mapped[Any] = mapped_column(JSON, default=dict)
    url: Mapped[str | None] = mapped_column(Text)  # the cited URL, normalised (links and DOIs)
    position: Mapped[int | None] = mapped_column(Integer)  # order of first mention in the article
    retired_at: Mapped[datetime | None] = mapped_column(DateTime)  # no longer in the article's text
    article: Mapped[Article] = relationship(back_populates="citations")
    candidates: Mapped[list[Candidate]] = relationship(
        back_populates="citation", cascade="all, delete-orphan", order_by="Candidate.rank"
    )
    claims: Mapped[list[Claim]] = relationship(secondary=claim_citations, back_populates="citations")


class Candidate(Base):
    """A page of an outlet that may be what an outlet citation rests on, with why it scored as it did.

    ``evidence`` names the claim terms the page matched (numbers, quotes,
    entities, title terms) and where; ``confirmed`` says its full text was
    fetched and scored, not only its title and summary.
    """

    __tablename__ = "candidates"
    __table_args__ = (
        UniqueConstraint("citation_id", "url", name="uq_candidates_citation_url"),
        Index("ix_candidates_citation_rank", "citation_id", "rank"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    citation_id: Mapped[int] = mapped_column(ForeignKey("citations.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime | None] = mapped_column(DateTime)
    found_via: Mapped[str] = mapped_column(String(32))  # sitemap | news-sitemap | feed | front-page
    score: Mapped[float] = mapped_column(Float)
    rank: Mapped[int] = mapped_column(Integer)
    confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    evidence: Mapped[Any] = mapped_column(JSON, default=dict)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id"))  # set when it is tracked
    citation: Mapped[Citation] = relationship(back_populates="candidates")


class Source(Base):
    """One tracked URL, with its schedule."""

    __tablename__ = "sources"
    __table_args__ = (
        # citewatch status counts by these without reading the rows (migration 0010).
        Index("ix_sources_state_analysed", "state", "analysed_through"),
        Index("ix_sources_paused_next", "paused", "next_check_at"),
        Index("ix_sources_state_host", "state", "host_key", "last_checked_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(Text, unique=True)
    surt: Mapped[str] = mapped_column(Text, index=True)
    outlet_id: Mapped[int | None] = mapped_column(ForeignKey("outlets.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    next_check_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    # Change detection (archive/changes/analysis.py): whether the source answers with its content
    # (content | missing | failing), why, since when; the last capture that said so; the last
    # capture with content, which the next one is compared with; the newest snapshot id analysed.
    state: Mapped[str | None] = mapped_column(String(16))
    state_reason: Mapped[str | None] = mapped_column(Text)
    state_since: Mapped[datetime | None] = mapped_column(DateTime)
    observed_id: Mapped[int | None] = mapped_column(Integer)
    baseline_id: Mapped[int | None] = mapped_column(Integer)
    analysed_through: Mapped[int | None] = mapped_column(Integer)
    # Scheduling (scheduler.py): what the policy reads, and the source's own interval.
    last_checked_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_change_at: Mapped[datetime | None] = mapped_column(DateTime)
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0", index=True)
    every_seconds: Mapped[int | None] = mapped_column(Integer)
    untracked_at: Mapped[datetime | None] = mapped_column(DateTime)  # `citewatch untrack`: no more checks
    tracked_by_user: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # Which worker of a daemon checks it: a number from its host name (archive/schedule/queue.py).
    host_key: Mapped[int] = mapped_column(
        Integer, default=lambda ctx: host_key(ctx.get_current_parameters()["url"]), server_default="0"
    )


class ArticleSource(Base):
    """A source an article cited at some time: the ledger that keeps an article's history whole.

    A source that no current citation of the article names any more (a link removed from the
    article, a candidate resolution no longer picks) is "formerly cited": it stays here, and
    its changes stay listed under the article.
    """

    __tablename__ = "article_sources"
    __table_args__ = (Index("ix_article_sources_source", "source_id"),)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True)
    citation_id: Mapped[int | None] = mapped_column(ForeignKey("citations.id", ondelete="SET NULL"))
    role: Mapped[str] = mapped_column(String(16))  # link | outlet | front-page | article
    first_cited_at: Mapped[datetime] = mapped_column(DateTime)


class Lease(Base):
    """A worker's claim on a due source, until its lease ends (archive/schedule/queue.py)."""

    __tablename__ = "leases"
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True)
    claimed_by: Mapped[str] = mapped_column(String(64))
    lease_until: Mapped[datetime] = mapped_column(DateTime)


class WarcFile(Base):
    """A WARC file in the data folder's warcs/ folder; ``name`` is relative to it."""

    __tablename__ = "warc_files"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)
    size: Mapped[int | None] = mapped_column(BigInteger)


class Snapshot(Base):
    """One capture of a URL, or one failed attempt at it.

    ``record_type`` is ``response``, ``revisit`` or ``resource`` when a WARC
    record was written (``warc_file_id``/``offset``/``length`` locate it), and
    NULL for a failure. ``outcome`` is ``ok``, ``truncated`` or a failure code
    such as ``dns``, ``refused``, ``timeout``, ``blocked``, ``redirect-loop``.
    """

    __tablename__ = "snapshots"
    __table_args__ = (
        Index("ix_snapshots_surt_time", "surt", "captured_at"),
        Index("ix_snapshots_surt_digest", "surt", "payload_digest"),
        # One row per record: reconcile can never index a record twice.
        Index("ux_snapshots_record_location", "warc_file_id", "offset", unique=True),
        # The crawl names captures by record id (archive/store/archiver.py).
        Index("ix_snapshots_record_id", "record_id"),
        # A source's snapshots since the last analysis.
        Index("ix_snapshots_source_id_id", "source_id", "id"),
        # citewatch status: captures and failures in the last hour and day, from the index alone.
        Index("ix_snapshots_captured_kind", "captured_at", "source_id", "record_type", "status"),
        # A page's requisites and browser resources (diffs, change pages, WACZ export).
        Index("ix_snapshots_page_id", "page_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id"), index=True)
    page_id: Mapped[int | None] = mapped_column(ForeignKey("snapshots.id"))
    url: Mapped[str] = mapped_column(Text)
    surt: Mapped[str] = mapped_column(Text)
    captured_at: Mapped[datetime] = mapped_column(DateTime)
    status: Mapped[int | None] = mapped_column(Integer)
    mime: Mapped[str | None] = mapped_column(String(255))
    payload_digest: Mapped[str | None] = mapped_column(String(64))
    record_id: Mapped[str | None] = mapped_column(String(36))  # uuid of WARC-Record-ID
    record_type: Mapped[str | None] = mapped_column(String(16))
    warc_file_id: Mapped[int | None] = mapped_column(ForeignKey("warc_files.id"))
    offset: Mapped[int | None] = mapped_column(BigInteger)
    length: Mapped[int | None] = mapped_column(Integer)
    refers_to_id: Mapped[int | None] = mapped_column(ForeignKey("snapshots.id"))
    via: Mapped[str] = mapped_column(String(8), default="http")  # http | browser
    outcome: Mapped[str] = mapped_column(String(32), default="ok")
    error: Mapped[str | None] = mapped_column(Text)
    warc_file: Mapped[WarcFile | None] = relationship()


class ExtractedText(Base):
    """Text extracted from a payload, keyed by its digest so no payload is extracted twice.

    ``text`` is normalised (archive.changes.extract.normalise_text); ``fingerprint`` is its digest;
    ``error`` says why nothing could be extracted.
    """

    __tablename__ = "extracted_texts"
    payload_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    extractor: Mapped[str] = mapped_column(String(32))  # trafilatura | pypdf | none
    text: Mapped[str] = mapped_column(Text)
    extracted_at: Mapped[datetime] = mapped_column(DateTime)
    title: Mapped[str | None] = mapped_column(Text)
    author: Mapped[str | None] = mapped_column(Text)
    published: Mapped[str | None] = mapped_column(String(32))
    fingerprint: Mapped[str | None] = mapped_column(String(71))
    words: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)


class Change(Base):
    """What differs between two consecutive Snapshots of a Source, and which Claims it touches.

    ``kind`` is content | correction | metadata | status | gone | back;
    ``detected_at`` is when the new snapshot was captured; ``details`` holds
    the counts, changed sentences, HTTP outcomes and claim impact (see
    archive/changes/analysis.py for its shape).
    """

    __tablename__ = "changes"
    __table_args__ = (
        UniqueConstraint("old_snapshot_id", "new_snapshot_id"),
        Index("ix_changes_detected_id", "detected_at", "id"),
        Index("ix_changes_kind_detected", "kind", "detected_at", "id"),
        Index("ix_changes_source_detected", "source_id", "detected_at", "id"),
        Index("ix_changes_new_snapshot", "new_snapshot_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"), index=True)
    old_snapshot_id: Mapped[int] = mapped_column(ForeignKey("snapshots.id"))
    new_snapshot_id: Mapped[int] = mapped_column(ForeignKey("snapshots.id"))
    kind: Mapped[str] = mapped_column(String(16))
    detected_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    summary: Mapped[str | None] = mapped_column(Text)
    details: Mapped[Any] = mapped_column(JSON, default=dict)
