"""One pipeline: every capture (capture, add, web jobs, the daemon) is recorded, analysed, retried
in the browser when thin and scheduled by archive/pipeline.py, and the library never runs its own
command line."""

from __future__ import annotations

import ast
import json
import os
import random
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from archive.db import connect
from archive.models import Source
from archive.settings import load_settings
from crawler.jobs import JobProcess
from tests import webserver as ws
from tests.test_changes import BODY, page

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("archiver", ["1", "0"], ids=["beside-the-crawl", "in-the-crawl"])
def test_each_capture_leaves_analysed_and_scheduled(home, server, archiver: str) -> None:  # type: ignore[no-untyped-def]
    """With the archiver process (the pipeline beside the crawl) and without it (in the crawl's
    process), a capture comes back with its source, its analysis and its recorded check."""
    home.env["CITEWATCH_ARCHIVER_PROCESS"] = archiver
    url = server.route("/story", ws.static(page(BODY, random.Random(1)).encode()))
    home.run("track", url, check=True)  # tracked: a manual capture counts as its check
    first = json.loads(home.run("capture", "--json", url, check=True).stdout)[0]
    edited = [BODY[0].replace("253,000", "258,000"), *BODY[1:]]
    server.route("/story", ws.static(page(edited, random.Random(2)).encode()))
    second = json.loads(home.run("capture", "--json", url, check=True).stdout)[0]
    sessions = connect(home.database_url())
    with sessions() as session:
        source = session.scalars(select(Source).where(Source.url == url)).one()
        checked_at, next_at = source.last_checked_at, source.next_check_at
    sessions.kw["bind"].dispose()
    assert first["source_id"] == second["source_id"] == source.id
    assert first["analysis"]["state"] == "content" and first["analysis"]["change"] is None
    assert second["analysis"]["change"]["kind"] == "content", second
    assert second["analysis"]["change"]["new_snapshot_id"] == second["snapshot_id"]
    assert checked_at is not None and next_at is not None and next_at > checked_at
    assert second["next_check_at"] == next_at.isoformat() + "Z"


def test_analysis_off_still_records_the_check(home, server) -> None:  # type: ignore[no-untyped-def]
    home.env["CITEWATCH_ANALYSE_CAPTURES"] = "0"
    url = server.route("/story", ws.static(page(BODY, random.Random(1)).encode()))
    home.run("track", url, check=True)
    result = json.loads(home.run("capture", "--json", url, check=True).stdout)[0]
    assert result["analysis"] is None and result["next_check_at"] is not None


def _dropped_after_first(thin: bytes) -> ws.Route:
    """The thin page once; every later request gets its connection closed with no answer."""
    served = [0]

    def route(h: ws.Handler) -> None:
        served[0] += 1
        if served[0] == 1:
            h.send_body(200, thin)
        else:
            h.close_connection = True

    return route


@pytest.mark.browser
@pytest.mark.slow
def test_a_browser_retry_that_fails_keeps_the_http_capture(home, server) -> None:  # type: ignore[no-untyped-def]
    full = [f"{p} (section {i})" for i, p in enumerate(BODY * 2)]
    url = server.route("/story", ws.static(page(full).encode()))
    home.run("capture", url, check=True)
    server.route("/story", _dropped_after_first(page(full[:1], random.Random(4)).encode()))
    proc = home.run("capture", "--json", url)
    assert "capturing " + url + " again in the browser" in proc.stderr, proc.stderr
    result = json.loads(proc.stdout)[0]
    assert result["via"] == "http" and result["outcome"] == "ok", result
    assert "the browser capture failed" in result["message"]
    assert result["analysis"]["state"] == "problem", result["analysis"]
    assert len(server.requests_for("/story")) >= 2, "the browser asked too"


def _citewatch_commands(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, enclosing function) of every list literal that runs ``-m citewatch``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                if isinstance(inner, ast.List):
                    words = [e.value for e in inner.elts if isinstance(e, ast.Constant)]
                    if any(words[i : i + 2] == ["-m", "citewatch"] for i in range(len(words))):
                        found.append((inner.lineno, node.name))
    return found


