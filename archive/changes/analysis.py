"""Analysis: extract each new capture's text, compare it with the source's last, record Changes.

Runs after captures land (the ``capture`` and ``add`` commands call it when
their crawl ends; the daemon after each capture), over the database and the
WARC files only, so it can always be re-run: a source's snapshots newer than
``Source.analysed_through`` are what is left to do.

For each source, the capture that counts is the last one of its new
snapshots: the DOM of a browser capture, else the final HTTP response after
redirects, else the failure row. Its text is extracted once per payload
digest (:class:`ExtractedText`; a revisit shares its original's) and it is
classified (:func:`archive.changes.classify.classify`) against the source's state and
its last capture with content. A soft 404 is recognised against the same
host's answer for a made-up URL (:func:`archive.urls.probe_url`), which the
crawl captures once per host and ``probe_max_age``.

A capture problem (truncated, no text, far less text than before) makes no
Change: the snapshot's outcome says so (``thin-text``, ``no-text``) and the
next capture is compared with the same baseline. Much the same thin text seen
twice (by the HTTP capture and its browser retry, or by two checks) is taken
to be the source's text. A first server error or timeout after content is only
noted; the second in a row makes the source ``gone``.

``Change.details`` holds ``significance``, ``words_added``/``words_removed``,
``sentences_removed``/``sentences_added``, ``corrections``, ``metadata``,
``status`` (``{"old", "new"}``) and ``claims``: one entry per claim of an
article that cites the source, with ``status`` unaffected | changed |
lost-support, the terms ``lost`` and the numbers ``changed``.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from archive.articles.storage import claim_drafts, claim_numbers_of
from archive.changes.classify import (
    CONTENT,
    CORRECTION,
    MISSING,
    PROBLEM_OUTCOMES,
    Availability,
    Observation,
    Verdict,
    availability,
    classify,
    clip,
    comparable_text,
    similarity,
)
from archive.changes.extract import body_text, fingerprint, html_text, normalise_text, pdf_text
from archive.changes.impact import claim_impact
from archive.clock import utcnow
from archive.models import Candidate, Change, Citation, ExtractedText, Snapshot, Source
from archive.store import index
from archive.store.warc import readable_path
from archive.urls import probe_url

logger = logging.getLogger(__name__)

# Seconds within which a failure row belongs to the attempt before it (see Analyser.attempts).
_SAME_ATTEMPT = 60.0
# Decoded payloads larger than this are not extracted (a page of text is far smaller).
MAX_EXTRACT_BYTES = 20 * 1024 * 1024
_OVER_LIMIT = "payload over"  # how read_payload's error for a body too large to analyse begins
_HTML_MIMES = ("text/html", "application/xhtml+xml")
_PLAIN_MIMES = ("text/plain", "text/csv", "text/markdown", "application/json", "text/xml", "application/xml")
_TEXT_MIMES = (*_HTML_MIMES, *_PLAIN_MIMES, "application/pdf")


@dataclass
class SourceAnalysis:
    """What the analysis of one source's new captures found."""

    source_id: int
    url: str
    snapshot_id: int | None = None  # the capture that counted
    state: str | None = None  # content | missing | failing | problem
    reason: str = ""
    changes: list[Change] = field(default_factory=list)  # one per attempt that changed something
    retry_browser: bool = False  # a capture problem that a browser capture may fix
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def change(self) -> Change | None:
        """The latest change recorded."""
        return self.changes[-1] if self.changes else None


def read_payload(
    warc_dir: Path, snapshot: Snapshot, limit: int = MAX_EXTRACT_BYTES
) -> tuple[bytes, str | None]:
    """The payload of a response or resource record, content-encoding removed, and its
    Content-Type (with any charset); ValueError when it is larger than ``limit`` once decoded,
    or cannot be read."""
    if snapshot.warc_file is None or snapshot.offset is None or snapshot.length is None:
        raise ValueError("no WARC record")
    return read_record(warc_dir, snapshot.warc_file.name, snapshot.offset, snapshot.length, limit)


