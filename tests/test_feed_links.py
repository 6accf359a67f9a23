"""Atom entries and notifications point readers at the change's page in the web UI
(``public_url``), name the articles whose claims the change touches, and carry the whole summary;
a summary that must be cut is cut at a word, with an ellipsis (a correction note quoted in it,
say), while feeds and notifications carry the note whole.

The data is made as a user makes it: an article cites a local page (``citewatch add``), the page
is corrected, and ``citewatch capture`` (or the daemon) records the change.
"""

from __future__ import annotations

import http.server
import json
import random
import signal
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import feedparser
import pytest

from archive.settings import load_settings
from archive.web.app import create_app
from tests import webserver as ws
from tests.test_changes import BODY, page
from tests.test_daemon import daemon_env, start_daemon, wait_for
from tests.test_web import EDITED, AppClient

pytestmark = pytest.mark.slow

# Longer than the part of a note a summary quotes: the summary cuts it, feeds keep it whole.
NOTE = (
    "Correction: This article was updated with data to the end of the quarter, which raised the "
    "count of criminal cases the office reported since the war began, and an earlier version gave "
    "the older figure."
)
TITLE = "Desertion cases soar past 250,000"


def _article(url: str) -> str:
    return (
        f"# {TITLE}\n\nProsecutors opened 253,000 criminal cases for desertion since 2022, "
        f"[the annual report]({url}) says.\n"
    )


def _add_article(home: Any, url: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """``citewatch add`` an article citing ``url``; its id and title as citewatch read them."""
    path = home.path.parent / "article.md"
    path.write_text(_article(url), encoding="utf-8")
    added = json.loads(home.run("add", "--json", str(path), env=env, check=True).stdout)["article"]
    return {"id": added["id"], "title": added["title"]}


@pytest.fixture
def corrected(home: Any, server: ws.TestServer) -> dict[str, Any]:
    """An article citing a page, the page corrected and captured again: the change recorded."""
    url = server.route("/story", ws.static(page(BODY, random.Random(1)).encode()))
    article = _add_article(home, url)
    server.route("/story", ws.static(page([*EDITED, NOTE], random.Random(3)).encode()))
    (result,) = json.loads(home.run("capture", "--json", url, check=True).stdout)
    change = result["analysis"]["change"]
    assert change is not None and change["kind"] == "correction", result["analysis"]
    return {"url": url, "article": article, "change": change}


def _entry(feed_text: str | bytes, change_id: int) -> Any:
    feed = feedparser.parse(feed_text)
    assert not feed.bozo, feed.bozo_exception
    (entry,) = [e for e in feed.entries if e.id == f"urn:citewatch:change:{change_id}"]
    return entry


def _quoted_note(summary: str) -> str:
    """The part of the correction note a change's one-line summary quotes."""
    return summary.split("correction note: ", 1)[1].split("; ", 1)[0]


def test_a_summary_quotes_a_long_note_cut_at_a_word(corrected: dict[str, Any]) -> None:
    quoted = _quoted_note(corrected["change"]["summary"])
    assert quoted != NOTE and quoted.endswith("\u2026")
    kept = quoted.removesuffix("\u2026")
    assert NOTE.startswith(kept) and NOTE[len(kept)] in " ,;", f"cut mid-word: {quoted!r}"
    assert corrected["change"]["details"]["corrections"] == [NOTE]  # kept whole


def test_atom_entries_link_to_the_change_page_and_name_the_articles(home: Any, corrected: Any) -> None:
    change, article = corrected["change"], corrected["article"]
    public = "https://citewatch.example/ui/"
    entry = _entry(
        home.run("changes", "--atom", env={"CITEWATCH_PUBLIC_URL": public}, check=True).stdout, change["id"]
    )
    assert entry.link == f"{public}changes/{change['id']}"
    assert [link.href for link in entry.links] == [entry.link]  # the source is in the title
    assert entry.title == f"correction: {corrected['url']}"
    summary = entry.summary
    assert change["summary"] in summary  # the whole summary
    assert f"\u201c{article['title']}\u201d" in summary  # the article whose claim changed
    assert NOTE in summary  # the note the summary cut, whole
    assert "citewatch diff" not in summary

    # With no public_url: the address citewatch serve listens on.
    default = home.run("changes", "--atom", env={"CITEWATCH_SERVE_PORT": "8123"}, check=True).stdout
    assert _entry(default, change["id"]).link == f"http://127.0.0.1:8123/changes/{change['id']}"

    # The web UI's feed links the same way, to a page the UI serves: the change's.
    settings = load_settings(env={**home.env, "CITEWATCH_PUBLIC_URL": "http://127.0.0.1:8080/"})
    client = AppClient(create_app(settings))
    try:
        for feed_path in ("/changes.atom", f"/articles/{article['id']}/changes.atom"):
            link = _entry(client.get(feed_path).content, change["id"]).link
            assert link == f"http://127.0.0.1:8080/changes/{change['id']}"
        answer = client.get(urlsplit(link).path)
        assert answer.status_code == 200 and "258,000" in answer.text
    finally:
        client.close()


class _Receiver(http.server.BaseHTTPRequestHandler):
    """Records each POST's path and JSON body."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.posts.append((self.path, json.loads(body)))  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def receiver() -> Iterator[Any]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    httpd.posts = []  # type: ignore[attr-defined]
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"  # type: ignore[attr-defined]
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_daemon_notifications_link_to_the_change_page_and_name_the_articles(
    home: Any, server: ws.TestServer, receiver: Any, tmp_path: Any
) -> None:
    versions = [page(BODY, random.Random(1)).encode(), page([*EDITED, NOTE], random.Random(3)).encode()]
    served: list[int] = []

    def story(h: ws.Handler) -> None:
        served.append(1)
        h.send_body(200, versions[min(len(served), 2) - 1])  # the first answer, then the corrected page

    url = server.route("/story", story)
    public = "https://citewatch.example/ui/"
    env = daemon_env(
        home,
        home.database_url(),
        CITEWATCH_PUBLIC_URL=public,
        CITEWATCH_NOTIFY_WEBHOOKS=receiver.url + "/hook",
        CITEWATCH_NOTIFY_APPRISE=receiver.url.replace("http://", "json://") + "/apprise",
    )
    article = _add_article(home, url, env)
    home.run("track", url, "--every", "1s", env=env, check=True)
    with open(tmp_path / "daemon.log", "wb") as log:
        proc = start_daemon(env, "--workers", "1", log=log)
        try:
            wait_for(lambda: {p for p, _ in receiver.posts} == {"/hook", "/apprise"}, 90, proc)
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(60) == 0
    hook = next(body for p, body in receiver.posts if p == "/hook")
    told = next(body for p, body in receiver.posts if p == "/apprise")
    change = hook["change"]
    assert change["kind"] == "correction"
    link = f"{public}changes/{change['id']}"

    assert hook["link"] == link
    assert hook["touched_articles"] == [{"id": article["id"], "title": article["title"]}]

    assert f"\u201c{article['title']}\u201d" in told["title"]
    message = told["message"]
    assert change["summary"] in message and NOTE in message
    assert f"Claims touched in: \u201c{article['title']}\u201d" in message
    assert link in message and f"source: {url}" in message
    assert "citewatch diff" not in message
