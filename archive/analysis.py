"""Analysis: extract each new capture's text, compare it with the source's last, record Changes.

Runs after captures land (the ``capture`` and ``add`` commands call it when
their crawl ends; the daemon after each capture), over the database and the
WARC files only, so it can always be re-run: a source's snapshots newer than
``Source.analysed_through`` are what is left to do.

For each source, the capture that counts is the last one of its new
snapshots: the DOM of a browser capture, else the final HTTP response after
redirects, else the failure row. Its text is extracted once per payload
digest (:class:`ExtractedText`; a revisit shares its original's) and it is
classified (:func:`archive.changes.classify`) against the source's state and
its last capture with content. A soft 404 is recognised against the same
host's answer for a made-up URL (:func:`archive.urls.probe_url`), which the
crawl captures once per host and ``probe_max_age``.

A capture problem (truncated, no text, far less text than before) makes no
Change: the snapshot's outcome says so (``thin-text``, ``no-text``) and the
next capture is compared with the same baseline. Thin text seen twice in a
row with the same fingerprint is taken to be the source's text.

``Change.details`` holds ``significance``, ``words_added``/``words_removed``,
``sentences_removed``/``sentences_added``, ``corrections``, ``metadata``,
``status`` (``{"old", "new"}``) and ``claims``: one entry per claim of an
article that cites the source, with ``status`` unaffected | changed |
lost-support, the terms ``lost`` and the numbers ``changed``.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from archive import index
from archive.articles import claim_drafts
from archive.changes import (
    CONTENT,
    Availability,
    Observation,
    Verdict,
    classify,
    comparable_text,
)
from archive.extract import fingerprint, html_text, normalise_text, pdf_text
from archive.impact import claim_impact
from archive.models import Candidate, Change, Citation, ExtractedText, Snapshot, Source
from archive.urls import probe_url
from archive.warc import OPEN_SUFFIX, utcnow

logger = logging.getLogger(__name__)

# Decoded payloads larger than this are not extracted (a page of text is far smaller).
MAX_EXTRACT_BYTES = 20 * 1024 * 1024
_TEXT_MIMES = ("text/html", "application/xhtml+xml", "text/plain", "application/pdf")


@dataclass
class SourceAnalysis:
    """What the analysis of one source's new captures found."""

    source_id: int
    url: str
    snapshot_id: int | None = None  # the capture that counted
    state: str | None = None  # content | missing | failing | problem
    reason: str = ""
    change: Change | None = None
    retry_browser: bool = False  # a capture problem that a browser capture may fix
    details: dict[str, Any] = field(default_factory=dict)


def _readable(warc_dir: Path, name: str) -> Path:
    closed = warc_dir / name
    return closed if closed.exists() else warc_dir / (name + OPEN_SUFFIX)


def read_payload(warc_dir: Path, snapshot: Snapshot, limit: int = MAX_EXTRACT_BYTES) -> bytes:
    """The payload of a response or resource record, content-encoding removed; ValueError when
    it is larger than ``limit`` once decoded, or cannot be read."""
    from warcio.archiveiterator import ArchiveIterator

    if snapshot.warc_file is None or snapshot.offset is None or snapshot.length is None:
        raise ValueError("no WARC record")
    path = _readable(warc_dir, snapshot.warc_file.name)
    try:
        with open(path, "rb") as handle:
            handle.seek(snapshot.offset)
            data = handle.read(snapshot.length)
        record = next(iter(ArchiveIterator(io.BytesIO(data))))
        body = record.content_stream().read(limit + 1)
    except (OSError, StopIteration, ValueError, EOFError) as exc:
        raise ValueError(f"cannot read the record in {path.name} at {snapshot.offset}: {exc}") from exc
    except Exception as exc:  # decoding errors of a broken gzip or deflate body
        raise ValueError(f"cannot decode the payload in {path.name} at {snapshot.offset}: {exc}") from exc
    if len(body) > limit:
        raise ValueError(f"payload over {limit} bytes once decoded")
    return body


def _charset(content_type: str | None) -> str | None:
    if content_type and "charset=" in content_type.lower():
        return content_type.lower().split("charset=", 1)[1].split(";")[0].strip(" \"'") or None
    return None


def _decode(body: bytes, content_type: str | None) -> str:
    from charset_normalizer import from_bytes

    for charset in (_charset(content_type), "utf-8"):
        if charset:
            try:
                return body.decode(charset)
            except (UnicodeDecodeError, LookupError):
                continue
    best = from_bytes(body[:200_000]).best()
    return str(best) if best is not None else body.decode("utf-8", "replace")


