"""The ``citewatch`` command: parse arguments, call into archive/ and crawler/, print.

Exit codes: 0 done, 1 failed, 2 bad usage or bad input. Errors are one line on
stderr; ``--debug`` shows tracebacks. Every listing has ``--json``.
"""

from __future__ import annotations

import atexit
import gc
import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import click

from archive.errors import BadURLError, CitewatchError, UsageError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table as RichTable


class _Console:
    """rich's Console, made when first used: importing rich costs a read command about 30 ms
    (docs/architecture.md, "CLI speed"). Until then a line printed with markup and highlighting
    off, which rich would write unchanged (no tab or control character it rewrites), is written
    as it is; anything else goes to rich. Emoji codes are off: a URL such as
    ``http://h/a:b:c`` is printed as it is."""

    _REWRITTEN = re.compile(r"[\t\a\b\v\f\r]")  # rich expands tabs and drops these control codes

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Console | None = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return getattr(self._console, name)

    # rich's Live (the progress bar) enters its console; dunders are not looked up by __getattr__.
    def __enter__(self) -> Any:
        return self.__getattr__("__enter__")()

    def __exit__(self, *exc: object) -> None:
        self.__getattr__("__exit__")(*exc)

    def print(
        self, *objects: Any, markup: bool | None = None, highlight: bool | None = None, **options: Any
    ) -> None:
        if self._console is None and markup is False and highlight is False and not options:
            text = " ".join(objects) if all(type(o) is str for o in objects) else None
            if text is not None and not self._REWRITTEN.search(text):
                file = sys.stderr if self._options.get("stderr") else sys.stdout
                file.write(text + "\n")
                file.flush()
                return
        self.__getattr__("print")(*objects, markup=markup, highlight=highlight, **options)


def Table(*headers: Any, **options: Any) -> RichTable:
    """rich's Table, imported when a command prints one."""
    from rich.table import Table

    return Table(*headers, **options)


out = _Console(soft_wrap=True, emoji=False)
err = _Console(stderr=True, soft_wrap=True, emoji=False)


def say(text: str = "") -> None:
    """Print one line of plain text (no markup, no highlighting) to stdout."""
    out.print(text, markup=False, highlight=False)


logger = logging.getLogger("citewatch")


class Context:
    def __init__(self, flags: dict[str, Any], config: str | None, debug: bool):
        self.flags, self.config, self.debug = flags, config, debug

    def settings(self, **more: Any):  # type: ignore[no-untyped-def]
        from archive.settings import load_settings

        return load_settings({**self.flags, **more}, config_path=self.config)

    def cli_args(self) -> list[str]:
        """The options that give a citewatch subprocess this command's data folder and database."""
        return [
            *(["--home", self.flags["home"]] if self.flags.get("home") else []),
            *(["--database-url", self.flags["database_url"]] if self.flags.get("database_url") else []),
            *(["--config", self.config] if self.config else []),
        ]


def _print_json(data: Any) -> None:
    """JSON on stdout, as is: rich's highlighter is slow on thousands of rows."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def _fail(exc: BaseException, debug: bool) -> None:
    if debug:
        raise exc
    if isinstance(exc, CitewatchError):
        err.print(f"citewatch: error: {exc}", markup=False, highlight=False)
        sys.exit(exc.exit_code)
    err.print(
        f"citewatch: error: {exc.__class__.__name__}: {exc} (run with --debug for details)",
        markup=False,
        highlight=False,
    )
    sys.exit(1)


def command(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn citewatch errors (and surprises) into one line and an exit code."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context().find_object(Context)
        try:
            return fn(*args, **kwargs)
        except (CitewatchError, OSError) as exc:
            _fail(exc, bool(ctx and ctx.debug))
        except KeyboardInterrupt:
            err.print("citewatch: interrupted")
            sys.exit(130)
        except Exception as exc:
            _fail(exc, bool(ctx and ctx.debug))

    return wrapper


class _LogFormatter(logging.Formatter):
    """One line per log record; the traceback of a record that has one only with --debug or -vv
    (without them, the exception's first line ends the line)."""

    def __init__(self, tracebacks: bool):
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.tracebacks = tracebacks

    def format(self, record: logging.LogRecord) -> str:
        if self.tracebacks:
            return super().format(record)
        exc = record.exc_info[1] if record.exc_info else None
        plain = logging.makeLogRecord(
            {**record.__dict__, "exc_info": None, "exc_text": None, "stack_info": None}
        )
        line = super().format(plain).splitlines()[0]
        detail = str(exc).splitlines()[0] if exc is not None and str(exc) else ""
        if exc is not None and not (detail and detail in line):  # else the message says it already
            line += f" ({exc.__class__.__name__}: {detail})" if detail else f" ({exc.__class__.__name__})"
        return line


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--home", envvar=None, help="Data folder (default: CITEWATCH_HOME or ~/.local/share/citewatch)."
)
@click.option(
    "--config",
    "config",
    type=click.Path(dir_okay=False),
    help="Settings file instead of HOME/citewatch.toml.",
)
@click.option("--database-url", help="Database URL (default: SQLite in the data folder).")
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv for debug).")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.version_option(package_name="citewatch")
@click.pass_context
def cli(
    ctx: click.Context,
    home: str | None,
    config: str | None,
    database_url: str | None,
    verbose: int,
    debug: bool,
) -> None:
    """citewatch: archive what a story cites, and watch it for changes."""
    level = logging.WARNING - 10 * min(verbose, 2)
    handler = logging.StreamHandler(sys.stderr)
    # The level goes on the handler too: Scrapy sets its own loggers to DEBUG,
    # and records propagated to the root are filtered by handlers only.
    handler.setLevel(level)
    handler.setFormatter(_LogFormatter(tracebacks=debug or verbose > 1))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    for noisy in ("scrapy", "twisted", "asyncio", "filelock", "alembic"):
        logging.getLogger(noisy).setLevel(max(level, logging.INFO if verbose > 1 else logging.WARNING))
    # trafilatura warns "discarding data" for every page with too little text (a 404 page, say) and
    # logs "empty HTML tree" errors for empty or non-HTML bodies: the analysis records both itself.
    logging.getLogger("trafilatura").setLevel(logging.DEBUG if verbose > 1 else logging.CRITICAL)
    ctx.obj = Context({"home": home, "database_url": database_url}, config, debug)


