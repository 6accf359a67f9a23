"""`citewatch export --wacz`: an article's captures as a WACZ that `wacz validate` accepts and
pywb replays, with the pages list and extracted text; everything; --since; bad input."""

from __future__ import annotations

import gzip
import io
import json
import socket
import subprocess
import time
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import pytest

from archive.replay.server import PROJECT_ROOT
from tests import webserver as ws
from tests.conftest import warcio_check

pytestmark = pytest.mark.slow

REPLAY_BIN = PROJECT_ROOT / ".venv-replay" / "bin"
CITED = ws.page_html(
    "Border inspections",
    "<article><h1>Border inspections</h1><p>The agency counted 9,400 inspections at the border "
    "crossings during the spring season, a spokesperson said.</p><img src='/chart.png'></article>",
)
UNCITED = ws.page_html("Unrelated", "<p>Nothing in the article points here: the weather was mild.</p>")


def _captures(home: Any, env: dict[str, str], url: str) -> list[dict[str, Any]]:
    rows = json.loads(home.run("snapshots", url, "--json", env=env, check=True).stdout)
    return [r for r in rows if r["record_type"] in ("response", "revisit")]


def _stamp(captured_at: str) -> str:
    return "".join(ch for ch in captured_at[:19] if ch.isdigit())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pywb_serves_wacz(wacz: Path, folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    """pywb (wb-manager, wayback) with the WACZ added to a collection of its own."""
    folder.mkdir()
    for args in (["init", "shared"], ["add", "--unpack-wacz", "shared", str(wacz)]):
        done = subprocess.run([str(REPLAY_BIN / "wb-manager"), *args], cwd=folder, capture_output=True)
        assert done.returncode == 0, done.stderr
    port = _free_port()
    proc = subprocess.Popen(
        [str(REPLAY_BIN / "wayback"), "-b", "127.0.0.1", "-p", str(port)],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, "pywb did not start"
            time.sleep(0.1)
    return proc, f"http://127.0.0.1:{port}/shared/"


def _wacz_parts(path: Path, tmp: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[Path]]:
    """(pages, index lines, WARC files extracted) of a WACZ."""
    with zipfile.ZipFile(path) as z:
        pages = [json.loads(line) for line in z.read("pages/pages.jsonl").decode().splitlines()]
        raw = z.read("indexes/index.cdx.gz")
        index = [
            json.loads(line.split(" ", 2)[2])
            for line in gzip.GzipFile(fileobj=io.BytesIO(raw)).read().decode().splitlines()
        ]
        warcs = []
        for name in z.namelist():
            if name.startswith("archive/"):
                target = tmp / Path(name).name
                target.write_bytes(z.read(name))
                warcs.append(target)
    return pages, index, warcs


def test_export_of_an_article(home: Any, server: ws.TestServer, database_url: str, tmp_path: Path) -> None:
    env = {**home.env, "CITEWATCH_DATABASE_URL": database_url}
    server.route("/chart.png", ws.static(ws.PNG, "image/png"))
    cited = server.route("/cited", ws.static(CITED))
    uncited = server.route("/uncited", ws.static(UNCITED))
    article = tmp_path / "article.md"
    article.write_text(
        f"# Inspections\n\nThe agency counted 9,400 inspections this spring, [it said]({cited}).\n"
    )
    home.run("add", str(article), "--no-resolve", env=env, check=True)  # captures the cited page
    time.sleep(1.05)
    home.run("capture", cited, uncited, env=env, check=True)  # the cited page again: a revisit
    caps = _captures(home, env, cited)
    assert [c["record_type"] for c in caps] == ["response", "revisit"]

    out = tmp_path / "article.wacz"
    done = home.run("export", "--wacz", str(out), "--article", "1", env=env, check=True)
    assert f"wrote {out}" in done.stdout
    valid = subprocess.run(
        [str(REPLAY_BIN / "wacz"), "validate", "-f", str(out)], capture_output=True, text=True
    )
    assert valid.returncode == 0 and "is valid" in valid.stdout, valid.stdout + valid.stderr

    pages, index, warcs = _wacz_parts(out, tmp_path)
    warcio_check(warcs)
    assert pages[0]["format"] == "json-pages-1.0" and pages[0]["hasText"] is True
    assert [(p["url"], p["ts"]) for p in pages[1:]] == [(cited, c["captured_at"][:19] + "Z") for c in caps]
    for page in pages[1:]:
        assert page["title"] == "Border inspections"
        assert "9,400 inspections at the border crossings" in page["text"]
    indexed = {line["url"] for line in index}
    assert cited in indexed and server.url("/chart.png") in indexed  # the page and its requisite
    assert uncited not in indexed  # captured, but the article does not cite it

    # pywb loads the WACZ and replays both captures, the revisit as its original's bytes.
    proc, coll = _pywb_serves_wacz(out, tmp_path / "pywb")
    try:
        for cap in caps:
            with urllib.request.urlopen(f"{coll}{_stamp(cap['captured_at'])}id_/{cited}", timeout=30) as r:
                assert r.read() == CITED
    finally:
        proc.terminate()
        proc.wait(10)

    # --since leaves the first capture out, but not the original the revisit points to.
    since = caps[1]["captured_at"][:19]
    later = tmp_path / "later.wacz"
    home.run("export", "--wacz", str(later), "--article", "1", "--since", since, env=env, check=True)
    pages, index, _ = _wacz_parts(later, tmp_path / "later")  # tmp subfolder made below
    assert [p["ts"] for p in pages[1:]] == [caps[1]["captured_at"][:19] + "Z"]
    kinds = sorted(line["mime"] for line in index if line["url"] == cited)
    assert kinds == ["text/html", "warc/revisit"]

    # Everything: the uncited page too.
    every = tmp_path / "all.wacz"
    home.run("export", "--wacz", str(every), env=env, check=True)
    _, index, _ = _wacz_parts(every, tmp_path / "all")
    assert {cited, uncited} <= {line["url"] for line in index}


@pytest.fixture(autouse=True)
def _folders(tmp_path: Path) -> None:
    for name in ("later", "all"):
        (tmp_path / name).mkdir()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--article", "999"], "no article '999'"),
        (["--article", "9" * 30], f"no article '{'9' * 30}'"),  # past the databases' integers
        (["--since", "last tuesday"], "cannot read the time 'last tuesday'"),
        (["--since", "2999-01-01"], "nothing to export"),
    ],
)
def test_export_bad_input_is_one_line(
    home: Any, server: ws.TestServer, args: list[str], message: str
) -> None:
    home.run("capture", server.route("/p", ws.static(UNCITED)), check=True)
    done = home.run("export", "--wacz", str(home.path / "x.wacz"), *args)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
    assert not (home.path / "x.wacz").exists()


@pytest.mark.browser
def test_export_lists_pages_not_what_a_browser_capture_loaded(
    home: Any, server: ws.TestServer, tmp_path: Path
) -> None:
    server.route("/chart.png", ws.static(ws.PNG, "image/png"))
    cited = server.route("/cited", ws.static(CITED))
    article = tmp_path / "article.md"
    article.write_text(f"# Inspections\n\nThe agency counted 9,400 inspections, [it said]({cited}).\n")
    home.run("add", str(article), "--no-resolve", check=True)
    time.sleep(1.05)
    home.run("capture", "--browser", cited, check=True)  # the page and its image, in Chromium
    rows = json.loads(home.run("snapshots", server.url("/chart.png"), "--json", check=True).stdout)
    assert any(r["via"] == "browser" for r in rows)  # the image was recorded from the browser
    out = tmp_path / "article.wacz"
    home.run("export", "--wacz", str(out), "--article", "1", check=True)
    pages, index, _ = _wacz_parts(out, tmp_path)
    assert {p["url"] for p in pages[1:]} == {cited}
    assert len(pages) - 1 == len(_captures(home, home.env, cited)) == 2  # HTTP and browser
    assert server.url("/chart.png") in {line["url"] for line in index}  # archived, not a page