def extract(body: bytes, mime: str | None, url: str) -> ExtractedText:
    """The text of a payload (not yet keyed by digest): trafilatura for HTML, pypdf for PDF."""
    now = utcnow()
    if mime == "application/pdf" or body[:5] == b"%PDF-":
        try:
            text = normalise_text(pdf_text(body))
        except ValueError as exc:
            return ExtractedText(extractor="pypdf", text="", extracted_at=now, words=0, error=str(exc))
        return ExtractedText(
            extractor="pypdf",
            text=text,
            extracted_at=now,
            fingerprint=fingerprint(text),
            words=len(text.split()),
        )
    if mime == "text/plain":
        text = normalise_text(_decode(body, mime))
        return ExtractedText(
            extractor="plain",
            text=text,
            extracted_at=now,
            fingerprint=fingerprint(text),
            words=len(text.split()),
        )
    try:
        page = html_text(_decode(body, mime), url)
    except Exception as exc:  # trafilatura and lxml fail in many ways on broken markup
        return ExtractedText(
            extractor="trafilatura", text="", extracted_at=now, words=0, error=str(exc)[:500]
        )
    return ExtractedText(
        extractor="trafilatura",
        text=page.text,
        extracted_at=now,
        title=page.title,
        author=page.author,
        published=(page.date or "")[:32] or None,
        fingerprint=page.fingerprint,
        words=len(page.text.split()),
    )


