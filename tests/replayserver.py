"""``citewatch replay`` and ``citewatch serve`` run as a user runs them, on free ports, for tests."""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

VENV_BIN = Path(sys.executable).parent
REPLAY_READY = re.compile(r"^replay: (http://\S+?/)citewatch/ ")
SERVE_READY = re.compile(r"^serve: (http://\S+/) ")


@contextlib.contextmanager
def running(
    home: Any,
    args: list[str],
    ready: re.Pattern[str],
    env: Mapping[str, str] | None = None,
    timeout: float = 90,
) -> Iterator[str]:
    """Start ``citewatch ARGS`` for a data folder (a ``Home``, or the environment that names
    one), wait for the line ``ready`` matches on stderr and yield its first group (a base URL).
    At the end: SIGTERM, and the command must exit 0."""
    base_env: Mapping[str, str] = getattr(home, "env", home)
    process = subprocess.Popen(
        [str(VENV_BIN / "citewatch"), *args],
        env={**os.environ, **base_env, **(env or {})},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    seen: list[str] = []
    try:
        yield _wait_ready(process, ready, seen, timeout)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        seen.append(process.stderr.read())
        process.stderr.close()
    assert process.returncode == 0, f"citewatch {args[0]} did not stop cleanly:\n" + "".join(seen)


def running_replay(home: Any, timeout: float = 90) -> contextlib.AbstractContextManager[str]:
    """``citewatch replay --port 0``; yields the replay server's base URL."""
    fast = {"CITEWATCH_REPLAY_INDEX_INTERVAL": "0.2"}
    return running(home, ["replay", "--port", "0"], REPLAY_READY, fast, timeout)


def running_serve(home: Any, timeout: float = 60) -> contextlib.AbstractContextManager[str]:
    """``citewatch serve --port 0``; yields the web UI's base URL."""
    return running(home, ["serve", "--port", "0"], SERVE_READY, None, timeout)


@contextlib.contextmanager
def taken_port() -> Iterator[int]:
    """A port on 127.0.0.1 that something else listens on."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


def _wait_ready(
    process: subprocess.Popen[str], ready: re.Pattern[str], seen: list[str], timeout: float
) -> str:
    assert process.stderr is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stderr, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not selector.select(timeout=0.5):
            if process.poll() is not None:
                break
            continue
        line = process.stderr.readline()
        if not line:
            break
        seen.append(line)
        match = ready.match(line)
        if match:
            return match.group(1)
    process.kill()
    raise AssertionError("the command did not start:\n" + "".join(seen))
