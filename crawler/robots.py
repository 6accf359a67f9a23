"""robots.txt as RFC 9309 has it read: its first 500 KiB, and whole lines only.

A robots.txt may be of any size, endless, or cut mid-line (by the response size limit, or a
connection that closes early); a rule cut short (``Disallow: /private/`` ending as
``Disallow: /``) would forbid the whole site. The RFC asks crawlers to parse at least 500 KiB;
citewatch parses exactly that, with Scrapy's parser (protego), and drops the partial last line
of a body that was cut.
"""

from __future__ import annotations

from typing import Any

from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware

MAX_ROBOTS_BYTES = 500 * 1024


# How Scrapy marks a body that did not arrive whole (our size limit stops it; a connection lost).
_CUT_FLAGS = frozenset({"download_stopped", "dataloss", "partial"})


def whole_lines(body: bytes) -> bytes:
    """``body`` up to its last line end.

    >>> whole_lines(b"User-agent: *\\nDisallow: /"), whole_lines(b"no line end")
    (b'User-agent: *\\n', b'')
    """
    end = max(body.rfind(b"\n"), body.rfind(b"\r"))
    return body[: end + 1]


def parsed_part(body: bytes, limit: int = MAX_ROBOTS_BYTES) -> bytes:
    """The part of ``body`` that is read: all of it when it fits, else up to its last line end
    within ``limit``.

    >>> parsed_part(b"User-agent: *\\nDisallow: /private/1/\\n", limit=30)
    b'User-agent: *\\n'
    >>> parsed_part(b"Disallow: /x\\n")
    b'Disallow: /x\\n'
    """
    return body if len(body) <= limit else whole_lines(body[:limit])


class WholeRobotsTxtMiddleware(RobotsTxtMiddleware):
    """Scrapy's robots.txt middleware (and its protego parser), given :func:`parsed_part` of the
    body, and of a robots.txt that did not arrive whole only its complete lines (in place of
    ``RobotsTxtMiddleware``, at its order)."""

    async def _parse_robots(self, response: Any, netloc: str, request: Any) -> None:
        body = whole_lines(response.body) if _CUT_FLAGS & set(response.flags) else response.body
        body = parsed_part(body)
        if len(body) != len(response.body):
            response = response.replace(body=body)
        await super()._parse_robots(response, netloc, request)
