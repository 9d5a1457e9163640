"""Phase 1, reachability: one attempt at one port, classified into nmap's vocabulary.

    TCP connect            → open/syn-ack · closed/reset · filtered/icmp · silence
    TCP SYN (``--syn``)    → same states from raw SYN, SYN-ACK and RST segments
    UDP service datagram   → open/reply · closed/icmp (port unreachable) · filtered/icmp · silence

Silence is returned as ``None`` so the scanner can retry; it becomes filtered (TCP) or
open|filtered (UDP) only after the last retry. UDP probes carry a real request for the
port's service (``UDP_PAYLOADS``): an empty datagram gets no answer from a DNS, SSDP or
SDP responder, and silence proves nothing.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from typing import Callable

from porthole import __version__
from porthole.catalog import CatalogPort
from porthole.codecs import dns, ssdp, v2gtp
from porthole.codecs import CodecError
from porthole.model import PortState, Protocol, Reason
from porthole.net.syn import SynProber, SynResult
from porthole.net.tcp import ConnectResult, close_cleanly, open_probe
from porthole.net.udp import DatagramResult, datagram_probe

__all__ = ["Attempt", "UdpPayload", "UDP_PAYLOADS", "attempt_tcp", "attempt_udp"]


@dataclass(frozen=True, slots=True)
class Attempt:
    """A decided attempt: the state, why, and the round-trip time of the answer."""

    state: PortState
    reason: Reason
    rtt_s: float | None
    detail: str | None = None
    reply: bytes = b""


@dataclass(frozen=True, slots=True)
class UdpPayload:
    """How to ask a UDP service to answer, and how to recognise its answer."""

    build: Callable[[str], bytes]
    accepts: Callable[[bytes, bytes], bool]


def _dns_query(_: str) -> bytes:
    # localhost. A: answered locally by resolvers (RFC 6761 §6.3), never forwarded.
    return dns.build_query(random.getrandbits(16), "localhost.", dns.QTYPE_A)


def _mdns_query(_: str) -> bytes:
    # Legacy unicast DNS-SD enumeration (RFC 6762 §6.7): any mDNS responder answers it.
    return dns.build_query(random.getrandbits(16), "_services._dns-sd._udp.local.", dns.QTYPE_PTR, recursion_desired=False)


def _ssdp_accepts(_: bytes, reply: bytes) -> bool:
    try:
        return ssdp.parse_response(reply).status == 200
    except CodecError:
        return False


def _sdp_accepts(_: bytes, reply: bytes) -> bool:
    try:
        v2gtp.parse_sdp_response(reply)
    except CodecError:
        return False
    return True


UDP_PAYLOADS: dict[str, UdpPayload] = {
    "dns": UdpPayload(_dns_query, dns.is_reply_to),
    "mdns": UdpPayload(_mdns_query, dns.is_reply_to),
    "ssdp": UdpPayload(lambda host: ssdp.build_msearch(host, search_target="ssdp:all", user_agent=f"porthole/{__version__}"), _ssdp_accepts),
    "iso15118-sdp": UdpPayload(lambda _: v2gtp.build_sdp_request(v2gtp.SECURITY_NO_TLS), _sdp_accepts),
    # Uncatalogued UDP port: an empty datagram still draws ICMP from a closed port.
    "empty": UdpPayload(lambda _: b"", lambda _query, _reply: True),
}


async def attempt_tcp(address: str, port: int, syn: SynProber | None, timeout: float) -> Attempt | None:
    """One TCP attempt bounded by ``timeout``; ``None`` means silence."""
    try:
        async with asyncio.timeout(timeout):
            if syn is not None:
                outcome = await syn.probe(address, port)
                states = {
                    SynResult.SYN_ACK: (PortState.OPEN, Reason.SYN_ACK),
                    SynResult.RESET: (PortState.CLOSED, Reason.RESET),
                    SynResult.UNREACHABLE: (PortState.FILTERED, Reason.ICMP),
                }
                state, reason = states[outcome.result]
                return Attempt(state, reason, outcome.rtt_s)
            result, sock = await open_probe(address, port)
    except TimeoutError:
        return None
    if sock is not None:
        # Outside the attempt deadline: a slow goodbye is not a silent port.
        await close_cleanly(sock, linger=min(max(2 * result.rtt_s, 0.05), 0.25))
    match result.result:
        case ConnectResult.CONNECTED:
            return Attempt(PortState.OPEN, Reason.SYN_ACK, result.rtt_s)
        case ConnectResult.REFUSED:
            return Attempt(PortState.CLOSED, Reason.RESET, result.rtt_s)
        case ConnectResult.UNREACHABLE:
            return Attempt(PortState.FILTERED, Reason.ICMP, result.rtt_s, result.detail)
        case _:
            return Attempt(PortState.UNKNOWN, Reason.ERROR, None, result.detail)


async def attempt_udp(address: str, entry: CatalogPort, timeout: float) -> Attempt | None:
    """One UDP attempt with the port's service payload; ``None`` means silence."""
    payload = UDP_PAYLOADS[entry.udp_payload or "empty"]
    query = payload.build(address)
    try:
        async with asyncio.timeout(timeout):
            result = await datagram_probe(address, entry.number, query, accept=lambda reply: payload.accepts(query, reply))
    except TimeoutError:
        return None
    match result.result:
        case DatagramResult.REPLY:
            return Attempt(PortState.OPEN, Reason.REPLY, result.rtt_s, reply=result.reply)
        case DatagramResult.PORT_UNREACHABLE:
            return Attempt(PortState.CLOSED, Reason.ICMP, result.rtt_s, "ICMP port unreachable")
        case DatagramResult.UNREACHABLE:
            return Attempt(PortState.FILTERED, Reason.ICMP, result.rtt_s, result.detail)
        case _:
            return Attempt(PortState.UNKNOWN, Reason.ERROR, None, result.detail)


def silent_state(protocol: Protocol) -> PortState:
    return PortState.FILTERED if protocol is Protocol.TCP else PortState.OPEN_FILTERED
