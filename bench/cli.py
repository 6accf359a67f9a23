"""Command-line start-up benchmark: how long the read commands take to answer.

A read command (``status``, ``changes``, ``citations``, ``snapshots``, ``diff``,
``config``) on a small database does almost nothing but start: Python, its
imports, the settings, one look at the database's migration revision, a query.
The floor it is measured against is ``python -c "import sqlalchemy.orm"`` with
the same interpreter, in the same run: every command that reads the database
pays at least that. On PostgreSQL the commands import its driver and dialect
too, which the floor does not: a second floor, with them, is shown beside it.

1. ``citewatch init`` makes a fresh data folder (SQLite in it, or ``--database
   URL``: an empty database). Two captures of one URL with their extracted text
   go in, so that ``snapshots`` lists something and ``diff`` compares them.
2. Each command runs as a subprocess ``--runs`` times, the commands and the
   floor interleaved (each round in a new random order), and the script prints
   each one's median and 90th percentile and its median's ratio to the floor's.
   Every run finds its modules compiled (a private ``PYTHONPYCACHEPREFIX``,
   written in a warm-up run), as an installed citewatch does after its first
   run; ``--no-bytecode-cache`` sets ``PYTHONDONTWRITEBYTECODE=1`` instead, and
   modules with no ``.pyc`` beside them (citewatch's own, in an editable
   install) are compiled again on every run.
3. With ``--sources N`` it then adds N sources and as many snapshots (the bulk
   fill of bench/schedule.py), a change for one source in twenty, and times
   ``status`` and ``changes`` again, against the floor again.

Targets: each read command at most 1.3x the floor on the small database,
``status`` and ``changes`` at most 2x it with a million sources.

Run: ``.venv/bin/python bench/cli.py [--runs 30] [--sources 1000000]
[--database postgresql://postgres@127.0.0.1:5432/bench] [--no-bytecode-cache]``.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.schedule import fill  # noqa: E402

FLOOR = "floor: python -c 'import sqlalchemy.orm'"
# PostgreSQL's driver and dialect are imported by every command on PostgreSQL and not by the
# floor: this second floor, shown beside it there, says how much of the gap they are.
DRIVER = "import sqlalchemy.orm, psycopg, sqlalchemy.dialects.postgresql.psycopg"
DRIVER_FLOOR = f"floor with the driver: python -c '{DRIVER}'"
PAGE_URL = "http://bench.example/story"
EMPTY_TARGET, FULL_TARGET = 1.3, 2.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=30, help="runs of each command (default 30)")
    parser.add_argument("--sources", type=int, default=0, help="then fill N sources and time status, changes")
    parser.add_argument("--database", help="an empty database (default: SQLite in the data folder)")
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="PYTHONDONTWRITEBYTECODE=1: modules with no .pyc beside them (citewatch's own, in an editable "
        "install) are compiled on every run",
    )
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="citewatch-bench-cli-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CITEWATCH_", "PYTHONDONTWRITEBYTECODE"))}
    env["CITEWATCH_HOME"] = str(home)
    if args.no_bytecode_cache:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    else:  # as an installed citewatch runs after its first run: every module's .pyc written once
        env["PYTHONPYCACHEPREFIX"] = str(home / "pycache")
    if args.database:
        env["CITEWATCH_DATABASE_URL"] = args.database
    url = args.database or f"sqlite:///{home / 'citewatch.db'}"
    run(env, ["init"])
    old, new = seed_captures(url)
    cache = "PYTHONDONTWRITEBYTECODE=1" if args.no_bytecode_cache else "bytecode cached"
    print(f"{sys.executable} ({cache}), {url.split('://')[0]}, {args.runs} runs each, with the floor")
    print("small database (two captures of one URL):")
    commands = {
        "status": ["status"],
        "changes": ["changes"],
        "changes --json": ["changes", "--json"],
        "citations": ["citations"],
        "snapshots URL": ["snapshots", PAGE_URL],
        "diff OLD NEW": ["diff", str(old), str(new)],
        "config": ["config"],
    }
    driver = url.startswith("postgres")
    report(time_commands(env, commands, args.runs, driver), EMPTY_TARGET)
    if args.sources:
        started = time.perf_counter()
        fill_sources(url, args.sources)
        print(
            f"{args.sources:,} sources and snapshots, a change for one source in twenty "
            f"(filled in {time.perf_counter() - started:.0f} s):"
        )
        commands = {"status": ["status"], "changes": ["changes"], "changes --json": ["changes", "--json"]}
        report(time_commands(env, commands, args.runs, driver), FULL_TARGET)


def citewatch(args: list[str]) -> list[str]:
    """The command line a user runs (the installed ``citewatch`` script), with this interpreter."""
    script = Path(sys.executable).parent / "citewatch"
    return (
        [sys.executable, str(script), *args]
        if script.exists()
        else [sys.executable, "-m", "citewatch", *args]
    )


def run(env: dict[str, str], args: list[str]) -> None:
    result = subprocess.run(
        citewatch(args), env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL
    )
    if result.returncode != 0:
        sys.exit(f"citewatch {' '.join(args)} failed:\n{result.stderr}")


def seed_captures(url: str) -> tuple[int, int]:
    """Two captures of PAGE_URL with their extracted text (no source: ids stay free for fill)."""
    from archive.db import connect
    from archive.models import ExtractedText, Snapshot

    sessions = connect(url)
    now = datetime.now(tz=None).replace(microsecond=0)
    texts = [
        "Inspectors counted 253 trucks at the crossing this week, the agency said.",
        "Inspectors counted 235 trucks at the crossing this week, the agency said on Monday.",
    ]
    with sessions() as session:
        rows = []
        for n, body in enumerate(texts):
            digest = f"sha1:BENCH{n}"
            session.add(
                ExtractedText(
                    payload_digest=digest,
                    extractor="trafilatura",
                    text=body,
                    extracted_at=now,
                    title="Trucks",
                    words=len(body.split()),
                )
            )
            rows.append(
                Snapshot(
                    url=PAGE_URL,
                    surt="example,bench)/story",
                    captured_at=now - timedelta(days=1 - n),
                    status=200,
                    mime="text/html",
                    payload_digest=digest,
                    record_type="response",
                    via="http",
                    outcome="ok",
                )
            )
        session.add_all(rows)
        session.commit()
        ids = rows[0].id, rows[1].id
    sessions.kw["bind"].dispose()
    return ids


def fill_sources(url: str, sources: int) -> None:
    """bench/schedule.py's bulk fill, then a change for one source in twenty."""
    from sqlalchemy import text

    from archive.db import connect

    sessions = connect(url)
    fill(sessions, sources, datetime.now(tz=None).replace(microsecond=0), random.Random(3))
    with sessions() as session:
        session.execute(
            text(
                "INSERT INTO changes (source_id, old_snapshot_id, new_snapshot_id, kind, detected_at, "
                "summary, details) SELECT source_id, id, id, 'content', captured_at, "
                "'+3 -2 words', '{}' FROM snapshots WHERE source_id % 20 = 0"
            )
        )
        session.commit()
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("ANALYZE"))
            session.commit()
    sessions.kw["bind"].dispose()


