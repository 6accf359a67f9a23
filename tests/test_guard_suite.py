"""The address guard, held against every spelling of one loopback canary.

A canary listens on 127.0.0.1 (TCP, and UDP) and on [::1] (TCP, same port). With the guard on,
citewatch is sent at it in every spelling a URL parser or resolver accepts (decimal, octal, hex,
short forms, IPv4-mapped and 6to4 IPv6, local names, a host name that /etc/hosts maps to
127.0.0.1, ...): as a URL to capture, as a redirect's target, and in the browser from a page
whose script fetches it, loads it as an image and an iframe, opens WebSockets and
RTCPeerConnections (STUN and TURN) and a WebTransport session. Every capture must end
``blocked`` (a few spellings no parser takes end ``bad-url`` or ``dns``), and the canary must
receive nothing: no TCP connection, no datagram.

Each way in is one ``citewatch capture`` run of many URLs, started together at module set-up;
the tests assert over their results, one test per spelling and way. Under pytest-xdist the
runs happen once, in whichever worker gets there first, and the others read their results.

Two ways to a page the guard allows, both tried:

- ``site``: 127.0.0.2 stands in for a public web site. The subprocess gets a ``sitecustomize``
  that lets exactly that address past ``crawler.netguard.forbidden_reason``; every other check
  is citewatch's own. Browser captures then go through citewatch's guard proxy.
- ``proxy``: the user's own proxy (``HTTP_PROXY``, a test server that serves made-up hosts
  such as outlet.test and forwards everything else, as a real proxy would), with
  ``NO_PROXY=localhost,127.0.0.1,<this host's name>`` as many machines have it.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import html
import json
import re
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from archive.errors import BadURLError
from archive.urls import check_url
from tests import webserver as ws
from tests.conftest import Home, _base_env, loopback_name, run_once, warcio_check
from tests.warcs import read_records

SITE_ADDRESS = "127.0.0.2"
GUARD_ON = {
    "CITEWATCH_ALLOW_PRIVATE_NETWORKS": "0",
    "CITEWATCH_TIMEOUT": "5",
    "CITEWATCH_RETRIES": "0",
    "CITEWATCH_HOST_CONCURRENCY": "8",
    "CITEWATCH_AUTO_BROWSER": "0",
}
_SEAM = f'''"""tests/test_guard_suite.py: {SITE_ADDRESS} stands in for a public web site."""
import crawler.netguard as _netguard

_forbidden_reason = _netguard.forbidden_reason


def _site_allowed(address):
    return None if address == "{SITE_ADDRESS}" else _forbidden_reason(address)


_netguard.forbidden_reason = _site_allowed
'''


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


HOST_NAME = loopback_name()
IPV6 = _ipv6_loopback()


@dataclass(frozen=True)
class Spelling:
    """One way to write the canary's address in a URL; ``{port}`` and ``{path}`` filled in."""

    id: str
    template: str
    # Unguarded, a fetch of it lands on the canary (on Linux): the control run checks this.
    reaches: bool = True
    # What else than ``blocked`` a capture may end in: no parser or resolver takes it for an address.
    also: frozenset[str] = frozenset()
    ipv6: bool = False
    # What else through the user's proxy, which resolves the names: its own answer when it cannot.
    proxied_also: frozenset[str] = frozenset()

    def url(self, port: int, path: str, scheme: str = "http") -> str:
        return scheme + self.template.format(port=port, path=path).removeprefix("http")


