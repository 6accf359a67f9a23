"""The web UI and JSON API of ``citewatch serve``: FastAPI, server-rendered Jinja2, no JavaScript.

Reading goes through the same view functions the CLI prints (``articles``,
``changelog``, ``index``, ``status``), so ``/api/...`` answers what ``--json``
prints. Writing calls the library: tracking and checking answer at once
(:mod:`archive.schedule.checks`, :mod:`archive.schedule.queue`); captures and adds are
background :class:`Jobs` the client polls, each run in a process of its own
(a Scrapy crawl runs once per process) by the job runner the CLI or the daemon
injects (crawler/jobs.py), since ``archive/`` never imports the crawler.

Archived content is untrusted. Templates autoescape everything and never mark
archived text safe; every response carries a Content-Security-Policy with
``script-src 'none'`` (the UI has no JavaScript), ``frame-ancestors 'none'``,
``nosniff`` and ``Referrer-Policy: no-referrer``; replay runs on its own
origin (``replay_url``), which the UI only links to.

Errors: every bad input is a 4xx; ``/api`` answers ``{"error": "one line"}``,
the UI a plain HTML page. Nothing answers with a traceback.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import signal
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol, cast
from urllib.parse import parse_qs, urlencode, urlsplit

from fastapi import Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from archive.articles import storage as articles
from archive.changes import changelog
from archive.changes.classify import KINDS
from archive.clock import Clock, utcnow
from archive.errors import CitewatchError, NotFoundError, OperationError, UsageError
from archive.models import MAX_ID, Article, Change, Snapshot, Source
from archive.net import http_url, listen
from archive.replay.server import replay_link, timemap_link
from archive.store import index

if TYPE_CHECKING:
    from archive.settings import Settings

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
COOKIE = "citewatch_token"
CSP = (
    "default-src 'none'; script-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
# Paths anyone may read, token or not: the login form and the stylesheet.
OPEN_PATHS = ("/login", "/logout", "/static/")

Id = Annotated[int, PathParam(ge=1, le=MAX_ID)]
Before = Annotated[
    int | None, Query(ge=1, le=MAX_ID, description="The page of the timeline after this snapshot id.")
]
TimelineLimit = Annotated[int, Query(ge=1, le=1000, description="Captures and attempts per page.")]


# -- errors ---------------------------------------------------------------------------


def _is_api(request_path: str) -> bool:
    return request_path.startswith("/api/") or request_path in ("/api", "/openapi.json")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())[:500] or "error"


def _validation_message(exc: RequestValidationError) -> str:
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ())[1:]) or "request"
    return f"{where}: {first.get('msg', 'invalid')}"


class _Pages:
    """The Jinja2 environment: autoescape on for every template, whatever its name."""

    def __init__(self) -> None:
        self.env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True)
        self.env.filters["when"] = _when
        self.env.filters["href"] = external_href
        self.env.filters["tojson_text"] = lambda v: json.dumps(v, ensure_ascii=False, default=str)
        self.env.filters["num"] = reader_number
        self.env.filters["day"] = _day
        self.env.filters["resolution_rows"] = resolution_rows

    def render(self, request: Request, name: str, code: int = 200, **context: Any) -> HTMLResponse:
        """A page, with what its forms need (``ui``) and the outcome of the last form (``flash``),
        which it shows once."""
        settings = request.app.state.settings
        ui, flash = ui_state(request, settings), read_flash(request, settings)
        body = self.env.get_template(name).render(
            request=request, path=request.url.path, ui=ui, flash=flash, **context
        )
        response = HTMLResponse(body, status_code=code)
        if FLASH in request.cookies:
            response.delete_cookie(FLASH, path="/", httponly=True, samesite="strict")
        return response


def _error_response(
    request: Request, status: int, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    message = _one_line(message)
    headers = {**(headers or {}), **({"WWW-Authenticate": "Bearer"} if status == 401 else {})}
    if _is_api(request.scope["path"]):
        return JSONResponse({"error": message}, status_code=status, headers=headers)
    pages: _Pages = request.app.state.pages
    # A 401 page links to the login form: reading needs the token there, or a form's write did.
    page = pages.render(request, "error.html", status, status=status, message=message, login=status == 401)
    page.headers.update(headers)
    return page


def allowed_methods(app: Any, scope: Scope) -> list[str]:
    """Every method some route answers at this path: a path's routes are one per method, so the
    405 that the first of them raises would name its own method alone."""
    from starlette.routing import Match

    methods: set[str] = set()
    for route in app.routes:
        answers = getattr(route, "methods", None)
        if answers and route.matches({**scope, "method": next(iter(answers))})[0] is Match.FULL:
            methods |= answers
    return sorted(methods)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(allowed_methods(request.app, request.scope)) or headers.get("Allow", "")
        return _error_response(request, 405, f"{request.method} is not allowed here", headers)
    return _error_response(request, exc.status_code, str(exc.detail), headers)


async def _invalid(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return _error_response(request, 422, _validation_message(exc))


async def _citewatch_error(request: Request, exc: Exception) -> Response:
    kinds = ((NotFoundError, 404), (UsageError, 400), (OperationError, 503))
    status = next((code for kind, code in kinds if isinstance(exc, kind)), 500)
    return _error_response(request, status, str(exc))


def not_found(message: str) -> HTTPException:
    return HTTPException(404, message)


# -- the guard: read access, security headers, and the last word on errors --------------


def _token_matches(given: str | None, token: str) -> bool:
    return bool(token) and given is not None and hmac.compare_digest(given.encode(), token.encode())


def _bearer(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def may_read(request: Request, settings: Settings) -> bool:
    """Reading is open unless api_read_public is off; then the token comes as a bearer header or,
    for the HTML UI, the cookie /login sets."""
    if settings.api_read_public:
        return True
    token = settings.api_token
    return _token_matches(_bearer(request), token) or _token_matches(request.cookies.get(COOKIE), token)


LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})


def allowed_hosts(settings: Settings) -> frozenset[str] | None:
    """The Host names the app answers to (None: any). A server on a loopback address answers
    only to loopback names unless ``serve_hosts`` says more: a web page elsewhere cannot make
    its own name resolve to 127.0.0.1 and read the UI (DNS rebinding).

    >>> from types import SimpleNamespace as S
    >>> sorted(allowed_hosts(S(serve_hosts=[], serve_address="127.0.0.1")))
    ['127.0.0.1', '::1', 'localhost']
    >>> allowed_hosts(S(serve_hosts=[], serve_address="0.0.0.0")) is None
    True
    >>> sorted(allowed_hosts(S(serve_hosts=["Archive.example"], serve_address="0.0.0.0")))
    ['archive.example']
    """
    if settings.serve_hosts:
        return frozenset(h.lower().strip("[]") for h in settings.serve_hosts)
    address = settings.serve_address
    try:
        loopback = ipaddress.ip_address(address).is_loopback
    except ValueError:
        loopback = address.lower() == "localhost"
    return LOOPBACK_NAMES if loopback else None


def _host_name(scope: Scope) -> str:
    """The Host header's name, lowercased, without port or IPv6 brackets."""
    raw: str = dict(scope["headers"]).get(b"host", b"").decode("latin-1").strip().lower()
    if raw.startswith("["):
        return raw[1:].split("]", 1)[0]
    return raw.rsplit(":", 1)[0] if raw.count(":") == 1 else raw


MAX_BODY = 2_000_000  # bytes: a pasted article is far less


