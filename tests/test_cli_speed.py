"""The read commands stay quick to answer: what they import, not how long they take.

A read command (status, changes, citations, snapshots, diff, config) costs little
more than starting Python and SQLAlchemy when it imports only what it uses
(docs/architecture.md, "CLI speed"; bench/cli.py times it). These tests run each
one and look at ``sys.modules`` when it is done: a heavy library imported at the
top of a module on the read path again makes them fail, whatever the machine's speed.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from datetime import datetime, timedelta

import pytest

from archive import db

# What no read command needs: the crawler and its browser, the web server, text extraction
# and HTML parsing, migrations, feeds, notifications, ranking, scheduling, writing WARC records.
HEAVY = (
    "scrapy",
    "twisted",
    "playwright",
    "scrapy_playwright",
    "fastapi",
    "uvicorn",
    "jinja2",
    "trafilatura",
    "lxml",
    "justext",
    "markdown_it",
    "pypdf",
    "alembic",
    "feedgen",
    "feedparser",
    "httpx",
    "apprise",
    "numpy",
    "rank_bm25",
    "apscheduler",
    "warcio",
)
# surt (and with it tldextract and requests) only where a URL is looked up by its SURT key.
URL_KEYS = ("surt", "tldextract", "requests")

PROBE = """
import json, runpy, sys
report, sys.argv = sys.argv[1], ["citewatch", *sys.argv[2:]]
code = 0
try:
    runpy.run_module("citewatch", run_name="__main__", alter_sys=True)
except SystemExit as exc:
    code = exc.code or 0
with open(report, "w") as f:
    json.dump({"code": code, "modules": sorted(sys.modules)}, f)
"""

PAGE = "http://speed.example/story"


def loaded(home, tmp_path, *args: str) -> set[str]:
    """The modules ``citewatch ARGS`` imported (it must succeed)."""
    report = tmp_path / "modules.json"
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, str(report), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=home.env,
        stdin=subprocess.DEVNULL,
    )
    assert report.exists(), proc.stderr
    found = json.loads(report.read_text())
    assert found["code"] == 0, f"citewatch {' '.join(args)} failed:\n{proc.stderr}"
    return set(found["modules"])


def packages(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted({m.split(".")[0] for m in modules} & set(names))


@pytest.fixture
def captured(home) -> tuple[int, int]:
    """A data folder with two captures of PAGE and their extracted text (what diff compares)."""
    from archive.models import ExtractedText, Snapshot

    home.run("init", check=True)
    sessions = db.connect(home.database_url())
    now = datetime(2026, 12, 1, 12, 0)
    with sessions() as session:
        rows = []
        for n, text in enumerate(["Inspectors counted 253 trucks.", "Inspectors counted 235 trucks."]):
            digest = f"sha1:SPEED{n}"
            session.add(
                ExtractedText(payload_digest=digest, extractor="trafilatura", text=text, extracted_at=now)
            )
            rows.append(
                Snapshot(
                    url=PAGE,
                    surt="example,speed)/story",
                    captured_at=now + timedelta(hours=n),
                    status=200,
                    mime="text/html",
                    payload_digest=digest,
                    record_type="response",
                )
            )
        session.add_all(rows)
        session.commit()
        ids = rows[0].id, rows[1].id
    sessions.kw["bind"].dispose()
    return ids


def test_read_commands_import_no_heavy_library(home, tmp_path, captured):
    old, new = map(str, captured)
    for args in [
        ("status",),
        ("status", "--json"),
        ("changes",),
        ("changes", "--json"),
        ("changes", "--kind", "content", "--json"),
        ("citations",),
        ("citations", "--json"),
        ("diff", old, new),
        ("diff", old, new, "--json"),
        ("config",),
    ]:
        modules = loaded(home, tmp_path, *args)
        assert packages(modules, HEAVY + URL_KEYS) == [], f"citewatch {' '.join(args)}"
    # A listing in JSON needs no rich at all.
    for args in [
        ("status", "--json"),
        ("changes", "--json"),
        ("citations", "--json"),
        ("diff", old, new, "--json"),
    ]:
        assert "rich.console" not in loaded(home, tmp_path, *args), f"citewatch {' '.join(args)}"


def test_snapshots_imports_surt_but_nothing_heavy(home, tmp_path, captured):
    modules = loaded(home, tmp_path, "snapshots", PAGE, "--json")
    assert "surt" in modules  # the lookup is by SURT key, as the captures were stored
    assert packages(modules, (*HEAVY, "tldextract", "requests")) == []  # surt's, for what it never does
    assert "rich.console" not in modules


SURT_CHECK = """
import sys
from archive.store.index import surt_key
key = surt_key("https://www.Example.co.uk/a?b=1&a=2")
assert "tldextract" not in sys.modules and "requests" not in sys.modules, "imported with surt"
import tldextract
assert type(tldextract).__name__ == "module" and sys.modules["tldextract"] is tldextract
handyurl = sys.modules["surt.handyurl"]
assert handyurl.tldextract is not tldextract and handyurl.tldextract.extract is tldextract.extract
print(key)
"""


def test_surt_without_tldextract_keys_as_surt_does():
    """surt loads without tldextract; surt's own use of it still works, on the real module."""
    import surt

    proc = subprocess.run([sys.executable, "-c", SURT_CHECK], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == surt.surt("https://www.Example.co.uk/a?b=1&a=2")


def test_a_database_behind_head_is_upgraded_or_refused(home, captured):
    """The start-up check reads one row: a database a migration behind is still brought to head
    by the commands that migrate, and refused by those that only read."""
    from alembic.script import ScriptDirectory

    engine = db.make_engine(home.database_url())
    script = ScriptDirectory.from_config(db.alembic_config(engine))
    previous = script.get_revision(db.HEAD).down_revision
    db.downgrade(engine, previous)
    assert db.current_revision(engine) == previous
    refused = home.run("snapshots", PAGE)
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        f"citewatch: error: the database {engine.url.render_as_string(hide_password=True)} is at revision "
        f"{previous}: run `citewatch db upgrade`"
    ]
    assert db.current_revision(engine) == previous
    home.run("status", "--json", check=True)
    assert db.current_revision(engine) == db.HEAD == script.get_current_head()
    engine.dispose()