def _spellings() -> list[Spelling]:
    s = [
        Spelling("plain", "http://127.0.0.1:{port}{path}"),
        Spelling("decimal", "http://2130706433:{port}{path}"),
        Spelling("octal", "http://0177.0.0.1:{port}{path}"),
        Spelling("octal-whole", "http://017700000001:{port}{path}"),
        Spelling("hex-dotted", "http://0x7f.0.0.1:{port}{path}"),
        Spelling("hex", "http://0x7f000001:{port}{path}"),
        Spelling("hex-upper", "http://0X7F000001:{port}{path}"),
        Spelling("hex-short", "http://0x7f.1:{port}{path}"),
        Spelling("short-two", "http://127.1:{port}{path}"),
        Spelling("short-three", "http://127.0.1:{port}{path}"),
        Spelling("zero-padded", "http://127.000.000.001:{port}{path}"),
        # Twisted's resolver finds no address for it; Chromium reads it as 127.0.0.1.
        Spelling("trailing-dot", "http://127.0.0.1.:{port}{path}", reaches=False),
        Spelling("port-zeros", "http://127.0.0.1:000{port}{path}"),
        Spelling("zero", "http://0:{port}{path}"),
        Spelling("unspecified", "http://0.0.0.0:{port}{path}"),
        Spelling("ipv6", "http://[::1]:{port}{path}", ipv6=True),
        Spelling("ipv6-long", "http://[0:0:0:0:0:0:0:1]:{port}{path}", ipv6=True),
        Spelling("ipv6-unspecified", "http://[::]:{port}{path}", ipv6=True),
        # Chromium will not follow a redirect to it (ERR_INVALID_REDIRECT): bad-redirect.
        Spelling(
            "ipv6-zone",
            "http://[::1%25lo]:{port}{path}",
            reaches=False,
            also=frozenset({"bad-url", "bad-redirect"}),
        ),
        Spelling("mapped", "http://[::ffff:127.0.0.1]:{port}{path}"),
        Spelling("mapped-hex", "http://[::ffff:7f00:1]:{port}{path}"),
        Spelling("mapped-long", "http://[0:0:0:0:0:ffff:127.0.0.1]:{port}{path}"),
        Spelling("6to4", "http://[2002:7f00:1::]:{port}{path}", reaches=False),
        Spelling("ipv4-compatible", "http://[::127.0.0.1]:{port}{path}", reaches=False),
        Spelling("nat64", "http://[64:ff9b::127.0.0.1]:{port}{path}", reaches=False),
        Spelling("teredo", "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]:{port}{path}", reaches=False),
        Spelling("localhost", "http://localhost:{port}{path}"),
        Spelling("localhost-dot", "http://localhost.:{port}{path}", reaches=False),
        Spelling("localhost-upper", "http://LOCALHOST:{port}{path}"),
        Spelling("sub-localhost", "http://foo.localhost:{port}{path}", reaches=False),
        Spelling("localdomain", "http://localhost.localdomain:{port}{path}", reaches=False),
        Spelling(
            "percent", "http://%31%32%37.0.0.1:{port}{path}", reaches=False, also=frozenset({"bad-url"})
        ),
        Spelling("ideographic-dots", "http://127\u30020\u30020\u30021:{port}{path}"),
        Spelling("fullwidth-dots", "http://127\uff0e0\uff0e0\uff0e1:{port}{path}"),
        Spelling("fullwidth-digits", "http://\uff11\uff12\uff17.\uff10.\uff10.\uff11:{port}{path}"),
        # Unguarded, Scrapy gives Twisted the user-info as part of the host (outcome error); Chromium
        # connects to 127.0.0.1.
        Spelling("userinfo", "http://example.org@127.0.0.1:{port}{path}", reaches=False),
        Spelling("userinfo-port", "http://example.org:80@127.0.0.1:{port}{path}", reaches=False),
        Spelling("fragment-at", "http://127.0.0.1:{port}{path}#@example.org/"),
        # HTTPS: Chromium asks the guard proxy for a tunnel (CONNECT). Unguarded the canary hears a
        # TLS hello, no request line: the control does not look for it.
        Spelling("https", "https://127.0.0.1:{port}{path}", reaches=False),
    ]
    if HOST_NAME:
        s.append(Spelling("host-name", f"http://{HOST_NAME}:{{port}}{{path}}"))
        # The resolver here answers nothing for the name with a trailing dot: no address, no
        # connection; NO_PROXY names the host without it, so the user's proxy is asked, and the
        # test's proxy (this resolver too) answers 502.
        s.append(
            Spelling(
                "host-name-dot",
                f"http://{HOST_NAME}.:{{port}}{{path}}",
                reaches=False,
                also=frozenset({"dns"}),
                proxied_also=frozenset({"http-5xx"}),
            )
        )
    return [x for x in s if IPV6 or not x.ipv6]


