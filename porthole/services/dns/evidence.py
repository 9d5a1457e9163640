"""What the DNS probe saw on 53/udp or 53/tcp: facts only, one entry per query asked."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["QueryOutcome", "DnsExchange", "DnsEvidence"]


class QueryOutcome(StrEnum):
    #: a reply with our id and question, parsed whole
    REPLY = "reply"
    #: a reply with our id and question whose body does not parse (a compression
    #: loop, an answer section shorter than its count): the header facts still stand
    MALFORMED = "malformed"
    #: nothing that matches our query within the wait (and the UDP retry)
    NO_REPLY = "no-reply"
    #: 53/tcp closed the connection without a reply
    CONNECTION_CLOSED = "connection-closed"
    #: ICMP port unreachable on 53/udp
    PORT_UNREACHABLE = "port-unreachable"


@dataclass(frozen=True, slots=True, kw_only=True)
class DnsExchange:
    #: ``localhost. IN A``
    question: str
    query_id: int
    recursion_desired: bool
    outcome: QueryOutcome
    rcode: int | None = None
    #: ``NOERROR``, ``REFUSED``...
    rcode_name: str | None = None
    authoritative: bool | None = None
    #: TC: the server cut its reply short (over UDP: the full reply needs TCP)
    truncated: bool | None = None
    recursion_available: bool | None = None
    #: answer records in zone-file form, ``localhost. 0 IN A 127.0.0.1``
    answers: tuple[str, ...] = ()
    query_hex: str = ""
    #: the reply as received, at most 512 bytes of it
    reply_hex: str | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DnsEvidence:
    #: ``udp`` or ``tcp`` (over TCP each message has a 2-byte length prefix)
    transport: str
    #: a DNS reply matched our query (same id, QR set, question echoed)
    answers_queries: bool
    #: RA in the reply to ``localhost. A`` asked with RD=1
    recursion_available: bool
    #: that reply was NOERROR with at least one A record: a resolver answers this vantage
    resolves_localhost: bool
    #: the addresses it gave for ``localhost.``
    localhost_addresses: tuple[str, ...] = ()
    #: the ``version.bind. CH TXT`` string, e.g. ``dnsmasq-2.90``
    version: str | None = None
    exchanges: tuple[DnsExchange, ...] = ()
