"""Shared fixtures: a data folder per test, local servers, the CLI as a subprocess, databases.

Captures run ``citewatch`` in a subprocess, as a user does: Scrapy's reactor
cannot restart inside one test process. Every WARC file a test leaves in its
data folder is checked with ``warcio check`` when the test ends.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.webserver import TestServer

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
PG_URL = os.environ.get("CITEWATCH_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


def loopback_name() -> str | None:
    """This machine's host name when DNS (here /etc/hosts) answers it with a loopback address."""
    name = socket.gethostname()
    try:
        return name if socket.gethostbyname(name).startswith("127.") else None
    except OSError:
        return None


def run_once(
    factory: pytest.TempPathFactory, worker_id: str, name: str, run: Callable[[Path], dict[str, Any]]
) -> dict[str, Any]:
    """``run(folder)``'s JSON-able results, made once per session: under pytest-xdist the first
    worker to get here runs it (a lock file in the session's common temporary folder) and the
    others read what it wrote. For module fixtures over long batched runs, which would otherwise
    run once per worker and compete for the CPUs, and their timeouts with them."""
    if worker_id == "master":
        return run(factory.mktemp(name))
    shared = factory.getbasetemp().parent
    with (shared / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = shared / f"{name}.json"
        if not done.exists():
            done.write_text(json.dumps(run(shared / name)))
        return json.loads(done.read_text())


def warcio_check(paths: list[Path]) -> None:
    """Fail unless ``warcio check`` accepts every file."""
    if not paths:
        return
    # warcio's checker, with the decoders it lacks here for bodies sent as br or zstd
    # (archive/store/warcio_codecs.py): plain `warcio check` fails on a br body with brotli 1.2.
    command = [sys.executable, "-m", "archive.store.warcio_codecs", "check", *map(str, paths)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, f"warcio check failed:\n{result.stdout}\n{result.stderr}"


@dataclass
class Home:
    """A data folder and the environment that points citewatch at it."""

    path: Path
    env: dict[str, str]

    @property
    def warc_dir(self) -> Path:
        return self.path / "warcs"

    def warcs(self) -> list[Path]:
        return sorted(self.warc_dir.glob("*.warc.gz")) if self.warc_dir.exists() else []

    def run(
        self, *args: str, timeout: float = 180, env: dict[str, str] | None = None, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(VENV_BIN / "citewatch"), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**self.env, **(env or {})},
            stdin=subprocess.DEVNULL,
        )
        if check:
            assert result.returncode == 0, f"citewatch {' '.join(args)} failed:\n{result.stderr}"
        return result

    def database_url(self) -> str:
        return self.env.get("CITEWATCH_DATABASE_URL") or f"sqlite:///{self.path / 'citewatch.db'}"


def _base_env(path: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CITEWATCH_")
        and k.lower() not in {"http_proxy", "https_proxy", "no_proxy", "all_proxy"}
    }
    env.update(
        {
            "CITEWATCH_HOME": str(path),
            "CITEWATCH_ALLOW_PRIVATE_NETWORKS": "1",
            "CITEWATCH_HOST_DELAY": "0",
            "CITEWATCH_RETRY_BACKOFF": "0.05",
            "CITEWATCH_TIMEOUT": "10",
            # Tests that count requests or records do not expect a soft-404 probe per host;
            # the change-detection tests turn it on.
            "CITEWATCH_PROBE_SOFT_404": "0",
            "PYTHONPATH": str(ROOT),
        }
    )
    return env


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Home]:
    h = Home(tmp_path / "home", _base_env(tmp_path / "home"))
    yield h
    warcio_check(h.warcs())


@pytest.fixture
def server() -> Iterator[TestServer]:
    with TestServer() as srv:
        yield srv


def postgres_available() -> str | None:
    """None when the test PostgreSQL answers, else why not."""
    try:
        engine = create_engine(
            PG_URL.replace("postgresql://", "postgresql+psycopg://", 1), connect_args={"connect_timeout": 3}
        )
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:
        return f"PostgreSQL at {PG_URL} does not answer ({exc.__class__.__name__})"


@pytest.fixture
def browser() -> Iterator[Any]:
    """Debian's Chromium, driven by Playwright, with the flags a closed network needs."""
    from playwright.sync_api import sync_playwright

    from crawler.browser import CHROMIUM_ARGS

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[Any]:
    reason = postgres_available()
    if reason:
        if os.environ.get("CITEWATCH_REQUIRE_POSTGRES"):
            pytest.fail(reason + " and CITEWATCH_REQUIRE_POSTGRES is set")
        pytest.skip(reason + "; set CITEWATCH_TEST_DATABASE_URL")
    engine = create_engine(
        PG_URL.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    yield engine
    engine.dispose()


@pytest.fixture
def pg_url(pg_admin: Any) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    name = f"citewatch_test_{uuid.uuid4().hex[:12]}"
    with pg_admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base = PG_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with pg_admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each database test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    return str(request.getfixturevalue("pg_url"))
