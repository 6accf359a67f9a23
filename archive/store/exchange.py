"""What the crawl hands over for archiving, and what it gets back: plain values.

Kept apart from :mod:`archive.store.recorder` so that the crawl's process, when an
:class:`archive.store.archiver.ArchiverProcess` does its writing, needs neither
SQLAlchemy nor the database: it only builds these and sends them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from archive.store.warc import HttpRequest, HttpResponse

if TYPE_CHECKING:
    from archive.settings import Settings


@dataclass
class Exchange:
    """One HTTP request and its response, as they crossed the wire."""

    request: HttpRequest
    response: HttpResponse
    sent_at: datetime
    received_at: datetime
    ip: str | None = None
    via: str = "http"
    source_id: int | None = None
    page_key: str | None = None  # record id of the page this was loaded for (a page requisite)


@dataclass
class SnapshotRef:
    """What the capture path needs to know of a Snapshot row it just wrote.

    ``record_id`` (the WARC-Record-ID's uuid) is the key the crawl refers to the
    capture by; ``id``, the row's number, is None when the row is written by an
    :class:`archive.store.archiver.ArchiverProcess` and not known yet.
    """

    id: int | None
    url: str
    captured_at: datetime
    status: int | None = None
    record_type: str | None = None
    record_id: str | None = None
    payload_digest: str | None = None
    refers_to_id: int | None = None
    outcome: str = "ok"


@dataclass
class SeedResult:
    """How the capture of one requested URL ended."""

    url: str
    outcome: str  # ok | truncated | http-4xx | http-5xx | a failure code from crawler.outcomes
    message: str
    status: int | None = None
    final_url: str | None = None
    snapshot_key: str | None = None  # record id of the capture; its row id is filled in by settle()
    via: str = "http"
    requisites: int = 0
    seconds: float = 0.0
    snapshot_id: int | None = None
    # Filled in by the pipeline (archive/pipeline.py) once the capture is recorded and analysed:
    source_id: int | None = None
    analysis: dict[str, Any] | None = None  # what it found (changelog.analysis_dict)
    next_check_at: datetime | None = None  # when the source is checked next (None: not scheduled)

    @property
    def ok(self) -> bool:
        return self.outcome in {"ok", "truncated"}


# What the pipeline sends back for a batch: its results (filled in), the URLs to capture again in
# the browser (with why), and the error that stopped it, if one did.
Checked = tuple[list[SeedResult], dict[str, str], str | None]

# Outcomes of URLs that were never fetched: no check of their source.
NOT_CHECKED = frozenset({"bad-url", "interrupted"})


@dataclass(frozen=True)
class PipelineMode:
    """What a crawl's pipeline does with its results."""

    # A capture the user asked for schedules only the sources already tracked; what an added
    # article cites is tracked from then on.
    tracked_only: bool = True
    analyse: bool = True
    browser_retry: bool = False  # the crawl can capture a page again in the browser
    worker: str | None = None  # the daemon's worker holding the leases of these checks
    skip: frozenset[str] = NOT_CHECKED  # outcomes that are no check
    processes: int = 1  # the analyst's extraction processes (beside a capture crawl only)


def mode_for(settings: Settings, **fields: Any) -> PipelineMode:
    """The mode of a CLI crawl: analysis and the browser retry as ``settings`` say, unless
    ``fields`` say otherwise."""
    cpus = len(os.sched_getaffinity(0))  # extraction is CPU work: more processes than CPUs gain nothing
    processes = min(settings.analysis_processes or cpus, cpus)
    return PipelineMode(
        **{
            "analyse": settings.analyse_captures,
            "browser_retry": settings.auto_browser,
            "processes": processes,
            **fields,
        }
    )


class Recorder(Protocol):
    """What the crawl writes captures through: a :class:`CaptureRecorder` in its own
    process, or an :class:`archive.store.archiver.ArchiverProcess` that runs one in another."""

    def record(self, ex: Exchange) -> SnapshotRef: ...

    def record_resource(
        self,
        url: str,
        content_type: str,
        data: bytes,
        *,
        at: datetime | None = None,
        concurrent_to: str | None = None,
        source_id: int | None = None,
        page_key: str | None = None,
        via: str = "browser",
        record_id: str | None = None,
    ) -> SnapshotRef: ...

    def record_failure(
        self,
        url: str,
        outcome: str,
        error: str,
        *,
        at: datetime | None = None,
        source_id: int | None = None,
        page_key: str | None = None,
        status: int | None = None,
        via: str = "http",
    ) -> SnapshotRef | None: ...

    def note(self, key: str, outcome: str, error: str) -> None: ...

    def source_ids(self, urls: list[str]) -> dict[str, int]: ...

    def prefetch(self, urls: list[str], fresh_since: datetime | None = None) -> set[str]: ...

    def prefetch_later(
        self, urls: list[str], fresh_since: datetime | None = None
    ) -> Callable[[], set[str]]: ...

    def commit(self) -> None: ...

    def maybe_commit(self) -> None: ...

    def settle(self, keys: list[str]) -> tuple[dict[str, int], dict[str, str]]: ...

    def close(self) -> None: ...
