"""citewatch against a hostile web server: every bad answer ends in a named outcome, in bounds.

tests/hostile.py serves over ninety hostile behaviours on 127.0.0.1 (redirect loops, endless and
lying bodies, slowloris, gzip/deflate/brotli/zstd bombs, broken chunking, lying charsets,
pathological HTML, broken status lines and headers, resets, TLS on a plain port, hostile
robots.txt files). For each, the test asserts that citewatch

- records one of its named outcomes, the one the behaviour expects (never ``error``, which is
  kept for citewatch's own bugs), with a one-line message and no traceback on stderr;
- writes WARC files that ``warcio check`` accepts, and archives the response when there was one
  (marked ``WARC-Truncated`` when it was cut);
- keeps the attempt in the database with the same outcome (``citewatch snapshots`` for a sample,
  the rows themselves for every case);
- stays under ``RSS_BOUND`` bytes of memory in its largest process.

The cases are ``citewatch capture --json --no-requisites`` runs, side by side, started once at
module set-up (the tests assert over their results): the plain cases; the robots.txt cases
(``CITEWATCH_OBEY_ROBOTS_CITED=1``, a server each: robots.txt is per host); and, when there are
any, the known defects (``Behaviour.xfail``), whose WARC files may fail their check and must not
fail the others'. Bodies sent as br or zstd are checked with archive/store/warcio_codecs.py's decoders
(tests/conftest.py ``warcio_check``).
Short timeouts and a 16 MB body cap keep the slow and the endless cases to a few seconds; the
module takes about 20 s. Under pytest-xdist the runs happen once, in whichever worker gets
there first. Run::

    .venv/bin/python -m pytest -q tests/test_hostile.py -p no:cacheprovider
"""

from __future__ import annotations

import concurrent.futures
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from warcio.archiveiterator import ArchiveIterator

from archive.store.index import shown_outcome
from tests import hostile
from tests.conftest import VENV_BIN, Home, _base_env, run_once, warcio_check
from tests.warcs import snapshot_rows

# The peak resident memory allowed to the largest process of a run (the crawl, or the archiver
# process it starts), in bytes. A run of all cases peaks near 400 MB; a plain page, near 100 MB.
RSS_BOUND = 600 << 20
ENV = {
    # Long enough for a 16 MB stream to reach the cap on a loaded 2-core machine (the suite
    # runs beside it, and so do the capture's archiver and analyst); short for a stall.
    "CITEWATCH_TIMEOUT": "8",
    "CITEWATCH_RETRIES": "0",
    "CITEWATCH_MAX_RESPONSE_SIZE": str(hostile.MAX_RESPONSE_SIZE),
    # citewatch's default overall concurrency, and as much per host: the plain cases share one.
    # (At 128 the big bodies all arrive at once, and the peak RSS wanders between 390 and 510 MB.)
    "CITEWATCH_HOST_CONCURRENCY": "32",
    "CITEWATCH_CONCURRENCY": "32",
    # Pathological pages show no text; they must not go to Chromium: that is another suite.
    "CITEWATCH_AUTO_BROWSER": "0",
}
# Outcomes whose capture archived a response: its record must be in the WARC files.
ARCHIVED = {"ok", "truncated", "http-4xx", "http-5xx", "too-large", "bad-redirect"}
# A sample that `citewatch snapshots URL --json` is asked about (every case is looked up in the
# database rows directly).
CLI_SAMPLE = [
    "redirect-loop",
    "redirect-chain-50",
    "redirect-to-file",
    "endless-body",
    "silent",
    "gzip-bomb",
    "bomb-at-redirect-path",
    "chunked-bad-size",
    "status-999",
    "tls-on-http",
    "robots-odd-disallow",
]
# The python that measures: it runs the command and reports the peak RSS of its children (in
# KiB, Linux's ru_maxrss), which includes every process they waited for in turn.
_METER = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[2:]).returncode\n"
    "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
    "sys.exit(code)\n"
)


