"""A browser capture sends no UDP: WebRTC would go around the guard proxy, which sees only
HTTP(S). A page that opens an RTCPeerConnection with a STUN server on a loopback UDP port must
not reach it."""

from __future__ import annotations

import socket
import time

import pytest

from tests import webserver as ws

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _stun_page(port: int) -> bytes:
    script = f"""
    const pc = new RTCPeerConnection({{iceServers: [{{urls: "stun:127.0.0.1:{port}"}}]}});
    pc.createDataChannel("x");
    pc.createOffer().then(o => pc.setLocalDescription(o));
    pc.onicecandidate = e => {{ document.getElementById("state").textContent += "."; }};
    setTimeout(() => {{ document.getElementById("done").textContent = "gathered"; }}, 2500);
    """
    body = f'<p>A page that calls WebRTC.</p><p id="state"></p><p id="done"></p><script>{script}</script>'
    return ws.page_html("WebRTC", body)


def test_a_browser_capture_sends_no_udp(home, server) -> None:  # type: ignore[no-untyped-def]
    canary = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    canary.bind(("127.0.0.1", 0))
    canary.settimeout(0.2)
    url = server.route("/webrtc", ws.static(_stun_page(canary.getsockname()[1])))
    home.run("capture", "--browser", "--no-requisites", url, check=True, timeout=240)
    received = []
    deadline = time.monotonic() + 1.0  # anything still in flight after the capture
    while time.monotonic() < deadline:
        try:
            received.append(canary.recvfrom(2048))
        except TimeoutError:
            continue
    canary.close()
    assert received == [], f"{len(received)} UDP packets reached the canary"
