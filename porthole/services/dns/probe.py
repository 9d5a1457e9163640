"""DNS on 53/udp and 53/tcp: does it answer, offer recursion, resolve ``localhost.``?

What it sends (protocols.md §3), to the target itself and nowhere else, on the one
transport of the port it runs for (the engine runs it once per open port):

1. ``localhost. IN A`` with RD=1. RFC 6761 §6.3 asks resolvers to answer localhost
   names themselves, and a forwarder answers it from its hosts file, so a NOERROR
   reply with an A record and RA set shows a resolver serving this vantage (the
   "WAN forwarding" indicator) without any name ever leaving for the internet.
2. ``version.bind. CH TXT`` with RD=0: the software fingerprint (dnsmasq answers
   ``dnsmasq-<version>``; BIND, Unbound and CoreDNS answer unless told to hide it).

Over UDP each query is one datagram on a connected socket, retried once after
``response_wait`` of silence (protocols.md §0: 2 s, 1 retry); replies from anyone
but the target, or with another id or question, are ignored. Over TCP both queries
go over one connection with the 2-byte length prefix (RFC 1035 §4.2.2; RFC 7766
§6.2.1 lets a client send several), and the connection is opened once more if the
server closed it after the first answer.

UDP runs only on ports the reachability phase saw *answer* (``open``): it already
sent this same ``localhost.`` query, with retries, to an ``open|filtered`` port and
heard nothing, so asking again would only wait out the budget.

Must not: zone transfers (AXFR/IXFR), dynamic updates (opcode 5), internet names
(nmap's ``dns-recursion`` asks for ``www.wikipedia.org``, which makes the device go
out to the internet), or any query beyond these two.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar

from porthole.codecs import CodecError
from porthole.codecs import dns
from porthole.errors import ErrorReason
from porthole.model import Finding, PortObservation, PortState, Protocol
from porthole.net.udp import DatagramResult, datagram_probe
from porthole.jsonable import to_jsonable
from porthole.services.base import ProbeContext, ProbeFailure, close_stream, read_bounded
from porthole.services.dns import assess as assess_module
from porthole.services.dns.evidence import DnsEvidence, DnsExchange, QueryOutcome

__all__ = ["DnsProbe", "LOCALHOST_QUERY", "VERSION_QUERY"]

#: reply bytes kept in the evidence (a classic UDP DNS message is at most 512 bytes)
_REPLY_HEX_BYTES = 512
#: longest version string kept (one TXT character-string is at most 255 bytes)
_MAX_VERSION = 255


@dataclass(frozen=True, slots=True, kw_only=True)
class _Query:
    name: str
    qtype: int
    qclass: int
    recursion_desired: bool

    @property
    def text(self) -> str:
        return f"{self.name} {dns.class_name(self.qclass)} {dns.type_name(self.qtype)}"


LOCALHOST_QUERY = _Query(name="localhost.", qtype=dns.QTYPE_A, qclass=dns.QCLASS_IN, recursion_desired=True)
VERSION_QUERY = _Query(name="version.bind.", qtype=dns.QTYPE_TXT, qclass=dns.QCLASS_CH, recursion_desired=False)


class DnsProbe:
    id: ClassVar[str] = "dns"

    def __init__(self, *, response_wait: float = 2.0, udp_attempts: int = 2, query_ids: Callable[[], int] = lambda: random.getrandbits(16)) -> None:
        #: wait for one reply (protocols.md §0: DNS 2 s)
        self.response_wait = response_wait
        #: datagrams per query over UDP (1 + 1 retry)
        self.udp_attempts = udp_attempts
        #: fresh 16-bit id per query (an argument so tests can pin it)
        self.query_ids = query_ids

    def claims(self, observation: PortObservation) -> bool:
        return observation.service == "dns" and observation.state is PortState.OPEN

    async def run(self, context: ProbeContext) -> dict[str, Any]:
        return to_jsonable(await self.collect(context))

    async def collect(self, context: ProbeContext) -> DnsEvidence:
        asker: _UdpAsker | _TcpAsker
        if context.observation.protocol is Protocol.UDP:
            asker = _UdpAsker(context, self)
        else:
            asker = _TcpAsker(context, self)
        try:
            localhost, localhost_message = await asker.ask(LOCALHOST_QUERY)
            _require_dns(localhost, context)
            version, version_message = await asker.ask(VERSION_QUERY)
        finally:
            await asker.close()
        addresses = _localhost_addresses(localhost, localhost_message)
        return DnsEvidence(
            transport=context.observation.protocol.value,
            answers_queries=True,
            recursion_available=bool(localhost.recursion_available),
            resolves_localhost=bool(addresses),
            localhost_addresses=addresses,
            version=_version(version, version_message),
            exchanges=(localhost, version),
        )

    def assess(self, evidence: dict[str, Any], observation: PortObservation) -> list[Finding]:
        return assess_module.assess(evidence, observation)

    def summarise(self, evidence: dict[str, Any]) -> str | None:
        return assess_module.summarise(evidence)


# --- transports --------------------------------------------------------------------


class _UdpAsker:
    def __init__(self, context: ProbeContext, probe: DnsProbe) -> None:
        self.context = context
        self.probe = probe

    async def ask(self, query: _Query) -> tuple[DnsExchange, dns.DnsMessage | None]:
        query_id = self.probe.query_ids()
        payload = dns.build_query(query_id, query.name, query.qtype, query.qclass, recursion_desired=query.recursion_desired)
        common = {"question": query.text, "query_id": query_id, "recursion_desired": query.recursion_desired, "query_hex": payload.hex()}
        failures: list[str] = []
        for _ in range(self.probe.udp_attempts):
            await self.context.pace()
            try:
                outcome = await self.context.wait(
                    datagram_probe(self.context.address, self.context.port, payload, accept=partial(dns.is_reply_to, payload)),
                    self.probe.response_wait,
                )
            except TimeoutError:
                continue
            if outcome.result is DatagramResult.REPLY:
                return _exchange_from_reply(common, outcome.reply)
            if outcome.result is DatagramResult.PORT_UNREACHABLE:
                return DnsExchange(**common, outcome=QueryOutcome.PORT_UNREACHABLE, detail="ICMP port unreachable"), None
            failures.append(f"{outcome.result.value}: {outcome.detail}")
        detail = f"no reply to {self.probe.udp_attempts} datagram(s), {self.probe.response_wait:g} s each"
        if failures:
            detail += f" ({'; '.join(failures)})"
        return DnsExchange(**common, outcome=QueryOutcome.NO_REPLY, detail=detail), None

    async def close(self) -> None:
        return None


class _TcpAsker:
    def __init__(self, context: ProbeContext, probe: DnsProbe) -> None:
        self.context = context
        self.probe = probe
        self.stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self.answered_on_stream = 0

    async def ask(self, query: _Query) -> tuple[DnsExchange, dns.DnsMessage | None]:
        query_id = self.probe.query_ids()
        payload = dns.build_query(query_id, query.name, query.qtype, query.qclass, recursion_desired=query.recursion_desired)
        common = {"question": query.text, "query_id": query_id, "recursion_desired": query.recursion_desired, "query_hex": payload.hex()}
        while True:
            reused = self.answered_on_stream > 0
            if self.stream is None:
                self.stream = await self.context.open_stream()
                self.answered_on_stream = 0
            reader, writer = self.stream
            writer.write(dns.frame_tcp(payload))
            await writer.drain()
            exchange, message = await self._read_reply(reader, payload, common)
            if exchange.outcome is QueryOutcome.CONNECTION_CLOSED and reused and not exchange.reply_hex:
                # one query per connection is all some servers allow: ask again on a fresh one
                await self.close()
                continue
            if exchange.outcome is QueryOutcome.CONNECTION_CLOSED:
                await self.close()
            else:
                self.answered_on_stream += 1
            return exchange, message

    async def _read_reply(self, reader: asyncio.StreamReader, payload: bytes, common: dict[str, Any]) -> tuple[DnsExchange, dns.DnsMessage | None]:
        limits = self.context.limits

        def has_reply(data: bytes) -> bool:
            try:
                return _first_reply_frame(data, payload) is not None
            except CodecError:
                return True  # never DNS-over-TCP: stop reading, judged below

        data, ended = await read_bounded(
            reader,
            limit=min(limits.max_read, 2 + dns.MAX_MESSAGE),
            first_byte=self.probe.response_wait,
            between_chunks=min(limits.between_chunks, self.probe.response_wait),
            until=has_reply,
        )
        try:
            reply = _first_reply_frame(data, payload)
        except CodecError as exc:
            raise ProbeFailure(ErrorReason.MALFORMED, f"{self.context.port}/tcp does not frame DNS over TCP: {exc}") from None
        if reply is not None:
            return _exchange_from_reply(common, reply)
        if ended == "limit":
            raise ProbeFailure(ErrorReason.TOO_LARGE, f"{len(data)} bytes on {self.context.port}/tcp without a DNS reply to our query")
        if ended == "eof":
            detail = f"closed after {len(data)} bytes without a complete reply" if data else "closed without replying"
            return DnsExchange(**common, outcome=QueryOutcome.CONNECTION_CLOSED, reply_hex=data[:_REPLY_HEX_BYTES].hex() or None, detail=detail), None
        detail = f"reply stalled after {len(data)} bytes" if data else f"no reply within {self.probe.response_wait:g} s"
        return DnsExchange(**common, outcome=QueryOutcome.NO_REPLY, reply_hex=data[:_REPLY_HEX_BYTES].hex() or None, detail=detail), None

    async def close(self) -> None:
        self.answered_on_stream = 0
        if self.stream is not None:
            _, writer = self.stream
            self.stream = None
            await close_stream(writer)


def _first_reply_frame(data: bytes, query: bytes) -> bytes | None:
    """The first length-prefixed message in ``data`` that replies to ``query``.

    Frames that are DNS but not our reply (another id, another question) are
    skipped; bytes that cannot be framed raise ``CodecError``.
    """
    offset = 0
    while True:
        frame = dns.parse_tcp_frame(data[offset:])
        if frame is dns.NEED_DATA:
            return None
        consumed, message = frame
        if dns.is_reply_to(query, message):
            return message
        offset += consumed


# --- interpretation ------------------------------------------------------------------


def _exchange_from_reply(common: dict[str, Any], reply: bytes) -> tuple[DnsExchange, dns.DnsMessage | None]:
    header = dns.parse_header(reply)  # cannot fail: is_reply_to read it already
    facts = {
        **common,
        "rcode": header.rcode,
        "rcode_name": dns.rcode_name(header.rcode),
        "authoritative": header.authoritative,
        "truncated": header.truncated,
        "recursion_available": header.recursion_available,
        "reply_hex": reply[:_REPLY_HEX_BYTES].hex(),
    }
    try:
        message = dns.parse_message(reply)
    except CodecError as exc:
        return DnsExchange(**facts, outcome=QueryOutcome.MALFORMED, detail=str(exc)), None
    return DnsExchange(**facts, outcome=QueryOutcome.REPLY, answers=tuple(dns.record_text(record) for record in message.answers)), message


def _require_dns(exchange: DnsExchange, context: ProbeContext) -> None:
    """Without a reply to the first query there is no DNS evidence: say why."""
    where = f"{context.port}/{context.observation.protocol.value}"
    if exchange.outcome is QueryOutcome.NO_REPLY:
        raise ProbeFailure(ErrorReason.TIMEOUT, f"no DNS reply to {exchange.question} on {where}: {exchange.detail}")
    if exchange.outcome is QueryOutcome.CONNECTION_CLOSED:
        raise ProbeFailure(ErrorReason.UNRECOGNISED, f"{where} {exchange.detail} to {exchange.question}: not a DNS server")
    if exchange.outcome is QueryOutcome.PORT_UNREACHABLE:
        raise ProbeFailure(ErrorReason.CONNECTION_REFUSED, f"{where} answered ICMP port unreachable to {exchange.question}")


def _localhost_addresses(exchange: DnsExchange, message: dns.DnsMessage | None) -> tuple[str, ...]:
    if message is None or exchange.rcode != 0:
        return ()
    return tuple(str(record.value) for record in message.answers if record.rtype == dns.QTYPE_A and record.value is not None)


def _version(exchange: DnsExchange, message: dns.DnsMessage | None) -> str | None:
    if message is None or exchange.rcode != 0:
        return None
    for record in message.answers:
        if record.rtype == dns.QTYPE_TXT and isinstance(record.value, tuple) and record.value:
            text = b"".join(record.value).decode("utf-8", errors="backslashreplace")
            return text[:_MAX_VERSION]
    return None
