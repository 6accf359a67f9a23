"""Every citewatch setting, declared once, and the precedence that combines them.

Precedence, lowest first: the defaults below < ``citewatch.toml`` (in the data
folder, or the file given with ``--config``) < ``CITEWATCH_<NAME>`` environment
variables < command-line flags. ``docs/settings.md`` documents each entry; a
test keeps the two in step.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from archive.durations import DEFAULT_LADDER, Ladder
from archive.errors import SettingsError
from archive.net import http_url

ENV_PREFIX = "CITEWATCH_"
CONFIG_NAME = "citewatch.toml"
T = TypeVar("T")


def _parse_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected true or false, got {raw!r}")


_SIZE_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}


def parse_size(raw: Any) -> int:
    """Bytes from an int or a string such as ``"50MB"`` or ``"1 GiB"``.

    >>> parse_size("50MB"), parse_size("1 GiB"), parse_size(512)
    (50000000, 1073741824, 512)
    """
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", str(raw))
    if not match or match.group(2).lower() not in _SIZE_UNITS:
        raise ValueError(f"expected a size such as 50MB, got {raw!r}")
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()])


def _parse_seconds(raw: Any) -> float:
    value = float(raw)
    if value < 0:
        raise ValueError(f"expected zero or more seconds, got {raw!r}")
    return value


def _parse_ladder(raw: Any) -> str:
    text = str(raw)
    Ladder.parse(text)  # raises ValueError saying what is wrong
    return text


def _parse_share(raw: Any) -> float:
    value = float(raw)
    if not 0 <= value < 1:
        raise ValueError(f"expected a share from 0 to below 1, got {raw!r}")
    return value


def _parse_port(raw: Any) -> int:
    value = int(raw)
    if not 0 <= value <= 65535:
        raise ValueError(f"expected a port from 0 to 65535, got {raw!r}")
    return value


def _parse_base_url(raw: Any) -> str:
    text = str(raw).strip()
    if not text:
        return ""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"expected an http(s) URL, got {raw!r}")
    return text if text.endswith("/") else text + "/"


def _parse_count(raw: Any) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError(f"expected zero or more, got {raw!r}")
    return value


def _parse_positive(raw: Any) -> int:
    value = int(raw)
    if value < 1:
        raise ValueError(f"expected 1 or more, got {raw!r}")
    return value


def _parse_list(raw: Any) -> list[str]:
    """A list from TOML, or words separated by spaces.

    >>> _parse_list("https://a.example/hook  json://b.example")
    ['https://a.example/hook', 'json://b.example']
    """
    items = raw if isinstance(raw, list | tuple) else str(raw).split()
    return [str(item).strip() for item in items if str(item).strip()]


_KINDS = ("content", "correction", "metadata", "status", "gone", "back")


def _parse_urls(raw: Any) -> list[str]:
    """Webhook URLs: http or https, each with a host.

    >>> _parse_urls("ftp://x")
    Traceback (most recent call last):
    ...
    ValueError: not an http(s) URL: 'ftp://x'
    """
    urls = _parse_list(raw)
    for url in urls:
        try:
            parts = urlsplit(url)
            good = parts.scheme in ("http", "https") and bool(parts.hostname)
            parts.port  # noqa: B018 - raises on a port that is not a number
        except ValueError:
            good = False
        if not good:
            raise ValueError(f"not an http(s) URL: {url!r}")
    return urls


def _parse_kinds(raw: Any) -> list[str]:
    kinds = [k.lower() for item in _parse_list(raw) for k in item.split(",") if k]
    wrong = [k for k in kinds if k not in _KINDS]
    if wrong:
        raise ValueError(f"unknown change kind {wrong[0]!r} (one of {', '.join(_KINDS)})")
    return kinds


def _parse_ids(raw: Any) -> list[int]:
    ids = [part for item in _parse_list(raw) for part in str(item).split(",") if part]
    if not all(part.isdigit() and int(part) > 0 for part in ids):
        raise ValueError(f"expected article ids (whole numbers), got {raw!r}")
    return [int(part) for part in ids]


def parse_outlets(raw: Any) -> dict[str, str]:
    """Outlet names -> domains, from a TOML table or ``"Name=domain; Other Name=other.org"``.

    >>> parse_outlets("Daily Zorg=dailyzorg.example; Kyiv Post = kyivpost.com")
    {'daily zorg': 'dailyzorg.example', 'kyiv post': 'kyivpost.com'}
    """
    pairs = (
        raw.items()
        if isinstance(raw, Mapping)
        else (p.split("=", 1) for p in str(raw).split(";") if p.strip())
    )
    table: dict[str, str] = {}
    for pair in pairs:
        if len(pair) != 2 or not str(pair[0]).strip() or "." not in str(pair[1]):
            raise ValueError(f"expected Name = domain, got {'='.join(map(str, pair))!r}")
        table[" ".join(str(pair[0]).lower().split())] = str(pair[1]).strip().lower()
    return table


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str
    parse: Callable[[Any], Any] = str

    @property
    def env_var(self) -> str:
        return ENV_PREFIX + self.name.upper()


# The parser's result is the setting's type; mypy cannot tie the default parser, str, to T (it
# is right only where T is str, which is every setting declared without a parser).
def setting(default: T, help: str, parse: Callable[[Any], T] = str) -> T:  # type: ignore[assignment]
    """One setting of :class:`Values`: its default, its description and its parser. (Typed as
    its value, so that ``settings.timeout`` is a float to mypy; at run time a dataclass field.)"""
    meta = {"help": help, "parse": parse}
    if isinstance(default, list | dict):  # a mutable default: each Values gets its own copy
        return field(default_factory=lambda: copy.copy(default), metadata=meta)
    return field(default=default, metadata=meta)


def _default_home() -> str:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "citewatch")


@dataclass(eq=False)  # settings are compared by identity, and can be dict keys
class Values:
    """Every setting, declared once: its name, type, default, description (shown by
    ``citewatch config`` and kept in step with docs/settings.md by a test) and parser (for the
    values given as text: the config file, the environment, flags)."""

    home: str | None = setting(
        None,
        "Data folder: database, WARC files, logs. Default: $XDG_DATA_HOME/citewatch "
        "(~/.local/share/citewatch).",
    )
    database_url: str = setting(
        "",
        "SQLAlchemy URL of the database. Empty: SQLite file citewatch.db in the "
        "data folder. postgresql://user@host/db uses PostgreSQL through psycopg 3.",
    )
    contact_url: str = setting(
        "",
        "URL or mailto: address put in the User-Agent so site owners can reach "
        "whoever runs this crawler. Set it before crawling sites you do not own.",
    )
    user_agent: str = setting("", "Full User-Agent override. Empty: 'citewatch/VERSION (+CONTACT_URL)'.")
    warc_max_size: int = setting(
        10**9,
        "Rotate to a new WARC file once the current one reaches this size (bytes, or 500MB, 1GB).",
        parse_size,
    )
    warc_prefix: str = setting("citewatch", "First part of every WARC file name.")
    archiver_process: bool = setting(
        True,
        "Write WARC records and index rows in a separate process, on another CPU core, while "
        "the crawl fetches (capture crawls). Off: the crawl's own process writes them.",
        _parse_bool,
    )
    max_response_size: int = setting(
        50 * 10**6,
        "Largest response body kept. A larger body is cut at this "
        "size and its record says WARC-Truncated: length. Also caps decompressed size "
        "(gzip bombs).",
        parse_size,
    )
    timeout: float = setting(30.0, "Seconds allowed to connect and receive a whole response.", _parse_seconds)
    max_redirects: int = setting(
        10, "Redirect hops followed before giving up as a redirect loop.", _parse_count
    )
    retries: int = setting(
        2, "Extra attempts after a timeout, a dropped connection, 429 or 5xx.", _parse_count
    )
    retry_backoff: float = setting(
        2.0, "Seconds before the first retry; doubles each attempt (with jitter).", _parse_seconds
    )
    retry_backoff_max: float = setting(60.0, "Longest wait between two attempts, in seconds.", _parse_seconds)
    retry_after_max: float = setting(
        300.0,
        "Longest Retry-After (seconds) honoured; a server asking for more gets no retry in this run.",
        _parse_seconds,
    )
    host_delay: float = setting(1.0, "Seconds between two requests to the same host.", _parse_seconds)
    host_concurrency: int = setting(2, "Requests in flight at once to the same host.", _parse_positive)
    concurrency: int = setting(32, "Requests in flight at once in all.", _parse_positive)
    obey_robots_cited: bool = setting(
        False,
        "Obey robots.txt for URLs a user cited or asked for. Off: they are "
        "fetched on the user's behalf, like a person following the link.",
        _parse_bool,
    )
    obey_robots_discovery: bool = setting(
        True,
        "Obey robots.txt when discovering an outlet's pages (sitemaps, feeds, front page, candidates).",
        _parse_bool,
    )
    allow_private_networks: bool = setting(
        False,
        "Allow fetches to loopback, private, link-local and "
        "cloud-metadata addresses. Off by default; turn on for local use and tests.",
        _parse_bool,
    )
    page_requisites: bool = setting(
        True,
        "Also capture the stylesheets, images, scripts and fonts an HTML page "
        "uses, so replay looks like the page.",
        _parse_bool,
    )
    requisites_max_age: float = setting(
        86400.0,
        "A requisite captured less than this many seconds ago is not "
        "fetched again for another page (0: always fetch). Replay uses the nearest capture.",
        _parse_seconds,
    )
    auto_browser: bool = setting(
        True,
        "Re-capture with the browser an HTML page whose main text is empty without JavaScript.",
        _parse_bool,
    )
    analyse_captures: bool = setting(
        True,
        "Extract the text of what capture and add just captured, compare it with the source's last "
        "capture and record changes, before the command ends. Off: run `citewatch analyse` later. "
        "The daemon always analyses each check as it lands.",
        _parse_bool,
    )
    analysis_processes: int = setting(
        0,
        "Processes that extract the text of `capture`'s pages side by side, beside its crawl (at a "
        "lower CPU priority than the crawl); 0: one per CPU citewatch may use (never more than that).",
        _parse_count,
    )
    probe_soft_404: bool = setting(
        True,
        "Fetch a made-up URL on each captured host (once per probe_max_age) so that a page that "
        'answers 200 but says "not found" is recorded as gone, not as content.',
        _parse_bool,
    )
    probe_max_age: float = setting(
        30 * 86400.0,
        "Seconds a host's soft-404 probe stays valid before the next capture fetches it again.",
        _parse_seconds,
    )
    schedule_ladder: str = setting(
        DEFAULT_LADDER,
        "How often a tracked source is checked, by the time since it last changed: AGE:EVERY steps, "
        "the last for every age (*). A change starts it again.",
        _parse_ladder,
    )
    failure_backoff: float = setting(
        1800.0,
        "Seconds after a failed check before the next; doubles with each failure in a row.",
        _parse_seconds,
    )
    failure_backoff_max: float = setting(
        86400.0, "Longest wait, in seconds, after failed checks.", _parse_seconds
    )
    gone_every: float = setting(
        86400.0, "Shortest time, in seconds, between two checks of a gone source.", _parse_seconds
    )
    schedule_jitter: float = setting(
        0.1,
        "Share of each interval by which a check may come early or late, so sources drift apart.",
        _parse_share,
    )
    workers: int = setting(1, "Crawl workers the daemon runs (each its own process).", _parse_positive)
    worker_capacity: int = setting(
        32,
        "Checks a daemon worker holds at once (claimed, in flight or queued behind a host's delay).",
        _parse_positive,
    )
    lease_time: float = setting(
        600.0,
        "Seconds a worker's claim on a due source lasts unless renewed; a dead worker's claims "
        "come back to the queue after this (at once when the daemon restarts it).",
        _parse_seconds,
    )
    dispatch_interval: float = setting(
        2.0, "Seconds between two rounds of handing due sources to the daemon's workers.", _parse_seconds
    )
    stop_timeout: float = setting(
        60.0,
        "Seconds a stopping daemon waits for its workers to finish what is in flight before it "
        "kills them and gives their work back.",
        _parse_seconds,
    )
    outlets_interval: float = setting(
        900.0,
        "Seconds between two looks for articles whose outlet resolution was interrupted.",
        _parse_seconds,
    )
    probe_interval: float = setting(
        3600.0,
        "Seconds between two rounds of refreshing the soft-404 probes of hosts due within the hour.",
        _parse_seconds,
    )
    maintenance_interval: float = setting(
        86400.0,
        "Seconds between two rounds of database upkeep (statistics, WAL checkpoint, stray leases).",
        _parse_seconds,
    )
    log_max_size: int = setting(10_000_000, "Size at which the daemon's log file is rotated.", parse_size)
    log_backups: int = setting(5, "Rotated log files kept.", _parse_count)
    metrics_address: str = setting(
        "127.0.0.1", "Address the daemon's Prometheus endpoint listens on (with daemon --metrics-port)."
    )
    notify_webhooks: list[str] = setting(
        [],
        "URLs the daemon POSTs each change to, as JSON (retried on failure). In citewatch.toml a "
        "list; in the environment, separated by spaces.",
        _parse_urls,
    )
    notify_apprise: list[str] = setting(
        [],
        "Apprise URLs (mailto://, slack://, ntfy://, ...) told of each change. A list, or separated "
        "by spaces.",
        _parse_list,
    )
    notify_kinds: list[str] = setting(
        [],
        "Only notify changes of these kinds (content, correction, metadata, status, gone, back); empty: all.",
        _parse_kinds,
    )
    notify_articles: list[int] = setting(
        [], "Only notify changes to sources these articles (ids) cite; empty: all.", _parse_ids
    )
    outlets: dict[str, str] = setting(
        {},
        "Outlet names -> domains added to the built-in table (docs/outlets.md). In citewatch.toml a "
        'table [outlets] with "Daily Zorg" = "dailyzorg.example"; in the environment '
        '"Name=domain; Other=other.org".',
        parse_outlets,
    )
    discovery_max_fetches: int = setting(
        40,
        "Most requests made to discover one outlet's articles (robots.txt, sitemaps, feeds, front "
        "page, candidates fetched to confirm).",
        _parse_positive,
    )
    discovery_max_seconds: float = setting(
        60.0, "Longest time spent discovering and ranking one outlet's articles.", _parse_seconds
    )
    discovery_max_urls: int = setting(
        5000,
        "Most candidates kept per outlet from its sitemaps, feeds and front page, after the date "
        "window: the newest, when there are more.",
        _parse_positive,
    )
    resolve_days_before: int = setting(
        60,
        "Candidates published this many days before the citing article, or later, are considered.",
        _parse_count,
    )
    resolve_days_after: int = setting(
        3,
        "...and up to this many days after it (a citing article's date can be off by time zones).",
        _parse_count,
    )
    resolve_confirm: int = setting(
        5, "Best candidates per outlet whose full text is fetched and scored before deciding.", _parse_count
    )
    resolve_threshold: float = setting(
        0.5,
        "Least confirmed score (0-1: the share of the claims' weighted terms a candidate's text "
        "carries) for a candidate to become a tracked Source.",
        float,
    )
    resolve_max_sources: int = setting(
        2, "Most candidates of one outlet tracked as Sources (the best above the threshold).", _parse_positive
    )
    replay_address: str = setting("127.0.0.1", "Address `citewatch replay` (pywb) listens on.")
    replay_port: int = setting(8090, "Port `citewatch replay` listens on.", _parse_port)
    replay_url: str = setting(
        "",
        "Public base URL of the replay server, used in the web UI's and API's replay links; empty: "
        "http://replay_address:replay_port/. Keep it on another origin (host or port) than the web UI.",
        _parse_base_url,
    )
    replay_index_interval: float = setting(
        1.0, "Seconds between two looks for new captures to add to the replay index.", _parse_seconds
    )
    replay_venv: str = setting(
        "",
        "Virtual environment holding pywb and wacz (made by scripts/bootstrap); empty: .venv-replay "
        "in the citewatch checkout.",
    )
    serve_address: str = setting("127.0.0.1", "Address `citewatch serve` (web UI and JSON API) listens on.")
    serve_port: int = setting(8080, "Port `citewatch serve` listens on.", _parse_port)
    serve_hosts: list[str] = setting(
        [],
        "Host names the web UI answers to (the Host header), against DNS rebinding; empty: only "
        "127.0.0.1, localhost and ::1 when serve_address is a loopback address, any otherwise. A "
        "list, or separated by spaces.",
        _parse_list,
    )
    public_url: str = setting(
        "",
        "Public base URL of the web UI, used in Atom entries, notifications and the replay banner "
        "(links to change and source pages); empty: http://serve_address:serve_port/ (127.0.0.1 "
        "when serve_address is 0.0.0.0, ::1 when it is ::).",
        _parse_base_url,
    )
    api_token: str = setting(
        "",
        "Token that write actions of the web UI and API need (Authorization: Bearer TOKEN); empty: "
        "write actions are refused.",
    )
    api_read_public: bool = setting(
        True,
        "Whether reading the web UI and API needs no token; false: reading needs api_token too.",
        _parse_bool,
    )
    browser_executable: str = setting("/usr/bin/chromium", "Chromium used for browser captures.")
    browser_settle_timeout: float = setting(
        10.0,
        "Longest wait, in seconds, for a page in the browser to go network-idle after it loads.",
        _parse_seconds,
    )


SETTINGS: tuple[Setting, ...] = tuple(
    Setting(
        f.name,
        f.default_factory() if callable(f.default_factory) else f.default,  # a factory: a list
        f.metadata["help"],
        f.metadata["parse"],
    )
    for f in fields(Values)
)

SETTINGS_BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}


class Settings(Values):
    """The effective settings: ``settings.timeout``, and ``origin(name)`` for where each came from."""

    def __init__(self, values: Mapping[str, Any], origins: Mapping[str, str]):
        super().__init__(**values)
        self._origins = dict(origins)

    def origin(self, name: str) -> str:
        return self._origins[name]

    @property
    def home_path(self) -> Path:
        return Path(self.home or _default_home())

    @property
    def warc_dir(self) -> Path:
        return self.home_path / "warcs"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home_path / 'citewatch.db'}"

    @property
    def effective_public_url(self) -> str:
        """The web UI's public base URL, ending in ``/`` (``public_url``, or made from
        serve_address and serve_port: a wildcard address is reached on loopback)."""
        if self.public_url:
            return self.public_url
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(
            self.serve_address, self.serve_address
        )
        return http_url(host, self.serve_port)

    @property
    def effective_user_agent(self) -> str:
        from archive import __version__

        if self.user_agent:
            return self.user_agent
        contact = self.contact_url
        return f"citewatch/{__version__} (+{contact})" if contact else f"citewatch/{__version__}"


def _read_config(path: Path, required: bool) -> dict[str, Any]:
    if not path.exists():
        if required:
            raise SettingsError(f"config file {path} does not exist")
        return {}
    import tomllib  # here: most runs have no settings file to parse

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"cannot read {path}: {exc}") from exc
    unknown = sorted(set(data) - set(SETTINGS_BY_NAME))
    if unknown:
        raise SettingsError(f"unknown setting {unknown[0]!r} in {path}; see `citewatch config`")
    return data


def _parse(setting: Setting, raw: Any, where: str) -> Any:
    try:
        return setting.parse(raw)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"bad value for {setting.name} ({where}): {exc}") from exc


def load_settings(
    flags: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    config_path: str | os.PathLike[str] | None = None,
) -> Settings:
    """Combine defaults, the config file, the environment and flags, in that order."""
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    env = os.environ if env is None else env
    env_values = {s.name: env[s.env_var] for s in SETTINGS if env.get(s.env_var) not in (None, "")}
    home = flags.get("home") or env_values.get("home") or _default_home()
    path = Path(config_path) if config_path else Path(home) / CONFIG_NAME
    file_values = _read_config(path, required=config_path is not None)
    layers = ((flags, "flag"), (env_values, "environment"), (file_values, str(path)))
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for setting in SETTINGS:
        values[setting.name], origins[setting.name] = setting.default, "default"
        for layer, where in layers:
            if setting.name in layer:
                values[setting.name] = _parse(setting, layer[setting.name], where)
                origins[setting.name] = where
                break
    values["home"] = str(Path(values["home"] or home).expanduser())
    return Settings(values, origins)