class _Guard:
    """Outermost ASGI layer: refuses reads without the token when they need one, adds the security
    headers to every response, and turns any unexpected error into a one-line 500."""

    def __init__(self, app: ASGIApp, fastapi_app: FastAPI) -> None:
        self.app, self.fastapi_app = app, fastapi_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def secured(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in names]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        request = Request(scope)
        request.scope.setdefault("app", self.fastapi_app)
        settings = self.fastapi_app.state.settings
        hosts = self.fastapi_app.state.hosts
        if hosts is not None and _host_name(scope) not in hosts:  # a rebound DNS name, say
            message = "unknown Host: add it to the serve_hosts setting to reach citewatch under that name"
            await _error_response(request, 400, message)(scope, receive, secured)
            return
        try:
            length = int(dict(scope["headers"]).get(b"content-length", b"0"))
        except ValueError:
            length = MAX_BODY + 1
        if length > MAX_BODY:  # refused before anything reads it (the token is checked later)
            await _error_response(request, 413, f"request body over {MAX_BODY:,} bytes")(
                scope, receive, secured
            )
            return
        if not scope["path"].startswith(OPEN_PATHS) and not may_read(request, settings):
            await _refused(request, settings)(scope, receive, secured)
            return
        try:
            await self.app(scope, receive, secured)
        except Exception:
            logger.exception("error answering %s %s", scope.get("method"), scope.get("path"))
            if not started:
                response = _error_response(request, 500, "internal error: see the server's log")
                await response(scope, receive, secured)


def _refused(request: Request, settings: Settings) -> Response:
    if not settings.api_token:
        return _error_response(request, 403, "reading needs a token, but api_token is not set on the server")
    return _error_response(
        request, 401, "reading needs the API token: send Authorization: Bearer TOKEN (or log in at /login)"
    )


_bearer_scheme = HTTPBearer(auto_error=False, description="The api_token setting.")


def require_token(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer_scheme)]
) -> None:
    """Write actions need ``Authorization: Bearer TOKEN`` (never the cookie: no cross-site writes)."""
    token = request.app.state.settings.api_token
    if not token:
        raise HTTPException(403, "write actions are off: set api_token on the server to allow them")
    if credentials is None:
        raise HTTPException(401, "this action needs the API token: send Authorization: Bearer TOKEN")
    if not _token_matches(credentials.credentials, token):
        raise HTTPException(401, "wrong API token")


# -- the UI's forms: a login session, CSRF tokens, the outcome shown once ----------------------
#
# /login sets two cookies (HttpOnly, SameSite=Strict): the token, which lets this browser read
# and, through the UI's forms only, write; and a random session id. Every form carries a CSRF
# token, an HMAC of that session id under a key drawn from api_token, checked on every POST.
# SameSite=Strict alone is not enough: browsers count every port of a host as one site, so a
# page on the replay server's port could post a form here with the cookies attached. Such a
# page can set cookies for the host, but it can neither forge the HMAC without the key nor read
# a UI page to copy a token (another origin). /api/* writes take the bearer header alone.

SESSION = "citewatch_session"
FLASH = "citewatch_flash"  # the one-line outcome of the last form, shown once by the next page


def _form_key(settings: Settings) -> bytes:
    """The key of CSRF tokens and flash messages, drawn from api_token: every server of one
    archive agrees on it, and a new token voids every form and message made under the old."""
    return hmac.new(settings.api_token.encode(), b"citewatch web forms", hashlib.sha256).digest()


def _signed(settings: Settings, *parts: str) -> str:
    return hmac.new(_form_key(settings), "\x00".join(parts).encode(), hashlib.sha256).hexdigest()


def logged_in(request: Request, settings: Settings) -> bool:
    """Whether this browser logged in with the token (the cookie /login sets)."""
    return _token_matches(request.cookies.get(COOKIE), settings.api_token)


def csrf_token(request: Request, settings: Settings) -> str | None:
    """The CSRF token of this login's forms (None: not logged in)."""
    sid = request.cookies.get(SESSION)
    if not sid or not logged_in(request, settings):
        return None
    return _signed(settings, "csrf", sid)


def ui_state(request: Request, settings: Settings) -> dict[str, Any]:
    """What a page needs for its forms: whether writes are on at all, whether this browser is
    logged in (with a session), its CSRF token, and whether reading is open."""
    token = csrf_token(request, settings)
    return {
        "writes": bool(settings.api_token),
        "logged_in": token is not None,
        "csrf": token,
        "reads_open": bool(settings.api_read_public),
    }


def _set_cookie(response: Response, request: Request, name: str, value: str, **more: Any) -> None:
    secure = request.url.scheme == "https"
    response.set_cookie(name, value, httponly=True, samesite="strict", secure=secure, path="/", **more)


def flashed(request: Request, target: str, message: str, *, error: bool = False) -> Response:
    """Post/redirect/get: a 303 to ``target`` carrying the form's one-line outcome, signed for
    this session (another site's page cannot plant a message)."""
    settings = request.app.state.settings
    response = RedirectResponse(_local(target), status_code=303)
    if settings.api_token:
        data = json.dumps([error, _one_line(message)]).encode()
        payload = base64.urlsafe_b64encode(data).decode().rstrip("=")
        signature = _signed(settings, "flash", request.cookies.get(SESSION, ""), payload)
        _set_cookie(response, request, FLASH, f"{payload}.{signature}", max_age=300)
    return response


def read_flash(request: Request, settings: Settings) -> dict[str, Any] | None:
    """The outcome a redirect carried, when this server signed it for this session."""
    raw = request.cookies.get(FLASH)
    if not raw or not settings.api_token:
        return None
    payload, _, signature = raw.rpartition(".")
    expected = _signed(settings, "flash", request.cookies.get(SESSION, ""), payload)
    if not hmac.compare_digest(signature.encode(), expected.encode()):
        return None
    try:
        error, text = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, TypeError):
        return None
    return {"error": bool(error), "text": _one_line(str(text))}


async def form_fields(request: Request) -> dict[str, str]:
    """A urlencoded form's fields, the first value of each (python-multipart is not needed for
    a few fields; the guard has refused bodies over MAX_BODY already)."""
    body = (await request.body()).decode("utf-8", "replace")
    try:
        fields = parse_qs(body, keep_blank_values=True, max_num_fields=50)
    except ValueError:
        raise HTTPException(400, "too many form fields") from None
    return {name: values[0] for name, values in fields.items()}


async def checked_form(request: Request) -> dict[str, str]:
    """The fields of a form POST from a logged-in browser that carries this login's CSRF
    token; else 403 (writes off; CSRF token missing or wrong) or 401 (not logged in)."""
    settings = request.app.state.settings
    if not settings.api_token:
        raise HTTPException(403, "write actions are off: set api_token on the server to allow them")
    form = await form_fields(request)
    if not logged_in(request, settings):
        raise HTTPException(401, "this action needs the API token: log in first")
    expected = csrf_token(request, settings)
    if expected is None or not hmac.compare_digest(form.get("csrf", "").encode(), expected.encode()):
        raise HTTPException(
            403, "the form's CSRF token is missing or out of date: reload the page and send the form again"
        )
    return form


Action = Callable[[dict[str, str]], tuple[str, str]]  # form fields -> (where to go, what happened)


async def act(request: Request, back: str, action: Action) -> Response:
    """Check the form, run its action off the event loop, and redirect with the outcome: where
    the action says, or back to ``back`` with the error line when it failed."""
    form = await checked_form(request)
    try:
        target, message = await run_in_threadpool(action, form)
    except HTTPException as exc:
        return flashed(request, back, str(exc.detail), error=True)
    except CitewatchError as exc:
        return flashed(request, back, str(exc), error=True)
    return flashed(request, target, message)


# -- values shown --------------------------------------------------------------------


def _when(value: datetime | str | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.removesuffix("Z"))
        except ValueError:
            return value
        value = parsed
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def external_href(url: Any) -> str | None:
    """``url`` if it is an http(s) URL a page may link to, else None (``javascript:`` and the
    like are shown as text, never as links).

    >>> external_href("https://example.org/a"), external_href("javascript:alert(1)")
    ('https://example.org/a', None)
    """
    if not isinstance(url, str):
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    return url.strip() if parts.scheme in ("http", "https") and parts.netloc else None


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() + "Z" if when is not None else None


