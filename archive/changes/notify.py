"""Notifications of changes: JSON webhooks and Apprise URLs, sent from a thread of their own.

The daemon hands every change its workers record to :meth:`Notifier.submit`.
Changes pass the filters (``notify_kinds``, ``notify_articles``) or are
dropped there; the rest wait in a queue that one thread empties, so a slow or
dead endpoint never holds up a capture. A webhook gets a JSON POST (the
change as ``citewatch changes --json`` shows it, the ids of the articles that
cite its source, and the claims it touches; with ``public_url``, the link to
the change's page in the web UI, and the titles of the articles touched),
retried with a doubling wait on connection errors, 429 and 5xx answers; any
other answer ends it with a logged line. Apprise URLs (mail, chat and push
services) get a title and a text: the full summary, the articles touched,
the claims, the source and the link.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

_STOP = object()


@dataclass
class Notifier:
    webhooks: list[str] = field(default_factory=list)
    apprise_urls: list[str] = field(default_factory=list)
    kinds: Collection[str] = ()  # made sets by __post_init__
    articles: Collection[int] = ()
    retries: int = 3
    backoff: float = 2.0  # seconds before the first retry; doubles
    timeout: float = 10.0
    user_agent: str = "citewatch"
    public_url: str = ""  # the web UI's base URL: each notification links to the change's page
    sent: int = 0  # notifications delivered (webhook POSTs and Apprise sends)
    failed: int = 0

    def __post_init__(self) -> None:
        self.kinds = set(self.kinds)
        self.articles = set(self.articles)
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._apprise: Any = None

    @property
    def enabled(self) -> bool:
        return bool(self.webhooks or self.apprise_urls)

    def wants(self, change: dict[str, Any], articles: list[int]) -> bool:
        """Whether ``change`` passes the kind and article filters."""
        if self.kinds and change.get("kind") not in self.kinds:
            return False
        return not self.articles or not set(articles).isdisjoint(self.articles)

    def submit(
        self, change: dict[str, Any], articles: list[int], titles: Mapping[int, str] | None = None
    ) -> bool:
        """Queue ``change`` for sending when it passes the filters; True when queued. ``titles``
        (article id -> title) names the articles whose claims it touches."""
        if not self.enabled or not self.wants(change, articles):
            return False
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="citewatch-notify", daemon=True)
            self._thread.start()
        self._queue.put(self.message(change, articles, titles or {}))
        return True

    def message(
        self, change: dict[str, Any], articles: list[int], titles: Mapping[int, str]
    ) -> dict[str, Any]:
        """The webhook's JSON: the change, the articles citing its source, and, when known, the
        link to its page in the web UI and the articles whose claims it touches."""
        from archive.changes.changelog import change_link, touched_articles

        item: dict[str, Any] = {"event": "change", "change": change, "articles": articles}
        if self.public_url:
            item["link"] = change_link(self.public_url, change["id"])
        touched = [{"id": i, "title": titles[i]} for i in touched_articles(change) if i in titles]
        if touched:
            item["touched_articles"] = touched
        return item

    def close(self, timeout: float = 30.0) -> None:
        """Send what is queued (for at most ``timeout`` seconds), then stop the thread."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout)
            left = self._queue.qsize() - 1  # the stop mark is still queued too
            if self._thread.is_alive() and left:
                logger.warning("%d notifications not sent: the daemon stopped first", left)

    # -- the sending thread -----------------------------------------------------------
    def _run(self) -> None:
        import httpx

        with httpx.Client(timeout=self.timeout, headers={"User-Agent": self.user_agent}) as client:
            while True:
                item = self._queue.get()
                if item is _STOP:
                    return
                for url in self.webhooks:
                    self._count(self._guarded(self._post, client, url, item))
                if self.apprise_urls:
                    self._count(self._guarded(self._tell, item))

    def _guarded(self, send: Any, *args: Any) -> bool:
        """One sending, whatever it raises: the thread must live on for the next change."""
        try:
            return bool(send(*args))
        except Exception as exc:
            logger.warning("a notification failed: %s: %s", exc.__class__.__name__, exc)
            return False

    def _count(self, ok: bool) -> None:
        if ok:
            self.sent += 1
        else:
            self.failed += 1

    def _post(self, client: Any, url: str, item: dict[str, Any]) -> bool:
        import httpx

        wait = self.backoff
        for attempt in range(self.retries + 1):
            try:
                answer = client.post(url, json=item)
            except httpx.HTTPError as exc:
                why = f"{exc.__class__.__name__}: {exc}"
            else:
                if answer.status_code < 300:
                    return True
                why = f"HTTP {answer.status_code}"
                if answer.status_code != 429 and answer.status_code < 500:
                    logger.warning("webhook %s refused change %s: %s", url, item["change"]["id"], why)
                    return False
            if attempt < self.retries:
                time.sleep(_retry_after(answer) if why == "HTTP 429" else wait)
                wait *= 2
        logger.warning(
            "webhook %s failed for change %s after %d tries: %s",
            url,
            item["change"]["id"],
            self.retries + 1,
            why,
        )
        return False

    def _tell(self, item: dict[str, Any]) -> bool:
        import apprise

        if self._apprise is None:
            self._apprise = apprise.Apprise()
            for url in self.apprise_urls:
                if not self._apprise.add(url):
                    logger.warning("not an Apprise URL citewatch can use: %s", url)
        title, body = apprise_text(item)
        ok = bool(self._apprise.notify(title=title, body=body))
        change = item["change"]
        if not ok:
            logger.warning("Apprise could not deliver change %s", change["id"])
        return ok


def apprise_text(item: dict[str, Any]) -> tuple[str, str]:
    """The title and body told to Apprise URLs: the change's full summary, the articles whose
    claims it touches, up to five claims, the source, and the link to the change's page.

    >>> title, body = apprise_text({"change": {"id": 9, "kind": "content", "url": "https://s.example/r",
    ...     "summary": "1 sentence changed", "claims": [{"article_id": 2, "status": "changed",
    ...     "label": "253,000 criminal cases"}]}, "link": "http://ui.example/changes/9",
    ...     "touched_articles": [{"id": 2, "title": "Cases soar"}]})
    >>> title
    'citewatch: content change, claims of “Cases soar”'
    >>> print(body)
    1 sentence changed
    Claims touched in: “Cases soar”
    claim: 253,000 criminal cases
    source: https://s.example/r
    http://ui.example/changes/9
    """
    from archive.changes.changelog import change_text

    change = item["change"]
    touched = item.get("touched_articles") or []
    titles = {a["id"]: a["title"] for a in touched}
    lines = [change_text(change, titles)]
    lines += [f"claim: {c.get('label') or c.get('text', '')}" for c in change.get("claims") or []][:5]
    lines.append(f"source: {change['url']}")
    if item.get("link"):
        lines.append(item["link"])
    title = f"citewatch: {change['kind']} change"
    if touched:
        more = f" and {len(touched) - 1} more" if len(touched) > 1 else ""
        title += f", claims of \u201c{touched[0]['title']}\u201d{more}"
    return title, "\n".join(lines)


def _retry_after(answer: Any, longest: float = 60.0) -> float:
    """Seconds a 429 answer asks to wait (a number of seconds; anything else: 5), capped."""
    try:
        return min(max(float(answer.headers.get("Retry-After", "5")), 0.0), longest)
    except ValueError:
        return 5.0
