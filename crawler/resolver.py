"""A DNS resolver for Scrapy that refuses to hand out forbidden addresses.

Twisted connects to whatever addresses the reactor's name resolver returns, so
filtering them here guards every connection: first requests, redirect hops,
and names that resolve differently from one lookup to the next. A host whose
every address is forbidden fails to connect with "no address"; its name and
the reason are kept in :data:`BLOCKED` so the failure can be reported as
``blocked`` rather than as a DNS error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from scrapy.resolver import CachingHostnameResolver
from twisted.internet.interfaces import IResolutionReceiver
from zope.interface import provider

from crawler.netguard import forbidden_reason, proxy_hosts
from crawler.recording import citewatch_settings

# host name -> (address, reason), for failures to explain themselves.
BLOCKED: dict[str, tuple[str, str]] = {}


@provider(IResolutionReceiver)
class _FilteringReceiver:
    def __init__(self, receiver: Any, host: str):
        self.receiver = receiver
        self.host = host

    def resolutionBegan(self, resolution: Any) -> None:
        self.receiver.resolutionBegan(resolution)

    def addressResolved(self, address: Any) -> None:
        reason = forbidden_reason(getattr(address, "host", ""))
        if reason is None:
            self.receiver.addressResolved(address)
        else:
            BLOCKED[self.host] = (address.host, reason)

    def resolutionComplete(self) -> None:
        self.receiver.resolutionComplete()


class GuardedResolver(CachingHostnameResolver):
    """Scrapy's caching resolver, minus forbidden addresses unless ``allow_private_networks``."""

    def __init__(self, reactor: Any, cache_size: int, allow_private: bool):
        super().__init__(reactor, cache_size)
        self.allow_private = allow_private
        self.exempt = proxy_hosts()

    @classmethod
    def from_crawler(cls, crawler: Any, reactor: Any) -> GuardedResolver:
        size = crawler.settings.getint("DNSCACHE_SIZE") if crawler.settings.getbool("DNSCACHE_ENABLED") else 0
        return cls(reactor, size, citewatch_settings(crawler.settings).allow_private_networks)

    def resolveHostName(
        self,
        resolutionReceiver: Any,
        hostName: str,
        portNumber: int = 0,
        addressTypes: Sequence[Any] | None = None,
        transportSemantics: str = "TCP",
    ) -> Any:
        if not self.allow_private and hostName.lower() not in self.exempt:
            resolutionReceiver = _FilteringReceiver(resolutionReceiver, hostName)
        return super().resolveHostName(
            resolutionReceiver, hostName, portNumber, addressTypes, transportSemantics
        )