SPELLINGS = _spellings()
BY_ID = {s.id: s for s in SPELLINGS}
SPELLING_PARAMS = [pytest.param(s, id=s.id) for s in SPELLINGS]
if HOST_NAME is None:
    SPELLING_PARAMS.append(
        pytest.param(
            None,
            id="host-name",
            marks=pytest.mark.skip(reason="this machine's host name does not resolve to a loopback address"),
        )
    )


TOKEN = b"canary-answer-5d1c9e"  # what the canary answers: in no record may it appear


class Canary:
    """Listeners that must hear nothing: TCP on 127.0.0.1 and [::1] (one port), UDP on 127.0.0.1.

    Each TCP connection is kept with the first line it sent (its request line, for HTTP)."""

    def __init__(self) -> None:
        self.connections: list[str] = []
        self.datagrams: list[bytes] = []
        self.tcp = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.port = self.tcp.getsockname()[1]
        self.sockets = [self.tcp]
        if IPV6:
            self.sockets.append(socket.create_server(("::1", self.port), family=socket.AF_INET6, backlog=64))
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.udp_port = self.udp.getsockname()[1]
        self.lock = threading.Lock()
        for sock in self.sockets:
            threading.Thread(target=self._accept, args=(sock,), daemon=True).start()
        threading.Thread(target=self._receive, daemon=True).start()

    def _accept(self, sock: socket.socket) -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(2)
            try:
                first = conn.recv(4096).split(b"\r\n", 1)[0].decode("latin-1")
            except OSError:
                first = ""
            with self.lock:
                self.connections.append(first)
            with contextlib.suppress(OSError):
                head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(TOKEN)}\r\nConnection: close\r\n\r\n"
                conn.sendall(head.encode() + TOKEN)

    def _receive(self) -> None:
        while True:
            try:
                data, _ = self.udp.recvfrom(4096)
            except OSError:
                return
            with self.lock:
                self.datagrams.append(data)

    def heard(self) -> dict[str, Any]:
        time.sleep(1.0)  # anything still in flight after the capture
        with self.lock:
            return {"tcp": list(self.connections), "udp": len(self.datagrams)}

    def close(self) -> None:
        for sock in [*self.sockets, self.udp]:
            sock.close()


def _redirect_raw(location: str) -> ws.Route:
    """A 302 whose Location is sent as UTF-8 bytes (unicode-dotted hosts; not Latin-1)."""

    def route(h: ws.Handler) -> None:
        h.wfile.write(
            b"HTTP/1.1 302 Found\r\nLocation: " + location.encode("utf-8") + b"\r\n"
            b"Content-Length: 0\r\nConnection: close\r\n\r\n"
        )
        h.close_connection = True

    return route


def _forward(h: ws.Handler) -> None:
    """As a proxy does for a host it does not serve itself: fetch the URL and relay the answer."""
    if "://" not in h.path:
        h.send_body(404, b"not found", "text/plain")
        return
    parts = urlsplit(h.path)
    data = b""
    try:
        with socket.create_connection((parts.hostname or "", parts.port or 80), timeout=3) as up:
            up.sendall(f"GET {parts.path or '/'} HTTP/1.0\r\nHost: {parts.netloc}\r\n\r\n".encode())
            while chunk := up.recv(65536):
                data += chunk
    except (OSError, UnicodeError):
        pass
    if not data:
        h.send_body(502, b"nothing from upstream", "text/plain")
        return
    h.wfile.write(data)
    h.close_connection = True


