"""DNS on 53/udp and 53/tcp: answers, recursion available, resolves localhost., version.bind."""

from porthole.services.dns.probe import DnsProbe

__all__ = ["DnsProbe"]