def read_record(
    warc_dir: Path, name: str, offset: int, length: int, limit: int = MAX_EXTRACT_BYTES
) -> tuple[bytes, str | None]:
    """:func:`read_payload` of the record at ``offset`` in WARC file ``name``."""
    from warcio.archiveiterator import ArchiveIterator

    from archive.store import warcio_codecs

    warcio_codecs.install()  # a body sent as br or zstd, unasked
    path = readable_path(warc_dir, name)
    try:
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:  # closed (renamed) by its writer just now
            path = readable_path(warc_dir, name)
            handle = open(path, "rb")  # noqa: SIM115 - closed below
        with handle:
            handle.seek(offset)
            data = handle.read(length)
        record = next(iter(ArchiveIterator(io.BytesIO(data))))
        body = record.content_stream().read(limit + 1)
        headers = record.http_headers if record.rec_type in ("response", "revisit") else record.rec_headers
        content_type = headers.get_header("Content-Type") if headers is not None else None
    except (OSError, StopIteration, ValueError, EOFError) as exc:
        raise ValueError(f"cannot read the record in {path.name} at {offset}: {exc}") from exc
    except Exception as exc:  # decoding errors of a broken gzip or deflate body
        raise ValueError(f"cannot decode the payload in {path.name} at {offset}: {exc}") from exc
    if len(body) > limit:
        raise ValueError(f"{_OVER_LIMIT} {limit} bytes once decoded: not analysed")
    return body, content_type


@dataclass(frozen=True)
class TextJob:
    """One payload to extract, as a process of its own is given it: where its record lies."""

    warc_dir: str
    name: str  # the WARC file
    offset: int
    length: int
    mime: str | None
    url: str


# The columns of an ExtractedText that extraction fills in (the rest: its digest and time).
_TEXT_FIELDS = ("extractor", "text", "title", "author", "published", "error", "fingerprint", "words")


def extract_job(job: TextJob) -> dict[str, Any] | str:
    """Extract one payload (in a process of an :class:`ExtractorPool`): the columns of its text,
    or why its record cannot be read now (then nothing is stored; it is read again later)."""
    try:
        body, content_type = read_record(Path(job.warc_dir), job.name, job.offset, job.length)
    except ValueError as exc:
        return str(exc)
    found = extract(body, job.mime, job.url, content_type)
    return {name: getattr(found, name) for name in _TEXT_FIELDS}


def _extractor_start(parent: int, close_fds: tuple[int, ...]) -> None:
    """In each extraction process: let go of the pipes it was forked holding (``close_fds``),
    and end when the analyst does, however it ended (killed, it cannot say so)."""
    import threading
    import time

    for fd in close_fds:
        with contextlib.suppress(OSError):
            os.close(fd)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="citewatch-extractor-watch", daemon=True).start()


class ExtractorPool:
    """Processes that extract payloads side by side, one per CPU the analyst may use: a crawl's
    pages are analysed on every core once the crawl leaves them, not on one. Made before the
    database is opened (the processes are forked, with the extractor warmed up). When one
    dies (a page that crashes the extractor), its batch and every later one are extracted in
    the analyst itself: nothing is lost, only the speed."""

    def __init__(self, processes: int, close_fds: tuple[int, ...] = ()):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.processes = processes
        self._pool: ProcessPoolExecutor | None = ProcessPoolExecutor(
            processes,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_extractor_start,
            initargs=(os.getpid(), close_fds),
        )

    def __call__(self, jobs: list[TextJob]) -> list[dict[str, Any] | str]:
        from concurrent.futures.process import BrokenProcessPool

        if self._pool is None or len(jobs) < 2:
            return [extract_job(job) for job in jobs]
        chunk = max(1, len(jobs) // (self.processes * 4))
        try:
            return list(self._pool.map(extract_job, jobs, chunksize=chunk))
        except BrokenProcessPool:  # a page that crashed the extractor: this batch here, then none
            logger.warning("an extraction process died; extracting in the analyst from now on")
            self._pool = None
            return [extract_job(job) for job in jobs]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)


def _guess_encoding(body: bytes) -> str | None:
    """The most likely encoding of a body that declares none (from a sample of it)."""
    from charset_normalizer import from_bytes

    best = from_bytes(body[:200_000]).best()
    return best.encoding if best is not None else None


def _decode(body: bytes, content_type: str | None) -> str:
    """A payload as text: by its BOM, the HTTP charset, a ``<meta charset>``, or a guess.

    ``charset=utf-16`` with no BOM is little-endian, as browsers read it (the WHATWG label);
    w3lib reads it big-endian.

    >>> _decode("<p>Kyiv</p>".encode("utf-16-le"), "text/html; charset=UTF-16")
    '<p>Kyiv</p>'
    """
    from w3lib.encoding import html_to_unicode, http_content_type_encoding, read_bom

    if http_content_type_encoding(content_type) == "utf-16" and read_bom(body)[0] is None:
        return body.decode("utf-16-le", "replace")
    return html_to_unicode(content_type, body, auto_detect_fun=_guess_encoding)[1]


