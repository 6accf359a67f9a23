"""The API does what its OpenAPI description says: schemathesis against a real ``citewatch serve``
on 127.0.0.1, every check on, bounded so that it fits the suite (CITEWATCH_SCHEMATHESIS_EXAMPLES
raises the bound)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

HERE = Path(__file__).parent
TOKEN = "schemathesis-token"


@pytest.fixture
def served(home) -> Iterator[str]:  # type: ignore[no-untyped-def]
    env = {**home.env, "CITEWATCH_API_TOKEN": TOKEN, "CITEWATCH_ALLOW_PRIVATE_NETWORKS": "0"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "citewatch", "serve", "--port", "0"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert found, line
        yield found.group(0).rstrip("/")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()


def test_every_answer_is_the_one_described(served: str, tmp_path: Path) -> None:
    examples = os.environ.get("CITEWATCH_SCHEMATHESIS_EXAMPLES", "15")
    proc = subprocess.run(
        [
            str(Path(sys.executable).with_name("schemathesis")),
            "--config-file",
            str(HERE / "schemathesis.toml"),
            "run",
            f"{served}/openapi.json",
            "--header",
            f"Authorization: Bearer {TOKEN}",
            "--checks",
            "all",
            "--max-examples",
            examples,
            "--continue-on-failure",
            "--workers",
            "1",
            "--request-timeout",
            "20",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "NO_COLOR": "1"},
        timeout=280,
    )
    assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-2000:]
    assert re.search(r"\d+ generated", proc.stdout), proc.stdout[-2000:]


def test_a_refused_method_names_every_allowed_one(served: str) -> None:
    """/api/articles answers GET and POST (two routes): a 405 names both, in the error body's shape."""
    answer = httpx.request("TRACE", f"{served}/api/articles")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET, POST"
    assert set(answer.json()) == {"error"} and "\n" not in answer.json()["error"]


def test_errors_are_declared_with_their_body(served: str) -> None:
    spec = httpx.get(f"{served}/openapi.json").json()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for code in ("400", "401", "500"):
                answer = operation["responses"][code]
                kind = "application/json" if path.startswith("/api/") else "text/html"
                assert kind in answer["content"], (method, path, code)
    feed = spec["paths"]["/changes.atom"]["get"]["responses"]["200"]["content"]
    assert list(feed) == ["application/atom+xml"]