HOWS = ("fetch", "img", "iframe")  # the page calls probe_<how>(url)


# What the probe page's calls do; each logs what got through into the page, for the DOM record.
_PROBE_FUNCTIONS = """
const log = t => { document.getElementById('log').textContent += t + '\\n'; };
function probe_fetch(u) {
  fetch(u, {mode: 'no-cors'}).then(() => log('fetch answered ' + u), () => log('fetch failed ' + u));
}
function probe_img(u) {
  const i = new Image(); i.onload = () => log('img loaded ' + u); i.src = u; document.body.appendChild(i);
}
function probe_iframe(u) {
  const f = document.createElement('iframe'); f.src = u; document.body.appendChild(f);
}
function probe_socket(u) {
  try { new WebSocket(u).onopen = () => log('websocket open ' + u); } catch (e) { log('no websocket ' + u); }
}
function probe_rtc(servers) {
  try {
    const pc = new RTCPeerConnection({iceServers: servers});
    pc.createDataChannel('x');
    pc.createOffer().then(o => pc.setLocalDescription(o));
    pc.onicecandidate = e => log('candidate ' + (e.candidate ? e.candidate.candidate : 'end'));
  } catch (e) { log('no rtc ' + e); }
}
function probe_webtransport(u) {  // QUIC: UDP
  if (!window.WebTransport) return log('no webtransport');
  try { new WebTransport(u).ready.then(() => log('webtransport open'), () => {}); } catch (e) {}
}
function probe_worker(u) {  // a service worker's fetches bypass Playwright's request interception
  if (!navigator.serviceWorker) return log('no service worker');
  navigator.serviceWorker.register(u).then(() => log('worker registered'), () => log('worker refused'));
}
"""


def _probe_page(base: str, canary: Canary) -> bytes:
    """A page whose script sends the browser at the canary every way a page can."""
    port, udp = canary.port, canary.udp_port
    calls = []
    for s in SPELLINGS:
        for how in HOWS:
            calls.append(f"probe_{how}({json.dumps(s.url(port, f'/{s.id}/{how}'))});")
            calls.append(f"probe_{how}({json.dumps(f'{base}/r/{s.id}/{how}-redirect')});")
        calls.append(f"probe_socket({json.dumps(s.url(port, f'/{s.id}/websocket', 'ws'))});")
    ice = [
        {"urls": f"stun:127.0.0.1:{udp}"},
        {"urls": f"stun:localhost:{udp}"},
        {"urls": f"turn:127.0.0.1:{udp}", "username": "u", "credential": "p"},
        {"urls": f"turn:127.0.0.1:{port}?transport=tcp", "username": "u", "credential": "p"},
    ]
    calls += [
        f"probe_rtc({json.dumps(ice)});",
        f"probe_webtransport('https://127.0.0.1:{udp}/webtransport');",
        "probe_worker('/sw.js');",
        f"navigator.sendBeacon('http://127.0.0.1:{port}/beacon/beacon', 'x');",
        # (closed on its first error: an EventSource retries for ever, and the page never settles)
        f"const events = new EventSource('http://127.0.0.1:{port}/events/events');",
        "events.onerror = () => events.close();",
        "log('probes sent');",
    ]
    head = (
        f"<link rel='dns-prefetch' href='//{HOST_NAME or 'localhost'}'>"
        f"<link rel='preconnect' href='http://127.0.0.1:{port}'>"
        f"<link rel='prefetch' href='http://127.0.0.1:{port}/prefetch/prefetch'>"
    )
    script = _PROBE_FUNCTIONS + "\n".join(calls)
    body = "<p>A page that sends the browser at a canary every way it can.</p><pre id='log'></pre>"
    return ws.page_html("Probe", body + f"<script>{script}</script>", head)