def _text(extractor: str, text: str, **fields: Any) -> ExtractedText:
    """An extraction result: the normalised text with its fingerprint and word count."""
    return ExtractedText(
        extractor=extractor,
        text=text,
        extracted_at=utcnow(),
        fingerprint=fingerprint(text) if text else None,
        words=len(text.split()),
        **fields,
    )


def extract(body: bytes, mime: str | None, url: str, content_type: str | None = None) -> ExtractedText:
    """The text of a payload (not yet keyed by digest): trafilatura for HTML, pypdf for PDF."""
    if mime == "application/pdf" or body[:5] == b"%PDF-":
        try:
            return _text("pypdf", normalise_text(pdf_text(body)))
        except ValueError as exc:
            return _text("pypdf", "", error=str(exc))
    if mime in _PLAIN_MIMES:
        return _text("plain", normalise_text(_decode(body, content_type)))
    try:
        page = html_text(_decode(body, content_type), url)
    except Exception as exc:  # trafilatura and lxml fail in many ways on broken markup
        return _text("trafilatura", "", error=str(exc)[:500])
    published = (page.date or "")[:32] or None
    return _text("trafilatura", page.text, title=page.title, author=page.author, published=published)


def warm_up() -> None:
    """Pay the extractor's and the classifier's first-call costs (lazy imports, the public
    suffix list, compiled patterns) before the first capture comes, not while a crawl waits."""
    html = b"<html><head><title>Warm-up</title></head><body><article><p>" + b"A warm-up sentence. " * 40
    text = extract(html + b"</p></article></body></html>", "text/html", "http://localhost/").text
    before = Observation(url="http://localhost/", status=200, text=text, title="Warm-up")
    after = Observation(url="http://localhost/", status=200, text=text + " Updated 5 minutes ago.")
    classify(availability(before), before, after)


