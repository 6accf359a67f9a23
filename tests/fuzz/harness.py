"""What every fuzz target shares: how it runs under atheris, and how it shapes its input.

``python -m tests.fuzz.<name> [libFuzzer flags] [corpus dirs or input files]`` instruments
citewatch's own packages (``archive``, ``crawler``), not the libraries under them (lxml,
trafilatura, feedparser: their code is not ours to fix, and instrumenting it would slow every
run), and then fuzzes. Flags the caller does not give get these defaults:

- ``-timeout=10``: an input that takes longer is a hang (libFuzzer saves it as ``timeout-*``);
- ``-rss_limit_mb=2048``;
- ``-artifact_prefix=$TMPDIR/citewatch-fuzz/<name>/``: crash, timeout and OOM inputs go
  there, never into the working directory (the repository, mostly);
- ``-print_final_stats=1``: executions and executions per second at the end;
- with no corpus named, a new temporary corpus directory to write to, then the checked-in
  seeds (``seeds/<name>/``), which libFuzzer only reads (it writes new inputs to the first
  directory it is given).

Name input files instead of directories to replay them (``python -m tests.fuzz.claims
crash-...``). With ``CITEWATCH_FUZZ_KEEP_GOING=DIR`` an exception does not stop the run: each
new kind (exception type and the line it came from) is saved in DIR and the run goes on, so
one long run finds more than its first crash. Hangs still stop it.

Importing this module, or a target, imports neither atheris nor citewatch: the regression tests
replay inputs through the targets without instrumentation.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import sys
import tempfile
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

SEEDS = Path(__file__).resolve().parent / "seeds"
CRASHES = Path(__file__).resolve().parent / "crashes"
INSTRUMENTED = ("archive", "crawler")
DEFAULT_TIMEOUT = 10  # seconds per input
# An amplified input is repeated up to this many bytes: enough that a cost growing with the square
# of the length (1000 links in one paragraph once took 5 s) runs past the timeout, small enough that
# linear work on it stays well inside (about 0.2 s for an HTML page).
AMPLIFIED_BYTES = 64_000
_AMPLIFY_BELOW = 0x08  # a first byte below this asks for amplification (about 3% of random inputs)

Target = Callable[[bytes], None]


def amplified(data: bytes) -> bytes:
    """``data`` as it is, unless its first byte is below 0x08: then the rest of it repeated to about
    ``AMPLIFIED_BYTES``, so that the fuzzer can find short patterns whose cost grows faster than
    their length (quadratic blow-up), which plain inputs of a few kilobytes never show.

    >>> amplified(b"plain"), len(amplified(b"\\x01ab")), amplified(b"\\x01ab")[:6]
    (b'plain', 64000, b'ababab')
    """
    if len(data) > 1 and data[0] < _AMPLIFY_BELOW:
        body = data[1:]
        return body * max(1, AMPLIFIED_BYTES // len(body))
    return data


def pasted_text(data: bytes) -> str | None:
    """``data`` (amplified) as ``citewatch add`` reads a pasted file before its reader sees it:
    None when the CLI refuses it as binary or finds no encoding for it."""
    from archive.articles import ingest

    raw = amplified(data)
    return None if ingest.is_binary(raw) else ingest.decode_text(raw)


def main(
    test_one_input: Target, name: str, modules: Sequence[str], warm_up: Callable[[], None] | None = None
) -> None:
    """Fuzz ``test_one_input`` with ``modules`` (citewatch's, imported by the target) instrumented.

    ``warm_up`` runs before the first input: what a library does once per process (loading every
    locale of dateparser takes seconds) must not count against the first input that needs it.
    """
    import atheris

    argv = libfuzzer_argv(sys.argv, name)
    with atheris.instrument_imports(include=list(INSTRUMENTED)):
        for module in modules:
            importlib.import_module(module)
    keep_going = os.environ.get("CITEWATCH_FUZZ_KEEP_GOING")
    target = _keeping_going(test_one_input, Path(keep_going)) if keep_going else test_one_input
    atheris.Setup(argv, target)
    if warm_up is not None:
        warm_up()
    atheris.Fuzz()


def libfuzzer_argv(argv: Sequence[str], name: str) -> list[str]:
    """``argv`` with the defaults of this module's docstring added where it says nothing.

    >>> args = libfuzzer_argv(["x.py", "-timeout=3", "crash-1"], "claims")
    >>> args[:3], any(a.startswith("-artifact_prefix=") for a in args), len(args)
    (['x.py', '-timeout=3', 'crash-1'], True, 6)
    """
    args = list(argv)
    given = {arg.split("=", 1)[0] for arg in args[1:] if arg.startswith("-")}
    defaults = {
        "-timeout": str(DEFAULT_TIMEOUT),
        "-rss_limit_mb": "2048",
        "-artifact_prefix": _temporary(name, "artifacts") + os.sep,
        "-print_final_stats": "1",
    }
    args += [f"{flag}={value}" for flag, value in defaults.items() if flag not in given]
    if not any(not arg.startswith("-") for arg in args[1:]):
        args += [_temporary(name, "corpus-"), str(SEEDS / name)]
    return args


def _temporary(name: str, kind: str) -> str:
    base = Path(tempfile.gettempdir()) / "citewatch-fuzz" / name
    base.mkdir(parents=True, exist_ok=True)
    if kind == "artifacts":
        (base / kind).mkdir(exist_ok=True)
        return str(base / kind)
    return tempfile.mkdtemp(prefix=kind, dir=base)


def _keeping_going(test_one_input: Target, folder: Path) -> Target:
    """``test_one_input``, saving the first input of each kind of exception in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()

    def run(data: bytes) -> None:
        try:
            test_one_input(data)
        except Exception as exc:
            where = traceback.extract_tb(exc.__traceback__)[-1]
            kind = f"{type(exc).__name__}@{Path(where.filename).name}:{where.lineno}"
            if kind not in seen:
                seen.add(kind)
                digest = hashlib.sha1(data).hexdigest()[:12]
                (folder / f"crash-{kind.replace(':', '-')}-{digest}").write_bytes(data)
                sys.stderr.write(f"\n== new crash kind {kind}: {exc!r}\n{traceback.format_exc()}")

    return run
