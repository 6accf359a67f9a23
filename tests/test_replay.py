"""Replay through pywb (`citewatch replay`) of WARC files the crawler wrote: archived bytes,
rewritten pages, revisits, TimeMaps, the TimeGate, and captures replayable as soon as they land,
also from a WARC file a daemon is still writing. And the CDXJ index on its own: compaction,
restarts and ids that commit out of order."""

from __future__ import annotations

import json
import random
import re
import shutil
import signal
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from archive import db
from archive.errors import OperationError
from archive.models import Snapshot, WarcFile
from archive.replay.server import ReplayIndex
from archive.store.index import surt_key
from tests import webserver as ws
from tests.replayserver import running_replay, taken_port
from tests.test_daemon import daemon_env, start_daemon, wait_for

pytestmark = pytest.mark.slow

VERSIONS = [
    ws.page_html(
        f"Report {n}",
        f"<p>The agency counted {n} inspections.</p><a href='/other'>next</a><img src='/pic.png'>",
    )
    for n in (9_400, 9_400, 11_250, 12_003)
]


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers.items()), exc.read()


def stamp(when: datetime) -> str:
    return when.strftime("%Y%m%d%H%M%S")


def captures(home: Any, env: dict[str, str], url: str) -> list[dict[str, Any]]:
    """The page's archived captures (response and revisit records), oldest first."""
    rows = json.loads(home.run("snapshots", url, "--json", env=env, check=True).stdout)
    for row in rows:
        row["at"] = datetime.fromisoformat(row["captured_at"].removesuffix("Z")).replace(microsecond=0)
    return [r for r in rows if r["record_type"] in ("response", "revisit")]


def memento_times(timemap: str) -> list[str]:
    return re.findall(r'rel="memento"; datetime="([^"]+)"', timemap)


@pytest.fixture
def versioned(server: ws.TestServer) -> tuple[str, list[bytes]]:
    """A page that serves the next of VERSIONS at each request; returns its URL and what it sent."""
    sent: list[bytes] = []

    def route(h: ws.Handler) -> None:
        body = VERSIONS[min(len(sent), len(VERSIONS) - 1)]
        sent.append(body)
        h.send_body(200, body)

    server.route("/pic.png", ws.static(b"\x89PNG\r\n\x1a\n" + bytes(64), "image/png"))
    server.route("/other", ws.static(ws.page_html("Other", "<p>other</p>")))
    return server.route("/report", route), sent


def test_replay_of_crawled_warcs(home: Any, database_url: str, versioned: Any) -> None:
    url, sent = versioned
    env = {**home.env, "CITEWATCH_DATABASE_URL": database_url}
    for _ in range(3):  # v1, v1 again (a revisit), v2; a second apart: timestamps have seconds
        home.run("capture", url, env=env, check=True)
        time.sleep(1.05)
    caps = captures(home, env, url)
    assert [c["record_type"] for c in caps] == ["response", "revisit", "response"]
    assert len(sent) == 3

    with running_replay(env) as base:
        coll = base + "citewatch/"
        # Archived bytes (id_ mode): each capture is what the server sent then; the revisit
        # replays its original's payload with its own time.
        for cap, body in zip(caps, sent, strict=True):
            status, headers, got = fetch(f"{coll}{stamp(cap['at'])}id_/{url}")
            assert status == 200
            assert got == body
            assert parsedate_to_datetime(headers["Memento-Datetime"]).replace(tzinfo=None) == cap["at"]

        # A rewritten page: links point back into the archive at the capture's time.
        status, headers, page = fetch(f"{coll}{stamp(caps[2]['at'])}/{url}")
        assert status == 200 and b"11250" in page
        origin = url.removesuffix("/report")
        assert f"/citewatch/{stamp(caps[2]['at'])}/{origin}/other".encode() in page
        assert f"/citewatch/{stamp(caps[2]['at'])}im_/{origin}/pic.png".encode() in page

        # TimeMaps list every capture in order, in link format and as JSON.
        _, _, timemap = fetch(f"{coll}timemap/link/{url}")
        listed = [parsedate_to_datetime(t).replace(tzinfo=None) for t in memento_times(timemap.decode())]
        assert listed == [c["at"] for c in caps]
        _, _, as_json = fetch(f"{coll}timemap/json/{url}")
        lines = [json.loads(line) for line in as_json.decode().splitlines() if line.strip()]
        assert [line["timestamp"] for line in lines] == [stamp(c["at"]) for c in caps]

        # The TimeGate picks the capture closest to Accept-Datetime.
        rng = random.Random(7)
        first, last = caps[0]["at"], caps[-1]["at"]
        asked = [first - timedelta(days=30), last + timedelta(days=30)]
        asked += [first + timedelta(seconds=rng.uniform(0, (last - first).total_seconds())) for _ in range(4)]
        for when in asked:
            when = when.replace(microsecond=0)
            closest = min(caps, key=lambda c, w=when: (abs((c["at"] - w).total_seconds()), c["at"]))
            header = format_datetime(when.replace(tzinfo=UTC), usegmt=True)
            status, headers, _ = fetch(coll + url, {"Accept-Datetime": header})
            assert status in (200, 302)
            assert "accept-datetime" in headers.get("Vary", "").lower()
            chosen = headers.get("Memento-Datetime") or ""
            if status == 302:
                chosen = fetch(headers["Location"])[1]["Memento-Datetime"]
            assert parsedate_to_datetime(chosen).replace(tzinfo=None) == closest["at"], when

        # Without Accept-Datetime, the TimeGate gives the newest capture.
        _, headers, _ = fetch(coll + url)
        assert parsedate_to_datetime(headers["Memento-Datetime"]).replace(tzinfo=None) == caps[-1]["at"]

        # A capture made now, with replay running, is replayable moments later.
        home.run("capture", url, env=env, check=True)
        newest = captures(home, env, url)[-1]
        deadline = time.monotonic() + 10
        while fetch(f"{coll}{stamp(newest['at'])}id_/{url}")[2] != sent[-1]:
            assert time.monotonic() < deadline, "the new capture never became replayable"
            time.sleep(0.2)
        assert sent[-1] == VERSIONS[3]
        status, _, _ = fetch(f"{coll}{stamp(newest['at'])}id_/{origin}/never-captured")
        assert status == 404


