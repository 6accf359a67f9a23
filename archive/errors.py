"""The one exception tree of citewatch.

    CitewatchError              every error citewatch raises on purpose
    ├── UsageError              bad input or bad usage: exit code 2
    │   ├── NotFoundError       an id, URL or name that names nothing (404 in the API)
    │   ├── SettingsError       a setting, config file or env value is wrong
    │   └── BadURLError         a URL citewatch will not fetch (malformed, scheme)
    └── OperationError          the work itself failed: exit code 1
        ├── DatabaseError       the database is unreachable or not migrated
        ├── WarcError           a WARC file cannot be written or read
        └── BrowserError        Chromium is missing or would not start

Errors from SQLAlchemy, warcio, Scrapy and Playwright are translated into
these at the boundary (``raise ... from exc``) so the CLI can print one line.
"""

from __future__ import annotations


class CitewatchError(Exception):
    """Base of every error citewatch raises on purpose."""

    exit_code = 1


class UsageError(CitewatchError):
    exit_code = 2


class NotFoundError(UsageError):
    pass


class SettingsError(UsageError):
    pass


class BadURLError(UsageError):
    pass


class OperationError(CitewatchError):
    exit_code = 1


class DatabaseError(OperationError):
    pass


class WarcError(OperationError):
    pass


class BrowserError(OperationError):
    pass