class Analyser:
    """Analyses sources' new captures in one session; :meth:`analyse` commits per source."""

    def __init__(self, session: Session, warc_dir: Path, *, probe_max_age: float = 30 * 86400):
        self.session = session
        self.warc_dir = Path(warc_dir)
        self.probe_max_age = probe_max_age
        self._probes: dict[str, Observation | None] = {}
        self.extracted = 0  # payloads extracted by this analyser (each digest at most once)

    # -- text ----------------------------------------------------------------
    def text_of(self, snapshot: Snapshot) -> ExtractedText | None:
        """The extracted text of a capture: stored once per payload digest."""
        digest = snapshot.payload_digest
        if not digest or snapshot.record_type is None:
            return None
        mime = snapshot.mime or ""
        stored = self.session.get(ExtractedText, digest)
        if stored is not None:
            return stored
        original = snapshot
        if snapshot.record_type == "revisit" and snapshot.refers_to_id:
            original = self.session.get(Snapshot, snapshot.refers_to_id) or snapshot
        if mime and mime not in _TEXT_MIMES and not mime.endswith("+xml"):
            found = ExtractedText(extractor="none", text="", extracted_at=utcnow(), words=0, error=f"{mime}")
        else:
            try:
                body = read_payload(self.warc_dir, original)
            except ValueError as exc:
                found = ExtractedText(
                    extractor="none", text="", extracted_at=utcnow(), words=0, error=str(exc)
                )
            else:
                found = extract(body, mime or None, snapshot.url.removeprefix("urn:dom:"))
                self.extracted += 1
        found.payload_digest = digest
        self.session.merge(found)
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
        if text is not None:
            obs.text, obs.title, obs.author, obs.date = text.text, text.title, text.author, text.published
            if not text.text and text.extractor == "none" and not (text.error or "").startswith("cannot"):
                # A file that is not text (an image, a data file): its payload stands for its text.
                obs.text = f"[{head.mime or 'file'} {snapshot.payload_digest}]"
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
            if row.via == "http" and not (row.status and 300 <= row.status < 400 and row is not rows[-1]):
                return row, None
        return None

    # -- the work ------------------------------------------------------------
    def analyse(self, source_ids: Iterable[int] | None = None) -> list[SourceAnalysis]:
        """Analyse the new captures of these sources (default: every source with new ones)."""
        ids = list(source_ids) if source_ids is not None else self._pending_sources()
        results = []
        for source_id in ids:
            source = self.session.get(Source, source_id)
            if source is None:
                continue
            found = self.analyse_source(source)
            self.session.commit()
            if found is not None:
                results.append(found)
        return results

    def _pending_sources(self) -> list[int]:
        last = (
            select(Snapshot.source_id, Snapshot.id)
            .where(Snapshot.source_id.is_not(None))
            .order_by(Snapshot.source_id, Snapshot.id.desc())
        )
        newest: dict[int, int] = {}
        for sid, snap_id in self.session.execute(last):
            newest.setdefault(sid, snap_id)
        done = dict(self.session.execute(select(Source.id, Source.analysed_through)).all())
        return [sid for sid, snap_id in newest.items() if (done.get(sid) or 0) < snap_id]

    def analyse_source(self, source: Source) -> SourceAnalysis | None:
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
        counted = self._counted(rows)
        if counted is None:
            return None
        snapshot, page = counted
        new = self.observation(snapshot, source.url, page)
        baseline = self._baseline(source)
        state = Availability(source.state, source.state_reason or "") if source.state else None
        verdict = classify(
            state,
            baseline,
            new,
            self.probe(source.url, snapshot.captured_at),
            accept_thin=self._confirmed(source, new),
        )
        result = SourceAnalysis(
            source.id, source.url, snapshot.id, verdict.availability.state, verdict.availability.reason
        )
        if verdict.problem:
            self._note_problem(snapshot, verdict)
            result.retry_browser = snapshot.via == "http" and not snapshot.url.startswith("urn:")
            result.details = verdict.details
            return result
        if verdict.kind is not None:
            old_id = (
                baseline.snapshot_id if baseline and verdict.kind != "status" else None
            ) or source.observed_id
            result.change = self._record(source, old_id or snapshot.id, snapshot, verdict, baseline, new)
        if source.state != verdict.availability.state:
            source.state_since = snapshot.captured_at
        source.state, source.state_reason = verdict.availability.state, verdict.availability.reason
        source.observed_id = snapshot.id
        if verdict.availability.state == CONTENT:
            source.baseline_id = snapshot.id
        return result

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
        """Was the source's previous capture already this thin text? Then it is its text now."""
        previous = self.session.scalars(
            select(Snapshot)
            .where(
                Snapshot.source_id == source.id,
                Snapshot.outcome == "thin-text",
                Snapshot.id < (new.snapshot_id or 0),
            )
            .order_by(Snapshot.id.desc())
            .limit(1)
        ).first()
        if previous is None or (source.observed_id or 0) > previous.id:
            return False
        text = self.text_of(previous)
        return text is not None and text.fingerprint == fingerprint(new.text)

    def _note_problem(self, snapshot: Snapshot, verdict: Verdict) -> None:
        if snapshot.outcome != "ok":
            return  # truncated and friends say so already
        outcome = "thin-text" if verdict.details.get("thin") else "no-text"
        self.session.execute(
            update(Snapshot)
            .where(Snapshot.id == snapshot.id)
            .values(outcome=outcome, error=verdict.availability.reason[:2000])
        )

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
            summary=summary[:2000],
            details=details,
        )
        self.session.add(change)
        self.session.flush()
        return change

    def claims_of(self, source: Source) -> list[tuple[Any, Any]]:
        """(Claim row, ClaimDraft) for every claim of an article citing ``source`` (by link, or
        by an outlet citation whose candidate is this source)."""
        by_link = select(Citation.id).where(Citation.source_id == source.id)
        by_candidate = select(Candidate.citation_id).where(Candidate.source_id == source.id)
        citations = list(
            self.session.scalars(select(Citation).where(Citation.id.in_(by_link.union(by_candidate))))
        )
        seen: dict[int, tuple[Any, Any]] = {}
        for citation in citations:
            drafts = {d.position: d for d in claim_drafts(citation.article)}
            for claim in citation.claims:
                seen.setdefault(claim.id, (claim, drafts.get(claim.position)))
        return [pair for pair in seen.values() if pair[1] is not None]

    def _claim_effects(
        self, source: Source, verdict: Verdict, baseline: Observation | None, new: Observation
    ) -> list[dict[str, Any]]:
        pairs = self.claims_of(source)
        if not pairs:
            return []
        effects = []
        for claim, draft in pairs:
            entry: dict[str, Any] = {"claim_id": claim.id, "article_id": claim.article_id, "text": claim.text}
            label = draft.quantities[0] if draft.quantities else _short(claim.text)
            entry["label"] = label
            if verdict.kind == "gone":
                entry.update(status="lost-support", lost=["the source itself"], changed=[])
            elif baseline is not None and verdict.diff is not None:
                impact = claim_impact(
                    draft, comparable_text(baseline.text), comparable_text(new.text), verdict.diff
                )
                entry.update(
                    status=impact.status, lost=impact.lost, changed=[list(p) for p in impact.changed]
                )
            else:
                entry.update(status="unaffected", lost=[], changed=[])
            effects.append(entry)
        return effects


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "\u2026"


def _claim_phrase(claim: dict[str, Any]) -> str:
    if claim["status"] == "changed":
        pairs = ", ".join(f"{a} -> {b}" for a, b in claim["changed"][:2])
        return f"claim '{claim['label']}' changed ({pairs})"
    return f"claim '{claim['label']}' lost support"


def analyse(
    session: Session, warc_dir: Path, source_ids: Iterable[int] | None = None
) -> list[SourceAnalysis]:
    """Analyse the new captures of ``source_ids`` (default: every source with new captures)."""
    return Analyser(session, warc_dir).analyse(source_ids)


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
    return {ids[found.source_id]: found for found in Analyser(session, warc_dir).analyse(ids)}
