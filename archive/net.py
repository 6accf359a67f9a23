"""Listening sockets for the servers citewatch runs (web UI, replay)."""

from __future__ import annotations

import socket

from archive.errors import OperationError


def listen(address: str, port: int, setting: str) -> socket.socket:
    """A socket listening on ``address:port``, or a one-line error saying what to do (the port
    taken, say); ``setting`` names the setting that chooses the port."""
    try:
        family, kind, proto, _, where = socket.getaddrinfo(address, port, type=socket.SOCK_STREAM)[0]
    except OSError as exc:
        raise OperationError(f"cannot listen on {address}:{port}: {exc.strerror or exc}") from exc
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(where)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise OperationError(
            f"cannot listen on {address}:{port}: {exc.strerror or exc}; choose another with --port "
            f"(or the {setting} setting)"
        ) from exc
    sock.set_inheritable(True)
    return sock


def http_url(host: str, port: int) -> str:
    """The base URL of a server on ``host:port``.

    >>> http_url("127.0.0.1", 8080), http_url("::1", 8090)
    ('http://127.0.0.1:8080/', 'http://[::1]:8090/')
    """
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"