def reader_number(value: Any) -> str:
    """A number as claims store it (normalised: ``253000``), written as a reader writes it.

    >>> reader_number("253000"), reader_number("1500000.5"), reader_number("576"), reader_number("5x")
    ('253,000', '1,500,000.5', '576', '5x')
    """
    text = str(value)
    whole, dot, part = text.partition(".")
    if whole.isascii() and whole.isdigit() and (not dot or (part.isascii() and part.isdigit())):
        return f"{int(whole):,}{dot}{part}"
    return text


def _day(value: datetime | str | None) -> str:
    """The date of a time: ``2026-12-02``."""
    return _when(value)[:10] if value is not None else "?"


# How the article names an outlet (archive.articles.outlet_names.PATTERNS), in words.
NAMED = {
    "source-list": "in the article's list of sources",
    "according-to": "in an “according to …” phrase",
    "dateline": "in a dateline",
    "attribution": "as an attribution (“…, Reuters reported”)",
}
STOPPED = {
    "fetch limit": "discovery_max_fetches",
    "time limit": "discovery_max_seconds",
    "entry limit": "discovery_max_urls",
}  # why discovery stopped early -> the setting that sets that limit
REPORTED = {"status", "reason", "front_page", "pattern", "discovered", "in_window", "fetches", "seconds"}
REPORTED |= {"sitemaps", "feeds", "stopped", "problems", "replaced"}


def resolution_rows(res: Mapping[str, Any]) -> list[dict[str, Any]]:
    """An outlet citation's resolution report as labelled lines for a reader: each row a
    ``label`` with a ``text``, a list of ``links`` or of ``lines`` (never a raw list or None).

    >>> rows = resolution_rows({"discovered": 1234, "in_window": 56, "fetches": 12, "seconds": 3.42,
    ...                         "sitemaps": [], "feeds": ["https://x.example/rss"], "stopped": None})
    >>> [(r["label"], r.get("text") or r.get("links")) for r in rows]
    [('discovery', 'discovered 1,234 pages, 56 in the date window, 12 fetches in 3.4 s'), \
('sitemaps', []), ('feeds', ['https://x.example/rss'])]
    """
    rows: list[dict[str, Any]] = []
    if res.get("pattern"):
        rows.append({"label": "named", "text": NAMED.get(res["pattern"], res["pattern"])})
    if "discovered" in res:
        rows.append({"label": "discovery", "text": _discovery_line(res)})
        rows.append({"label": "sitemaps", "links": list(res.get("sitemaps") or [])})
        rows.append({"label": "feeds", "links": list(res.get("feeds") or [])})
    if res.get("stopped"):
        setting = STOPPED.get(res["stopped"])
        why = f"stopped early because it reached the {res['stopped']}" + (f" ({setting})" if setting else "")
        rows.append({"label": "stopped", "text": why})
    if res.get("problems"):
        rows.append({"label": "problems", "lines": [str(p) for p in res["problems"]]})
    if res.get("replaced"):
        rows.append({"label": "replaced", "links": list(res["replaced"])})
    for key, value in res.items():
        if key not in REPORTED and value not in (None, "", [], {}):
            rows.append({"label": key.replace("_", " "), "text": _readable(value)})
    return rows


def _discovery_line(res: Mapping[str, Any]) -> str:
    def count(name: str) -> str:
        value = res.get(name)
        return f"{value:,}" if isinstance(value, int) else "?"

    line = f"discovered {count('discovered')} pages, {count('in_window')} in the date window"
    if res.get("fetches") is not None:
        line += f", {count('fetches')} fetches"
        if isinstance(res.get("seconds"), int | float):
            line += f" in {res['seconds']:.1f} s"
    return line


def _readable(value: Any) -> str:
    """A value of a report as words: lists joined, mappings as ``key: value``.

    >>> _readable(["a", 2]), _readable({"x": 1, "y": None}), _readable(True)
    ('a, 2', 'x: 1', 'yes')
    """
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {_readable(v)}" for k, v in value.items() if v not in (None, "", []))
    if isinstance(value, list | tuple | set):
        return ", ".join(_readable(v) for v in value)
    return str(value)


def _replay(settings: Settings, s: Snapshot) -> dict[str, str] | None:
    """Replay links of an archived capture (None for a failed attempt)."""
    if s.record_type is None:
        return None
    return {
        "replay": replay_link(settings, s.url, s.captured_at),
        "raw": replay_link(settings, s.url, s.captured_at, raw=True),
    }


def source_status(source: Source | None, counts: tuple[int, datetime] | None) -> str:
    """What a reader needs first about a source: live, changed, gone, failing, capture problem
    (checked, but no capture showed its text yet: a front page with no main text, say) or not
    checked; by the rule ``citewatch status`` counts sources with (archive.schedule.status.source_state)."""
    from archive.schedule.status import source_state

    state = source_state(source) if source is not None else "unchecked"
    named = {
        "unchecked": "not checked",
        "problem": "capture problem",
        "missing": "gone",
        "failing": "failing",
    }
    if state in named:
        return named[state]
    return "changed" if counts else "live"


def _redacted(name: str, value: Any) -> Any:
    """Settings as the API shows them: the token never, a database password never."""
    if name == "api_token":
        return "(set)" if value else ""
    if name in ("notify_webhooks", "notify_apprise"):  # hook URLs and Apprise URLs carry secrets
        return [_scheme_only(url) for url in value]
    if name == "database_url" and value:
        with contextlib.suppress(Exception):
            from sqlalchemy.engine import make_url

            return make_url(value).render_as_string(hide_password=True)
    return value


def _scheme_only(url: str) -> str:
    """``slack://(hidden)``: which service, not the credentials in the rest.

    >>> _scheme_only("https://hooks.example/T000/B000/XXXX"), _scheme_only("mailto://me:pw@x")
    ('https://(hidden)', 'mailto://(hidden)')
    """
    scheme, sep, _ = url.partition("://")
    return f"{scheme}://(hidden)" if sep else "(hidden)"


def config_rows(settings: Settings) -> list[dict[str, Any]]:
    """Every setting, as ``citewatch config --json`` prints it (the token and passwords hidden)."""
    from archive.settings import SETTINGS

    return [
        {
            "name": s.name,
            "value": _redacted(s.name, getattr(settings, s.name)),
            "origin": settings.origin(s.name),
            "env": s.env_var,
        }
        for s in SETTINGS
    ]


# -- jobs: captures and adds, each in a process of its own ---------------------------------


class RunningJob(Protocol):
    """A job started by the app's runner (crawler/jobs.py's JobProcess, injected by the CLI or
    the daemon: ``archive/`` does not import the crawler)."""

    def wait(self, timeout: float | None = None) -> Any:
        """Its outcome (``code``, ``result``, ``error``), or None while it still runs."""

    def stop(self, force: bool = False) -> None: ...


# Starts a job: (kind, payload) -> the running job.
JobRunner = Callable[[str, dict[str, Any]], RunningJob]


@dataclass
class Job:
    id: str
    kind: str  # capture | add
    target: str  # the URL, or "pasted text"
    payload: dict[str, Any]  # what the runner is given (crawler.jobs.run_job)
    created_at: datetime
    state: str = "queued"  # queued | running | done | failed
    started_at: datetime | None = None
    finished_at: datetime | None = None
    exit_code: int | None = None
    result: Any = None
    error: str | None = None
    process: RunningJob | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "target": self.target,
            "state": self.state,
            "created_at": _iso(self.created_at),
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "exit_code": self.exit_code,
            "result": self.result,
            "error": self.error,
            "url": f"/api/jobs/{self.id}",
        }


class Busy(Exception):
    pass


def _now(request: Request) -> datetime:
    """Now, by the app's clock."""
    clock: Clock = request.app.state.clock
    return clock()


