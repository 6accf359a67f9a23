"""Fuzzing what parses input from strangers (tests/fuzz/), and every crash it found, replayed.

Each fuzz target runs under atheris in a subprocess for ``CITEWATCH_FUZZ_SECONDS`` (default 4)
with a per-input time budget; it fails on any crash, hang or out-of-memory input, and prints the
input. Its corpus and what libFuzzer writes go to the test's temporary folder, never into the
repository. A longer run: ``CITEWATCH_FUZZ_SECONDS=180 .venv/bin/python -m pytest -n 2
tests/test_fuzz.py``, or one target by hand: ``.venv/bin/python -m tests.fuzz.claims
-max_total_time=180``.

Every input that once broke citewatch is kept in ``tests/fuzz/crashes/<target>/`` and listed in
``CRASHES`` with what it broke; the replay tests run it through the same target, in process.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fuzz import harness

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ("ingest_html", "ingest_markdown", "ingest_text", "claims", "outlet_names", "urls", "discovery")
SECONDS = int(os.environ.get("CITEWATCH_FUZZ_SECONDS", "4"))
PER_INPUT = harness.DEFAULT_TIMEOUT
REPLAY_SECONDS = 5.0  # a replayed input slower than this is a hang come back

# (target, file in tests/fuzz/crashes/<target>/, what it broke)
CRASHES = [
    (
        "urls",
        "unclosed-ipv6-bracket",
        "normalise_url joined a link to its page's URL outside its try: urljoin's ValueError for "
        "'http://[::1' escaped, and an article page with such a link failed to be read",
    ),
    (
        "urls",
        "ipv6-port-without-colon",
        "check_url let 'http://[::1]80/x' through urlsplit (no port: nothing follows a colon) and "
        "w3lib's safe_url_string then raised ValueError, not BadURLError: a traceback, or a 500 "
        "from the API, instead of one line",
    ),
    (
        "ingest_text",
        "many-links-in-one-paragraph",
        "every link of a paragraph split the whole paragraph into sentences again to find its own "
        "(and every Markdown link rewrote the paragraph): 860 bare URLs in a 64 KB paragraph took 7 s",
    ),
    (
        "ingest_markdown",
        "many-links-in-one-paragraph",
        "the same, through from_markdown's blocks: 1,200 URLs in one 64 KB paragraph took 10 s",
    ),
    (
        "ingest_html",
        "tag-name-xml-refuses",
        "trafilatura re-parses the XML it writes, and a tag name that HTML parsers keep but XML "
        "refuses (<b'>) made that raise XMLSyntaxError out of from_html",
    ),
    (
        "discovery",
        "control-char-in-attribute-name",
        "page_links and feed_links read attributes through parsel's .attrib, which decodes all of "
        "an element's attributes: one whose name holds a control character raised ValueError and "
        "stopped the outlet's discovery",
    ),
    (
        "discovery",
        "feedparser-keyerror-on-link-in-link",
        "feedparser raised KeyError('links') from inside its own parser on a feed whose <link> "
        "held broken markup; parse_feed let it through, and the outlet's discovery stopped with "
        "a traceback instead of a line of its report",
    ),
    (
        "outlet_names",
        "unclosed-bracket-in-listed-url",
        "a source list's URL with an unclosed '[' ('https://www.theguardian.c[m/uk') made urlsplit "
        "raise ValueError out of registered_domain, and the article's outlet names were lost",
    ),
]


def _failure(target: str, proc: subprocess.CompletedProcess[str], artifacts: Path) -> str:
    lines = [f"fuzz target {target} failed (exit {proc.returncode})"]
    for found in sorted(artifacts.iterdir()):
        data = found.read_bytes()
        shown = repr(data[:2000]) + (f" ... ({len(data)} bytes)" if len(data) > 2000 else "")
        lines += [f"{found.name}: {shown}", f"  replay: python -m tests.fuzz.{target} {found}"]
    lines.append(proc.stderr[-6000:])
    return "\n".join(lines)


@pytest.mark.slow
@pytest.mark.timeout(SECONDS + PER_INPUT + 180)
@pytest.mark.parametrize("target", TARGETS)
def test_fuzzing_finds_no_crash(target: str, tmp_path: Path) -> None:
    corpus, artifacts = tmp_path / "corpus", tmp_path / "artifacts"
    corpus.mkdir()
    artifacts.mkdir()
    command = [
        sys.executable,
        "-m",
        f"tests.fuzz.{target}",
        f"-max_total_time={SECONDS}",
        f"-timeout={PER_INPUT}",
        f"-artifact_prefix={artifacts}{os.sep}",
        str(corpus),
        str(harness.SEEDS / target),
    ]
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    proc = subprocess.run(
        command,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        errors="replace",
        stdin=subprocess.DEVNULL,
        timeout=SECONDS + PER_INPUT + 150,
    )
    crashed = [p for p in artifacts.iterdir() if not p.name.startswith("slow-unit-")]
    assert proc.returncode == 0 and not crashed, _failure(target, proc, artifacts)
    assert "stat::number_of_executed_units" in proc.stderr, proc.stderr[-3000:]


def test_every_crash_is_listed() -> None:
    kept = {str(p.relative_to(harness.CRASHES)) for p in harness.CRASHES.glob("*/*")}
    assert kept == {f"{target}/{name}" for target, name, _ in CRASHES}


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("target", "name", "why"), CRASHES, ids=[f"{t}/{n}" for t, n, _ in CRASHES])
def test_crash_stays_fixed(target: str, name: str, why: str) -> None:
    module = importlib.import_module(f"tests.fuzz.{target}")
    data = (harness.CRASHES / target / name).read_bytes()
    getattr(module, "warm_up", lambda: None)()
    started = time.monotonic()
    module.TestOneInput(data)
    assert time.monotonic() - started < REPLAY_SECONDS, f"{target}/{name} is slow again: {why}"