def test_a_capture_in_a_file_still_being_written_replays(
    home: Any, database_url: str, versioned: Any, tmp_path: Path
) -> None:
    url, sent = versioned
    env = daemon_env(home, database_url)
    home.run("track", url, "--every", "1h", env=env, check=True)
    with running_replay(env) as base, open(tmp_path / "daemon.log", "wb") as log:
        proc = start_daemon(env, log=log)
        try:
            wait_for(lambda: captures(home, env, url), 60, proc)
            (cap,) = captures(home, env, url)
            assert (home.warc_dir / (cap["warc_file"] + ".open")).exists()  # the worker still writes it
            target = f"{base}citewatch/{stamp(cap['at'])}id_/{url}"
            deadline = time.monotonic() + 10
            while fetch(target)[2] != sent[0]:
                assert time.monotonic() < deadline, "a capture in an open file never replayed"
                time.sleep(0.2)
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(60) == 0
        assert (home.warc_dir / cap["warc_file"]).exists()  # closed and renamed: still replays
        assert fetch(target)[2] == sent[0]


def test_replay_refuses_a_taken_port_in_one_line(home: Any) -> None:
    with taken_port() as port:
        result = home.run("replay", "--port", str(port), timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"citewatch: error: cannot listen on 127.0.0.1:{port}: Address already in use; choose another "
        "with --port (or the replay_port setting)"
    ]


# --- the index on its own ---------------------------------------------------------------------------


def _add_rows(sessions: Any, ids: list[int], when: datetime, failed: tuple[int, ...] = ()) -> None:
    """Snapshot rows with these ids (those in ``failed`` as failed attempts, with no record);
    URLs with non-ASCII paths among them, so that byte order matters."""
    with sessions() as session, session.begin():
        file_id = session.get(WarcFile, 1) or WarcFile(id=1, name="a.warc.gz", created_at=when)
        session.merge(file_id)
        rows = []
        for i in ids:
            url = f"https://example.org/{'straße' if i % 3 else 'page'}/{i % 37}"
            archived = i not in failed
            rows.append(
                {
                    "id": i,
                    "url": url,
                    "surt": surt_key(url),
                    "captured_at": when + timedelta(seconds=i),
                    "status": 200 if archived else None,
                    "mime": "text/html",
                    "payload_digest": f"sha1:D{i}" if archived else None,
                    "record_type": "response" if archived else None,
                    "warc_file_id": 1 if archived else None,
                    "offset": i * 1000 if archived else None,
                    "length": 900 if archived else None,
                    "via": "http",
                    "outcome": "ok" if archived else "error",
                }
            )
        session.execute(insert(Snapshot), rows)


def _index_lines(replay_dir: Path) -> list[str]:
    """Both index files' lines; each file must be sorted as pywb searches it: by bytes."""
    lines: list[str] = []
    for name in ("base.cdxj", "recent.cdxj"):
        part = (replay_dir / "index" / name).read_text(encoding="utf-8").splitlines()
        assert part == sorted(part, key=lambda line: line.encode()), f"{name} is not in byte order"
        lines += part
    return lines


