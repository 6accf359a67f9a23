"""One capture's way from fetched to scheduled: the steps every crawl's results take.

``citewatch capture``, ``citewatch add``, the web UI's jobs and the daemon's
workers hand their finished captures here, a batch at a time, once the
recorder has committed them. For each capture:

1. **analyse** (:mod:`archive.analysis`): extract its text, classify it
   against the source's baseline, and record the Change, with the claims it
   touches (skipped when ``analyse_captures`` is off, except in the daemon,
   whose checks share one WARC file and are told apart only by analysis);
2. **retry in the browser** the HTTP captures that gave far less text than
   before, or none: their URLs go back to the crawl, which fetches them
   again in Chromium and brings the new capture back here, and only then is
   their check recorded;
3. **record the check and schedule the next** (:mod:`archive.schedule`),
   dropping a worker's lease.

Each result leaves with its source id, what its analysis found and its next
check. Where this runs: in the archiver process beside a capture crawl
(:mod:`archive.archiver`), so that extraction and classification take the
machine's second core while the crawl keeps the first; in the crawl's own
process for a daemon's worker, whose crawl is paced by per-host politeness
rather than by CPU.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from archive.analysis import SourceAnalysis, analyse_sources
from archive.changelog import analysis_dict
from archive.exchange import PipelineMode, SeedResult
from archive.models import Source
from archive.policy import Policy, policy_from
from archive.schedule import record_results
from archive.warc import utcnow


class Pipeline:
    """Takes a crawl's finished captures through analysis, the browser retry and the schedule."""

    def __init__(self, sessions: sessionmaker[Session], warc_dir: Path, policy: Policy, mode: PipelineMode):
        self.sessions = sessions
        self.warc_dir = Path(warc_dir)
        self.policy = policy
        self.mode = mode

    @classmethod
    def from_settings(cls, sessions: sessionmaker[Session], settings: Any, mode: PipelineMode) -> Pipeline:
        return cls(sessions, Path(settings.warc_dir), policy_from(settings), mode)

    def run(self, results: list[SeedResult], *, final: bool = False) -> dict[str, str]:
        """Take ``results`` (committed captures) through the pipeline, filling in each one's
        ``source_id``, ``analysis`` and ``next_check_at``. Returns the URLs to capture again
        in the browser, with why; their checks wait for that capture. With ``final``, none
        are."""
        fetched = [r for r in results if r.outcome not in self.mode.skip]
        if not fetched:
            return {}
        now = utcnow()
        with self.sessions() as session:
            ids = self._source_ids(session, fetched)
            for r in fetched:
                r.source_id = ids.get(r.url, r.source_id)
            found: dict[str, SourceAnalysis] = {}
            if self.mode.analyse:  # not again for a result analysed before (a browser retry that failed)
                wanted = {ids[r.url]: r.url for r in fetched if r.url in ids and r.analysis is None}
                found = analyse_sources(session, self.warc_dir, wanted)
            again = {
                r.url: found[r.url].reason
                for r in fetched
                if self.mode.browser_retry
                and not final
                and r.via == "http"
                and r.url in found
                and found[r.url].retry_browser
            }
            for r in fetched:
                r.analysis = analysis_dict(found[r.url]) if r.url in found else r.analysis
            checked = [r for r in fetched if r.url not in again]
            nexts = record_results(
                session,
                checked,
                found,
                self.policy,
                tracked_only=self.mode.tracked_only,
                worker=self.mode.worker,
                now=now,
                skip=self.mode.skip,
                known=ids,
            )
            for r in checked:
                r.next_check_at = nexts.get(r.url)
        return again

    @staticmethod
    def _source_ids(session: Session, results: list[SeedResult]) -> dict[str, int]:
        """URL -> source id: those the crawl gave, the rest looked up once."""
        ids = {r.url: r.source_id for r in results if r.source_id is not None}
        missing = [r.url for r in results if r.url not in ids]
        for start in range(0, len(missing), 500):
            chunk = missing[start : start + 500]
            rows = session.execute(select(Source.url, Source.id).where(Source.url.in_(chunk)))
            ids.update((url, sid) for url, sid in rows)
        return {url: sid for url, sid in ids.items() if sid is not None}