def time_commands(
    env: dict[str, str], commands: dict[str, list[str]], runs: int, driver: bool
) -> dict[str, list[float]]:
    """Seconds per run of each command and of the floor (and of the floor with PostgreSQL's
    driver, with ``driver``), interleaved in a new order each round."""
    lines = {name: citewatch(args) for name, args in commands.items()}
    lines[FLOOR] = [sys.executable, "-c", "import sqlalchemy.orm"]
    if driver:
        lines[DRIVER_FLOOR] = [sys.executable, "-c", DRIVER]
    times: dict[str, list[float]] = {name: [] for name in lines}
    rng = random.Random(7)
    for name in lines:  # one warm-up run each: the file cache, .pyc files
        once(lines[name], env, name)
    for _ in range(runs):
        order = list(lines)
        rng.shuffle(order)
        for name in order:
            times[name].append(once(lines[name], env, name))
    return times


def once(line: list[str], env: dict[str, str], name: str) -> float:
    started = time.perf_counter()
    result = subprocess.run(line, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    took = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{name} failed ({result.returncode}):\n{result.stderr}")
    return took


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1] if len(values) > 1 else values[0]


def report(times: dict[str, list[float]], target: float) -> None:
    floor = statistics.median(times[FLOOR])
    driver = statistics.median(times[DRIVER_FLOOR]) if DRIVER_FLOOR in times else None
    for name in (FLOOR, DRIVER_FLOOR) if driver else (FLOOR,):
        median = statistics.median(times[name])
        print(f"  {name}: median {median * 1000:.0f} ms, p90 {p90(times[name]) * 1000:.0f} ms")
    missed = []
    for name, values in times.items():
        if name in (FLOOR, DRIVER_FLOOR):
            continue
        median = statistics.median(values)
        ratio = median / floor
        if ratio > target:
            missed.append(name)
        print(
            f"  citewatch {name}: median {median * 1000:.0f} ms, p90 {p90(values) * 1000:.0f} ms, "
            f"{ratio:.2f}x the floor"
            + (f" ({median / driver:.2f}x the floor with the driver)" if driver else "")
        )
    print(
        f"  target at most {target}x the floor: {'met' if not missed else 'MISSED by ' + ', '.join(missed)}"
    )


if __name__ == "__main__":
    main()