def _route_site(server: ws.TestServer, base: str, canary: Canary, prefix: str) -> None:
    """Redirects to each spelling, the probe page and a service worker, under ``prefix``."""
    for s in SPELLINGS:
        for how in ("redirect", *(f"{h}-redirect" for h in HOWS)):
            server.route(f"{prefix}/r/{s.id}/{how}", _redirect_raw(s.url(canary.port, f"/{s.id}/{how}")))
    server.route(f"{prefix}/probe", ws.static(_probe_page(base, canary)))
    worker = f"self.addEventListener('install', () => fetch('http://127.0.0.1:{canary.port}/worker/worker'));"
    server.route(f"{prefix}/sw.js", ws.static(worker.encode(), "application/javascript"))


@dataclass
class Batch:
    name: str
    browser: bool
    guard: bool
    via: str  # "site" (127.0.0.2 allowed by the seam) or "proxy" (HTTP_PROXY, NO_PROXY)
    direct: bool  # capture each spelling itself, too
    redirects: bool  # capture a redirect to each spelling
    probe: bool  # capture the probe page


BATCHES = [
    Batch("control", browser=False, guard=False, via="site", direct=True, redirects=False, probe=False),
    Batch("http", browser=False, guard=True, via="site", direct=True, redirects=True, probe=False),
    Batch("http-proxy", browser=False, guard=True, via="proxy", direct=False, redirects=True, probe=False),
    Batch("browser", browser=True, guard=True, via="site", direct=True, redirects=True, probe=True),
    Batch("browser-proxy", browser=True, guard=True, via="proxy", direct=True, redirects=True, probe=True),
]


def _keys(raw: str) -> list[str]:
    """The URL a capture reports for ``raw``: as given when refused, else normalised."""
    try:
        return [check_url(raw), raw]
    except BadURLError:
        return [raw]


def _run_batch(batch: Batch, path: Path, seam: Path) -> dict[str, Any]:
    home = Home(path, _base_env(path))
    canary = Canary()
    env = {**GUARD_ON, "CITEWATCH_ALLOW_PRIVATE_NETWORKS": "0" if batch.guard else "1"}
    if batch.browser:  # the probe page loads a few hundred refused subresources
        env["CITEWATCH_TIMEOUT"] = "30"
    with contextlib.ExitStack() as stack:
        if batch.via == "site":
            server = stack.enter_context(ws.TestServer(SITE_ADDRESS))
            base, prefix = f"http://{SITE_ADDRESS}:{server.port}", ""
            env["PYTHONPATH"] = f"{seam}:{home.env['PYTHONPATH']}"
        else:
            server = stack.enter_context(ws.TestServer())
            server.route("*", _forward)
            base = prefix = "http://outlet.test"
            env["HTTP_PROXY"] = server.url("")
            env["NO_PROXY"] = ",".join(["localhost", "127.0.0.1", *([HOST_NAME] if HOST_NAME else [])])
        _route_site(server, base, canary, prefix)
        wanted: dict[str, str] = {}  # what it is -> URL given
        if batch.probe:  # first: it loads a few hundred subresources, before the other pages compete
            wanted["probe"] = f"{base}/probe"
        for s in SPELLINGS:
            if batch.direct:
                wanted[f"direct/{s.id}"] = s.url(canary.port, f"/{s.id}/direct")
            if batch.redirects:
                wanted[f"redirect/{s.id}"] = f"{base}/r/{s.id}/redirect"
        args = ["capture", "--json", "--no-requisites", *(["--browser"] if batch.browser else [])]
        started = time.monotonic()
        proc = home.run(*args, *wanted.values(), env=env, timeout=240)
        seconds = time.monotonic() - started
        heard = canary.heard()
        seen = [s.path for s in server.state.seen]
    canary.close()
    try:
        by_url = {r["url"]: r for r in json.loads(proc.stdout)}
    except ValueError:
        by_url = {}
    results = {
        what: next((by_url[k] for k in _keys(raw) if k in by_url), None) for what, raw in wanted.items()
    }
    warcs = home.warcs()
    try:
        warcio_check(warcs)
        warc_problem = None
    except AssertionError as exc:
        warc_problem = str(exc)
    records = [
        {
            "type": r.type,
            "uri": r.uri,
            "payload": r.payload.decode("utf-8", "replace") if "dom" in r.uri else "",
            "canary": TOKEN in r.payload,
        }
        for r in read_records(warcs)
    ]
    return {
        "via": batch.via,
        "port": canary.port,
        "returncode": proc.returncode,
        "stderr": proc.stderr,
        "seconds": round(seconds, 1),
        "results": results,
        "heard": heard,
        "seen": seen,
        "records": records,
        "warc_problem": warc_problem,
    }


