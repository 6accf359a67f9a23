"""The command line contract: exit codes, one-line errors, JSON shapes."""

from __future__ import annotations

import json

from archive import db
from tests import webserver as ws


def test_init_creates_the_data_folder_and_database(home):
    proc = home.run("init", check=True)
    assert str(home.path) in proc.stdout
    assert (home.path / "citewatch.db").exists() and (home.path / "warcs").is_dir()
    current = home.run("db", "current", check=True).stdout
    assert f"current: {db.HEAD}" in current and f"head: {db.HEAD}" in current
    assert f"database at revision {db.HEAD}" in home.run("db", "upgrade", check=True).stdout


def test_config_lists_every_setting_with_its_origin(home):
    proc = home.run("config", "--json", env={"CITEWATCH_TIMEOUT": "7"}, check=True)
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert rows["timeout"]["value"] == 7.0 and rows["timeout"]["origin"] == "environment"
    assert rows["concurrency"]["origin"] == "default"


def test_bad_setting_is_exit_2_without_traceback(home):
    proc = home.run("capture", "http://example.org/", env={"CITEWATCH_TIMEOUT": "never"})
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "citewatch: error: bad value for timeout (environment): could not convert string to float: 'never'"
    ]


def test_unreachable_database_is_exit_1_one_line(home):
    proc = home.run(
        "capture",
        "http://example.org/",
        env={"CITEWATCH_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"},
    )
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert (
        len(lines) == 1
        and lines[0].startswith("citewatch: error: cannot reach the database")
        and "Traceback" not in proc.stderr
    )


def test_snapshots_before_init_says_what_to_do(home):
    proc = home.run("snapshots", "http://example.org/")
    assert proc.returncode == 1 and "run `citewatch init` first" in proc.stderr


def test_snapshots_lists_captures_and_failures(home, server):
    url = server.route("/page", ws.static(ws.page_html("P", "<p>" + "words " * 100 + "</p>")))
    home.run("capture", url, check=True)
    home.run("capture", url, check=True)
    rows = json.loads(home.run("snapshots", "--json", url, check=True).stdout)
    assert [r["record_type"] for r in rows] == ["response", "revisit"]
    assert rows[0]["warc_file"].endswith(".warc.gz") and rows[0]["status"] == 200
    assert set(rows[0]) == {
        "id",
        "url",
        "captured_at",
        "status",
        "mime",
        "record_type",
        "outcome",
        "payload_digest",
        "warc_file",
        "offset",
        "length",
        "via",
        "error",
    }


def test_missing_chromium_is_a_clear_error(home, server):
    url = server.route("/page", ws.static(b"<p>x</p>"))
    proc = home.run(
        "capture", "--browser", url, env={"CITEWATCH_BROWSER_EXECUTABLE": "/nonexistent/chromium"}
    )
    assert proc.returncode == 1
    assert "Chromium not found at /nonexistent/chromium" in proc.stderr and "Traceback" not in proc.stderr