def _indexed_ids(replay_dir: Path) -> list[int]:
    lines = _index_lines(replay_dir)
    assert len(lines) == len(set(lines)), "a capture is indexed twice"
    return sorted(int(json.loads(line.split(" ", 2)[2])["offset"]) // 1000 for line in lines)


def test_index_compacts_restarts_and_waits_for_late_commits(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from archive.replay import server as replay

    monkeypatch.setattr(replay, "RECENT_LIMIT", 30)
    monkeypatch.setattr(replay, "IN_FLIGHT", 10)
    sessions = db.migrated(database_url)
    try:
        _check_index(sessions, tmp_path, replay)
    finally:
        sessions.kw["bind"].dispose()


def _check_index(sessions: Any, tmp_path: Path, replay: Any) -> None:
    when = datetime(2026, 11, 1)
    replay_dir = tmp_path / "replay"
    failed = (5, 118, 160)  # failed attempts: rows with no record, neither indexed nor holes
    _add_rows(sessions, list(range(1, 121)), when, failed)
    index = ReplayIndex(sessions, tmp_path / "warcs", replay_dir)
    assert index.open() == 118
    # A rebuild leaves the newest IN_FLIGHT ids to sync: base.cdxj ends at 110.
    assert (replay_dir / "index").resolve().name == "index.110"
    with pytest.raises(OperationError, match="in use by another citewatch replay"):
        ReplayIndex(sessions, tmp_path / "warcs", replay_dir).open()  # one per data folder

    # Ids 121-200 commit, except 150 and 151 (a transaction still open elsewhere).
    _add_rows(sessions, [i for i in range(121, 201) if i not in (150, 151)], when, failed)
    assert index.sync(now=0.0) == 77
    assert index.watermark == 149  # not past the hole; the failed attempt 118 held nothing
    # Compaction took what is settled (up to 149) into base.cdxj; the rest stays recent.
    assert (replay_dir / "index").resolve().name == "index.149"
    _add_rows(sessions, [150], when)  # commits late: still indexed
    assert index.sync(now=1.0) == 1
    assert 150 not in index.gaps
    assert index.sync(now=1.0 + replay.GAP_WAIT) == 0  # 151 never comes: skipped after GAP_WAIT
    assert index.watermark == 200 and index.gaps == {}
    wanted = [i for i in range(1, 201) if i not in (151, *failed)]
    assert _indexed_ids(replay_dir) == wanted

    # pywb restarted by the daemon: the same index carries on, nothing twice.
    _add_rows(sessions, list(range(201, 211)), when)
    index.sync(now=2.0 + replay.GAP_WAIT)
    assert _indexed_ids(replay_dir) == [*wanted, *range(201, 211)]

    # The index folder removed under a running replay: built again from the database.
    shutil.rmtree((replay_dir / "index").resolve())
    index.sync(now=3.0 + replay.GAP_WAIT)
    assert _indexed_ids(replay_dir) == [*wanted, *range(201, 211)]

    # A new replay process keeps base.cdxj and reads the rest from the database.
    index.close()
    _add_rows(sessions, list(range(211, 231)), when)
    again = ReplayIndex(sessions, tmp_path / "warcs", replay_dir)
    again.open()
    assert _indexed_ids(replay_dir) == [*wanted, *range(201, 231)]
    again.close()


def test_the_daemon_serves_the_web_ui_and_replay(
    home: Any, server: ws.TestServer, database_url: str, tmp_path: Path
) -> None:
    from tests.test_daemon import _free_port

    url = server.route("/steady", ws.static(VERSIONS[0]))
    web_port, replay_port = _free_port(), _free_port()
    env = daemon_env(
        home,
        database_url,
        CITEWATCH_SERVE_PORT=str(web_port),
        CITEWATCH_REPLAY_PORT=str(replay_port),
        CITEWATCH_REPLAY_INDEX_INTERVAL="0.2",
    )
    home.run("track", url, "--every", "1h", env=env, check=True)
    with open(tmp_path / "daemon.log", "wb") as log:
        proc = start_daemon(env, "--serve", "--replay", log=log)
        try:
            wait_for(lambda: captures(home, env, url), 60, proc)
            (cap,) = captures(home, env, url)
            web = f"http://127.0.0.1:{web_port}/api/snapshots?url={urllib.parse.quote(url, safe='')}"
            wait_for(lambda: fetch(web)[0] == 200, 30, proc)
            assert [row["id"] for row in json.loads(fetch(web)[2])] == [cap["id"]]
            target = f"http://127.0.0.1:{replay_port}/citewatch/{stamp(cap['at'])}id_/{url}"
            wait_for(lambda: fetch(target)[2] == VERSIONS[0], 30, proc)
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(60)
    assert code == 0, (tmp_path / "daemon.log").read_text()
    for port in (web_port, replay_port):  # both stopped with the daemon
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
