"""Removing what was added by mistake: an article, or a source's checks. Captures stay."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from sqlalchemy import select

from archive.db import connect
from archive.models import ArticleSource, Source
from tests import webserver as ws


def _article(tmp_path: Path, name: str, *urls: str) -> Path:
    links = " ".join(
        f"The ministry counted {1000 + i:,} cases in Brell ([report]({u}))." for i, u in enumerate(urls)
    )
    path = tmp_path / f"{name}.md"
    path.write_text(f"# {name}\n\n{links}\n", encoding="utf-8")
    return path


def _digests(home) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in home.warcs()}


def _sources(database_url: str) -> dict[str, Source]:
    sessions = connect(database_url)
    with sessions() as session:
        found = {s.url: s for s in session.scalars(select(Source))}
        session.expunge_all()
    sessions.kw["bind"].dispose()
    return found


def test_remove_article_keeps_captures_and_the_sources_others_cite(
    home, server, database_url, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    env = {"CITEWATCH_DATABASE_URL": database_url}
    only_a = server.route("/only-a", ws.static(b"<html><title>A</title><p>1,000 cases in Brell.</p></html>"))
    shared = server.route("/shared", ws.static(b"<html><title>S</title><p>1,001 cases in Brell.</p></html>"))
    mine = server.route("/mine", ws.static(b"<html><title>M</title><p>1,002 cases in Brell.</p></html>"))
    home.run("track", mine, env=env, check=True)  # the user tracks it too: removing A keeps it
    a = json.loads(
        home.run(
            "add", str(_article(tmp_path, "a", only_a, shared, mine)), "--json", env=env, check=True
        ).stdout
    )
    b = json.loads(
        home.run("add", str(_article(tmp_path, "b", shared)), "--json", env=env, check=True).stdout
    )
    warcs = _digests(home)
    assert warcs

    proc = home.run("remove", str(a["article"]["id"]), "--json", env=env, check=True)
    removed = json.loads(proc.stdout)
    assert removed["article_id"] == a["article"]["id"] and removed["untracked"] == [only_a]
    listed = json.loads(home.run("citations", "--json", env=env, check=True).stdout)
    assert [x["id"] for x in listed] == [b["article"]["id"]]
    gone = home.run("changes", "--article", str(a["article"]["id"]), env=env)
    assert gone.returncode == 2 and len(gone.stderr.strip().splitlines()) == 1

    # Captures stay readable, WARC files untouched; only the source no other article cites stops.
    assert _digests(home) == warcs
    snaps = json.loads(home.run("snapshots", only_a, "--json", env=env, check=True).stdout)
    assert snaps and all(s["url"] == only_a for s in snaps)
    sources = _sources(database_url)
    assert sources[only_a].paused and sources[only_a].next_check_at is None
    assert sources[only_a].untracked_at is not None
    assert not sources[shared].paused and sources[shared].next_check_at is not None
    assert not sources[mine].paused and sources[mine].next_check_at is not None
    sessions = connect(database_url)
    with sessions() as session:
        ledger = set(session.scalars(select(ArticleSource.article_id)))
    sessions.kw["bind"].dispose()
    assert ledger == {b["article"]["id"]}


def test_remove_and_untrack_refuse_what_is_not_there(home, server) -> None:  # type: ignore[no-untyped-def]
    for args in (
        ["remove", "99"],
        ["remove", "https://nowhere.example/"],
        ["untrack", "http://nowhere.example/"],
    ):
        proc = home.run(*args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    usage = home.run("untrack")
    assert usage.returncode == 2


def test_untrack_stops_checks_and_track_starts_them_again(home, server) -> None:  # type: ignore[no-untyped-def]
    url = server.route("/page", ws.static(b"<html><title>P</title><p>Text.</p></html>"))
    home.run("track", url, check=True)
    done = json.loads(home.run("untrack", url, "--json", check=True).stdout)
    assert [d["url"] for d in done] == [url] and done[0]["paused"] and done[0]["next_check_at"] is None
    again = json.loads(home.run("track", url, "--json", check=True).stdout)
    assert not again["paused"] and again["next_check_at"] is not None
    assert _sources(home.database_url())[url].untracked_at is None


def test_check_refuses_an_untracked_source(home, server) -> None:  # type: ignore[no-untyped-def]
    url = server.route("/page", ws.static(b"<html><title>P</title><p>Text.</p></html>"))
    home.run("track", url, check=True)
    home.run("untrack", url, check=True)
    proc = home.run("check", url)
    assert proc.returncode == 2 and "citewatch track" in proc.stderr, proc.stderr
    assert _sources(home.database_url())[url].next_check_at is None  # not made due behind its back


def test_the_article_list_shows_the_health_its_json_gives(home, server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = server.route("/r", ws.static(b"<html><title>R</title><p>1,000 cases in Brell.</p></html>"))
    home.run("add", str(_article(tmp_path, "a", url)), check=True)
    (row,) = json.loads(home.run("citations", "--json", check=True).stdout)
    h = row["health"]
    assert h["sources"] == 1
    shown = home.run("citations", env={"COLUMNS": "200"}, check=True).stdout
    assert f"{h['gone']} of {h['sources']}" in shown and f"{h['claims_affected']} claims" in shown