def measured(command: list[str], report: Path, **kwargs: Any) -> tuple[subprocess.CompletedProcess[str], int]:
    """Run ``command``; its result and the peak RSS (bytes) of its largest process."""
    proc = subprocess.run([sys.executable, "-c", _METER, str(report), *command], **{"timeout": 240, **kwargs})
    return proc, int(report.read_text()) * 1024


def _records(home: Home) -> dict[str, list[dict[str, Any]]]:
    """URI -> the response records archived for it (what the tests look at)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for path in home.warcs():
        with path.open("rb") as handle:
            # (not tests/warcs.read_records: it decodes payloads, and warcio cannot decode the
            # brotli and zstd ones these servers send unasked)
            for r in ArchiveIterator(handle):
                if r.rec_type in ("response", "revisit"):
                    found.setdefault(r.rec_headers.get_header("WARC-Target-URI"), []).append(
                        {
                            "status": r.http_headers.get_statuscode() if r.http_headers else None,
                            "truncated": r.rec_headers.get_header("WARC-Truncated"),
                        }
                    )
    return found


def _rows(home: Home) -> dict[str, list[str]]:
    """URL -> the outcomes its Snapshot rows show (as `citewatch snapshots` names them)."""
    found: dict[str, list[str]] = {}
    for row in snapshot_rows(home.database_url()):
        found.setdefault(row["url"], []).append(shown_outcome(row["outcome"], row["status"]))
    return found


def _texts(home: Home) -> dict[str, str]:
    """URL -> the text extracted from its captures (joined)."""
    engine = create_engine(home.database_url())
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "select s.url, t.text from snapshots s"
                " join extracted_texts t on t.payload_digest = s.payload_digest order by s.id"
            )
        ).all()
    engine.dispose()
    found: dict[str, str] = {}
    for url, body in rows:
        found[url] = found.get(url, "") + body
    return found


def _cli_attempts(home: Home, urls: list[str]) -> dict[str, list[str]]:
    def outcomes(url: str) -> list[str]:
        proc = home.run("snapshots", url, "--json", timeout=60)
        return [a["outcome"] for a in json.loads(proc.stdout)] if proc.returncode == 0 else [proc.stderr]

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        return dict(zip(urls, pool.map(outcomes, urls), strict=True))


def _run(behaviours: list[hostile.Behaviour], path: Path, extra: dict[str, str]) -> dict[str, Any]:
    """Capture every case of ``behaviours`` in one citewatch run; what the tests look at."""
    home = Home(path, _base_env(path))
    with hostile.serving(behaviours) as found:
        urls = {case: url for case, (_, url) in found.items()}
        command = [str(VENV_BIN / "citewatch"), "capture", "--json", "--no-requisites", *urls.values()]
        env = {**home.env, **ENV, **extra}
        started = time.monotonic()
        proc, rss = measured(
            command, path.parent / "rss", capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL
        )
        seconds = time.monotonic() - started
        servers = {id(s): s for s, _ in found.values()}.values()
        server_errors = [e for s in servers for e in s.errors]
        asked_robots = {case: bool(s.requests_for("/robots.txt")) for case, (s, _) in found.items()}
    return {
        "returncode": proc.returncode,
        "stderr": proc.stderr,
        "seconds": round(seconds, 1),
        "rss": rss,
        "server_errors": server_errors,
        "asked_robots": asked_robots,
        **_findings(home, proc.stdout, urls),
    }


def _findings(home: Home, stdout: str, urls: dict[str, str]) -> dict[str, Any]:
    """Each case's result, and what the run left: the WARC check, records, rows, listings."""
    try:
        by_url = {r["url"]: r for r in json.loads(stdout)}
    except ValueError:
        by_url = {}
    results = {case: by_url.get(url) for case, url in urls.items()}
    try:
        warcio_check(home.warcs())
        warc_problem = None
    except AssertionError as exc:
        warc_problem = str(exc)
    sample = [urls[c] for c in CLI_SAMPLE if c in urls]
    sample += [r["final_url"] for c, r in results.items() if c in CLI_SAMPLE and r and r["final_url"]]
    return {
        "results": results,
        "warc_problem": warc_problem,
        "records": _records(home),
        "rows": _rows(home),
        "texts": _texts(home),
        "cli": _cli_attempts(home, sorted(set(sample))),
    }


