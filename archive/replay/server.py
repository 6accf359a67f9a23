"""Replay: links into the pywb replay server and the files it reads.

pywb runs as its own process from its own virtual environment (``citewatch
replay``); this module never imports it. It serves one collection,
``citewatch``, over the WARC folder, with Memento on and a banner on each
replayed page (the capture's date, links to the source's page in the web UI
and to the other captures).
"""

from __future__ import annotations

import contextlib
import fcntl
import heapq
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, sessionmaker

from archive.errors import OperationError
from archive.models import Snapshot, WarcFile
from archive.net import http_url, listen
from archive.store.index import ARCHIVED_TYPES
from archive.store.warc import OPEN_SUFFIX

if TYPE_CHECKING:
    from archive.settings import Settings

COLLECTION = "citewatch"


def replay_base(settings: Settings) -> str:
    """The replay server's public base URL, ending in ``/``."""
    return str(settings.replay_url or http_url(settings.replay_address, settings.replay_port))


def timestamp14(when: datetime) -> str:
    """The 14-digit Memento timestamp of a capture time (UTC).

    >>> timestamp14(datetime(2026, 11, 26, 9, 5, 7, 250000))
    '20261126090507'
    """
    return when.strftime("%Y%m%d%H%M%S")


def replay_link(settings: Settings, url: str, captured_at: datetime | None = None, raw: bool = False) -> str:
    """The replay URL of ``url`` as captured at ``captured_at`` (the newest capture when None).

    ``raw`` asks for the archived bytes as they were served (pywb's ``id_`` mode).
    """
    stamp = timestamp14(captured_at) if captured_at is not None else ""
    mode = "id_" if raw else ""
    if not stamp and not mode:
        return f"{replay_base(settings)}{COLLECTION}/{url}"
    return f"{replay_base(settings)}{COLLECTION}/{stamp}{mode}/{url}"


def timemap_link(settings: Settings, url: str, form: str = "link") -> str:
    """The Memento TimeMap of ``url`` (``form`` is ``link`` or ``json``)."""
    return f"{replay_base(settings)}{COLLECTION}/timemap/{form}/{url}"


# --- the CDXJ index pywb reads -------------------------------------------------------------------
#
# HOME/replay/ holds pywb's config.yaml, the index and links to WARC files still being written:
#
#   index -> index.N       a symlink, swapped atomically when the index is compacted
#   index.N/base.cdxj      every capture with an id up to N, sorted
#   index.N/recent.cdxj    captures that landed since, sorted, rewritten (atomically) as they land
#   open/NAME.warc.gz      -> WARC folder/NAME.warc.gz.open while that file is being written
#
# pywb lists the index folder and opens its files on every lookup, so it sees new captures at
# once. The CDXJ names each WARC file by its final name; pywb tries the WARC folder first and
# then open/, so a capture is found before and after its file is closed and renamed.

RECENT_LIMIT = 20_000  # captures in recent.cdxj before it is merged into base.cdxj
SORT_CHUNK = 200_000  # lines sorted in memory at once when the whole index is rebuilt
IN_FLIGHT = 1_000  # newest ids a rebuild leaves to sync (lower ids may still commit)
GAP_WAIT = 120.0  # seconds an unseen id below newer ones may still commit (then it is skipped)
# What index.N/format says; an index of another format (older ones have no file: their lines
# carry no source id) is built again when replay starts.
INDEX_FORMAT = "2"