class Jobs:
    """Background captures and adds: each run by ``runner`` in a process of its own (a crawl
    runs once per process), at most ``running`` at once and ``pending`` waiting; the newest
    ``keep`` are remembered, in memory only. Without a runner, none can start."""

    def __init__(
        self,
        runner: JobRunner | None,
        *,
        running: int = 2,
        pending: int = 16,
        keep: int = 200,
        clock: Clock = utcnow,
    ) -> None:
        self.runner, self.pending, self.keep, self.clock = runner, pending, keep, clock
        self.timeout = 1800.0
        self._slots = threading.BoundedSemaphore(running)
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._closed = False

    def start(self, job: Job) -> Job:
        if self.runner is None:
            raise HTTPException(
                503, "this server runs no captures or adds (it was started without a job runner)"
            )
        with self._lock:
            waiting = sum(1 for j in self._jobs.values() if j.state in ("queued", "running"))
            if self._closed or waiting >= self.pending:
                raise Busy(f"{waiting} jobs are queued or running: try again later")
            self._jobs[job.id] = job
            self._forget_old()
        threading.Thread(target=self._run, args=(job,), name=f"job-{job.id[:8]}", daemon=True).start()
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def all(self) -> list[Job]:
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: j.created_at, reverse=True)

    def _forget_old(self) -> None:
        done = [j for j in self._jobs.values() if j.state in ("done", "failed")]
        for job in sorted(done, key=lambda j: j.created_at)[: max(0, len(self._jobs) - self.keep)]:
            del self._jobs[job.id]

    def _run(self, job: Job) -> None:
        try:
            with self._slots:
                if not self._closed:
                    self._execute(job)
        except Exception as exc:  # a job must end in a state, whatever happened
            logger.exception("job %s failed", job.id)
            job.error = f"{exc.__class__.__name__}: {exc}"
        finally:
            if job.state in ("queued", "running"):
                job.state = "failed"
                job.error = job.error or "the server stopped before the job finished"
            job.finished_at = job.finished_at or self.clock()

    def _execute(self, job: Job) -> None:
        assert self.runner is not None  # start() refuses jobs without one
        job.state, job.started_at = "running", self.clock()
        job.process = self.runner(job.kind, job.payload)
        deadline = time.monotonic() + self.timeout
        outcome = None
        while outcome is None and not self._closed:
            outcome = job.process.wait(timeout=1.0)
            if outcome is None and time.monotonic() > deadline:
                job.process.stop(force=True)
                outcome = job.process.wait(timeout=30)
                job.error = f"stopped after {self.timeout:.0f} s"
        if outcome is None:
            return  # the server is stopping: the job ends as failed, saying so
        job.exit_code = outcome.code
        job.result, job.error = outcome.result, job.error or outcome.error
        job.state = "failed" if outcome.code != 0 else "done"
        job.finished_at = self.clock()

    def close(self) -> None:
        """Stop every running job (the server is stopping)."""
        with self._lock:
            self._closed = True
            running = [j.process for j in self._jobs.values() if j.state == "running" and j.process]
        for process in running:
            process.stop(force=True)


# -- request bodies ---------------------------------------------------------------------


# Request bodies are taken as their schema says: 0 is not false, "1" is not 1.
STRICT = ConfigDict(strict=True)


class CaptureRequest(BaseModel):
    model_config = STRICT
    url: str = Field(description="The URL to capture now.", examples=["https://example.org/story"])
    browser: bool = Field(False, description="Capture in Chromium instead of plain HTTP.")


class AddRequest(BaseModel):
    model_config = STRICT
    url: str | None = Field(None, description="The citing article's URL (or give text).")
    text: str | None = Field(None, description="The citing article itself, pasted.", max_length=5_000_000)
    format: Literal["text", "markdown", "html"] | None = Field(
        None, description="What text is; without it, HTML when it starts with <, else plain text."
    )
    resolve: bool = Field(True, description="Find the articles behind bare outlet names.")


class TrackRequest(BaseModel):
    model_config = STRICT
    url: str | None = Field(None, description="The source URL to track (or give article).")
    article: str | None = Field(None, description="An article id or URL: every source it cites.")
    every: str | None = Field(
        None, description="Check this often (30m, 6h, 1d, 1w) instead of by the ladder."
    )
    paused: bool | None = Field(None, description="true pauses, false resumes; absent leaves it as is.")


class CheckRequest(BaseModel):
    model_config = STRICT
    urls: list[str] | None = Field(
        None, description="Tracked source URLs to check now (or give article).", max_length=10_000
    )
    article: int | str | None = Field(
        None, description="An article id or URL: every tracked source it cites."
    )


class CheckedSource(BaseModel):
    source_id: int
    url: str
    paused: bool = Field(description="A paused source is checked once and stays paused.")
    next_check_at: str = Field(description="Now (UTC): due at the daemon's next dispatch.")
    in_flight: bool = Field(description="A worker is checking it already: that check answers.")


class DaemonState(BaseModel):
    running: bool = Field(description="Whether a daemon runs to take them (false: nothing checks them).")
    pid: int | None = Field(description="The daemon's process id, when known.")
    holder: str | None = Field(description="Who holds the daemon's lock, in words.")


class CheckAnswer(BaseModel):
    """What ``POST /api/check`` scheduled: what ``citewatch check --json`` prints."""

    sources: list[CheckedSource]
    not_tracked: list[str] = Field(description="Sources the article cites that are not tracked.")
    daemon: DaemonState


# -- the change log's filters ------------------------------------------------------------


@dataclass
class Filters:
    since: str | None = None
    until: str | None = None
    url: str | None = None
    article: str | None = None
    outlet: str | None = None
    kind: list[str] = field(default_factory=list)
    before: int | None = None
    limit: int = 50

    def query(self, **override: Any) -> str:
        """The query string of these filters (for links to the next page, JSON and Atom)."""
        values = {**self.__dict__, **override}
        if values["limit"] == 50:
            values["limit"] = None  # the default: left out of links
        pairs = [(k, v) for k, v in values.items() if k != "kind" and v is not None]
        return urlencode(pairs + [("kind", k) for k in values["kind"]])


def change_filters(
    since: Annotated[
        str | None, Query(description="Detected at or after: 2026-11-20, 2026-11-20T14:00, 7d.")
    ] = None,
    until: Annotated[str | None, Query(description="Detected before this time.")] = None,
    url: Annotated[str | None, Query(description="Only changes of this source URL.")] = None,
    article: Annotated[
        str | None, Query(description="Only the sources this article (id or URL) cites.")
    ] = None,
    outlet: Annotated[str | None, Query(description="Only the sources of this outlet (a domain).")] = None,
    kind: Annotated[list[str] | None, Query(description=f"Repeatable: {', '.join(KINDS)}.")] = None,
    before: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="The page after this change id.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Changes per page.")] = 50,
) -> Filters:
    """Empty values (an HTML form's blank fields) mean no filter."""
    blank: Callable[[str | None], str | None] = lambda v: v if v is not None and v.strip() else None  # noqa: E731
    kinds = [k.strip() for k in kind or [] if k != ""]  # a blank field is "", not any space
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise HTTPException(400, f"unknown kind {unknown[0]!r}: choose from {', '.join(KINDS)}")
    return Filters(
        blank(since), blank(until), blank(url), blank(article), blank(outlet), kinds, before, limit
    )


def list_changes(session: Session, f: Filters) -> list[tuple[Change, str]]:
    if f.before is not None and session.get(Change, f.before) is None:
        raise not_found(f"no change {f.before}: before takes the id of a listed change")
    return changelog.list_changes(
        session,
        since=changelog.parse_when(f.since) if f.since is not None else None,
        until=changelog.parse_when(f.until) if f.until is not None else None,
        source_ids=changelog.sources_matching(session, url=f.url, article=f.article, outlet=f.outlet),
        kinds=f.kind or None,
        before=f.before,
        limit=f.limit,
    )


# -- views shared by the UI and the API ----------------------------------------------------


