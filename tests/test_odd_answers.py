"""Odd answers are properties of the source, named as such: never ``error``, which is kept for
citewatch's own failures. Each is recorded with a one-line message, and the source stays
scheduled."""

from __future__ import annotations

import json

import pytest

from tests import webserver as ws

CASES = [
    ("/to-bad-ipv6", ws.redirect("http://[bad"), "bad-redirect"),
    ("/to-javascript", ws.redirect("javascript:alert(1)"), "bad-redirect"),
    (
        "/bad-gzip",
        ws.static(b"\x1f\x8b\x08\x00not really gzip at all" * 20, headers={"Content-Encoding": "gzip"}),
        "bad-encoding",
    ),
]


@pytest.mark.parametrize(("path", "route", "outcome"), CASES, ids=[c[0] for c in CASES])
def test_an_odd_answer_is_named_recorded_and_scheduled(home, server, path, route, outcome) -> None:  # type: ignore[no-untyped-def]
    url = server.route(path, route)
    home.run("track", url, check=True)
    proc = home.run("capture", url, "--no-requisites", "--json")
    assert proc.returncode == 1, proc.stderr
    (result,) = json.loads(proc.stdout)
    assert result["outcome"] == outcome, result
    assert result["message"] and "\n" not in result["message"] and "Error" not in result["message"][:6]
    assert "Traceback" not in proc.stderr
    attempts = json.loads(home.run("snapshots", url, "--json", check=True).stdout)
    assert any(a["outcome"] == outcome for a in attempts), attempts
    tracked = json.loads(home.run("track", url, "--json", check=True).stdout)
    assert tracked["next_check_at"] is not None and not tracked["paused"]


def test_a_slow_robots_txt_is_one_line_not_a_traceback(home, server) -> None:  # type: ignore[no-untyped-def]
    server.route("/robots.txt", ws.slow(5.0, b"User-agent: *\nDisallow:\n"))
    url = server.route("/page", ws.static(b"<html><title>p</title><p>A page.</p></html>"))
    env = {"CITEWATCH_OBEY_ROBOTS_CITED": "1", "CITEWATCH_TIMEOUT": "1", "CITEWATCH_RETRIES": "0"}
    proc = home.run("capture", url, "--no-requisites", env=env)
    assert "Traceback" not in proc.stderr and " ERROR " not in proc.stderr, proc.stderr
    problems = [line for line in proc.stderr.splitlines() if "robots" in line.lower()]
    assert len(problems) <= 1, proc.stderr