def test_the_library_never_runs_its_own_command_line() -> None:
    """Only the daemon starts processes of the command line (its workers); everything else calls
    the library, in a spawned process where a crawl needs one (crawler/jobs.py)."""
    files = [
        ROOT / "citewatch.py",
        ROOT / "scheduler.py",
        *ROOT.glob("archive/**/*.py"),
        *ROOT.glob("crawler/**/*.py"),
    ]
    runs = {
        (path.relative_to(ROOT).as_posix(), function)
        for path in files
        for _line, function in _citewatch_commands(ast.parse(path.read_text(encoding="utf-8")))
    }
    assert runs == {("scheduler.py", "_start_worker")}, runs
    planted = ast.parse("def f():\n    run([sys.executable, '-m', 'citewatch', 'add', url])\n")
    assert _citewatch_commands(planted) == [(2, "f")], "the check finds what it looks for"


def test_a_job_process_answers_and_can_be_stopped(home, server, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    for name, value in home.env.items():
        if name.startswith("CITEWATCH_"):
            monkeypatch.setenv(name, value)
    settings = load_settings({"home": str(home.path)})
    url = server.route("/story", ws.static(page(BODY, random.Random(1)).encode()))
    job = JobProcess(settings, "capture", {"url": url})
    outcome = job.wait(timeout=120)
    assert outcome is not None and outcome.code == 0, outcome
    (result,) = outcome.result
    assert result["url"] == url and result["outcome"] == "ok" and result["snapshot_id"]
    slow = server.route("/slow", ws.slow(60))
    stuck = JobProcess(settings, "capture", {"url": slow})
    assert stuck.wait(timeout=3) is None, "still fetching"
    started = time.monotonic()
    stuck.stop(force=True)
    ended = stuck.wait(timeout=30)
    assert ended is not None and ended.code == 1 and "without an answer" in (ended.error or "")
    assert time.monotonic() - started < 30 and not stuck.process.is_alive()


def _text_jobs(home) -> list[Any]:  # type: ignore[no-untyped-def]
    """What extracting each page captured in ``home`` takes (as the analyst's pool is given it)."""
    from archive.changes.analysis import Analyser
    from archive.models import Snapshot

    sessions = connect(home.database_url())
    with sessions() as session:
        analyser = Analyser(session, home.warc_dir)
        rows = session.scalars(select(Snapshot).where(Snapshot.mime == "text/html"))
        jobs = [job for row in rows if (job := analyser._job(row)) is not None]
    sessions.kw["bind"].dispose()
    return jobs


def test_texts_extracted_side_by_side_are_the_texts_extracted_here(home, server, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from archive.changes import analysis

    home.env["CITEWATCH_ANALYSE_CAPTURES"] = "0"
    urls = [server.route(f"/story/{n}", ws.static(page(BODY, random.Random(n)).encode())) for n in range(6)]
    broken = server.route("/broken", ws.static(b"<html><body><p>" + b"\xff\xfe\x00" * 500 + b"</p>"))
    home.run("capture", *urls, broken, check=True)
    jobs = _text_jobs(home)
    assert len(jobs) == 7
    here = [analysis.extract_job(job) for job in jobs]
    assert all(isinstance(found, dict) and found["text"] for found in here[:6]), here
    pool = analysis.ExtractorPool(2)
    try:
        assert pool(jobs) == here
    finally:
        pool.close()
    # An extraction process that dies takes its batch back to the analyst: nothing is lost.
    _ORIGINAL[:] = [analysis.extract_job, os.getpid()]
    monkeypatch.setattr(analysis, "extract_job", _dies_in_a_pool)
    pool = analysis.ExtractorPool(2)
    try:
        assert pool(jobs) == here
        assert pool(jobs) == here  # and goes on without the pool
    finally:
        pool.close()


_ORIGINAL: list[Any] = []  # extract_job, and the test's own process


def _dies_in_a_pool(job: Any) -> Any:
    if os.getpid() != _ORIGINAL[1]:
        os._exit(1)
    return _ORIGINAL[0](job)
