"""Change-detection benchmark: noise must stay silent, every real edit must be a change.

Builds its own evaluation set (bench/articles.py): ``--stories`` generated news
stories, each in one of four page templates with real-looking chrome. Every
story gets one source URL per variant: eight noise-only variants (a reload
with new ads, timestamps, counters, session ids and cache-busting URLs;
reordered navigation; changed markup; a completely different layout) and five
real edits (a digit of a number changed, a sentence removed, a correction
appended, a quotation altered, a paragraph added).

1. A local server serves every URL's base page; ``citewatch capture`` captures
   them all (and analyses them: the baselines).
2. The server switches every URL to its variant; ``citewatch capture`` captures
   them again with analysis off, then this script runs the analysis in
   process (read each record back from its WARC, extract, classify, write the
   Change) and times it: snapshot comparisons per second on one core, with
   the CPU time it used, against a peer measured in the same run (a bare
   ``trafilatura.extract`` of the same pages, default settings). It also times
   classification alone, from the stored texts.
3. It prints precision and recall of ``content``/``correction`` changes, the
   share of noise variants that recorded no change, and the misses.
4. With ``--log-rows N`` (default 1,000,000; 0 skips it) it fills a fresh
   SQLite database with N changes over N/10 sources and N snapshots, and times
   the change log's queries (first page, a page deep into the log by keyset,
   by kind, by source, by an article's sources, since a date).

Run: ``.venv/bin/python bench/changes.py [--stories 60]``. Targets: recall
100%, at least 99% of noise silent, at least 200 comparisons per second per core.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.articles import EDIT_KINDS, NOISE_KINDS, TEMPLATES, edit_variants, make_story, noise_variants  # noqa: E402

BIN = Path(sys.executable).parent
WANTED = {kind: "content" for kind in EDIT_KINDS} | {"correction": "correction"}


class Pages(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    pages: dict[str, bytes] = {}

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        body = self.pages.get(self.path)
        status = 200 if body is not None else 404
        body = body if body is not None else b"not found"
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def build(stories: int, seed: int) -> tuple[dict[str, bytes], dict[str, bytes], dict[str, str]]:
    """Base pages, variant pages, and each path's variant kind."""
    base: dict[str, bytes] = {}
    variant: dict[str, bytes] = {}
    kinds: dict[str, str] = {}
    for n in range(stories):
        rng = random.Random(seed * 100_003 + n)
        story, template = make_story(rng), n % len(TEMPLATES)
        pages = dict(noise_variants(story, template, rng))
        pages.update({kind: page for kind, (page, _) in edit_variants(story, template, rng).items()})
        for kind, page in pages.items():
            path = f"/story/{n}/{kind}"
            base[path] = TEMPLATES[template](story, rng).encode()
            variant[path] = page.encode()
            kinds[path] = kind
    return base, variant, kinds


def serve(paths: Iterable[str], name: str) -> tuple[str, Path, Path]:
    """Serve ``Pages.pages`` from a local server: its URL prefix, a fresh work folder, and the
    file listing the URLs of ``paths`` in it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Pages)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    prefix = f"http://127.0.0.1:{server.server_address[1]}"
    work = Path(tempfile.mkdtemp(prefix=f"citewatch-bench-{name}-"))
    urls_file = work / "urls.txt"
    urls_file.write_text("".join(f"{prefix}{path}\n" for path in paths))
    return prefix, work, urls_file


def capture(home: Path, urls_file: Path, analyse: bool) -> float:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CITEWATCH_")},
        "CITEWATCH_HOME": str(home),
        "CITEWATCH_ALLOW_PRIVATE_NETWORKS": "1",
        "CITEWATCH_HOST_DELAY": "0",
        "CITEWATCH_HOST_CONCURRENCY": "16",
        "CITEWATCH_PAGE_REQUISITES": "0",
        "CITEWATCH_ANALYSE_CAPTURES": "1" if analyse else "0",
    }
    started = time.perf_counter()
    proc = subprocess.run(
        [str(BIN / "citewatch"), "capture", "--json", "-i", str(urls_file)],
        env=env,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    try:
        failed = [r for r in json.loads(proc.stdout) if not r["ok"]]
    except json.JSONDecodeError:
        raise SystemExit(f"citewatch capture failed: {proc.stderr[-2000:]}") from None
    if failed:
        raise SystemExit(f"{len(failed)} captures failed, e.g. {failed[0]}")
    return elapsed


def trafilatura_alone(pages: list[bytes]) -> float:
    """Pages per CPU-second of a bare ``trafilatura.extract`` with its default settings: the
    text extraction any tool of this kind runs, as the peer for the analysis figure."""
    import trafilatura

    texts = [p.decode("utf-8") for p in pages]
    started = time.process_time()
    for text in texts:
        trafilatura.extract(text)
    return len(texts) / (time.process_time() - started)


def classify_only(session, sources) -> tuple[int, float]:  # type: ignore[no-untyped-def]
    """Time classification alone: each source's two captures, texts already extracted."""
    from archive.changes.analysis import Analyser
    from archive.changes.classify import availability, classify
    from archive.models import Snapshot

    analyser = Analyser(session, Path("."))
    pairs = []
    for source in sources:
        rows = [
            r for r in session.query(Snapshot).filter(Snapshot.source_id == source.id).order_by(Snapshot.id)
        ]
        if len(rows) >= 2:
            pairs.append(
                (analyser.observation(rows[0], source.url), analyser.observation(rows[-1], source.url))
            )
    started = time.perf_counter()
    for old, new in pairs:
        classify(availability(old), old, new)
    return len(pairs), time.perf_counter() - started


