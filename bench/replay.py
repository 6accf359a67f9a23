"""Replay and web UI benchmark: time to replay a capture through pywb, and to serve a change
page, with 100,000 snapshots indexed.

1. Real data first: a local server serves ``--pages`` news pages; an article cites them all
   (``citewatch add``), the pages are edited and captured again (``citewatch capture``), so
   citewatch records real changes with the claims they touch.
2. Filler up to ``--snapshots``: further sources, ten captures each, written as real WARC
   response records (warcio) with their Snapshot rows, so the index pywb searches and the
   tables the UI reads hold that many.
3. ``citewatch replay``'s index is built from the database (timed), pywb is started on it, and
   ``--requests`` random captures are fetched in ``id_`` mode (the archived bytes) and in
   rewritten mode. The peer, measured in the same run: the same pywb, over an index of the same
   WARC files written by ``cdxj-indexer`` (the usual way to index WARCs for pywb).
4. ``citewatch serve`` is started and the change pages of the real changes are fetched,
   ``--requests`` times. The peer: the same pages' bytes served as static files by Python's
   ``http.server`` (the cost of getting a page of that size over HTTP here, nothing rendered).

Run: ``.venv/bin/python bench/replay.py`` (about two minutes; ``--database
postgresql://.../EMPTY_DB`` for PostgreSQL). Targets: replay under 50 ms
median, change page under 100 ms median.
"""

from __future__ import annotations

import argparse
import http.client
import io
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.articles import TEMPLATES, edit_variants, make_story  # noqa: E402
from bench.changes import Pages  # noqa: E402

BIN = Path(sys.executable).parent
REPLAY_BIN = ROOT / ".venv-replay" / "bin"