EVERY = hostile.BEHAVIOURS + hostile.ROBOTS
BY_ID = {b.id: b for b in EVERY}


def _run_of(b: hostile.Behaviour) -> str:
    """Which run a case is in. The known defects have their own, so that a WARC file failing
    its check on their account fails no other case."""
    return "robots" if b.robots else "known-defects" if b.xfail else "plain"


RUNS: dict[str, dict[str, str]] = {"plain": {}, "robots": {"CITEWATCH_OBEY_ROBOTS_CITED": "1"}}
if any(b.xfail for b in EVERY):
    RUNS["known-defects"] = {}


def _run_all(root: Path) -> dict[str, Any]:
    hostile.BOMBS.build()  # before the clock starts: a bomb built on request would eat the timeout
    with concurrent.futures.ThreadPoolExecutor(len(RUNS)) as pool:
        futures = {
            name: pool.submit(_run, [b for b in EVERY if _run_of(b) == name], root / name / "home", extra)
            for name, extra in RUNS.items()
        }
        return {name: future.result() for name, future in futures.items()}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> dict[str, Any]:
    """Every run's results, once per session (the xdist workers share them)."""
    return run_once(tmp_path_factory, worker_id, "hostile-suite", _run_all)


class WarcCheckFailed(AssertionError):
    """warcio check refused a run's WARC files (what a known defect's xfail expects, and no
    other failure)."""


def _case(b: hostile.Behaviour) -> Any:
    marks = [pytest.mark.xfail(reason=b.xfail, strict=True, raises=WarcCheckFailed)] if b.xfail else []
    return pytest.param(b, id=b.id, marks=marks)


CASES = [_case(b) for b in EVERY]


def test_there_are_at_least_forty_distinct_behaviours() -> None:
    ids = [b.id for b in EVERY]
    assert len(set(ids)) == len(ids) >= 40
    assert all(b.expected and "error" not in b.expected for b in EVERY)


@pytest.mark.parametrize("behaviour", CASES)
def test_a_hostile_answer_is_named_archived_recorded_and_bounded(
    runs: dict[str, Any], behaviour: hostile.Behaviour
) -> None:
    run = runs[_run_of(behaviour)]
    result = run["results"][behaviour.id]
    assert result is not None, f"no result for {behaviour.id}; stderr:\n{run['stderr'][-3000:]}"
    outcome, message = result["outcome"], result["message"]
    # (a) the outcome named for it
    assert outcome in behaviour.expected, f"{behaviour.why}: {outcome}: {message}"
    assert result["ok"] == (outcome in {"ok", "truncated"})
    # (b) one line, no traceback
    assert message.strip() and "\n" not in message and "\r" not in message, repr(message)
    assert "Traceback" not in run["stderr"], run["stderr"][-3000:]
    if behaviour.robots:  # what was hostile is what citewatch read first
        assert run["asked_robots"][behaviour.id], "robots.txt was never asked for"
    # the attempt is in the database, as the capture named it
    shown = [o for u in {result["url"], result["final_url"]} for o in run["rows"].get(u, [])]
    assert set(shown) & _as_recorded(outcome), (outcome, shown)
    # (d) memory
    assert run["rss"] < RSS_BOUND, f"peak RSS {run['rss'] >> 20} MB, above {RSS_BOUND >> 20} MB"
    # (c) the response archived when there was one, in WARC files that check
    if outcome in ARCHIVED:
        records = run["records"].get(result["final_url"]) or run["records"].get(result["url"])
        assert records, f"no response record for {result['final_url']}"
        if outcome == "truncated":
            assert any(r["truncated"] for r in records), records
    if run["warc_problem"] is not None:
        raise WarcCheckFailed(run["warc_problem"][-3000:])