class Analyser:
    """Analyses sources' new captures in one session; :meth:`analyse` commits every
    ``commit_every`` sources."""

    def __init__(
        self,
        session: Session,
        warc_dir: Path,
        *,
        probe_max_age: float = 30 * 86400,
        keep: bool = True,
        extract_many: Callable[[list[TextJob]], list[dict[str, Any] | str]] | None = None,
    ):
        self.session = session
        # Extracts a chunk's payloads at once (an ExtractorPool); None: one by one, here.
        self.extract_many = extract_many
        # Whether extracted texts are added to the session (False: a read, which writes nothing).
        self.keep = keep
        self.warc_dir = Path(warc_dir)
        self.probe_max_age = probe_max_age
        self.commit_every = 100  # sources analysed per transaction
        self._texts: dict[str, ExtractedText] = {}  # loaded for, or extracted in, the open transaction
        self._wholes: dict[str, str | None] = {}  # whole texts read for the chunk (whole_text)
        self._checked: set[str] = set()  # digests looked up for the chunk being analysed
        self._held: list[Snapshot] = []
        self._cited: set[int] | None = None  # of the loaded chunk's sources, those any article cites
        self._probes: dict[str, Observation | None] = {}
        self.extracted = 0  # payloads extracted by this analyser (each digest at most once)

    # -- text ----------------------------------------------------------------
    def text_of(self, snapshot: Snapshot) -> ExtractedText | None:
        """The extracted text of a capture: stored once per payload digest."""
        digest = snapshot.payload_digest
        if not digest or snapshot.record_type is None:
            return None
        mime = snapshot.mime or ""
        stored = self._stored(digest)
        if stored is not None:
            return stored
        if mime and mime not in _TEXT_MIMES:
            found = _text("binary", "", error=mime)  # an image or a data file: nothing to read
        else:
            try:
                body, content_type = read_payload(self.warc_dir, self._original(snapshot))
            except ValueError as exc:
                # Not stored: the record may be readable next time (a file being renamed).
                return _text("none", "", error=str(exc))
            found = extract(body, mime or None, snapshot.url.removeprefix("urn:dom:"), content_type)
            self.extracted += 1
        self._keep(digest, found)
        return found

    def _extract_texts(self, loaded: list[tuple[Source, list[Snapshot]]]) -> None:
        """Extract the texts of the captures that count among ``loaded``'s new rows, all at
        once: by ``extract_many`` when there is one (side by side), else one by one."""
        counted = [
            found[0]
            for _source, rows in loaded
            for attempt in self.attempts(rows)
            if (found := self._counted(attempt)) is not None
        ]
        if self.extract_many is None:
            for snapshot in counted:
                self.text_of(snapshot)
            return
        jobs: dict[str, TextJob] = {}
        for snapshot in counted:
            job = self._job(snapshot)
            if job is not None:
                jobs.setdefault(snapshot.payload_digest or "", job)
        for digest, done in zip(jobs, self.extract_many(list(jobs.values())), strict=True):
            if isinstance(done, str):
                continue  # unreadable now: text_of says so, reading it once more
            self.extracted += 1
            self._keep(digest, ExtractedText(**done, extracted_at=utcnow()))

    def _job(self, snapshot: Snapshot) -> TextJob | None:
        """What extracting a capture's payload takes, or None when it needs no extraction (its
        text is stored, it is not text) or its record is not found (text_of says why)."""
        digest = snapshot.payload_digest
        if not digest or snapshot.record_type is None or self._stored(digest) is not None:
            return None
        mime = snapshot.mime or ""
        if mime and mime not in _TEXT_MIMES:
            return None
        try:
            original = self._original(snapshot)
        except ValueError:
            return None
        if original.warc_file is None or original.offset is None or original.length is None:
            return None
        return TextJob(
            str(self.warc_dir),
            original.warc_file.name,
            original.offset,
            original.length,
            mime or None,
            snapshot.url.removeprefix("urn:dom:"),
        )

    def _stored(self, digest: str) -> ExtractedText | None:
        """The text kept for a payload digest: extracted already, or in the database."""
        stored = self._texts.get(digest)
        if stored is None and digest not in self._checked:
            stored = self.session.get(ExtractedText, digest)
        return stored

    def _keep(self, digest: str, found: ExtractedText) -> None:
        found.payload_digest = digest
        if self.keep:
            self.session.add(found)  # committed with the analysis of its source
        self._texts[digest] = found

    def _original(self, snapshot: Snapshot) -> Snapshot:
        """The record holding a capture's payload: itself, or a revisit's original."""
        if snapshot.record_type != "revisit":
            return snapshot
        found = self.session.get(Snapshot, snapshot.refers_to_id) if snapshot.refers_to_id else None
        if found is None and snapshot.payload_digest:  # rows indexed by reconcile name no original
            row = index.original_of(self.session, snapshot.surt, snapshot.payload_digest)
            found = self.session.get(Snapshot, row.id) if row is not None else None
        if found is None:
            raise ValueError(f"the original of revisit {snapshot.id} is not in the index")
        return found

    def observation(self, snapshot: Snapshot, url: str, page: Snapshot | None = None) -> Observation:
        """What a capture shows: its outcome (from ``page``, the browser's page response, when
        ``snapshot`` is its DOM) and its text."""
        head = page or snapshot
        text = self.text_of(snapshot)
        obs = Observation(
            url=url,
            status=head.status,
            outcome=snapshot.outcome if snapshot.outcome in {"truncated", "too-large"} else head.outcome,
            final_url=head.url,
            error=head.error,
            snapshot_id=snapshot.id,
            captured_at=snapshot.captured_at,
            mime=head.mime,
        )
        if snapshot.url.startswith("urn:dom:") and page is None:
            obs.outcome = "no-page"
        if text is not None:
            obs.text, obs.title, obs.author, obs.date = text.text, text.title, text.author, text.published
            if text.extractor == "binary":  # a file that is not text: its payload stands for its text
                obs.text = f"[{head.mime or 'file'} {snapshot.payload_digest}]"
            elif text.extractor == "none":  # unreadable now: a capture problem, not an empty page
                obs.error = text.error
                if obs.outcome not in {"truncated", "too-large"}:  # (those say why already)
                    obs.outcome = "too-large" if (text.error or "").startswith(_OVER_LIMIT) else "unreadable"
        if obs.outcome in {"thin-text", "no-text"}:
            obs.outcome = "ok"  # an earlier verdict, not a fact about the fetch
        return obs

    def probe(self, url: str, at: datetime) -> Observation | None:
        """The host's answer for a made-up URL, captured within ``probe_max_age`` before ``at``."""
        target = probe_url(url)
        if target not in self._probes:
            stmt = (
                select(Snapshot)
                .where(
                    Snapshot.surt == index.surt_key(target),
                    Snapshot.record_type.in_(("response", "revisit")),
                )
                .order_by(Snapshot.captured_at.desc())
                .limit(1)
            )
            row = self.session.scalars(stmt).first()
            fresh = row is not None and (at - row.captured_at).total_seconds() <= self.probe_max_age
            self._probes[target] = self.observation(row, target) if fresh and row is not None else None
        return self._probes[target]

    # -- which capture counts ----------------------------------------------------
    def _counted(self, rows: list[Snapshot]) -> tuple[Snapshot, Snapshot | None] | None:
        """The capture among a source's new rows that says what it shows now, with the browser's
        page response when it is a DOM."""
        for row in reversed(rows):
            if row.url.startswith("urn:dom:"):
                return row, self.session.get(Snapshot, row.page_id) if row.page_id else None
            if row.url.startswith("urn:"):
                continue
            if row.record_type is None:  # a failed fetch
                return row, None
            if row.via == "http" and not (row.status and 300 <= row.status < 400):  # hops are not answers
                return row, None
        return None

    @staticmethod
    def attempts(rows: list[Snapshot]) -> list[list[Snapshot]]:
        """A source's new rows cut into capture attempts, oldest first.

        One crawl writes one WARC file, so a row in another file than the one
        before starts a new attempt; a failure row (no file) belongs to the
        attempt before it when it came within a minute (a redirect hop to a
        dead host, say), else it is an attempt of its own. Retries within one
        crawl stay one attempt: its last answer counts.
        """
        found: list[list[Snapshot]] = []
        for row in rows:
            if found:
                last = found[-1][-1]
                files = {r.warc_file_id for r in found[-1]} - {None}
                if row.warc_file_id is None:
                    same = (row.captured_at - last.captured_at).total_seconds() <= _SAME_ATTEMPT
                else:
                    same = not files or row.warc_file_id in files
                    same = same and last.record_type is not None  # a failure row ends its attempt
                if same:
                    found[-1].append(row)
                    continue
            found.append([row])
        return found

    # -- the work ------------------------------------------------------------
    def analyse(
        self, source_ids: Iterable[int] | None = None, on_progress: Callable[[int, int], None] | None = None
    ) -> list[SourceAnalysis]:
        """Analyse the new captures of these sources (default: every source with new ones);
        ``on_progress(done, total)`` is called after each source. Commits every
        ``commit_every`` sources: a crash before a commit loses nothing, as those
        sources are analysed again."""
        ids = list(dict.fromkeys(source_ids)) if source_ids is not None else self._pending_sources()
        results = []
        done = 0
        for start in range(0, len(ids), self.commit_every):
            chunk = ids[start : start + self.commit_every]
            with self.session.no_autoflush:
                loaded = self._load(chunk)
                self._extract_texts(loaded)  # the texts first, in one run of the extractor
                for source, rows in loaded:
                    found = self.analyse_source(source, rows)
                    if found is not None:
                        results.append(found)
                    done += 1
                    if on_progress is not None:
                        on_progress(done, len(ids))
            try:
                self.session.commit()
            except IntegrityError:
                # Another analysis (a concurrent capture or `citewatch analyse`) recorded the
                # same changes or texts first; its work stands, this chunk's is dropped.
                self.session.rollback()
                logger.warning("sources %s were analysed concurrently elsewhere", chunk)
                results = [r for r in results if r.source_id not in set(chunk)]
            self._texts.clear()
            self._wholes.clear()
            self._checked = set()
            self._cited = None
        return results

    def _pending_sources(self) -> list[int]:
        """Sources with snapshots newer than their analysis (one index probe per source)."""
        newer = (
            select(Snapshot.id)
            .where(Snapshot.source_id == Source.id, Snapshot.id > func.coalesce(Source.analysed_through, 0))
            .exists()
        )
        return list(self.session.scalars(select(Source.id).where(newer).order_by(Source.id)))

    def _load(self, ids: list[int]) -> list[tuple[Source, list[Snapshot]]]:
        """The sources, their new snapshots, and what comparing them needs (baselines, pages,
        stored texts), loaded with a few queries for the whole chunk."""
        sources = {s.id: s for s in self.session.scalars(select(Source).where(Source.id.in_(ids)))}
        if not sources:
            return []
        newer = or_(
            *(
                and_(Snapshot.source_id == s.id, Snapshot.id > (s.analysed_through or 0))
                for s in sources.values()
            )
        )
        rows: dict[int, list[Snapshot]] = {sid: [] for sid in sources}
        for row in self.session.scalars(select(Snapshot).where(newer).order_by(Snapshot.id)):
            rows[row.source_id].append(row)  # type: ignore[index]  # never None: rows of these sources
        wanted = {s.baseline_id for s in sources.values() if s.baseline_id}
        wanted |= {r.page_id for found in rows.values() for r in found if r.page_id}
        loaded = list(self.session.scalars(select(Snapshot).where(Snapshot.id.in_(wanted)))) if wanted else []
        self._held = loaded  # the session's identity map holds rows weakly: keep them for session.get
        digests = {r.payload_digest for r in loaded if r.payload_digest}
        digests |= {r.payload_digest for found in rows.values() for r in found if r.payload_digest}
        if digests:
            stored = select(ExtractedText).where(ExtractedText.payload_digest.in_(digests))
            self._texts.update((t.payload_digest, t) for t in self.session.scalars(stored))
        self._checked = digests  # what _texts lacks of these is not stored at all
        by_link = select(Citation.source_id).where(Citation.source_id.in_(sources))
        by_candidate = select(Candidate.source_id).where(Candidate.source_id.in_(sources))
        self._cited = set(self.session.scalars(by_link.union(by_candidate)))
        return [(sources[sid], rows[sid]) for sid in ids if sid in sources]

    def analyse_source(self, source: Source, rows: list[Snapshot] | None = None) -> SourceAnalysis | None:
        """Analyse one source's snapshots newer than its last analysis (``rows``, when loaded)."""
        if rows is None:
            rows = list(
                self.session.scalars(
                    select(Snapshot)
                    .where(Snapshot.source_id == source.id, Snapshot.id > (source.analysed_through or 0))
                    .order_by(Snapshot.id)
                )
            )
        if not rows:
            return None
        source.analysed_through = rows[-1].id
        result = None
        for attempt in self.attempts(rows):
            counted = self._counted(attempt)
            if counted is not None:
                found = self._observe(source, *counted)
                if result is not None:
                    found.changes = result.changes + found.changes
                result = found
        return result

    def _observe(self, source: Source, snapshot: Snapshot, page: Snapshot | None) -> SourceAnalysis:
        """Classify one capture of ``source`` and record what it changed."""
        new = self.observation(snapshot, source.url, page)
        baseline = self._baseline(source)
        state = Availability(source.state, source.state_reason or "") if source.state else None
        probe = self.probe(source.url, snapshot.captured_at)
        verdict = classify(
            state,
            baseline,
            new,
            probe,
            accept_thin=lambda: self._confirmed(source, new),
            accept_failure=lambda: self._failed_before(source, snapshot),
            wholes=lambda: self.whole_texts(baseline, snapshot),
        )
        result = SourceAnalysis(
            source.id, source.url, snapshot.id, verdict.availability.state, verdict.availability.reason
        )
        if verdict.problem:
            textless = self._note_problem(snapshot, verdict)
            # A browser may find text a script inserts into an HTML page; it cannot make a
            # truncated body whole, nor a PDF longer.
            result.retry_browser = (
                textless and snapshot.via == "http" and (snapshot.mime or "") in _HTML_MIMES
            )
            result.details = verdict.details
            return result
        if verdict.details.get("first_failure"):
            return result  # the source keeps its state until a second check fails too
        if verdict.kind is not None:
            old_id = (
                baseline.snapshot_id if baseline and verdict.kind != "status" else None
            ) or source.observed_id
            result.changes.append(
                self._record(source, old_id or snapshot.id, snapshot, verdict, baseline, new)
            )
        if source.state != verdict.availability.state:
            source.state_since = snapshot.captured_at
        source.state, source.state_reason = verdict.availability.state, verdict.availability.reason
        source.observed_id = snapshot.id
        if verdict.availability.state == CONTENT:
            source.baseline_id = snapshot.id
        return result

    def whole_texts(self, baseline: Observation | None, snapshot: Snapshot) -> tuple[str | None, str | None]:
        """The whole texts (``body_text``) of a source's baseline capture and of ``snapshot``;
        (None, None) when they are the same payload, or either is not an HTML page."""
        old = self.session.get(Snapshot, baseline.snapshot_id) if baseline and baseline.snapshot_id else None
        if old is None or old.payload_digest == snapshot.payload_digest:
            return None, None
        return self.whole_text(old), self.whole_text(snapshot)

    def whole_text(self, snapshot: Snapshot) -> str | None:
        """The whole text of an HTML capture, read from its record (not stored: it is asked for
        only when two captures' main texts agree); None for another kind of payload, or one that
        cannot be read now."""
        digest = snapshot.payload_digest
        if not digest or snapshot.record_type is None or (snapshot.mime or "") not in _HTML_MIMES:
            return None
        if digest not in self._wholes:
            try:
                body, content_type = read_payload(self.warc_dir, self._original(snapshot))
                url = snapshot.url.removeprefix("urn:dom:")
                text: str | None = body_text(_decode(body, content_type), url, notes=CORRECTION)
            except Exception:  # an unreadable record (ValueError), or markup lxml or trafilatura fail on
                text = None
            self._wholes[digest] = text
        return self._wholes[digest]

    def _baseline(self, source: Source) -> Observation | None:
        if source.baseline_id is None:
            return None
        row = self.session.get(Snapshot, source.baseline_id)
        if row is None:
            return None
        page = (
            self.session.get(Snapshot, row.page_id)
            if row.url.startswith("urn:dom:") and row.page_id
            else None
        )
        return self.observation(row, source.url, page)

    def _confirmed(self, source: Source, new: Observation) -> bool:
        """Was much the same thin text seen before, since the source's last good capture (by
        the HTTP capture before a browser retry, or by the previous check)? Then it is the
        source's text now."""
        earlier = self.session.scalars(
            select(Snapshot)
            .where(
                Snapshot.source_id == source.id,
                Snapshot.outcome == "thin-text",
                Snapshot.id > (source.observed_id or 0),
                Snapshot.id < (new.snapshot_id or 0),
            )
            .order_by(Snapshot.id.desc())
            .limit(5)
        )
        for row in earlier:
            text = self.text_of(row)
            if text is not None and similarity(comparable_text(text.text), comparable_text(new.text)) >= 0.8:
                return True
        return False

    def _failed_before(self, source: Source, snapshot: Snapshot) -> bool:
        """Did the check before this one fail too (a failure row, or a server error, since the
        source's last good capture)?"""
        failed = (Snapshot.record_type.is_(None) & Snapshot.outcome.not_in(PROBLEM_OUTCOMES)) | (
            (Snapshot.status >= 400) & Snapshot.status.not_in((404, 410, 451))
        )
        stmt = (
            select(Snapshot.id)
            .where(
                Snapshot.source_id == source.id,
                Snapshot.id > (source.observed_id or 0),
                Snapshot.id < snapshot.id,
                failed,
            )
            .limit(1)
        )
        return self.session.scalars(stmt).first() is not None

    def _note_problem(self, snapshot: Snapshot, verdict: Verdict) -> bool:
        """Mark a whole capture with too little text ``thin-text`` or ``no-text``; True when it
        was one (other problems, such as truncation, say so already or are not the capture's)."""
        if verdict.details.get("thin"):
            outcome = "thin-text"
        elif verdict.availability.reason == PROBLEM_OUTCOMES["no-text"]:
            outcome = "no-text"
        else:
            return False
        if snapshot.outcome not in ("ok", "thin-text", "no-text"):
            return False
        self.session.execute(
            update(Snapshot)
            .where(Snapshot.id == snapshot.id)
            .values(outcome=outcome, error=verdict.availability.reason[:2000])
        )
        return True

    def _record(
        self,
        source: Source,
        old_id: int,
        snapshot: Snapshot,
        verdict: Verdict,
        baseline: Observation | None,
        new: Observation,
    ) -> Change:
        details = dict(verdict.details)
        summary = verdict.summary
        claims = self._claim_effects(source, verdict, baseline, new)
        if claims:
            details["claims"] = claims
            touched = [c for c in claims if c["status"] != "unaffected"]
            if touched:
                summary += "; " + "; ".join(_claim_phrase(c) for c in touched[:3])
                if len(touched) > 3:
                    summary += f"; {len(touched) - 3} more claims affected"
        change = Change(
            source_id=source.id,
            old_snapshot_id=old_id,
            new_snapshot_id=snapshot.id,
            kind=verdict.kind,
            detected_at=snapshot.captured_at,
            summary=clip(summary, 2000),
            details=details,
        )
        self.session.add(change)  # its id is assigned when the chunk commits
        return change

    def claims_of(self, source: Source) -> list[tuple[Any, Any]]:
        """(Claim row, ClaimDraft) for every claim of an article citing ``source`` (by link, or
        by an outlet citation whose candidate is this source)."""
        if self._cited is not None and source.id not in self._cited:
            return []  # cited by no article (known for the whole chunk at once)
        by_link = select(Citation.id).where(Citation.source_id == source.id)
        by_candidate = select(Candidate.citation_id).where(Candidate.source_id == source.id)
        citations = list(
            self.session.scalars(
                select(Citation).where(
                    Citation.id.in_(by_link.union(by_candidate)), Citation.retired_at.is_(None)
                )
            )
        )
        seen: dict[int, tuple[Any, Any]] = {}
        by_article: dict[int, dict[int, Any]] = {}  # an article's claims, read once for all its citations
        for citation in citations:
            if citation.article_id not in by_article:
                by_article[citation.article_id] = {d.position: d for d in claim_drafts(citation.article)}
            drafts = by_article[citation.article_id]  # live claims only
            for claim in citation.claims:
                if claim.retired_at is None:
                    seen.setdefault(claim.id, (claim, drafts.get(claim.position)))
        return [pair for pair in seen.values() if pair[1] is not None]

    def _claim_effects(
        self, source: Source, verdict: Verdict, baseline: Observation | None, new: Observation
    ) -> list[dict[str, Any]]:
        pairs = self.claims_of(source)
        if not pairs:
            return []
        effects = []
        numbers = claim_numbers_of(self.session, {claim.article_id for claim, _draft in pairs})
        # The two texts as claims are read against, once for every claim.
        before, after = (comparable_text(baseline.text), comparable_text(new.text)) if baseline else ("", "")
        for claim, draft in pairs:
            entry: dict[str, Any] = {"claim_id": claim.id, "article_id": claim.article_id, "text": claim.text}
            entry["claim_number"] = numbers.get(claim.id)  # as numbered when found (views renumber)
            label = draft.quantities[0] if draft.quantities else _short(claim.text)
            entry["label"] = label
            if verdict.kind == "gone" and verdict.availability.state == MISSING:
                entry.update(status="lost-support", lost=["the source itself"], changed=[])
            elif baseline is not None and verdict.diff is not None:
                impact = claim_impact(draft, before, after, verdict.diff)
                entry.update(
                    status=impact.status, lost=impact.lost, changed=[list(p) for p in impact.changed]
                )
            else:
                entry.update(status="unaffected", lost=[], changed=[])
            effects.append(entry)
        return effects