_DATABASES: dict[str, Any] = {}  # database URL -> its session factory, for this command


def _database(settings: Any):  # type: ignore[no-untyped-def]
    """The migrated database of ``settings``: brought to head first (idempotent), once per
    command (each step of a capture asked for it, each time with its own engine and version check)."""
    from archive import db

    url = settings.effective_database_url
    if url not in _DATABASES:
        settings.home_path.mkdir(parents=True, exist_ok=True)
        _DATABASES[url] = db.migrated(url)
    return _DATABASES[url]


@cli.command()
@click.pass_obj
@command
def init(obj: Context) -> None:
    """Create the data folder and the database (migrations to head)."""
    settings = obj.settings()
    _database(settings)
    settings.warc_dir.mkdir(parents=True, exist_ok=True)
    out.print(f"data folder: {settings.home_path}", markup=False, highlight=False)
    out.print(f"database: {settings.effective_database_url}", markup=False, highlight=False)


@cli.group()
def db() -> None:
    """Database migrations."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@click.pass_obj
@command
def db_upgrade(obj: Context, revision: str) -> None:
    """Run migrations up to REVISION."""
    from archive import db as dbmod

    settings = obj.settings()
    engine = dbmod.make_engine(settings.effective_database_url)
    dbmod.upgrade(engine, revision)
    out.print(f"database at revision {dbmod.current_revision(engine)}")


@db.command("current")
@click.pass_obj
@command
def db_current(obj: Context) -> None:
    """Print the database's migration revision and the newest one."""
    from archive import db as dbmod

    engine = dbmod.make_engine(obj.settings().effective_database_url)
    out.print(f"current: {dbmod.current_revision(engine) or 'empty'}  head: {dbmod.head_revision()}")


@cli.command("config")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
@command
def show_config(obj: Context, as_json: bool) -> None:
    """Show every setting, its effective value and where the value came from."""
    from archive.settings import SETTINGS

    settings = obj.settings()
    rows = [
        {
            "name": s.name,
            "value": getattr(settings, s.name),
            "origin": settings.origin(s.name),
            "env": s.env_var,
        }
        for s in SETTINGS
    ]
    if as_json:
        _print_json(rows)
        return
    table = Table("setting", "value", "from", "environment variable")
    for row in rows:
        table.add_row(row["name"], repr(row["value"]), row["origin"], row["env"])
    out.print(table)


def _check_urls(urls: Sequence[str]) -> tuple[list[str], list[tuple[str, str]]]:
    from archive.urls import check_url

    good, bad = [], []
    for raw in urls:
        try:
            good.append(check_url(raw))
        except BadURLError as exc:
            bad.append((raw, str(exc)))
    return good, bad


def _change_line(url: str, analysis: dict[str, Any]) -> str | None:
    """What the analysis of a URL's new captures found, one line per change; None for nothing."""
    lines = [
        f"{c['kind']}: {url}: {c['summary']} (change {c['id']}; "
        f"citewatch diff {c['old_snapshot_id']} {c['new_snapshot_id']})"
        for c in analysis["changes"]
    ]
    if analysis["state"] == "problem":
        lines.append(f"capture problem: {url}: {analysis['reason']}")
    return "\n".join(lines) or None


def _print_results(results: list[Any], as_json: bool) -> None:
    if as_json:
        from crawler.jobs import result_dict

        _print_json([result_dict(r) for r in results])
        return
    table = Table("url", "outcome", "status", "via", "snapshot", "message")
    table.columns[0].overflow = "fold"
    for r in results:
        style = "green" if r.ok else "red"
        table.add_row(
            r.url,
            f"[{style}]{r.outcome}[/]",
            str(r.status or "-"),
            r.via,
            str(r.snapshot_id or "-"),
            r.message,
        )
    out.print(table)
    for r in results:
        line = _change_line(r.url, r.analysis) if r.analysis is not None else None
        if line:
            out.print(line, markup=False, highlight=False)