def _sources_by_url(session: Session, urls: list[str]) -> dict[str, dict[str, Any]]:
    """URL -> the source's id, status and changes, for the sources an article view names."""
    rows = list(session.scalars(select(Source).where(Source.url.in_(urls)))) if urls else []
    counts = changelog.change_counts(session, [s.id for s in rows])
    return {
        s.url: {
            "id": s.id,
            "status": source_status(s, counts.get(s.id)),
            "changes": counts.get(s.id, (0, None))[0],
            "last_change": counts.get(s.id, (0, None))[1],
        }
        for s in rows
    }


def article_page(session: Session, article: Article, top: int) -> dict[str, Any]:
    view = articles.article_view(session, article, top=top)
    urls = [s["url"] for c in view["citations"] for s in c["sources"] if s.get("url")]
    urls += [c["front_page"]["url"] for c in view["citations"] if c.get("front_page")]
    urls += [f["url"] for f in view["formerly_cited"] if f.get("url")]
    return {
        "view": view,
        "sources": _sources_by_url(session, urls),
        # Claims and citations are shown by number and linked by id (#claim-ID, #citation-ID:
        # the anchors old links and change pages use): number -> id.
        "claim_ids": {c["number"]: c["id"] for c in view["claims"]},
        "citation_ids": {c["number"]: c["id"] for c in view["citations"]},
    }


def removal_preview(session: Session, article: Article) -> dict[str, list[dict[str, Any]]]:
    """What removing an article does to the sources it cites (archive.articles.storage.remove_article's
    rule): those no other article cites and the user did not track are no longer checked."""
    stop: list[dict[str, Any]] = []
    stay: list[dict[str, Any]] = []
    for sid in articles.sources_of_article(session, article.id):
        source = session.get(Source, sid)
        if source is None:
            continue
        others = [a for a in articles.articles_citing(session, sid) if a != article.id]
        entry = {"id": sid, "url": source.url, "others": others, "by_user": bool(source.tracked_by_user)}
        (stay if others or source.tracked_by_user else stop).append(entry)
    return {"stop": stop, "stay": stay}


TIMELINE_PAGE = 200  # captures and attempts per page of a source's timeline


def source_view(
    session: Session,
    settings: Settings,
    source: Source,
    before: int | None = None,
    limit: int = TIMELINE_PAGE,
) -> dict[str, Any]:
    """A source, a page of its captures and failed attempts (newest first, with replay links,
    before the snapshot ``before``), the changes those captures recorded, and where the next
    page starts (``older``: a snapshot id, or None)."""
    snaps = index.timeline(session, source.url, limit + 1, before)
    older = snaps[limit - 1].id if len(snaps) > limit else None
    snaps = snaps[:limit]
    ids = [s.id for s in snaps]
    changes = [
        (c, source.url)
        for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500))
        for c in session.scalars(
            select(Change)
            .where(Change.source_id == source.id, Change.new_snapshot_id.in_(chunk))
            .order_by(Change.detected_at.desc(), Change.id.desc())
        )
    ]
    counts = changelog.change_counts(session, [source.id]).get(source.id)
    return {
        "source": {
            "id": source.id,
            "url": source.url,
            "status": source_status(source, counts),
            "state": source.state,
            "state_reason": source.state_reason,
            "state_since": _iso(source.state_since),
            "paused": source.paused,
            "untracked_at": _iso(source.untracked_at),  # `citewatch untrack`: no more checks
            "every_seconds": source.every_seconds,
            "next_check_at": _iso(source.next_check_at),
            "last_checked_at": _iso(source.last_checked_at),
            "failures": source.failures,
            "changes": counts[0] if counts else 0,
            "timemap": timemap_link(settings, source.url),
        },
        "cited_by": articles.articles_citing(session, source.id),
        "snapshots": [{**index.snapshot_dict(s), "links": _replay(settings, s)} for s in snaps],
        "changes": [changelog.change_dict(c, url) for c, url in changes],
        "older": older,
    }


def change_view(session: Session, settings: Settings, change: Change) -> dict[str, Any]:
    """A change, its word diff (None when a side has no text, with why), replay links and claims."""
    url = session.get(Source, change.source_id).url  # type: ignore[union-attr]  # source_id: a NOT NULL foreign key
    old, new = session.get(Snapshot, change.old_snapshot_id), session.get(Snapshot, change.new_snapshot_id)
    diff, why = None, None
    try:
        diff = changelog.diff_dict(
            changelog.load_diff(session, settings.warc_dir, change.old_snapshot_id, change.new_snapshot_id)
        )
    except CitewatchError as exc:
        why = str(exc)
    return {
        "change": changelog.change_dict(change, url),
        "before": {**index.snapshot_dict(old), "links": _replay(settings, old)} if old else None,
        "after": {**index.snapshot_dict(new), "links": _replay(settings, new)} if new else None,
        "diff": diff,
        "no_diff": why,
    }