def cdxj_line(
    surt: str,
    captured_at: datetime,
    url: str,
    record_type: str,
    status: int | None,
    mime: str | None,
    digest: str | None,
    length: int,
    offset: int,
    filename: str,
    source_id: int | None = None,
) -> str:
    """One CDXJ line, as pywb and cdxj-indexer write them, plus the capture's source id (the
    replay banner links to that source's page in the web UI; ``source`` is pywb's own field).

    >>> line = cdxj_line("org,example)/", datetime(2026, 1, 2, 3, 4, 5), "https://example.org/",
    ...                  "revisit", 200, "text/html", "sha1:ABC", 321, 0, "a.warc.gz")
    >>> key, stamp, fields = line.split(" ", 2)
    >>> key, stamp, fields[:60]
    ('org,example)/', '20260102030405', '{"url":"https://example.org/","mime":"warc/revisit","status"')
    >>> fields[60:]
    ':"200","digest":"ABC","length":"321","offset":"0","filename":"a.warc.gz"}'
    >>> cdxj_line("org,example)/", datetime(2026, 1, 2), "https://example.org/", "response", 200,
    ...           "text/html", None, 9, 0, "a.warc.gz", source_id=12)[-18:]
    ',"source_id":"12"}'
    """
    fields: dict[str, str] = {"url": url}
    fields["mime"] = "warc/revisit" if record_type == "revisit" else (mime or "unk")
    if status is not None:
        fields["status"] = str(status)
    if digest:
        fields["digest"] = digest.removeprefix("sha1:")
    fields.update(length=str(length), offset=str(offset), filename=filename)
    if source_id is not None:
        fields["source_id"] = str(source_id)
    return f"{surt} {timestamp14(captured_at)} {json.dumps(fields, separators=(',', ':'))}"


def _index_query(after: int) -> Select[*tuple[Any, ...]]:
    """Every row above ``after``, oldest id first, failed attempts included: sync tells a
    hole in the ids from a failure by them, and ``_archived`` picks what goes in the index."""
    return (
        select(
            Snapshot.id,
            Snapshot.surt,
            Snapshot.captured_at,
            Snapshot.url,
            Snapshot.record_type,
            Snapshot.status,
            Snapshot.mime,
            Snapshot.payload_digest,
            Snapshot.length,
            Snapshot.offset,
            WarcFile.name,
            Snapshot.source_id,
        )
        .outerjoin(WarcFile, WarcFile.id == Snapshot.warc_file_id)
        .where(Snapshot.id > after)
        .order_by(Snapshot.id)
    )


def _archived(row: Any) -> bool:
    return (
        row.record_type in ARCHIVED_TYPES
        and row.offset is not None
        and row.length is not None
        and row.name is not None
    )


def _line_of(row: Any) -> str:
    """The row's CDXJ line, with its newline."""
    return (
        cdxj_line(
            row.surt,
            row.captured_at,
            row.url,
            row.record_type,
            row.status,
            row.mime,
            row.payload_digest,
            row.length,
            row.offset,
            row.name,
            row.source_id,
        )
        + "\n"
    )


def _write_sorted(path: Path, lines: Iterable[str]) -> None:
    """Write ``lines`` (sorted, each ending in a newline) to ``path`` atomically."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
        fh.writelines(lines)
    os.replace(tmp, path)


def _format_of(folder: Path) -> str | None:
    try:
        return (folder / "format").read_text(encoding="utf-8").strip()
    except OSError:
        return None


def _read_lines(path: Path) -> Iterator[str]:
    if path.exists():
        with open(path, encoding="utf-8") as fh:
            yield from fh


# The banner on each replayed page: pywb renders this template (Jinja2, autoescaped) into the
# insert it puts at the top of the archived page's <head>. Its markup sits in a <template>,
# which <head> may hold, so the parser sees the archived <head> as it was; a script moves it,
# once the page is parsed, into a shadow root just before <body> (not in it: the page's own
# margins, styles and first-child rules stay as they were). Each element is marked
# ``_no_rewrite``: wombat, pywb's script that rewrites the page's URLs as they are set, would
# otherwise send the links into the archive.
# Top-level pages only: frames (pywb's ``if_`` mode) and raw bytes (``id_``) get none.
BANNER_TEMPLATE = """\
{% if wb_url.mod in ("", "bn_") %}
{% set ui = (config.citewatch or {}).public_url %}
<template id="_citewatch_banner">
<style>
:host { all: initial; display: block; }
.bar { box-sizing: border-box; display: flex; flex-wrap: wrap; align-items: baseline; gap: 2px 16px;
  margin: 0; padding: 6px 12px; background: #1d2433; color: #eef1f6; border-bottom: 3px solid #e0a526;
  font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; text-align: left; }