def log_queries(rows: int, work: Path, database_url: str | None = None) -> None:
    """Time ``citewatch changes`` queries on a database with ``rows`` changes and snapshots
    (SQLite in ``work``, or the empty database ``database_url``)."""
    from datetime import datetime, timedelta

    from sqlalchemy import insert, text

    from archive.changes.changelog import list_changes
    from archive.db import migrated
    from archive.models import Change, Snapshot, Source

    sessions = migrated(database_url or f"sqlite:///{work / 'log.db'}")
    rng = random.Random(7)
    sources = max(rows // 10, 1)
    start = datetime(2024, 1, 1)
    kinds = ["content"] * 6 + ["correction", "metadata", "gone", "back", "status"]
    started = time.perf_counter()
    with sessions() as session:
        session.execute(
            insert(Source),
            [
                {
                    "id": i,
                    "url": f"https://s{i}.example/a",
                    "surt": f"example,s{i})/a",
                    "created_at": start,
                    "paused": False,
                }
                for i in range(1, sources + 1)
            ],
        )
        for chunk in range(0, rows, 50_000):
            n = min(50_000, rows - chunk)
            session.execute(
                insert(Snapshot),
                [
                    {
                        "id": chunk + i + 1,
                        "url": "u",
                        "surt": "s",
                        "source_id": rng.randint(1, sources),
                        "captured_at": start,
                        "outcome": "ok",
                        "via": "http",
                    }
                    for i in range(n)
                ],
            )
            session.execute(
                insert(Change),
                [
                    {
                        "source_id": rng.randint(1, sources),
                        "old_snapshot_id": chunk + i + 1,
                        "new_snapshot_id": chunk + i + 1,
                        "kind": rng.choice(kinds),
                        "detected_at": start + timedelta(seconds=(chunk + i) * 60),
                        "summary": "1 sentence changed",
                        "details": {},
                    }
                    for i in range(n)
                ],
            )
        session.commit()
        if session.bind.dialect.name == "postgresql":  # what autovacuum soon does after a bulk load
            session.execute(text("ANALYZE"))
            session.commit()
    print(
        f"change log ({sessions.kw['bind'].dialect.name}): {rows:,} changes and snapshots "
        f"over {sources:,} sources, "
        f"filled in {time.perf_counter() - started:.0f} s"
    )
    with sessions() as session:
        deep = list_changes(session, limit=1)[0][0].id - rows // 2
        article = sorted(rng.sample(range(1, sources + 1), 40))
        cases = {
            "first page (50)": {},
            "page at the middle of the log (keyset)": {"before": deep},
            "kind correction": {"kinds": ["correction"]},
            "kind status (gone, back, status)": {"kinds": ["status"]},
            "one source": {"source_ids": [rng.randint(1, sources)]},
            "an article's 40 sources": {"source_ids": article},
            "since 30 days before the end": {
                "since": start + timedelta(seconds=rows * 60) - timedelta(days=30)
            },
        }
        for name, query in cases.items():
            times = []
            for _ in range(5):
                t = time.perf_counter()
                found = list_changes(session, **query)  # type: ignore[arg-type]
                times.append(time.perf_counter() - t)
            print(f"  {name}: {sorted(times)[2] * 1000:.1f} ms median of 5 ({len(found)} rows)")
    sessions.kw["bind"].dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stories", type=int, default=60, help="generated stories (13 sources each)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--log-rows", type=int, default=1_000_000, help="changes in the query timing (0: skip)"
    )
    parser.add_argument("--log-database", help="an empty database for the query timing (default: SQLite)")
    parser.add_argument("--log-only", action="store_true", help="only the change-log query timing")
    args = parser.parse_args()
    if args.log_only:
        log_queries(args.log_rows, Path(tempfile.mkdtemp(prefix="citewatch-bench-log-")), args.log_database)
        return

    base, variant, kinds = build(args.stories, args.seed)
    prefix, work, urls_file = serve(kinds, "changes")
    print(
        f"{args.stories} stories x {len(NOISE_KINDS)} noise + {len(EDIT_KINDS)} edit variants "
        f"= {len(kinds)} sources, {len(TEMPLATES)} templates"
    )

    Pages.pages = base
    first = capture(work, urls_file, analyse=True)
    Pages.pages = variant
    second = capture(work, urls_file, analyse=False)
    print(
        f"capture: {len(kinds) / first:.0f} pages/s with analysis, {len(kinds) / second:.0f} pages/s without"
    )

    import trafilatura
    from sqlalchemy import select

    from archive.changes.analysis import Analyser, extract, warm_up
    from archive.db import connect
    from archive.models import Change, Source

    sessions = connect(f"sqlite:///{work / 'citewatch.db'}")
    with sessions() as session:
        analyser = Analyser(session, work / "warcs")
        # Both timed warm, as in a daemon that has analysed pages before: each extracts the
        # base pages first (first calls fill trafilatura's and htmldate's caches).
        warm_up()
        for path, page in base.items():
            extract(page, "text/html", prefix + path)
            trafilatura.extract(page.decode("utf-8"))
        wall, cpu = time.perf_counter(), time.process_time()
        found = analyser.analyse()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        sources = list(session.scalars(select(Source)))
        changed = {
            url.removeprefix(prefix): (kind, summary)
            for kind, summary, url in session.execute(
                select(Change.kind, Change.summary, Source.url).join(Source, Change.source_id == Source.id)
            )
        }
        pairs, classify_seconds = classify_only(session, sources)
    problems = [f for f in found if f.state == "problem"]
    peer = trafilatura_alone(list(variant.values()))

    noise = [p for p, k in kinds.items() if k in NOISE_KINDS]
    edits = [p for p, k in kinds.items() if k in WANTED]
    loud = [p for p in noise if p in changed]
    reported = [p for p, (kind, _) in changed.items() if kind in ("content", "correction")]
    hits = [p for p in edits if changed.get(p, ("",))[0] in ("content", "correction")]
    right_kind = [p for p in edits if changed.get(p, ("",))[0] == WANTED[kinds[p]]]
    precision = len([p for p in reported if p in edits]) / max(len(reported), 1)
    recall = len(hits) / max(len(edits), 1)
    silent = 1 - len(loud) / max(len(noise), 1)
    print(f"analysis: {len(found)} sources in {wall:.2f} s wall, {cpu:.2f} s CPU")
    print(f"  {len(found) / cpu:.0f} snapshot comparisons per CPU-second (read, extract, classify, record)")
    print(
        f"  peer, same pages: trafilatura.extract() alone (default settings) {peer:.0f} pages per CPU-second;"
        f" citewatch's whole comparison = {len(found) / cpu / peer:.2f}x of that"
    )
    print(f"  {analyser.extracted} payloads extracted, {len(problems)} capture problems")
    print(f"  classification alone: {pairs / classify_seconds:.0f} comparisons/s")
    print(f"precision {precision:.1%}  recall {recall:.1%}  (content/correction changes)")
    print(
        f"right kind {len(right_kind) / max(len(edits), 1):.1%} "
        "(corrections as correction, other edits as content)"
    )
    print(f"noise variants silent: {silent:.1%} ({len(noise) - len(loud)}/{len(noise)})")
    by_kind = {k: sum(1 for p in loud if kinds[p] == k) for k in NOISE_KINDS}
    print("  false alarms by noise kind: " + ", ".join(f"{k} {n}" for k, n in by_kind.items()))
    for p in [p for p in edits if p not in hits][:5]:
        print(f"  missed {kinds[p]}: {p} -> {changed.get(p)}")
    for p in loud[:5]:
        print(f"  false alarm {kinds[p]}: {p} -> {changed[p]}")
    met = recall == 1.0 and silent >= 0.99 and len(found) / cpu >= 200
    print(
        "targets (recall 100%, noise silent >= 99%, >= 200 comparisons/s/core): "
        + ("met" if met else "MISSED")
    )
    if args.log_rows:
        log_queries(args.log_rows, work, args.log_database)


if __name__ == "__main__":
    main()