def _split(paragraph: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A diff paragraph's two sides, for the side-by-side view."""
    pieces = paragraph["pieces"]
    return [p for p in pieces if p["op"] != "insert"], [p for p in pieces if p["op"] != "delete"]


# -- the app ------------------------------------------------------------------------------


def create_app(
    settings: Settings,
    sessions: sessionmaker[Session] | None = None,
    runner: JobRunner | None = None,
    clock: Clock = utcnow,
) -> FastAPI:
    """The web UI and JSON API over the database of ``settings`` (migrated already: the CLI's
    ``serve`` and the daemon do that first). ``runner`` starts the captures and adds asked for
    (crawler/jobs.py's JobProcess); without one, the app only reads and schedules. ``clock``
    tells the time of its jobs, checks and status pages."""
    from archive import db

    sessions = sessions or db.connect(settings.effective_database_url)
    jobs = Jobs(runner, clock=clock)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        jobs.close()
        sessions.kw["bind"].dispose()

    app = FastAPI(
        title="citewatch",
        summary="Archive what a story cites, and watch it for changes.",
        version=_version(),
        docs_url=None,  # the interactive docs load scripts from a CDN: not under this CSP
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.hosts = allowed_hosts(settings)
    app.state.clock = clock
    app.state.settings, app.state.sessions, app.state.jobs, app.state.pages = (
        settings,
        sessions,
        jobs,
        _Pages(),
    )
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(CitewatchError, _citewatch_error)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    _api_routes(app)
    _ui_routes(app)
    declare_errors(app)
    app.add_middleware(_Guard, fastapi_app=app)
    return app


def _dependants(dependant: Any) -> list[Any]:
    """A route's dependant and all it depends on."""
    return [dependant, *(d for sub in dependant.dependencies for d in _dependants(sub))]


class ErrorBody(BaseModel):
    """Every error the JSON API answers: one line saying what went wrong."""

    error: str = Field(description="What went wrong, in one line.", examples=["no change 12"])


ERRORS = {
    400: "Bad input, said in one line: a malformed URL, fields that do not go together, a Host "
    "not in serve_hosts, a snapshot with no text to compare",
    401: "The API token is needed (every write; reads too when api_read_public is off) or was wrong",
    403: "api_token is not set on the server, so what needs it is off",
    404: "No such article, source, change, snapshot or job",
    413: f"Request body over {MAX_BODY:,} bytes",
    422: "A parameter or body field of the wrong type or out of range",
    429: "Too many jobs wait already: try again later",
    500: "citewatch's own failure: the server's log has the details",
    503: "The database (or the archive's files) could not be reached",
}
# Routes that look something up by what a body field or query parameter names.
LOOKUPS = {"/api/changes", "/changes.atom", "/api/track", "/api/check"}
QUEUED = {"/api/captures", "/api/articles"}  # POST: a background job, refused when too many wait


def declare_errors(app: FastAPI) -> None:
    """Declare in the OpenAPI description every error each route can answer, with its body: JSON
    ``{"error": ...}`` under /api/, the HTML error page elsewhere (the Atom feeds)."""
    from fastapi.routing import APIRoute

    for route in app.routes:
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        dependants = _dependants(route.dependant)
        codes = {400, 401, 403, 413, 500}
        if any(d.path_params or d.query_params or d.body_params for d in dependants):
            codes.add(422)
        if "{" in route.path or route.path in LOOKUPS:
            codes.add(404)
        if route.path in QUEUED and "POST" in (route.methods or ()):
            codes.add(429)
        if any(d.call is session_dep for d in dependants):
            codes.add(503)
        if _is_api(route.path):
            content: dict[str, Any] = {"application/json": {"schema": ErrorBody.model_json_schema()}}
        else:
            content = {"text/html": {"schema": {"type": "string"}}}
        answers: dict[int | str, dict[str, Any]] = {
            code: {"description": ERRORS[code], "content": content} for code in codes
        }
        route.responses = {**answers, **route.responses}
    app.openapi_schema = None


def _version() -> str:
    from archive import __version__

    return str(__version__)


def session_dep(request: Request) -> Iterator[Session]:
    with request.app.state.sessions() as session:
        yield session


DB = Annotated[Session, Depends(session_dep)]
Write = [Depends(require_token)]


class AtomResponse(Response):
    media_type = "application/atom+xml"


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """JSON as the CLI prints it (``default=str``), so the two compare equal."""
    body = json.dumps(data, default=str)
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def _api_routes(app: FastAPI) -> None:
    _api_read_routes(app)
    _api_write_routes(app)


def _api_read_routes(app: FastAPI) -> None:
    @app.get("/api/config", tags=["read"], summary="Every setting (citewatch config --json)")
    def api_config(request: Request) -> Response:
        return _json(config_rows(request.app.state.settings))

    @app.get("/api/status", tags=["read"], summary="The archive's state (citewatch status --json)")
    def api_status(request: Request, session: DB) -> Response:
        from archive.schedule.status import status

        return _json(status(session, request.app.state.settings.warc_dir, _now(request)))

    @app.get("/api/articles", tags=["read"], summary="Articles (citewatch citations --json)")
    def api_articles(session: DB) -> Response:
        return _json(articles.list_articles(session))

    @app.get(
        "/api/articles/{article_id}", tags=["read"], summary="An article (citewatch citations ID --json)"
    )
    def api_article(
        article_id: Id, session: DB, top: Annotated[int, Query(ge=0, le=10_000)] = 10
    ) -> Response:
        return _json(
            articles.article_view(session, articles.require_article(session, str(article_id)), top=top)
        )

    @app.get("/api/snapshots", tags=["read"], summary="Captures of a URL (citewatch snapshots URL --json)")
    def api_snapshots(url: Annotated[str, Query(min_length=1)], session: DB) -> Response:
        return _json([index.snapshot_dict(s) for s in index.attempts(session, url)])

    @app.get(
        "/api/sources/{source_id}", tags=["read"], summary="A source: captures with replay links, changes"
    )
    def api_source(
        source_id: Id,
        request: Request,
        session: DB,
        before: Before = None,
        limit: TimelineLimit = TIMELINE_PAGE,
    ) -> Response:
        source = session.get(Source, source_id)
        if source is None:
            raise not_found(f"no source {source_id}")
        return _json(source_view(session, request.app.state.settings, source, before, limit))

    @app.get("/api/changes", tags=["read"], summary="The change log (citewatch changes --json)")
    def api_changes(
        request: Request, session: DB, f: Annotated[Filters, Depends(change_filters)]
    ) -> Response:
        rows = list_changes(session, f)
        data = [changelog.change_dict(c, url) for c, url in rows]
        more = f"/api/changes?{f.query(before=data[-1]['id'])}" if len(data) == f.limit else None
        headers = {"Link": f'<{more}>; rel="next"'} if more else None
        return _json({"changes": data, "next": more}, headers=headers)

    @app.get("/api/changes/{change_id}", tags=["read"], summary="A change: diff, replay links, claims")
    def api_change(change_id: Id, request: Request, session: DB) -> Response:
        change = session.get(Change, change_id)
        if change is None:
            raise not_found(f"no change {change_id}")
        return _json(change_view(session, request.app.state.settings, change))

    @app.get("/api/diff/{old_id}/{new_id}", tags=["read"], summary="Word diff (citewatch diff A B --json)")
    def api_diff(old_id: Id, new_id: Id, request: Request, session: DB, all: bool = False) -> Response:
        _snapshot_exists(session, old_id, new_id)
        warc_dir = request.app.state.settings.warc_dir
        view = changelog.load_diff(session, warc_dir, old_id, new_id)
        return _json(changelog.diff_dict(view, context=all))  # changed paragraphs, unless ?all=1

    @app.get("/api/jobs", tags=["write"], summary="Recent capture and add jobs")
    def api_jobs(request: Request) -> Response:
        return _json([j.as_dict() for j in request.app.state.jobs.all()])

    @app.get("/api/jobs/{job_id}", tags=["write"], summary="A capture or add job: poll until done or failed")
    def api_job(job_id: Annotated[str, PathParam(max_length=64)], request: Request) -> Response:
        job = request.app.state.jobs.get(job_id)
        if job is None:
            raise not_found(f"no job {job_id!r} (jobs are kept in memory, the newest 200)")
        return _json(job.as_dict())


def _snapshot_exists(session: Session, *ids: int) -> None:
    for snapshot_id in ids:
        if session.get(Snapshot, snapshot_id) is None:
            raise not_found(f"no snapshot {snapshot_id}")


def _start(request: Request, job: Job) -> Response:
    queue_job(request.app.state.jobs, job)
    return _json(job.as_dict(), 202, headers={"Location": f"/api/jobs/{job.id}"})


def queue_job(jobs: Jobs, job: Job) -> Job:
    """Start a background job, or a 429 when too many wait."""
    try:
        return jobs.start(job)
    except Busy as exc:
        raise HTTPException(429, str(exc)) from None


def _new_job(request: Request, kind: str, target: str, payload: dict[str, Any]) -> Job:
    return Job(uuid.uuid4().hex, kind, target, payload, _now(request))


def _api_write_routes(app: FastAPI) -> None:
    @app.post(
        "/api/captures", tags=["write"], status_code=202, dependencies=Write, summary="Capture a URL now"
    )
    def api_capture(body: CaptureRequest, request: Request) -> Response:
        from archive.urls import check_url

        url = check_url(body.url)
        return _start(request, _new_job(request, "capture", url, {"url": url, "browser": body.browser}))

    @app.post("/api/articles", tags=["write"], status_code=202, dependencies=Write, summary="Add an article")
    def api_add(body: AddRequest, request: Request) -> Response:
        return _start(request, _add_job(request, body))

    @app.post(
        "/api/track", tags=["write"], dependencies=Write, summary="Track a URL (citewatch track --json)"
    )
    def api_track(body: TrackRequest, request: Request, session: DB) -> Response:
        return _json(_track(session, request.app.state.settings, body, _now(request)))

    @app.post(
        "/api/check",
        tags=["write"],
        dependencies=Write,
        response_model=CheckAnswer,
        summary="Check tracked sources now (citewatch check --json)",
    )
    def api_check(body: CheckRequest, request: Request, session: DB) -> CheckAnswer:
        """Make the sources due now, for the running daemon's next dispatch
        (archive.schedule.queue.check_now)."""
        from archive.schedule import queue

        if (body.urls is None) == (body.article is None) or body.urls == []:
            raise HTTPException(400, "give urls (a list of source URLs), or an article")
        home = request.app.state.settings.home_path
        article = str(body.article) if body.article is not None else None
        data = queue.check_now(session, home, _now(request), urls=body.urls or (), article=article)
        return CheckAnswer.model_validate(data)


def _add_job(request: Request, body: AddRequest) -> Job:
    from archive.urls import check_url

    if (body.url is None) == (body.text is None):
        raise HTTPException(400, "give the article's url or its text, not both")
    if body.url is not None:
        url = check_url(body.url)
        return _new_job(request, "add", url, {"url": url, "resolve": body.resolve})
    if not body.text or not body.text.strip():
        raise HTTPException(400, "text is empty")
    return _new_job(
        request, "add", "pasted text", {"text": body.text, "format": body.format, "resolve": body.resolve}
    )


def _track(session: Session, settings: Settings, body: TrackRequest, now: datetime) -> Any:
    """What ``citewatch track --json`` does and prints (archive.schedule.checks), input checked first so
    that mistakes are a 400 or 404 saying so."""
    from archive.durations import parse_duration
    from archive.schedule import checks as schedule
    from archive.schedule.policy import policy_from
    from archive.urls import check_url

    if (body.url is None) == (body.article is None):
        raise HTTPException(400, "give one source url, or an article")
    try:
        every = parse_duration(body.every) if body.every is not None else None
    except ValueError as exc:
        raise HTTPException(400, f"every: {exc}") from None
    if body.article:
        urls = schedule.sources_of(session, str(articles.require_article(session, body.article).id))
    else:
        urls = [check_url(body.url or "")]
    data = schedule.track_sources(
        session,
        urls,
        now,
        every=every,
        paused=body.paused,
        policy=policy_from(settings),
        by_user=body.url is not None,
    )
    return data[0] if body.url is not None else data


# -- the HTML UI --------------------------------------------------------------------------


def _ui_routes(app: FastAPI) -> None:
    def page(request: Request, name: str, code: int = 200, **context: Any) -> HTMLResponse:
        rendered = request.app.state.pages.render(
            request, name, code, settings=request.app.state.settings, **context
        )
        return cast(HTMLResponse, rendered)  # app.state is untyped

    @app.get("/", include_in_schema=False)
    def home(request: Request, session: DB) -> Response:
        from archive.schedule.status import status

        latest = [changelog.change_dict(c, url) for c, url in changelog.list_changes(session, limit=10)]
        data = status(session, request.app.state.settings.warc_dir, _now(request))
        return page(request, "index.html", state=data, changes=latest)

    @app.get("/articles", include_in_schema=False)
    def ui_articles(request: Request, session: DB) -> Response:
        return page(request, "articles.html", rows=articles.list_articles(session))

    @app.get("/articles/{article_id}", include_in_schema=False)
    def ui_article(
        article_id: Id, request: Request, session: DB, top: Annotated[int, Query(ge=0, le=1000)] = 10
    ) -> Response:
        return page(
            request,
            "article.html",
            **article_page(session, articles.require_article(session, str(article_id)), top),
        )

    @app.get("/sources/{source_id}", include_in_schema=False)
    def ui_source(source_id: Id, request: Request, session: DB, before: Before = None) -> Response:
        source = session.get(Source, source_id)
        if source is None:
            raise not_found(f"no source {source_id}")
        data = source_view(session, request.app.state.settings, source, before)
        by_new = {c["new_snapshot_id"]: c for c in data["changes"]}
        return page(request, "source.html", **data, change_at=by_new)

    @app.get("/changes", include_in_schema=False)
    def ui_changes(request: Request, session: DB, f: Annotated[Filters, Depends(change_filters)]) -> Response:
        rows = [changelog.change_dict(c, url) for c, url in list_changes(session, f)]
        more = f.query(before=rows[-1]["id"]) if len(rows) == f.limit else None
        return page(request, "changes.html", rows=rows, f=f, more=more, kinds=KINDS)

    @app.get("/changes/{change_id}", include_in_schema=False)
    def ui_change(change_id: Id, request: Request, session: DB, all: bool = False) -> Response:
        change = session.get(Change, change_id)
        if change is None:
            raise not_found(f"no change {change_id}")
        data = change_view(session, request.app.state.settings, change)
        return page(request, "change.html", **data, show_all=all, split=_split)

    @app.get("/diff/{old_id}/{new_id}", include_in_schema=False)
    def ui_diff(old_id: Id, new_id: Id, request: Request, session: DB, all: bool = False) -> Response:
        _snapshot_exists(session, old_id, new_id)
        settings = request.app.state.settings
        view = changelog.load_diff(session, settings.warc_dir, old_id, new_id)
        old, new = view.old.snapshot, view.new.snapshot
        data: dict[str, Any] = {
            "change": None,
            "before": {**index.snapshot_dict(old), "links": _replay(settings, old)},
            "after": {**index.snapshot_dict(new), "links": _replay(settings, new)},
            "diff": changelog.diff_dict(view),
            "no_diff": None,
        }
        return page(request, "change.html", **data, show_all=all, split=_split)

    @app.get(
        "/changes.atom",
        tags=["read"],
        response_class=AtomResponse,
        responses={200: {"description": "An Atom feed, newest change first"}},
        summary="Atom feed of the change log",
    )
    def feed(request: Request, session: DB, f: Annotated[Filters, Depends(change_filters)]) -> Response:
        rows = list_changes(session, f)
        title = "citewatch: changes" + (f" of article {f.article}" if f.article else "")
        feed_id = "urn:citewatch:changes" + (f":article:{f.article}" if f.article else "")
        body = changelog.atom_feed(
            rows,
            title=title,
            feed_id=feed_id,
            public_url=request.app.state.settings.effective_public_url,
            titles=changelog.titles_of(session, rows),
            link=str(request.url),
        )
        return AtomResponse(body)

    @app.get(
        "/articles/{article_id}/changes.atom",
        tags=["read"],
        response_class=AtomResponse,
        responses={200: {"description": "An Atom feed, newest change first"}},
        summary="Atom feed of an article's sources",
    )
    def article_feed(article_id: Id, request: Request, session: DB) -> Response:
        articles.require_article(session, str(article_id))
        f = Filters(article=str(article_id))
        rows = list_changes(session, f)
        body = changelog.atom_feed(
            rows,
            title=f"citewatch: changes to what article {article_id} cites",
            feed_id=f"urn:citewatch:changes:article:{article_id}",
            public_url=request.app.state.settings.effective_public_url,
            titles=changelog.titles_of(session, rows),
            link=str(request.url),
        )
        return AtomResponse(body)

    @app.get("/status", include_in_schema=False)
    def ui_status(request: Request, session: DB) -> Response:
        from archive.schedule.status import status

        return page(
            request, "status.html", state=status(session, request.app.state.settings.warc_dir, _now(request))
        )

    _login_routes(app, page)
    _form_routes(app, page)


def _form_routes(app: FastAPI, page: Callable[..., HTMLResponse]) -> None:
    """The UI's write forms (logged in, CSRF-checked, post/redirect/get). Adds and captures run
    as background jobs, followed on /jobs/ID; the rest answer at once."""

    @app.post("/articles/add", include_in_schema=False)
    async def form_add(request: Request) -> Response:
        def add(form: dict[str, str]) -> tuple[str, str]:
            job = queue_job(request.app.state.jobs, _add_job(request, _add_request(form)))
            return f"/jobs/{job.id}", f"adding {job.target}: this page shows how it goes"

        return await act(request, "/articles", add)

    @app.post("/sources/track", include_in_schema=False)
    async def form_track(request: Request, session: DB) -> Response:
        def track(form: dict[str, str]) -> tuple[str, str]:
            body = TrackRequest(url=form.get("url", "").strip(), every=form.get("every", "").strip() or None)
            data = _track(session, request.app.state.settings, body, _now(request))
            return f"/sources/{data['source_id']}", f"tracking {data['url']}: {_schedule_words(data)}"

        return await act(request, "/articles", track)

    @app.post("/sources/{source_id}/{action}", include_in_schema=False)
    async def form_source(source_id: Id, action: SourceAction, request: Request, session: DB) -> Response:
        return await act(
            request, f"/sources/{source_id}", lambda form: _source_action(request, session, source_id, action)
        )

    @app.post("/articles/{article_id}/check", include_in_schema=False)
    async def form_check_article(article_id: Id, request: Request, session: DB) -> Response:
        def check(form: dict[str, str]) -> tuple[str, str]:
            home = request.app.state.settings.home_path
            data = check_sources(session, home, _now(request), article=str(article_id))
            return f"/articles/{article_id}", _checked_words(data)

        return await act(request, f"/articles/{article_id}", check)

    @app.get("/articles/{article_id}/remove", include_in_schema=False)
    def ui_remove(article_id: Id, request: Request, session: DB) -> Response:
        article = articles.require_article(session, str(article_id))
        view = articles.article_view(session, article, top=0)
        return page(request, "remove.html", view=view, effect=removal_preview(session, article))

    @app.post("/articles/{article_id}/remove", include_in_schema=False)
    async def form_remove(article_id: Id, request: Request, session: DB) -> Response:
        def remove(form: dict[str, str]) -> tuple[str, str]:
            if form.get("confirm") != "yes":
                raise HTTPException(400, "confirm the removal on its page first")
            article = articles.require_article(session, str(article_id))
            summary = articles.remove_article(session, article, _now(request))
            session.commit()
            return "/articles", _removed_words(summary)

        return await act(request, f"/articles/{article_id}/remove", remove)

    @app.get("/jobs/{job_id}", include_in_schema=False)
    def ui_job(job_id: Annotated[str, PathParam(max_length=64)], request: Request) -> Response:
        job = request.app.state.jobs.get(job_id)
        if job is None:
            raise not_found(f"no job {job_id!r} (jobs are kept in memory, the newest 200)")
        return page(request, "job.html", job=job.as_dict())


SourceAction = Literal["pause", "resume", "track", "check", "capture", "untrack"]


def check_sources(session: Session, home: Path, now: datetime, **which: Any) -> dict[str, Any]:
    """``citewatch check``: the named tracked sources due now, for the daemon (archive.schedule.queue)."""
    from archive.schedule.queue import check_now

    return check_now(session, home, now, **which)


def _add_request(form: Mapping[str, str]) -> AddRequest:
    url, text = form.get("url", "").strip(), form.get("text", "")
    if not url and not text.strip():
        raise HTTPException(400, "give the article's URL, or paste its text")
    kind = form.get("format", "") or None
    if kind not in (None, "text", "markdown", "html"):
        raise HTTPException(400, f"unknown format {kind!r}: text, markdown or html")
    return AddRequest(
        url=url or None, text=text if text.strip() else None, format=kind, resolve="resolve" in form
    )


def _source_action(request: Request, session: Session, source_id: int, action: str) -> tuple[str, str]:
    """One source form's action: where to go next and what happened, in one line."""
    settings, jobs = request.app.state.settings, request.app.state.jobs
    source = session.get(Source, source_id)
    if source is None:
        raise not_found(f"no source {source_id}")
    url, back = source.url, f"/sources/{source_id}"
    if action == "capture":
        job = queue_job(jobs, _new_job(request, "capture", url, {"url": url}))
        return f"/jobs/{job.id}", f"capturing {url}: this page shows how it goes"
    if action == "check":
        return back, _checked_words(check_sources(session, settings.home_path, _now(request), urls=[url]))
    if action == "untrack":
        articles.untrack_sources(session, [source_id], _now(request))
        session.commit()
        return back, f"no longer checked: {url} (its captures stay; Track again starts checking it again)"
    paused = {"pause": True, "resume": False}.get(action)
    data = _track(session, settings, TrackRequest(url=url, paused=paused), _now(request))
    if action == "pause":
        return back, f"paused {url}: no checks until you resume it"
    return back, f"tracking {url}: {_schedule_words(data)}"


def _schedule_words(data: Mapping[str, Any]) -> str:
    if data.get("paused"):
        return "paused"
    return f"next check {_when(data['next_check_at'])}" if data.get("next_check_at") else "not scheduled"


def _checked_words(data: Mapping[str, Any]) -> str:
    """What ``check now`` did, in one line (as ``citewatch check`` says it)."""
    sources, skipped = data["sources"], len(data["not_tracked"])
    untracked = f"{skipped} not tracked, not checked" if skipped else ""
    if not sources:
        return "no tracked source to check" + (f" ({untracked})" if untracked else "")
    flying = sum(1 for s in sources if s["in_flight"])
    words = f"{_counted(len(sources), 'source')} due now"
    words += f" ({flying} being checked already)" if flying else ""
    words += f"; {untracked}" if untracked else ""
    if data["daemon"]["running"]:
        return words + f": the daemon ({data['daemon']['holder']}) takes them at its next dispatch"
    return words + ": no daemon is running to check them: run `citewatch daemon`, or capture now"


def _removed_words(summary: Mapping[str, Any]) -> str:
    words = (
        f"removed article {summary['article_id']} ({summary['title'] or 'no title'}): "
        f"{_counted(summary['claims'], 'claim')}, {_counted(summary['citations'], 'citation')}"
    )
    if summary["untracked"]:
        n = len(summary["untracked"])
        verb = "is" if n == 1 else "are"
        words += f"; {_counted(n, 'source')} no other article cites {verb} no longer checked"
    return words + "; captures are kept"


def _counted(n: int, noun: str) -> str:
    """``1 claim``, ``2 claims``."""
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _login_routes(app: FastAPI, page: Callable[..., HTMLResponse]) -> None:
    @app.get("/login", include_in_schema=False)
    def login_form(request: Request, next: str = "/") -> Response:
        return page(request, "login.html", next=_local(next), wrong=False)

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        # A urlencoded form, read by hand: python-multipart is not needed for one field.
        form = parse_qs((await request.body())[:10_000].decode("utf-8", "replace"))
        given, target = (form.get("token") or [""])[0], _local((form.get("next") or ["/"])[0])
        if not _token_matches(given, request.app.state.settings.api_token):
            return page(request, "login.html", 401, next=target, wrong=True)
        response = RedirectResponse(target, status_code=303)
        _set_cookie(response, request, COOKIE, given)
        _set_cookie(response, request, SESSION, secrets.token_urlsafe(32))  # a new one each login
        return response

    @app.post("/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        if logged_in(request, request.app.state.settings):
            await checked_form(request)  # a logged-in browser logs out by its own form only
        response = RedirectResponse("/login", status_code=303)
        for name in (COOKIE, SESSION, FLASH):
            response.delete_cookie(name, path="/", httponly=True, samesite="strict")
        return response


def _local(target: str) -> str:
    """A redirect target on this site only (never ``//evil.example`` or ``https://...``)."""
    return target if target.startswith("/") and not target.startswith(("//", "/\\")) else "/"


# -- running it -----------------------------------------------------------------------------


def server(
    settings: Settings, runner: JobRunner | None = None, clock: Clock = utcnow
) -> tuple[Any, socket.socket, str]:
    """A uvicorn server of the app (its jobs run by ``runner``, its time told by ``clock``), the
    socket it is to serve (listening on serve_address:serve_port already, or a one-line error)
    and its URL; ``serve`` runs it, the daemon runs it in a thread."""
    import uvicorn

    sock = listen(settings.serve_address, settings.serve_port, "serve_port")
    config = uvicorn.Config(
        create_app(settings, runner=runner, clock=clock),
        log_config=None,
        access_log=False,
        lifespan="on",
        server_header=False,
    )
    host, port = sock.getsockname()[:2]
    return uvicorn.Server(config), sock, http_url(host, port)


def serve(settings: Settings, on_ready: Any = None, runner: JobRunner | None = None) -> None:
    """Run the app under uvicorn on serve_address:serve_port until SIGINT or SIGTERM."""
    running, sock, url = server(settings, runner)
    if on_ready is not None:
        on_ready(url)
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again: here that is a
    # clean stop (exit 0), as the daemon's is.
    previous = signal.signal(signal.SIGTERM, _stopped)
    try:
        with sock:
            running.run(sockets=[sock])
    finally:
        signal.signal(signal.SIGTERM, previous)


def _stopped(signum: int, frame: Any) -> None:
    raise SystemExit(0)