def _run_all(root: Path) -> dict[str, Any]:
    seam = root / "seam"
    seam.mkdir(parents=True, exist_ok=True)
    (seam / "sitecustomize.py").write_text(_SEAM)
    with concurrent.futures.ThreadPoolExecutor(len(BATCHES)) as pool:
        futures = {b.name: pool.submit(_run_batch, b, root / b.name / "home", seam) for b in BATCHES}
        return {name: future.result() for name, future in futures.items()}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> dict[str, Any]:
    """Every batch's results, once per session (the xdist workers share them)."""
    return run_once(tmp_path_factory, worker_id, "guard-suite", _run_all)


def _requests_for(run: dict[str, Any], what: str) -> list[str]:
    return [line for line in run["heard"]["tcp"] if f" /{what}/" in line]


def _check_refused(run: dict[str, Any], what: str, spelling: Spelling) -> None:
    result = run["results"][what]
    assert result is not None, f"no result for {what}; stderr:\n{run['stderr'][-2000:]}"
    allowed = {"blocked"} | spelling.also | (spelling.proxied_also if run["via"] == "proxy" else set())
    assert result["outcome"] in allowed, result
    assert "\n" not in result["message"] and result["message"], result
    if result["outcome"] == "blocked":
        assert result["message"].startswith("blocked: ") and "allow_private_networks" in result["message"]
    assert _requests_for(run, spelling.id) == [], f"the canary heard {spelling.url(run['port'], '')}"


# -- control: the spellings are the canary's ---------------------------------------------


@pytest.mark.parametrize(
    "spelling", [p for p in SPELLING_PARAMS if p.values[0] is None or p.values[0].reaches]
)
def test_unguarded_each_spelling_reaches_the_canary(runs: dict[str, Any], spelling: Spelling) -> None:
    """With the guard off the same URLs land on the canary: the guarded runs are no empty passes."""
    assert _requests_for(runs["control"], spelling.id), runs["control"]["results"][f"direct/{spelling.id}"]


# -- HTTP captures -------------------------------------------------------------------


@pytest.mark.parametrize("spelling", SPELLING_PARAMS)
def test_http_capture_of_a_spelling_is_blocked(runs: dict[str, Any], spelling: Spelling) -> None:
    _check_refused(runs["http"], f"direct/{spelling.id}", spelling)


@pytest.mark.parametrize("spelling", SPELLING_PARAMS)
@pytest.mark.parametrize("batch", ["http", "http-proxy"])
def test_http_redirect_to_a_spelling_is_blocked(runs: dict[str, Any], batch: str, spelling: Spelling) -> None:
    _check_refused(runs[batch], f"redirect/{spelling.id}", spelling)


# -- browser captures ------------------------------------------------------------------

BROWSER_BATCHES = ["browser", "browser-proxy"]


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("spelling", SPELLING_PARAMS)
@pytest.mark.parametrize("way", ["direct", "redirect"])
@pytest.mark.parametrize("batch", BROWSER_BATCHES)
def test_browser_capture_of_a_spelling_or_a_redirect_to_it_is_blocked(
    runs: dict[str, Any], batch: str, way: str, spelling: Spelling
) -> None:
    _check_refused(runs[batch], f"{way}/{spelling.id}", spelling)