def _as_recorded(outcome: str) -> set[str]:
    """What the database may show for a capture that ended ``outcome``: the same, or, for a
    page archived whole, what the text analysis made of it (archive/changes/analysis.py)."""
    return {outcome, "thin-text", "no-text"} if outcome == "ok" else {outcome}


@pytest.mark.parametrize("case", CLI_SAMPLE)
def test_citewatch_snapshots_lists_the_attempt(runs: dict[str, Any], case: str) -> None:
    """Listed under the URL asked for, a failure after redirects too (it was filed under the hop
    it happened at, where nobody looks)."""
    run = runs[_run_of(BY_ID[case])]
    result = run["results"][case]
    listed = run["cli"].get(result["url"], [])
    assert set(listed) & _as_recorded(result["outcome"]), (result["outcome"], listed)


@pytest.mark.parametrize("name", list(RUNS))
def test_each_run_is_whole_quick_and_the_server_sound(runs: dict[str, Any], name: str) -> None:
    run = runs[name]
    assert run["returncode"] == 1, run["stderr"][-3000:]  # some captures failed, as they must
    assert None not in run["results"].values()
    assert run["seconds"] < 120, run["seconds"]
    assert run["rss"] < RSS_BOUND, run["rss"] >> 20
    assert run["server_errors"] == []  # a behaviour that crashed tested nothing


def test_the_memory_meter_sees_an_allocation(tmp_path: Path) -> None:
    """The bound can fail: the meter reports what a child really held."""
    eat = [sys.executable, "-c", f"b = b'x' * {RSS_BOUND}; print(len(b))"]
    proc, rss = measured(eat, tmp_path / "rss", capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert rss >= RSS_BOUND, rss >> 20


@pytest.mark.parametrize("case", ["brotli-unasked", "zstd-unasked", "gzip-trailing"])
def test_a_page_in_an_encoding_not_asked_for_is_read_back(runs: dict[str, Any], case: str) -> None:
    """Archived as sent, and its text read back from the record (archive/store/warcio_codecs.py):
    warcio alone decoded neither brotli (1.2) nor zstd, and the page had no text."""
    result = runs[_run_of(BY_ID[case])]["results"][case]
    assert result["outcome"] == "ok", result
    assert result["analysis"]["state"] not in {"problem", "no-text"}, result["analysis"]


@pytest.mark.parametrize("case", ["endless-body", "gzip-bomb", "length-huge"])
def test_a_cut_or_refused_body_is_reported_as_such_not_as_unreadable(runs: dict[str, Any], case: str) -> None:
    """Its analysis names what happened to the body (truncated, too large), not "the archived
    record could not be read back", which it said when the body was too big to analyse."""
    result = runs[_run_of(BY_ID[case])]["results"][case]
    assert result["analysis"]["reason"] != "the archived record could not be read back", result
    assert result["analysis"]["reason"] in {
        "the capture was truncated",
        "the response was larger than the size limit",
    }


@pytest.mark.parametrize("case", ["utf16-bom", "utf16-no-bom", "utf16-no-bom-undeclared"])
def test_utf16_text_is_read_as_a_browser_reads_it(runs: dict[str, Any], case: str) -> None:
    """``charset=utf-16`` without a BOM is little-endian, as browsers read it (it was read
    big-endian, into CJK-looking noise); with a BOM, or undeclared, as the bytes say."""
    run = runs[_run_of(BY_ID[case])]
    result = run["results"][case]
    assert "Über 253 000 Fälle." in run["texts"].get(result["final_url"] or result["url"], ""), result
