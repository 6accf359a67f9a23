"""Replay: links into the pywb replay server and the files it reads.

pywb runs as its own process from its own virtual environment (``citewatch
replay``); this module never imports it. It serves one collection,
``citewatch``, over the WARC folder, with Memento on.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

COLLECTION = "citewatch"


def replay_base(settings: Any) -> str:
    """The replay server's public base URL, ending in ``/``."""
    if settings.replay_url:
        return str(settings.replay_url)
    host = settings.replay_address
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    return f"http://{host}:{settings.replay_port}/"


def timestamp14(when: datetime) -> str:
    """The 14-digit Memento timestamp of a capture time (UTC).

    >>> timestamp14(datetime(2026, 11, 26, 9, 5, 7, 250000))
    '20261126090507'
    """
    return when.strftime("%Y%m%d%H%M%S")


def replay_link(settings: Any, url: str, captured_at: datetime | None = None, raw: bool = False) -> str:
    """The replay URL of ``url`` as captured at ``captured_at`` (the newest capture when None).

    ``raw`` asks for the archived bytes as they were served (pywb's ``id_`` mode).
    """
    stamp = timestamp14(captured_at) if captured_at is not None else ""
    mode = "id_" if raw else ""
    if not stamp and not mode:
        return f"{replay_base(settings)}{COLLECTION}/{url}"
    return f"{replay_base(settings)}{COLLECTION}/{stamp}{mode}/{url}"


def timemap_link(settings: Any, url: str, form: str = "link") -> str:
    """The Memento TimeMap of ``url`` (``form`` is ``link`` or ``json``)."""
    return f"{replay_base(settings)}{COLLECTION}/timemap/{form}/{url}"
