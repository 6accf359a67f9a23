"""Notifications: filters, webhook retries and failures, and Apprise URLs, against local servers."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from archive.changes.notify import Notifier


class Receiver(http.server.BaseHTTPRequestHandler):
    """Records each POST's path, headers and JSON body; answers with the next status queued."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        statuses = self.server.statuses  # type: ignore[attr-defined]
        status = statuses.pop(0) if statuses else 200
        self.server.posts.append((self.path, status, json.loads(body or b"null")))  # type: ignore[attr-defined]
        self.send_response(status)
        self.send_header("Content-Length", "0")
        if status == 429:
            self.send_header("Retry-After", "0")
        self.end_headers()


@pytest.fixture
def receiver() -> Iterator[Any]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    httpd.posts, httpd.statuses = [], []  # type: ignore[attr-defined]
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"  # type: ignore[attr-defined]
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _change(cid: int, kind: str = "content") -> dict[str, Any]:
    return {
        "id": cid,
        "kind": kind,
        "url": "https://source.example/report",
        "summary": "1 sentence changed, +1/-1 words",
        "claims": [{"label": "253,000 criminal cases", "status": "changed"}],
    }


def test_filters_by_kind_and_article() -> None:
    notifier = Notifier(webhooks=["http://127.0.0.1:9/"], kinds=["content", "gone"], articles=[4])
    assert notifier.wants(_change(1), [4, 9])
    assert not notifier.wants(_change(1, "metadata"), [4])
    assert not notifier.wants(_change(1), [5])
    assert Notifier(webhooks=["http://127.0.0.1:9/"]).wants(_change(1, "back"), [])
    assert not Notifier().submit(_change(1), [4])  # nothing configured: nothing queued


def test_webhooks_retry_server_errors_and_survive_dead_endpoints(receiver: Any) -> None:
    receiver.statuses.extend([503, 429])  # the first change is refused twice, then taken
    dead = "http://127.0.0.1:9/hook"  # nothing listens on the discard port
    notifier = Notifier(webhooks=[dead, receiver.url + "/hook"], retries=2, backoff=0.01, timeout=2)
    assert notifier.submit(_change(1), [3])
    assert notifier.submit(_change(2, "gone"), [3])
    notifier.close(timeout=30)
    taken = [body["change"]["id"] for _path, status, body in receiver.posts if status == 200]
    assert taken == [1, 2]
    assert [status for _p, status, _b in receiver.posts] == [503, 429, 200, 200]
    assert receiver.posts[-1][2] == {"event": "change", "change": _change(2, "gone"), "articles": [3]}
    assert (notifier.sent, notifier.failed) == (2, 2)  # the dead endpoint failed both


def test_a_refused_webhook_is_not_retried(receiver: Any) -> None:
    receiver.statuses.append(400)
    notifier = Notifier(webhooks=[receiver.url], retries=3, backoff=0.01)
    notifier.submit(_change(7), [])
    notifier.close(timeout=30)
    assert [status for _p, status, _b in receiver.posts] == [400]
    assert notifier.failed == 1


def test_apprise_urls_are_told(receiver: Any) -> None:
    # Apprise's json:// service POSTs a JSON message: a local stand-in for chat and mail services.
    target = receiver.url.replace("http://", "json://") + "/apprise"
    notifier = Notifier(apprise_urls=[target], kinds=["content"])
    notifier.submit(_change(5), [1])
    notifier.submit(_change(6, "metadata"), [1])  # filtered out
    notifier.close(timeout=30)
    ((path, status, body),) = receiver.posts
    assert path == "/apprise" and status == 200
    assert body["title"] == "citewatch: content change"
    assert "https://source.example/report" in body["message"]
    assert "claim: 253,000 criminal cases" in body["message"]