SAMPLES = [
    "sources: 0 (0 tracked, 0 paused; none)",
    "next due: 2026-12-02T15:30:00",
    "citewatch: error: no snapshot 9: see `citewatch snapshots URL` for ids",
    "[bold]not markup[/]",
    "wide 中文 text and ünïcödé ✓ " * 6,
    "ESC \x1b[31m stays",
    "trailing   ",
    "two\nlines",
    "",
    # Emoji codes stay as written (the consoles have emoji off).
    "http://h.example:8080/a:b:c",
    "a :smile: b",
    # What rich rewrites, so the console hands it to rich: tabs, control codes.
    "tab\there",
    "bell\a and cr\r",
]


@pytest.mark.parametrize("stderr", [False, True])
def test_plain_lines_print_as_rich_prints_them(stderr):
    """Lines written without rich are the very lines rich writes."""
    from rich.console import Console

    from citewatch import _Console

    for text in SAMPLES:
        lazy, written = _Console(soft_wrap=True, stderr=stderr, emoji=False), io.StringIO()
        redirect = contextlib.redirect_stderr if stderr else contextlib.redirect_stdout
        with redirect(written):
            lazy.print(text, markup=False, highlight=False)
        expected = io.StringIO()
        Console(file=expected, soft_wrap=True, emoji=False).print(text, markup=False, highlight=False)
        assert written.getvalue() == expected.getvalue(), repr(text)
        rewritten = expected.getvalue() != text + "\n"
        assert (lazy._console is not None) == rewritten, repr(text)  # rich only when it changes the text


def test_rich_features_take_the_lazy_console():
    """A progress bar (rich's Live enters its console) runs on the console made on first use, and
    a line printed while it runs goes through rich, above the bar."""
    from rich.progress import BarColumn, Progress

    from citewatch import _Console

    written = io.StringIO()
    with contextlib.redirect_stderr(written):
        err = _Console(stderr=True, soft_wrap=True, force_terminal=True, width=60)
        bar = Progress(BarColumn(), console=err, transient=True)
        task = bar.add_task("capture", total=2)
        bar.start()
        bar.advance(task)
        err.print("a line while the bar runs", markup=False, highlight=False)
        bar.stop()
    assert err._console is not None and "a line while the bar runs\n" in written.getvalue()


FREEZE_CHECK = """
import atexit, gc, runpy, sys
atexit.register(lambda: print("frozen at exit:", gc.get_freeze_count() > 0))  # runs after citewatch's
sys.argv = ["citewatch", "config", "--json"]
runpy.run_module("citewatch", run_name="__main__", alter_sys=True)
"""


def test_no_garbage_collection_over_the_heap_at_exit(home):
    """What is alive at exit is frozen first: the interpreter's last collections skip it."""
    proc = subprocess.run(
        [sys.executable, "-c", FREEZE_CHECK], capture_output=True, text=True, timeout=60, env=home.env
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "frozen at exit: True"


def test_urls_print_as_written(home, server):
    """A URL with what looks like an emoji code (``:b:``) is printed as it is, in tables too."""
    from tests import webserver as ws

    url = server.route("/a:b:c", ws.static(b"<html><title>t</title><p>text</p></html>"))
    shown = home.run("capture", url, "--no-requisites", check=True)
    assert url in shown.stdout.replace("\n", ""), shown.stdout