def _short(text: str, limit: int = 60) -> str:
    return clip(text, limit)


def _claim_phrase(claim: dict[str, Any]) -> str:
    """``claim '253,000 cases' changed (253000 -> 260000)``; a label that is a quotation keeps its
    own marks and gets no others.

    >>> _claim_phrase({"status": "lost-support", "label": "\u201cLet\u2019s be honest\u2026"})
    'claim \u201cLet\u2019s be honest\u2026 lost support'
    """
    label = claim["label"]
    named = label if label[:1] in "\"'\u201c\u2018\u00ab" else f"'{label}'"
    if claim["status"] == "changed":
        pairs = ", ".join(f"{a} -> {b}" for a, b in claim["changed"][:2])
        return f"claim {named} changed ({pairs})"
    return f"claim {named} lost support"


def analyse_urls(session: Session, warc_dir: Path, urls: Iterable[str]) -> dict[str, SourceAnalysis]:
    """Analyse the new captures of the sources with these URLs: URL -> what was found."""
    wanted = list(dict.fromkeys(urls))
    ids: dict[int, str] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        ids.update(
            (sid, url)
            for sid, url in session.execute(select(Source.id, Source.url).where(Source.url.in_(chunk)))
        )
    return analyse_sources(session, warc_dir, ids)


def analyse_sources(
    session: Session,
    warc_dir: Path,
    urls: Mapping[int, str],
    extract_many: Callable[[list[TextJob]], list[dict[str, Any] | str]] | None = None,
) -> dict[str, SourceAnalysis]:
    """Analyse the new captures of these sources (source id -> URL): URL -> what was found."""
    analyser = Analyser(session, warc_dir, extract_many=extract_many)
    return {urls[found.source_id]: found for found in analyser.analyse(urls)}