def serve(handler: Any, directory: Path | None = None) -> tuple[ThreadingHTTPServer, int]:
    factory = partial(handler, directory=str(directory)) if directory is not None else handler
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), factory)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, httpd.server_address[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[Any], what: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{what} did not start") from None
            time.sleep(0.1)


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([str(BIN / "citewatch"), *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"citewatch {args[0]} failed: {done.stderr[-2000:]}")
    return done.stdout


# --- data --------------------------------------------------------------------------------------


def real_data(env: dict[str, str], work: Path, pages: int) -> None:
    """An article citing ``pages`` pages, captured, edited, captured again: real changes."""
    base: dict[str, bytes] = {}
    edited: dict[str, bytes] = {}
    claims = []
    for n in range(pages):
        rng = random.Random(n)
        story, template = make_story(rng), n % len(TEMPLATES)
        base[f"/story/{n}"] = TEMPLATES[template](story, rng).encode()
        page, _ = edit_variants(story, template, rng)["sentence-removed"]
        edited[f"/story/{n}"] = page.encode()
        claims.append(story.paragraphs[0])
    Pages.pages = base
    httpd, port = serve(Pages)
    try:
        urls = [f"http://127.0.0.1:{port}{path}" for path in base]
        lines = [f"{claim} ([source]({url}))" for claim, url in zip(claims, urls, strict=True)]
        article = work / "article.md"
        article.write_text("# What the sources say\n\n" + "\n\n".join(lines) + "\n")
        cli(env, "add", str(article), "--no-resolve")
        Pages.pages = edited
        (work / "urls.txt").write_text("\n".join(urls) + "\n")
        cli(env, "capture", "-i", str(work / "urls.txt"))
    finally:
        httpd.shutdown()


def filler(settings: Any, total: int) -> int:
    """Captures of made-up sources (ten each) until the database holds ``total`` snapshots."""
    from sqlalchemy import func, insert, select
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    from archive.db import connect
    from archive.models import Snapshot, Source, WarcFile
    from archive.store.index import surt_key

    sessions = connect(settings.effective_database_url)
    with sessions() as session:
        have = session.scalar(select(func.count(Snapshot.id))) or 0
    wanted = max(0, total - have)
    name = "bench-filler-00001.warc.gz"
    path = settings.warc_dir / name
    start = datetime(2026, 1, 1)
    rows: list[dict[str, Any]] = []
    with open(path, "wb") as fh, sessions() as session:
        file_id = session.execute(
            insert(WarcFile).values(name=name, created_at=start).returning(WarcFile.id)
        ).scalar_one()
        sources = [
            {"url": f"https://filler{n % 97}.example/news/{n}", "created_at": start, "paused": True}
            for n in range(wanted // 10 + 1)
        ]
        for s in sources:
            s["surt"] = surt_key(s["url"])
        ids = session.execute(insert(Source).returning(Source.id, sort_by_parameter_order=True), sources)
        source_ids = [row.id for row in ids]
        writer = WARCWriter(fh, gzip=True, warc_version="1.1")
        for n in range(wanted):
            source = sources[n // 10]
            when = start + timedelta(hours=n % 10, seconds=n // 10)
            body = (
                f"<html><head><title>Filler {n}</title></head><body><p>Capture {n % 10} of "
                f"{source['url']}</p>" + "<p>Words of a news page kept for the benchmark.</p>" * 20
            ).encode()
            headers = StatusAndHeaders(
                "200 OK",
                [("Content-Type", "text/html"), ("Content-Length", str(len(body)))],
                protocol="HTTP/1.1",
            )
            record = writer.create_warc_record(
                source["url"],
                "response",
                payload=io.BytesIO(body),
                http_headers=headers,
                warc_headers_dict={"WARC-Date": when.strftime("%Y-%m-%dT%H:%M:%SZ")},
            )
            offset = fh.tell()
            writer.write_record(record)
            rows.append(
                {
                    "source_id": source_ids[n // 10],
                    "url": source["url"],
                    "surt": source["surt"],
                    "captured_at": when,
                    "status": 200,
                    "mime": "text/html",
                    "payload_digest": record.rec_headers.get_header("WARC-Payload-Digest"),
                    "record_type": "response",
                    "warc_file_id": file_id,
                    "offset": offset,
                    "length": fh.tell() - offset,
                    "via": "http",
                    "outcome": "ok",
                }
            )
            if len(rows) == 5000:
                session.execute(insert(Snapshot), rows)
                rows = []
        if rows:
            session.execute(insert(Snapshot), rows)
        session.execute(WarcFile.__table__.update().values(closed_at=start, size=fh.tell()))
        session.commit()
    sessions.kw["bind"].dispose()
    return wanted


# --- timing ------------------------------------------------------------------------------------


def time_gets(port: int, paths: list[str]) -> list[float]:
    """Milliseconds per GET, each on a new connection. (On one keep-alive connection, a server
    that writes headers and body separately without TCP_NODELAY, as pywb's and Python's do,
    waits about 40 ms for the client's delayed ACK: a loopback artefact, not the servers' work.)"""
    took = []
    for path in paths:
        started = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        conn.close()
        took.append((time.perf_counter() - started) * 1000)
        if response.status != 200:
            raise SystemExit(f"GET {path} answered {response.status}")
    return took


def interleaved(ours: int, peer: int, paths: list[str], chunk: int = 25) -> tuple[list[float], list[float]]:
    """The same requests to both servers, in chunks that alternate which goes first, so that
    the machine's drift falls on both alike."""
    mine: list[float] = []
    theirs: list[float] = []
    for n, i in enumerate(range(0, len(paths), chunk)):
        part = paths[i : i + chunk]
        peer_part = [p.replace("/citewatch/", "/peer/", 1) for p in part]
        if n % 2:
            theirs += time_gets(peer, peer_part)
            mine += time_gets(ours, part)
        else:
            mine += time_gets(ours, part)
            theirs += time_gets(peer, peer_part)
    return mine, theirs


def summary(ms: list[float]) -> tuple[float, float]:
    ordered = sorted(ms)
    return statistics.median(ordered), ordered[max(0, int(len(ordered) * 0.95) - 1)]


def line(name: str, ms: list[float], peer: list[float] | None = None) -> str:
    median, p95 = summary(ms)
    text = f"  {name:<44} median {median:7.1f} ms   p95 {p95:7.1f} ms"
    if peer is not None:
        text += f"   ({median / summary(peer)[0]:.2f}x the peer's median)"
    return text


def pywb_peer(settings: Any, work: Path) -> tuple[subprocess.Popen[Any], int]:
    """pywb over a cdxj-indexer index of the same WARC files."""
    folder = work / "peer"
    (folder / "index").mkdir(parents=True)
    warcs = sorted(str(p) for p in settings.warc_dir.glob("*.warc.gz"))
    with open(folder / "index" / "index.cdxj", "wb") as out:
        done = subprocess.run([str(REPLAY_BIN / "cdxj-indexer"), "--sort", *warcs], stdout=out)
    if done.returncode != 0:
        raise SystemExit("cdxj-indexer failed")
    (folder / "config.yaml").write_text(
        f'{{"collections": {{"peer": {{"index_paths": "{folder / "index"}", '
        f'"archive_paths": ["{settings.warc_dir}/"]}}}}, "enable_memento": true, "framed_replay": false}}\n'
    )
    port = free_port()
    proc = subprocess.Popen(
        [str(REPLAY_BIN / "wayback"), "-b", "127.0.0.1", "-p", str(port)],
        cwd=folder,
        env={**os.environ, "PYWB_CONFIG_FILE": str(folder / "config.yaml")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_port(port, proc, "the peer pywb")
    return proc, port


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--snapshots", type=int, default=100_000, help="Snapshots in the database.")
    parser.add_argument("--pages", type=int, default=20, help="Real pages cited, captured and edited.")
    parser.add_argument("--requests", type=int, default=300, help="Timed requests per figure.")
    parser.add_argument("--keep", action="store_true", help="Keep the work folder.")
    parser.add_argument("--database", help="An empty database to use instead of SQLite (postgresql://...).")
    args = parser.parse_args()

    from archive.db import connect
    from archive.replay.server import ReplayServer
    from archive.settings import load_settings

    work = Path(tempfile.mkdtemp(prefix="citewatch-bench-replay-"))
    home = work / "home"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CITEWATCH_")},
        "CITEWATCH_HOME": str(home),
        "CITEWATCH_ALLOW_PRIVATE_NETWORKS": "1",
        "CITEWATCH_HOST_DELAY": "0",
        "CITEWATCH_PAGE_REQUISITES": "0",
        "CITEWATCH_PROBE_SOFT_404": "0",
    }
    if args.database:
        env["CITEWATCH_DATABASE_URL"] = args.database
    settings = load_settings(env=env)
    rng = random.Random(1)
    procs: list[subprocess.Popen[Any]] = []
    try:
        started = time.perf_counter()
        real_data(env, work, args.pages)
        added = filler(settings, args.snapshots)
        print(
            f"data: {args.pages} real pages captured twice, {added:,} filler captures "
            f"({time.perf_counter() - started:.0f} s)"
        )

        sessions = connect(settings.effective_database_url)
        from sqlalchemy import select

        from archive.models import Change, Snapshot

        with sessions() as session:
            snaps = session.execute(
                select(Snapshot.url, Snapshot.captured_at).where(Snapshot.offset.is_not(None))
            ).all()
            changes = list(session.scalars(select(Change.id)))
        print(f"snapshots in the database: {len(snaps):,}; changes: {len(changes)}")

        replay = ReplayServer(settings, sessions, port=0)
        started = time.perf_counter()
        indexed = replay.start()
        took = time.perf_counter() - started
        print(f"replay index built from the database: {indexed:,} captures in {took:.1f} s")
        procs.append(replay.process)  # type: ignore[arg-type]
        peer, peer_port = pywb_peer(settings, work)
        procs.append(peer)

        sample = [rng.choice(snaps) for _ in range(args.requests)]
        stamps = [(url, when.strftime("%Y%m%d%H%M%S")) for url, when in sample]
        raw = [f"/citewatch/{ts}id_/{url}" for url, ts in stamps]
        rewritten = [f"/citewatch/{ts}/{url}" for url, ts in stamps]
        time_gets(replay.port, raw[:20])  # warm both servers
        time_gets(peer_port, [p.replace("/citewatch/", "/peer/") for p in raw[:20]])
        ours_raw, peer_raw = interleaved(replay.port, peer_port, raw)
        ours_rw, peer_rw = interleaved(replay.port, peer_port, rewritten)
        print(f"\nreplay through pywb, {args.requests} random captures of {indexed:,} indexed:")
        print(line("citewatch replay, archived bytes (id_)", ours_raw, peer_raw))
        print(line("peer: pywb over cdxj-indexer, id_", peer_raw))
        print(line("citewatch replay, rewritten page", ours_rw, peer_rw))
        print(line("peer: pywb over cdxj-indexer, rewritten", peer_rw))

        if not changes:
            raise SystemExit("no changes were recorded: the change page cannot be timed")
        port = free_port()
        ui = subprocess.Popen(
            [str(BIN / "citewatch"), "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(ui)
        wait_port(port, ui, "citewatch serve")
        pages = [f"/changes/{rng.choice(changes)}" for _ in range(args.requests)]
        time_gets(port, pages[:10])
        ours_ui = time_gets(port, pages)
        static = work / "static"
        static.mkdir()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for change in set(pages):
            conn.request("GET", change)
            (static / change.rsplit("/", 1)[1]).write_bytes(conn.getresponse().read())
        conn.close()
        httpd, static_port = serve(SimpleHTTPRequestHandler, static)
        SimpleHTTPRequestHandler.log_message = lambda *a: None  # type: ignore[method-assign]
        SimpleHTTPRequestHandler.protocol_version = "HTTP/1.1"
        peer_ui = time_gets(static_port, ["/" + p.rsplit("/", 1)[1] for p in pages])
        httpd.shutdown()
        print(f"\nchange page (word diff, claims touched, replay links), {args.requests} requests:")
        print(line("citewatch serve, /changes/ID", ours_ui, peer_ui))
        print(line("peer: the same bytes as static files", peer_ui))
        sessions.kw["bind"].dispose()
    finally:
        for proc in procs:
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(10)
        if args.keep:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
