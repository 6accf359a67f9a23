"""``citewatch replay`` (pywb) run as a user runs it, on a free port, for tests."""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

VENV_BIN = Path(sys.executable).parent
READY = re.compile(r"^replay: (http://\S+?/)citewatch/ ")


@contextlib.contextmanager
def running_replay(home: Any, timeout: float = 90) -> Iterator[str]:
    """Start ``citewatch replay --port 0`` for a data folder (a ``Home``, or the environment
    that names one) and yield the replay server's base URL (``http://127.0.0.1:PORT/``)."""
    env: Mapping[str, str] = getattr(home, "env", home)
    process = subprocess.Popen(
        [str(VENV_BIN / "citewatch"), "replay", "--port", "0"],
        env={**os.environ, **env, "CITEWATCH_REPLAY_INDEX_INTERVAL": "0.2"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    seen: list[str] = []
    try:
        base = _wait_ready(process, seen, timeout)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        rest = process.stderr.read()
        process.stderr.close()
    assert process.returncode == 0, "citewatch replay failed:\n" + "".join(seen) + rest


def _wait_ready(process: subprocess.Popen[str], seen: list[str], timeout: float) -> str:
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
        match = READY.match(line)
        if match:
            return match.group(1)
    process.kill()
    raise AssertionError("citewatch replay did not start:\n" + "".join(seen))