.brand { font-weight: 700; }
.url { color: #c7cedb; overflow-wrap: anywhere; }
time { font-weight: 700; }
a { color: #9cc3ff; }
button { margin-left: auto; padding: 0 4px; background: none; border: 0; color: inherit; font: inherit;
  cursor: pointer; }
</style>
<div class="bar" role="note" aria-label="citewatch replay">
<span class="brand">citewatch replay</span>
<span class="when">Captured <time datetime="{{ cdx.timestamp | format_ts('%Y-%m-%dT%H:%M:%SZ') }}">\
{{ cdx.timestamp | format_ts('%Y-%m-%d %H:%M:%S') }} UTC</time></span>
<span class="url">{{ cdx.url }}</span>
{% if ui and cdx.source_id %}
<a class="timeline" href="{{ ui }}sources/{{ cdx.source_id }}">Source timeline</a>
{% endif %}
<a class="captures" href="{{ wb_prefix }}*/{{ cdx.url }}">Other captures</a>
<button type="button" class="hide" title="Hide this banner" aria-label="Hide this banner">&#215;</button>
</div>
</template>
<script>
(function () {
  var template = document.getElementById("_citewatch_banner");
  if (!template || !template.content) return;
  function show() {
    if (!document.body || document.querySelector("citewatch-banner")) return;
    var host = document.createElement("citewatch-banner");
    var root = host.attachShadow({ mode: "open" });
    var part = template.content.cloneNode(true);
    part.querySelectorAll("*").forEach(function (el) { el._no_rewrite = true; });
    root.appendChild(part);
    root.querySelector("button.hide").addEventListener("click", function () { host.remove(); });
    document.body.parentNode.insertBefore(host, document.body);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", show);
  } else {
    show();
  }
})();
</script>
{% endif %}
"""


class ReplayIndex:
    """Keeps HOME/replay (pywb's configuration and CDXJ index) in step with the capture index.

    ``open()`` takes the folder (one replay per data folder) and brings the index up to date;
    ``sync()`` adds the captures committed since; ``close()`` lets the folder go.
    """

    def __init__(
        self, sessions: sessionmaker[Session], warc_dir: Path, replay_dir: Path, public_url: str = ""
    ):
        self.sessions = sessions
        self.public_url = public_url  # the web UI's base URL, for the banner's links
        # Absolute: pywb runs in the replay folder, and the links in open/ must hold anywhere.
        self.warc_dir = warc_dir.expanduser().resolve()
        self.dir = replay_dir.expanduser().resolve()
        self.link = self.dir / "index"
        self.open_dir = self.dir / "open"
        self.lock: IO[bytes] | None = None
        self._reset(0)

    def _reset(self, watermark: int) -> None:
        self.watermark = watermark  # every id up to this is indexed, a failed attempt, or a hole
        self.above: set[int] = set()  # ids above the watermark already seen
        self.scanned = watermark  # ids up to this were looked at for holes
        self.gaps: dict[int, float] = {}  # an id missing below seen ones -> when first noticed
        self.recent: list[tuple[str, int]] = []  # (line, snapshot id), sorted
        self.total = 0

    @property
    def opened(self) -> bool:
        return self.lock is not None

    # pywb's side ---------------------------------------------------------------------------------

    def write_config(self) -> Path:
        """pywb's config.yaml: one collection over the WARC folder, Memento on, frameless, with
        citewatch's banner (pywb's ``custom_banner_html``, rendered into each replayed page)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self.open_dir.mkdir(exist_ok=True)
        banner = self.dir / "banner.html"
        banner.write_text(BANNER_TEMPLATE, encoding="utf-8")
        config = {
            "collections": {
                COLLECTION: {
                    "index_paths": str(self.link),
                    "archive_paths": [f"{self.warc_dir}/", f"{self.open_dir}/"],
                }
            },
            "enable_memento": True,
            # Frameless: TIMESTAMP/URL is the archived page itself (rewritten), as Memento
            # clients and the tests expect, not a frame around it.
            "framed_replay": False,
            "custom_banner_html": str(banner),  # pywb's template loader takes absolute paths
            "citewatch": {"public_url": self.public_url},  # read by the banner
        }
        path = self.dir / "config.yaml"
        # JSON is YAML: no YAML writer needed on citewatch's side.
        path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        return path

    # the index -----------------------------------------------------------------------------------

    def _current(self) -> Path | None:
        if not self.link.is_symlink():
            return None
        target = self.link.resolve()
        return target if target.is_dir() and target.name.startswith("index.") else None

    def open(self, progress: Callable[[int], None] | None = None) -> int:
        """Take the replay folder, load the index on disk (or build it) and bring it up to date;
        return the captures indexed."""
        self.dir.mkdir(parents=True, exist_ok=True)
        lock = open(self.dir / "lock", "ab")  # noqa: SIM115 (held until close)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            raise OperationError(
                f"{self.dir} is in use by another citewatch replay (or daemon --replay): one per data folder"
            ) from None
        self.lock = lock
        self.write_config()
        current = self._current()
        if current is None or _format_of(current) != INDEX_FORMAT:
            self._rebuild(progress)
        else:
            self._reset(int(current.name.removeprefix("index.")))
            self.total = sum(1 for _ in _read_lines(current / "base.cdxj"))
        self.sync()
        return self.total

    def close(self) -> None:
        if self.lock is not None:
            self.lock.close()
            self.lock = None

    def _rebuild(self, progress: Callable[[int], None] | None = None) -> None:
        """Write base.cdxj from the captures in the database (an external sort in chunks).

        The newest IN_FLIGHT ids are left to ``sync``, which waits for lower ids that commit late.
        """
        chunks: list[Path] = []
        done = 0
        with self.sessions() as session:
            top = session.scalar(select(func.max(Snapshot.id))) or 0
            cut = max(0, top - IN_FLIGHT)
            query = _index_query(0).where(Snapshot.id <= cut)
            batch: list[str] = []
            for row in session.execute(query.execution_options(yield_per=10_000)):
                if not _archived(row):
                    continue
                batch.append(_line_of(row))
                done += 1
                if len(batch) >= SORT_CHUNK:
                    chunks.append(self._spill(batch, len(chunks)))
                    batch = []
                if progress is not None and done % 50_000 == 0:
                    progress(done)
            chunks.append(self._spill(batch, len(chunks)))
        self._install(cut, heapq.merge(*(_read_lines(c) for c in chunks)), [])
        for c in chunks:
            c.unlink()
        self._reset(cut)
        self.total = done

    def _spill(self, batch: list[str], n: int) -> Path:
        batch.sort()
        path = self.dir / f"sort.{n}"
        _write_sorted(path, batch)
        return path

    def _install(self, base_id: int, base_lines: Iterable[str], recent_lines: Iterable[str]) -> None:
        """Make index.BASE_ID, with both its files written first, the index pywb reads."""
        folder = self.dir / f"index.{base_id}"
        staging = self.dir / f"index.{base_id}.new"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        _write_sorted(staging / "base.cdxj", base_lines)
        _write_sorted(staging / "recent.cdxj", recent_lines)
        (staging / "format").write_text(INDEX_FORMAT + "\n", encoding="utf-8")
        if folder.exists():  # the same base id again (a rebuild): the old one goes after the swap
            folder.rename(self.dir / f"index.{base_id}.old")
        staging.rename(folder)
        new_link = self.dir / "index.link"
        with contextlib.suppress(FileNotFoundError):
            new_link.unlink()
        new_link.symlink_to(folder.name)
        os.replace(new_link, self.link)  # pywb sees the old index or the new one, never neither
        for old in self.dir.glob("index.*"):
            if old.is_dir() and not old.is_symlink() and old != folder:
                shutil.rmtree(old, ignore_errors=True)

    def sync(self, now: float | None = None) -> int:
        """Index the captures committed since the last call; return how many were added."""
        now = time.monotonic() if now is None else now
        current = self._current()
        if current is None:  # the index folder was removed under us: build it again
            self._rebuild()
            current = self._current()
        with self.sessions() as session:
            rows = session.execute(_index_query(self.watermark)).all()
        # After the query: a row naming a file opened since is linked before pywb is asked.
        self._link_open_files()
        new = [row for row in rows if row.id not in self.above]
        lines = [(_line_of(row), row.id) for row in new if _archived(row)]
        for row in new:
            self.above.add(row.id)
            self.gaps.pop(row.id, None)
        if lines:
            self.recent.extend(lines)
            self.recent.sort()
            self.total += len(lines)
        self._advance(now)
        settled = sum(1 for _, i in self.recent if i <= self.watermark)
        if settled > RECENT_LIMIT:
            self._compact()
        elif lines and current is not None:
            _write_sorted(current / "recent.cdxj", (line for line, _ in self.recent))
        return len(lines)

    def _advance(self, now: float) -> None:
        """Move the watermark over ids seen or given up on: a lower id can commit after a higher
        one (two workers on PostgreSQL), so a missing id is only skipped after GAP_WAIT."""
        top = max(self.above, default=self.watermark)
        for missing in range(max(self.scanned, self.watermark) + 1, top):
            if missing not in self.above:
                self.gaps.setdefault(missing, now)
        self.scanned = max(self.scanned, top)
        while True:
            nxt = self.watermark + 1
            if nxt in self.above:
                self.above.discard(nxt)
            elif nxt in self.gaps and now - self.gaps[nxt] >= GAP_WAIT:
                del self.gaps[nxt]
            else:
                break
            self.watermark = nxt

    def _compact(self) -> None:
        """Merge the captures of recent.cdxj up to the watermark into a new base.cdxj (named
        index.WATERMARK, so a restart knows where base.cdxj ends); the folder is swapped in one
        rename. Captures above the watermark stay in recent.cdxj."""
        current = self._current()
        old_base = _read_lines(current / "base.cdxj") if current is not None else iter(())
        merged = [line for line, i in self.recent if i <= self.watermark]
        self.recent = [(line, i) for line, i in self.recent if i > self.watermark]
        self._install(self.watermark, heapq.merge(old_base, merged), (line for line, _ in self.recent))

    # WARC files being written ----------------------------------------------------------------------

    def _link_open_files(self) -> None:
        """open/NAME -> the WARC folder's NAME.open, for each file still being written."""
        self.open_dir.mkdir(parents=True, exist_ok=True)
        for path in self.warc_dir.glob(f"*{OPEN_SUFFIX}"):
            link = self.open_dir / path.name.removesuffix(OPEN_SUFFIX)
            if not link.is_symlink():
                with contextlib.suppress(FileExistsError):
                    link.symlink_to(path)
        for link in self.open_dir.glob("*"):
            if link.is_symlink() and not link.exists():  # closed and renamed since
                with contextlib.suppress(FileNotFoundError):
                    link.unlink()


# --- the pywb process ----------------------------------------------------------------------------

PROJECT_ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 60.0  # seconds pywb may take to start answering


def tools_bin(settings: Settings, name: str) -> Path:
    """A program (``wayback``, ``wacz``) of the replay environment, or a one-line error."""
    venv = Path(settings.replay_venv).expanduser() if settings.replay_venv else PROJECT_ROOT / ".venv-replay"
    path = venv.resolve() / "bin" / name
    if not path.exists():
        raise OperationError(
            f"{name} is not installed in {venv}: run scripts/bootstrap (it makes that environment), "
            "or set replay_venv"
        )
    return path


# Proxy variables, compared in lower case (requests and urllib read both cases).
PROXY_VARIABLES = frozenset(
    {"http_proxy", "https_proxy", "all_proxy", "ftp_proxy", "socks_proxy", "no_proxy"}
)


def pywb_environment(environ: Mapping[str, str], config: Path) -> dict[str, str]:
    """The environment pywb runs in: citewatch's, without its Python settings and without any
    proxy variable. pywb calls its own index and WARC servers over HTTP on localhost (with
    requests, which honours HTTP_PROXY): through a proxy those calls fail, and every page,
    TimeMap and TimeGate with them. This pywb reads local files only, so it needs no proxy.

    >>> env = pywb_environment({"PATH": "/bin", "HTTP_PROXY": "http://proxy:3128", "no_proxy": "",
    ...                         "All_Proxy": "socks5://proxy", "PYTHONPATH": "/x"}, Path("/r/config.yaml"))
    >>> sorted(env.items())
    [('PATH', '/bin'), ('PYWB_CONFIG_FILE', '/r/config.yaml')]
    """
    env = {
        k: v
        for k, v in environ.items()
        if not k.startswith(("PYTHON", "VIRTUAL_ENV")) and k.lower() not in PROXY_VARIABLES
    }
    env["PYWB_CONFIG_FILE"] = str(config)
    return env


def _answers(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=1):
            return True
    except OSError:
        return False


class ReplayServer:
    """pywb (``wayback``) on the replay address, from its own environment, over an index kept
    in step with the database. ``start()`` returns once pywb answers (and can start it again
    after ``stop()`` or a crash, keeping the index); ``sync()`` indexes what landed since;
    ``close()`` ends pywb and lets the replay folder go."""

    def __init__(self, settings: Settings, sessions: sessionmaker[Session], port: int | None = None):
        self.settings = settings
        self.address = settings.replay_address
        self.port = settings.replay_port if port is None else port
        self.index = ReplayIndex(
            sessions, settings.warc_dir, settings.home_path / "replay", settings.effective_public_url
        )
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = settings.home_path / "logs" / "replay.log"

    def start(self, progress: Callable[[int], None] | None = None) -> int:
        """Index the archive (the first time), start pywb and wait until it answers; return the
        captures indexed."""
        wayback = tools_bin(self.settings, "wayback")
        # Taken or not allowed: a one-line error now, not pywb's traceback in its log. Port 0
        # (tests) picks a free port, which pywb then takes.
        with listen(self.address, self.port, "replay_port") as probe:
            self.port = probe.getsockname()[1]
        total = self.index.total if self.index.opened else self.index.open(progress)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = pywb_environment(os.environ, self.index.dir / "config.yaml")
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [str(wayback), "-b", self.address, "-p", str(self.port)],
                cwd=self.index.dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C reaches citewatch, which stops pywb itself
            )
        deadline = time.monotonic() + READY_TIMEOUT
        try:
            while not _answers(self.address, self.port):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise OperationError(f"pywb did not start: see {self.log_path}")
                time.sleep(0.1)
        except BaseException:  # a Ctrl-C too: pywb is in a session of its own and would stay
            self.stop()
            raise
        return total

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def base_url(self) -> str:
        return http_url(self.address, self.port)

    def sync(self) -> int:
        """Index what landed since; a one-line error when pywb is not running."""
        if not self.running:
            code = self.process.returncode if self.process is not None else None
            raise OperationError(f"pywb is not running (exit code {code}): see {self.log_path}")
        return self.index.sync()

    def stop(self, timeout: float = 10.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> ReplayServer:
        return self

    def close(self) -> None:
        self.stop()
        self.index.close()

    def __exit__(self, *exc: object) -> None:
        self.close()