def _dom(run: dict[str, Any], url_end: str) -> str:
    doms = [
        r["payload"] for r in run["records"] if r["uri"].startswith("urn:dom:") and r["uri"].endswith(url_end)
    ]
    return doms[-1] if doms else ""


def _log(run: dict[str, Any]) -> str:
    """What the probe page's script wrote into its <pre id="log"> (not the script's own text)."""
    found = re.search(r"<pre id=.log.>(.*?)</pre>", _dom(run, "/probe"), re.S)
    return html.unescape(found.group(1)) if found else ""


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("batch", BROWSER_BATCHES)
def test_the_probe_page_is_archived_and_its_script_ran(runs: dict[str, Any], batch: str) -> None:
    run = runs[batch]
    probe = run["results"]["probe"]
    assert probe["outcome"] == "ok", f"{probe['outcome']}: {probe['message']}"
    assert "probes sent" in _log(run), "the page's script did not run: the probes prove nothing"
    # The page's requests did go out (through the guard): each redirect was asked for.
    for s in SPELLINGS:
        for how in HOWS:
            assert any(p.endswith(f"/r/{s.id}/{how}-redirect") for p in run["seen"]), (s.id, how)


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("spelling", SPELLING_PARAMS)
@pytest.mark.parametrize("batch", BROWSER_BATCHES)
def test_a_page_cannot_reach_a_spelling(runs: dict[str, Any], batch: str, spelling: Spelling) -> None:
    """fetch(), <img>, <iframe> and a WebSocket to the spelling, and each of the first three via a
    redirect from the page's own site: refused, so the canary hears none of them."""
    run = runs[batch]
    assert _requests_for(run, spelling.id) == []
    log = _log(run)
    assert f"websocket open {spelling.url(run['port'], f'/{spelling.id}/websocket', 'ws')}" not in log
    assert f"img loaded {spelling.url(run['port'], f'/{spelling.id}/img')}" not in log


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("batch", BROWSER_BATCHES)
def test_a_page_sends_no_udp_and_opens_no_side_channel(runs: dict[str, Any], batch: str) -> None:
    """STUN and TURN (UDP and TCP) servers at the canary, WebTransport (QUIC), a service worker,
    a beacon, an EventSource, preconnect and prefetch: nothing reaches it."""
    run = runs[batch]
    assert run["heard"]["udp"] == 0, f"{run['heard']['udp']} datagrams reached the canary"
    log = _log(run)
    candidates = re.findall(r"candidate (?!end)(.*)", log)
    assert candidates == [], "ICE gathered candidates: WebRTC had a way out"
    assert "webtransport open" not in log
    for what in ("beacon", "events", "prefetch", "worker"):
        assert _requests_for(run, what) == [], what


# -- every run -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "batch",
    [
        pytest.param(b.name, marks=[pytest.mark.browser, pytest.mark.slow] if b.browser else [])
        for b in BATCHES
        if b.guard
    ],
)
def test_the_canary_heard_nothing_and_the_warcs_check(runs: dict[str, Any], batch: str) -> None:
    run = runs[batch]
    assert "Traceback" not in run["stderr"], run["stderr"]
    assert run["heard"] == {"tcp": [], "udp": 0}, run["heard"]
    assert run["warc_problem"] is None, run["warc_problem"]
    port = run["port"]
    leaked = [r["uri"] for r in run["records"] if r["canary"]]
    if run["via"] == "site":  # no answer of the guard proxy's for a canary URL is archived either
        leaked += [r["uri"] for r in run["records"] if f":{port}/" in r["uri"] or f":000{port}/" in r["uri"]]
    # Refusals are not archived: no record (response, DOM, screenshot) holds a canary URL.
    assert leaked == [], leaked