def _progress(total: int) -> tuple[Callable[[Any], None], Callable[[], None]]:
    """A progress bar on a terminal; otherwise a line per failure and at most one a second."""
    if err.is_terminal:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        bar = Progress(
            TextColumn("capturing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=cast("Console", err),  # the lazy console stands in for rich's own
            transient=True,
        )
        task = bar.add_task("capture", total=total)
        bar.start()
        return (lambda result: bar.advance(task)), bar.stop
    done, last = [0], [0.0]

    def line(result: Any) -> None:
        # Failures always, successes at most once a second: a log, not a flood.
        done[0] += 1
        now = time.monotonic()
        if result.ok and now - last[0] < 1.0 and done[0] < total:
            return
        last[0] = now
        err.print(f"[{done[0]}/{total}] {result.outcome} {result.url}", markup=False, highlight=False)

    return line, lambda: None


def _read_url_file(path: str) -> list[str]:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read URLs from {path}: {exc}") from exc
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


@cli.command()
@click.argument("urls", nargs=-1)
@click.option("-i", "--input", "input_file", help="Read more URLs from FILE, one per line (- for stdin).")
@click.option("--browser", is_flag=True, help="Capture in Chromium (Playwright) instead of plain HTTP.")
@click.option("--no-requisites", is_flag=True, help="Skip stylesheets, images, scripts and fonts.")
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
@click.pass_obj
@command
def capture(
    obj: Context,
    urls: tuple[str, ...],
    input_file: str | None,
    browser: bool,
    no_requisites: bool,
    as_json: bool,
) -> None:
    """Capture URLS now, into WARC files and the index (no schedule)."""
    wanted = list(urls) + (_read_url_file(input_file) if input_file else [])
    if not wanted:
        raise UsageError("no URLs given: name them as arguments or with --input FILE")
    settings = obj.settings(page_requisites=False if no_requisites else None)
    good, bad = _check_urls(wanted)
    for _raw, message in bad:
        err.print(f"citewatch: {message}", markup=False, highlight=False)
    # Each capture is analysed, retried in the browser when thin, and its check recorded as it
    # lands, by the pipeline beside the crawl (crawler/jobs.py).
    from crawler import jobs

    advance, stop = _progress(len(good)) if good else (None, lambda: None)
    try:
        done = jobs.capture(settings, good, bad, browser=browser, on_result=advance)
    finally:
        stop()
    _report_recovery(done.recovered)
    _print_results(done.results, as_json)
    if bad:
        sys.exit(UsageError.exit_code)
    sys.exit(0 if done.ok else 1)


def _report_recovery(report: dict[str, int]) -> None:
    if report["files_recovered"]:
        err.print(
            f"recovered {report['files_recovered']} WARC file(s) left open by a crash "
            f"({report['rows_added']} records indexed)",
            markup=False,
            highlight=False,
        )


@cli.command()
@click.argument("url")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
@command
def snapshots(obj: Context, url: str, as_json: bool) -> None:
    """The captures (and failed attempts) of one URL, oldest first."""
    from archive.db import connect
    from archive.store import index

    settings = obj.settings()
    sessions = connect(settings.effective_database_url)
    with sessions() as session:
        data = [index.snapshot_dict(s) for s in index.attempts(session, url)]
    if as_json:
        _print_json(data)
        return
    if not data:
        err.print(f"no captures of {url}", markup=False, highlight=False)
        return
    table = Table("id", "captured (UTC)", "status", "type", "outcome", "via", "warc file", "offset")
    for d in data:
        table.add_row(
            str(d["id"]),
            d["captured_at"],
            str(d["status"] or "-"),
            d["record_type"] or "-",
            d["outcome"],
            d["via"],
            d["warc_file"] or "-",
            str(d["offset"] if d["offset"] is not None else "-"),
        )
    out.print(table)


_KINDS = {".html": "html", ".htm": "html", ".md": "markdown", ".markdown": "markdown", ".txt": "text"}


def _article_input(source: str):  # type: ignore[no-untyped-def]
    """What ``citewatch add SOURCE`` was given: a URL, a file, or - for stdin."""
    from archive.articles.ingest import is_binary
    from archive.urls import SCHEMES, check_url, url_scheme
    from crawler.spiders.citations import ArticleInput

    scheme = url_scheme(source) if source != "-" and not os.path.exists(source) else None
    if scheme in SCHEMES:
        return ArticleInput("url", url=check_url(source), name=source)
    if scheme is not None and source[len(scheme) + 1 :].startswith("/"):
        raise BadURLError(
            f"unsupported URL scheme {scheme!r} (citewatch reads http(s) URLs, .html/.md/.txt files "
            "or - for stdin)"
        )
    try:
        raw = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    except FileNotFoundError as exc:
        hint = f"; for a web page, write https://{source}" if _looks_like_a_host(source) else ""
        raise UsageError(f"cannot read {source}: no such file{hint}") from exc
    except OSError as exc:
        raise UsageError(f"cannot read {source}: {exc.strerror or exc}") from exc
    raw = raw.removeprefix(b"\xef\xbb\xbf")
    if not raw.strip():
        raise UsageError(f"{source} is empty")
    kind = _KINDS.get(Path(source).suffix.lower()) if source != "-" else None
    if raw[:5] == b"%PDF-":
        return ArticleInput("pdf", data=raw, name=source)
    if is_binary(raw):
        raise UsageError(f"{source} is not text, HTML or PDF")
    if kind is None:
        kind = "html" if raw.lstrip()[:1] == b"<" else "text"
    if kind == "html":
        return ArticleInput(kind, data=raw, name=source)  # its charset is read from the page
    return ArticleInput(kind, data=_decode(raw, source), name=source)


def _looks_like_a_host(source: str) -> bool:
    """``example.org/story``: a URL without its scheme, more likely than a missing file.

    >>> _looks_like_a_host("example.org/x"), _looks_like_a_host("story.txt"), _looks_like_a_host("a/b.md")
    (True, False, False)
    """
    head = source.split("/", 1)[0]
    return "." in head and " " not in source and Path(head).suffix.lower() not in {*_KINDS, ".pdf"}


def _decode(raw: bytes, source: str) -> str:
    """Text in UTF-8, or in whatever encoding charset-normalizer finds most likely."""
    from archive.articles.ingest import decode_text

    text = decode_text(raw)
    if text is None:  # no encoding reads it as text: binary data past the part is_binary looked at
        raise UsageError(f"{source} is not text, HTML or PDF")
    return text


@cli.command()
@click.argument("source")
@click.option("--no-resolve", is_flag=True, help="Do not look for the articles behind outlet names.")
@click.option("--json", "as_json", is_flag=True, help="Print the article as `citations --json` does.")
@click.pass_obj
@command
def add(obj: Context, source: str, no_resolve: bool, as_json: bool) -> None:
    """Add a citing article (URL, .html/.md/.txt file, or - for stdin): store its claims and
    citations, find the articles behind outlet names, and capture every source it cites."""
    from archive.articles import storage as articles

    given = _article_input(source)
    settings = obj.settings()
    sessions = _database(settings)
    from crawler import jobs

    added, results = jobs.add(
        settings,
        given,
        resolve_outlets=not no_resolve,
        on_progress=lambda m: err.print(m, markup=False, highlight=False),
        on_result=lambda r: (
            None
            if r.ok or r.url == given.url  # the article's own failure is the command's error line
            else err.print(f"{r.outcome} {r.url}: {r.message}", markup=False, highlight=False)
        ),
    )
    error = jobs.add_error(added, source)
    if added.article_id is None:
        raise CitewatchError(error or f"cannot add {source}")
    with sessions() as session:
        view = articles.article_view(session, articles.require_article(session, str(added.article_id)))
    if as_json:
        _print_json({**view, "captures": [jobs.result_dict(r) for r in results]})
    else:
        _print_article(view)
        if not view["citations"]:
            out.print("no citations found: no links, DOIs or outlet names in the article's text")
    if error:
        raise CitewatchError(error)


def _print_article(view: dict[str, Any]) -> None:
    """An article as a reader checks it: claims, then each citation with its evidence and status."""
    a = view["article"]
    say(f"article {a['id']}: {a['title'] or '(no title)'}")
    say(f"by {a['author'] or '?'}, published {a['published'] or '?'}, from {a['url'] or a['input']}")
    say(f"\n{len(view['claims'])} claims:")
    for c in view["claims"]:
        text = _clip(c["text"], 160)
        cites = ", ".join(f"[{n}]" for n in c["citations"]) or "none"
        say(f"  {c['number']}. {text}  (citations: {cites}; {_support_phrase(c.get('support') or {})})")
    say(f"\n{len(view['citations'])} citations:")
    for c in view["citations"]:
        _print_citation(say, c)
    if view.get("formerly_cited"):
        say(f"\nformerly cited ({len(view['formerly_cited'])}: kept with their captures and changes):")
        for f in view["formerly_cited"]:
            say(f"  {f['url']} ({f['role']}, {_capture_status(f.get('capture'))})")
    if view.get("former_claims"):
        say(f"\n{len(view['former_claims'])} claims no longer in the article (kept for their changes)")


def _clip(text: str, limit: int) -> str:
    """``text`` cut at a word boundary to at most ``limit`` characters, with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:")
    return cut + "\u2026"


def _support_phrase(support: dict[str, Any]) -> str:
    """What happened to a claim's support, as the claim list says it."""
    status = support.get("status", "no-source")
    if status == "changed":
        pairs = ", ".join(f"{a} -> {b}" for a, b in support.get("changed", [])[:2])
        return f"changed {pairs} (change {support.get('change_id')})"
    if status == "lost-support":
        lost = "; ".join(f"\u201c{term}\u201d" for term in support.get("lost", [])[:2])
        return f"lost support: no longer in the source: {lost} (change {support.get('change_id')})"
    if status == "source-gone":
        since = (support.get("since") or "?")[:16].replace("T", " ")
        return f"source gone since {since} UTC" + (
            f" (change {support['change_id']})" if support.get("change_id") else ""
        )
    return {"unchanged": "unchanged", "not-checked": "not checked yet", "no-source": "no source"}.get(
        status, str(status)
    )


def _capture_status(capture: dict[str, Any] | None) -> str:
    if not capture:
        return "not captured"
    status = f"HTTP {capture['status']}, " if capture.get("status") else ""
    return f"{status}{capture['outcome']}" + (
        f" at {capture['captured_at']}" if capture.get("captured_at") else ""
    )


def _print_citation(say: Callable[..., None], c: dict[str, Any]) -> None:
    res = c["resolution"]
    cites = c["url"] if c["kind"] != "outlet" else f"{c['name']} -> {c['outlet'] or 'unknown outlet'}"
    reason = f" ({res['reason']})" if res.get("reason") else ""
    say(f"  [{c['number']}] {c['kind']} {cites}: {res.get('status', '-')}{reason}")
    if c.get("context") and c["kind"] != "outlet":
        say(f"      context: {c['context'][:160]}")
    for source in c["sources"]:
        score = f"score {source['score']:.2f}, " if source.get("score") is not None else ""
        say(f"      source: {source['url']} ({score}{_capture_status(source.get('capture'))})")
    if c.get("front_page"):
        say(f"      front page: {c['front_page']['url']} ({_capture_status(c['front_page'].get('capture'))})")
    for x in [x for x in c["candidates"] if not x["tracked"]][:3]:
        terms = ", ".join(sorted({m["term"] for m in x["evidence"].get("matched", [])}))[:100]
        say(f"      candidate #{x['rank']} {x['score']:.2f} {x['url']}" + (f" [{terms}]" if terms else ""))
    say(f"      supports claims: {', '.join(map(str, c['claims'])) or 'none linked'}")


@cli.command()
@click.argument("article", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option(
    "--top", default=10, show_default=True, type=click.IntRange(min=0), help="Candidates shown per outlet."
)
@click.pass_obj
@command
def citations(obj: Context, article: str | None, as_json: bool, top: int) -> None:
    """An article's claims, citations, outlet resolution evidence and source status
    (ARTICLE is an id or URL; without it, the list of articles)."""
    from archive.articles import storage as articles

    settings = obj.settings()
    sessions = _database(settings)  # an older database is brought up to date first
    with sessions() as session:
        if article is None:
            rows = articles.list_articles(session)
            if as_json:
                _print_json(rows)
                return
            table = Table("id", "title", "url", "claims", "citations", "sources gone", "changed", "affected")
            for r in rows:
                h = r["health"]  # the article list of the web UI shows the same
                table.add_row(
                    str(r["id"]),
                    r["title"] or "-",
                    r["url"] or "-",
                    str(r["claims"]),
                    str(r["citations"]),
                    f"{h['gone']} of {h['sources']}",
                    str(h["changed"]),
                    f"{h['claims_affected']} claims",
                )
            out.print(table)
            return
        view = articles.article_view(session, articles.require_article(session, article), top=top)
    _print_json(view) if as_json else _print_article(view)


@cli.command()
@click.argument("article")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
@command
def remove(obj: Context, article: str, as_json: bool) -> None:
    """Remove an article (id or URL) added by mistake: its claims and citations go; the sources
    it cited and their captures stay, and those no other article cites are no longer checked."""
    from archive.articles import storage as articles
    from archive.clock import utcnow

    sessions = _database(obj.settings())
    with sessions.begin() as session:
        summary = articles.remove_article(session, articles.require_article(session, article), utcnow())
    if as_json:
        _print_json(summary)
        return
    say(
        f"removed article {summary['article_id']} ({summary['title'] or 'no title'}): "
        f"{summary['claims']} claims, {summary['citations']} citations"
    )
    for url in summary["untracked"]:
        say(f"  no longer checked (no other article cites it): {url}")
    if summary["still_tracked"]:
        say(f"  {len(summary['still_tracked'])} sources stay tracked for other articles or by you")
    say("captures are kept: `citewatch snapshots URL` lists them, replay shows them")


@cli.command()
@click.argument("urls", nargs=-1)
@click.option("--article", help="Every source this article (id or URL) cites, instead of URLs.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
@command
def untrack(obj: Context, urls: tuple[str, ...], article: str | None, as_json: bool) -> None:
    """Stop checking sources (their captures stay; `citewatch track URL` starts again)."""
    from sqlalchemy import select

    from archive.articles import storage as articles
    from archive.clock import utcnow
    from archive.models import Source
    from archive.schedule.checks import tracked_dict
    from archive.urls import check_url

    if bool(urls) == (article is not None):
        raise UsageError("name source URLs, or an article with --article")
    sessions = _database(obj.settings())
    with sessions.begin() as session:
        if article is not None:
            ids = articles.sources_of_article(session, articles.require_article(session, article).id)
        else:
            ids = []
            for url in urls:
                sid = session.scalars(select(Source.id).where(Source.url.in_({url, check_url(url)}))).first()
                if sid is None:
                    raise UsageError(f"{url} is not a tracked source: `citewatch status` counts them")
                ids.append(sid)
        done = [tracked_dict(s) for s in articles.untrack_sources(session, ids, utcnow())]
    if as_json:
        _print_json(done)
        return
    for d in done:
        out.print(f"no longer checked: {d['url']} (source {d['source_id']})", markup=False, highlight=False)


@cli.command()
@click.argument("url", required=False)
@click.option("--article", help="Every source this article (id or URL) cites, instead of one URL.")
@click.option("--every", help="Check it this often (30m, 6h, 1d, 1w) instead of by the ladder; at once.")
@click.option("--pause/--resume", "paused", default=None, help="Stop checking it, or start again (due now).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
@command
def track(
    obj: Context, url: str | None, article: str | None, every: str | None, paused: bool | None, as_json: bool
) -> None:
    """Track one source URL, or every source an article cites: the daemon checks each on its
    schedule (due at once when new)."""
    from archive.clock import utcnow
    from archive.durations import parse_duration
    from archive.schedule import checks as schedule
    from archive.schedule.policy import policy_from
    from archive.urls import check_url

    if (url is None) == (article is None):
        raise UsageError("name one source URL, or an article with --article")
    try:
        interval = parse_duration(every) if every is not None else None
    except ValueError as exc:
        raise UsageError(f"--every: {exc}") from None
    settings = obj.settings()
    sessions = _database(settings)
    with sessions() as session:
        data = schedule.track_sources(
            session,
            [check_url(url)] if url is not None else schedule.sources_of(session, article or ""),
            utcnow(),
            every=interval,
            paused=paused,
            policy=policy_from(settings),
            by_user=url is not None,
        )
    if as_json:
        _print_json(data[0] if url is not None else data)
        return
    if not data:
        out.print(f"article {article} cites no sources to track", markup=False, highlight=False)
    for d in data:
        when = "paused" if d["paused"] else f"next check {d['next_check_at']}"
        how = f"every {every}" if every else ("its own interval" if d["every_seconds"] else "by the ladder")
        out.print(
            f"tracking {d['url']} (source {d['source_id']}): {when}, {how}", markup=False, highlight=False
        )


_NO_DAEMON = "no daemon is running: run `citewatch daemon`, or `citewatch capture URL` to capture now"


@cli.command()
@click.argument("urls", nargs=-1)
@click.option("--article", help="Every tracked source this article (id or URL) cites, instead of URLs.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
@command
def check(obj: Context, urls: tuple[str, ...], article: str | None, as_json: bool) -> None:
    """Check tracked sources now: make each due at once, for the running daemon to check at its
    next dispatch. A paused source is checked once and stays paused."""
    from archive.clock import utcnow
    from archive.schedule import queue

    if bool(urls) == (article is not None):
        raise UsageError("name the source URLs to check, or an article with --article")
    settings = obj.settings()
    sessions = _database(settings)
    with sessions() as session:
        data = queue.check_now(session, settings.home_path, utcnow(), urls=urls, article=article)
    if as_json:
        _print_json(data)
    else:
        _print_checks(data, article)
    if not data["daemon"]["running"]:
        err.print(_NO_DAEMON, markup=False, highlight=False)


def _print_checks(data: dict[str, Any], article: str | None) -> None:
    if not data["sources"]:
        say(f"article {article} cites no tracked sources to check")
    for d in data["sources"]:
        how = "being checked now" if d["in_flight"] else f"due {d['next_check_at']}"
        paused = " (paused: checked once, stays paused)" if d["paused"] else ""
        say(f"check {d['url']} (source {d['source_id']}): {how}{paused}")
    for url in data["not_tracked"]:
        say(f"not tracked, not checked: {url}")
    if data["daemon"]["running"]:
        say(f"the daemon ({data['daemon']['holder']}) takes them at its next dispatch")


@cli.command()
@click.argument("urls", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
@command
def analyse(obj: Context, urls: tuple[str, ...], as_json: bool) -> None:
    """Extract text and record changes for the captures not analysed yet (of URLS, or of every
    source). Capture and add do this themselves unless analyse_captures is off."""
    from sqlalchemy import select

    from archive.changes.analysis import Analyser, analyse_urls
    from archive.changes.changelog import analysis_dict
    from archive.models import Source
    from archive.urls import check_url

    settings = obj.settings()
    sessions = _database(settings)
    last = [0.0]

    def progress(done: int, total: int) -> None:
        if total >= 100 and (time.monotonic() - last[0] >= 2 or done == total):
            last[0] = time.monotonic()
            err.print(f"analysed {done}/{total} sources", markup=False, highlight=False)

    with sessions() as session:
        if urls:
            wanted = [check_url(u) for u in urls]
            tracked = set(session.scalars(select(Source.url).where(Source.url.in_(wanted))))
            untracked = [u for u in wanted if u not in tracked]
            if untracked:
                raise UsageError(f"{untracked[0]} is not a tracked source: see `citewatch snapshots URL`")
            found = list(analyse_urls(session, settings.warc_dir, wanted).values())
        else:
            found = Analyser(session, settings.warc_dir).analyse(on_progress=progress)
        data = [{"url": f.url, **(analysis_dict(f) or {})} for f in found]
    lines = [_change_line(d["url"], d) for d in data]
    if as_json:
        _print_json(data)
        return
    for line in filter(None, lines):
        out.print(line, markup=False, highlight=False)
    changed = sum(1 for d in data if d["change"])
    out.print(f"analysed {len(data)} sources: {changed} changes", markup=False, highlight=False)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
@command
def status(obj: Context, as_json: bool) -> None:
    """Sources by state, work due and overdue, leases held, recent captures and failures, the
    last error of each failing host, and the disk the WARC files use."""
    from archive.clock import utcnow
    from archive.schedule.status import status as gather

    settings = obj.settings()
    sessions = _database(settings)
    with sessions() as session:
        data = gather(session, settings.warc_dir, utcnow())
    if as_json:
        _print_json(data)
        return
    for line in _status_lines(data):
        out.print(line, markup=False, highlight=False)


def _status_lines(data: dict[str, Any]) -> list[str]:
    """``citewatch status`` as text: each count says what it counts, and the failing sources
    counted by state are the ones listed under their hosts (archive.schedule.status.STATES)."""
    from archive.schedule.status import STATES

    s = data["sources"]
    hosts = data["failing_hosts"]
    lines = [f"sources: {s['total']} ({s['tracked']} tracked, {s['paused']} paused), by their last check:"]
    for state, n in s["by_state"].items():
        where = f"; on {len(hosts)} host{'s' if len(hosts) != 1 else ''}, below" if state == "failing" else ""
        lines.append(f"  {n} {state} ({STATES.get(state, state)}{where})")
    shown = sum(h["sources"] for h in hosts)
    if shown < s["by_state"].get("failing", 0):
        lines.append(f"  (the {len(hosts)} hosts that failed last are listed: {shown} failing sources)")
    lines += [
        f"due now: {data['due_now']} ({data['overdue']} overdue by more than 15 minutes); "
        f"next due: {data['next_due_at'] or '-'}",
        f"leases held: {data['leases']['held']}"
        + "".join(f", {n} by {w}" for w, n in data["leases"]["by_worker"].items()),
        f"last hour: {data['last_hour']['captures']} page captures, {data['last_hour']['failures']} failed "
        f"fetches; last day: {data['last_day']['captures']} page captures, {data['last_day']['failures']} "
        "failed fetches",
        f"WARC files: {data['warc_bytes'] / 1e6:,.1f} MB",
    ]
    for h in hosts:
        in_a_row = f", {h['failures_in_a_row']} failed checks in a row" if h["failures_in_a_row"] else ""
        lines.append(f"failing: {h['host']} ({h['sources']} failing sources{in_a_row}): {h['last_error']}")
    return lines


@cli.command()
@click.option("--workers", type=click.IntRange(1, 64), help="Crawl workers (default: setting workers, 1).")
@click.option("--metrics-port", type=click.IntRange(1, 65535), help="Serve Prometheus metrics on this port.")
@click.option("--serve", is_flag=True, help="Run the web UI and API too (serve_address, serve_port).")
@click.option("--replay", is_flag=True, help="Run replay (pywb) too (replay_address, replay_port).")
@click.pass_obj
@command
def daemon(obj: Context, workers: int | None, metrics_port: int | None, serve: bool, replay: bool) -> None:
    """Keep every tracked source under watch: check each when due, record what changed.

    Runs until SIGTERM or Ctrl-C; logs to HOME/logs/citewatch.log as well."""
    import scheduler

    settings = obj.settings()
    scheduler.log_to_file(settings)  # the daemon migrates the database once it holds its locks
    running = scheduler.Daemon(
        settings,
        cli_args=obj.cli_args(),
        workers=workers,
        metrics_port=metrics_port,
        serve=serve,
        replay=replay,
    )
    running.run()
    sys.exit(running.exit_code)


@cli.command(hidden=True)
@click.option("--name", required=True)
@click.option("--events-fd", type=int, required=True)
@click.pass_obj
@command
def worker(obj: Context, name: str, events_fd: int) -> None:
    """A daemon's crawl worker (started by citewatch daemon, fed on stdin)."""
    import scheduler

    scheduler.run_worker(obj.settings(), name, events_fd)


@cli.command()
@click.option("--address", help="Address to listen on (default: setting replay_address).")
@click.option(
    "--port", type=click.IntRange(0, 65535), help="Port to listen on (default: setting replay_port; 0: any)."
)
@click.pass_obj
@command
def replay(obj: Context, address: str | None, port: int | None) -> None:
    """Replay the archive with pywb: every capture at /citewatch/TIMESTAMP/URL, Memento TimeGate
    and TimeMaps. New captures are replayable as soon as they land. Runs until Ctrl-C or SIGTERM."""
    import signal
    import time

    from archive.replay.server import COLLECTION, ReplayServer

    settings = obj.settings(replay_address=address, replay_port=port)
    sessions = _database(settings)
    server = ReplayServer(settings, sessions)
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.append(signum))

    def progress(done: int) -> None:
        err.print(f"indexing: {done:,} captures", markup=False, highlight=False)

    with server:
        total = server.start(progress)
        err.print(
            f"replay: {server.base_url}{COLLECTION}/ ({total:,} captures indexed); Ctrl-C stops",
            markup=False,
            highlight=False,
        )
        try:
            while not stopping:
                time.sleep(settings.replay_index_interval)
                try:
                    server.sync()
                except CitewatchError:  # pywb died: say so and stop
                    raise
                except Exception as exc:  # the database away for a moment: the next round catches up
                    err.print(f"replay index: {exc.__class__.__name__}: {exc}", markup=False, highlight=False)
        except KeyboardInterrupt:
            pass
    err.print("replay stopped", markup=False, highlight=False)


@cli.command()
@click.option(
    "--wacz",
    "wacz_path",
    required=True,
    type=click.Path(dir_okay=False, writable=True),
    help="Write a WACZ file here (replaced if it exists).",
)
@click.option("--article", help="Only the captures of the sources this article (id or URL) cites.")
@click.option("--since", help="Only captures made at or after this time (2026-11-20, 7d).")
@click.pass_obj
@command
def export(obj: Context, wacz_path: str, article: str | None, since: str | None) -> None:
    """Pack captures into a WACZ file: the WARC records, a CDXJ index, and a pages list with
    each page's extracted text. pywb and ReplayWeb.page load it."""
    from archive.articles import storage as articles
    from archive.changes import changelog
    from archive.replay.server import tools_bin
    from archive.replay.wacz import export_wacz

    settings = obj.settings()
    wacz_program = tools_bin(settings, "wacz")
    when = changelog.parse_when(since) if since is not None else None
    output = Path(wacz_path).expanduser().resolve()
    if not output.parent.is_dir():
        raise UsageError(f"cannot write {wacz_path}: the folder {output.parent} does not exist")
    sessions = _database(settings)

    def progress(done: int, total: int) -> None:
        err.print(f"copying records: {done:,}/{total:,}", markup=False, highlight=False)

    with sessions() as session:
        article_id = articles.require_article(session, article).id if article is not None else None
        report = export_wacz(
            session,
            settings.warc_dir,
            wacz_program,
            output,
            article_id=article_id,
            since=when,
            progress=progress,
        )
    out.print(
        f"wrote {report.path}: {report.records:,} records, {report.pages:,} pages, {report.size:,} bytes",
        markup=False,
        highlight=False,
    )


_ID = click.IntRange(1, 2**63 - 1)  # archive.models.MAX_ID (not imported: start-up time)
_KIND_CHOICES = ("content", "correction", "metadata", "status", "gone", "back")


@cli.command()
@click.option(
    "--since", help="Only changes detected at or after this time (2026-11-20, 2026-11-20T14:00, 7d)."
)
@click.option("--until", help="Only changes detected before this time.")
@click.option("--url", "url", help="Only changes of this source URL.")
@click.option("--article", help="Only changes of the sources this article (id or URL) cites.")
@click.option("--outlet", help="Only changes of the sources of this outlet (a domain).")
@click.option(
    "--kind",
    "kinds",
    multiple=True,
    type=click.Choice(_KIND_CHOICES),
    help="Only this kind (repeatable); status includes gone and back.",
)
@click.option(
    "--limit", default=50, show_default=True, type=click.IntRange(1, 10_000), help="Changes per page."
)
@click.option("--before", type=_ID, help="The page after this change id (keyset paging).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--atom", "as_atom", is_flag=True, help="Print an Atom feed.")
@click.pass_obj
@command
def changes(
    obj: Context,
    since: str | None,
    until: str | None,
    url: str | None,
    article: str | None,
    outlet: str | None,
    kinds: tuple[str, ...],
    limit: int,
    before: int | None,
    as_json: bool,
    as_atom: bool,
) -> None:
    """Changes to tracked sources, newest first, with the claims each one touches."""
    from archive.changes import changelog

    if as_json and as_atom:
        raise UsageError("--json and --atom: choose one")
    settings = obj.settings()
    sessions = _database(settings)
    with sessions() as session:
        source_ids = changelog.sources_matching(session, url=url, article=article, outlet=outlet)
        rows = changelog.list_changes(
            session,
            since=changelog.parse_when(since) if since is not None else None,
            until=changelog.parse_when(until) if until is not None else None,
            source_ids=source_ids,
            kinds=list(kinds) or None,
            before=before,
            limit=limit,
        )
        if as_atom:
            sys.stdout.write(
                changelog.atom_feed(
                    rows,
                    title="citewatch: changes",
                    feed_id="urn:citewatch:changes",
                    public_url=settings.effective_public_url,
                    titles=changelog.titles_of(session, rows),
                ).decode()
            )
            return
        data = [changelog.change_dict(change, source_url) for change, source_url in rows]
    if as_json:
        _print_json(data)
        return
    if not data:
        err.print("no changes", markup=False, highlight=False)
        return
    table = Table("id", "detected (UTC)", "kind", "source", "summary", "diff")
    table.columns[3].overflow = "fold"
    for d in data:
        table.add_row(
            str(d["id"]),
            d["detected_at"][:19],
            d["kind"],
            d["url"],
            d["summary"] or "",
            f"{d['old_snapshot_id']} {d['new_snapshot_id']}",
        )
    out.print(table)
    if len(data) == limit:
        err.print(f"more: add --before {data[-1]['id']}", markup=False, highlight=False)


@cli.command()
@click.argument("old", type=_ID)
@click.argument("new", type=_ID)
@click.option("--html", "as_html", is_flag=True, help="Print a standalone HTML page.")
@click.option("--json", "as_json", is_flag=True, help="Print the structured diff as JSON.")
@click.option("--all", "context", is_flag=True, help="Show unchanged paragraphs too.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), help="Write to FILE.")
@click.pass_obj
@command
def diff(
    obj: Context, old: int, new: int, as_html: bool, as_json: bool, context: bool, output: str | None
) -> None:
    """The word diff of the text of snapshots OLD and NEW (ids from `changes` or `snapshots`)."""
    from archive.changes import changelog

    if as_html and as_json:
        raise UsageError("--html and --json: choose one")
    settings = obj.settings()
    sessions = _database(settings)
    with sessions() as session:
        view = changelog.load_diff(session, settings.warc_dir, old, new)
    # Every output shows the changed paragraphs only, unless --all (`context`).
    if as_json:
        text = json.dumps(changelog.diff_dict(view, context), indent=2) + "\n"
    elif as_html:
        text = changelog.render_html(view, context)
    elif output is None and out.is_terminal:
        _print_diff(view, context)
        return
    else:
        body = changelog.render_markers(view, context) if view.diff.changed else _NO_DIFFERENCE
        text = _diff_header(view) + "\n\n" + body + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        Path(output).write_text(text, encoding="utf-8")


_NO_DIFFERENCE = "no difference in the extracted text"


def _diff_header(view: Any) -> str:
    a, b = view.old.snapshot, view.new.snapshot
    lines = [
        f"--- snapshot {a.id} {a.url} {a.captured_at:%Y-%m-%d %H:%M:%S} ({view.old.words} words)",
        f"+++ snapshot {b.id} {b.url} {b.captured_at:%Y-%m-%d %H:%M:%S} ({view.new.words} words)",
        f"+{view.diff.words_added} -{view.diff.words_removed} words",
    ]
    if view.change is not None:
        lines.append(f"change {view.change.id} ({view.change.kind}): {view.change.summary}")
    return "\n".join([*lines, *view.claim_lines()])


def _print_diff(view: Any, context: bool) -> None:
    from rich.text import Text

    from archive.changes.diff import DELETE, EQUAL

    out.print(_diff_header(view), markup=False, highlight=False)
    if not view.diff.changed:
        out.print(_NO_DIFFERENCE, markup=False, highlight=False)
    for paragraph in view.paragraphs(context):
        line = Text()
        for op, piece in paragraph:
            style = "" if op == EQUAL else "bold red strike" if op == DELETE else "bold green underline"
            line.append(piece, style=style)
        out.print()
        out.print(line)


@cli.command()
@click.option("--address", help="Address to listen on (default: setting serve_address, 127.0.0.1).")
@click.option(
    "--port", type=click.IntRange(0, 65535), help="Port to listen on (default: setting serve_port, 8080)."
)
@click.pass_obj
@command
def serve(obj: Context, address: str | None, port: int | None) -> None:
    """The web UI and JSON API (docs/web.md): articles, sources, changes, diffs, feeds; write
    actions need api_token. Runs until Ctrl-C or SIGTERM."""
    from archive.web.app import serve as run
    from crawler.jobs import job_runner

    settings = obj.settings(serve_address=address, serve_port=port)
    _database(settings)
    run(
        settings,
        runner=job_runner(settings),
        on_ready=lambda url: err.print(
            f"serve: {url} (web UI and /api); Ctrl-C stops", markup=False, highlight=False
        ),
    )


def main(argv: Sequence[str] | None = None) -> None:
    # At exit the interpreter runs full garbage collections over every object still alive: with
    # SQLAlchemy and the models loaded, a fifth of a read command's time. Frozen first, those
    # objects go with the process (what must be written is closed or flushed before, not by
    # a finaliser: docs/architecture.md, "CLI speed").
    atexit.register(gc.freeze)
    cli.main(args=list(argv) if argv is not None else None, prog_name="citewatch")


if __name__ == "__main__":
    main()
