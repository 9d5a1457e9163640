"""Half-open (SYN) probes over raw sockets, IPv4, root only.

    probe:   SYN  ──────────────▶
    open:    ◀────────────── SYN+ACK   (our kernel then answers RST: no socket owns the port)
    closed:  ◀────────────── RST
    filtered: silence, or an ICMP unreachable

Why it can be gentler than connect(): the device never moves a connection to
ESTABLISHED, so no application slot (web server worker, Modbus client slot) is taken
even for a moment. The engine's per-host caps still apply to probes in flight.

The TCP header is built here (20 bytes, no options but MSS) with the pseudo-header
checksum (RFC 793 §3.1); the kernel adds the IP header. Replies are read from the
same raw socket, which receives a copy of every inbound TCP segment, and matched on
(source address, source port, our port). scapy is not used on this path: a raw socket
and ``struct`` are faster and keep the hot loop small.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
import socket
import struct
from dataclasses import dataclass
from enum import StrEnum

from porthole.net._inet import internet_checksum

__all__ = ["SynResult", "SynOutcome", "SynProber"]

_TCP_SYN = 0x02
_TCP_RST = 0x04
_TCP_ACK = 0x10


class SynResult(StrEnum):
    SYN_ACK = "syn-ack"
    RESET = "reset"
    UNREACHABLE = "unreachable"


@dataclass(frozen=True, slots=True)
class SynOutcome:
    result: SynResult
    rtt_s: float


def build_syn(source: str, destination: str, source_port: int, destination_port: int, sequence: int) -> bytes:
    """A SYN segment with an MSS option, checksummed over the IPv4 pseudo-header."""
    options = struct.pack("!BBH", 2, 4, 1460)
    offset_flags = ((5 + len(options) // 4) << 12) | _TCP_SYN
    header = struct.pack("!HHIIHHHH", source_port, destination_port, sequence, 0, offset_flags, 64240, 0, 0) + options
    pseudo = socket.inet_aton(source) + socket.inet_aton(destination) + struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(header))
    checksum = internet_checksum(pseudo + header)
    return header[:16] + struct.pack("!H", checksum) + header[18:]


class SynProber:
    """One raw socket pair shared by every SYN probe of a scan.

    Use as an async context manager; ``probe`` is bounded by the caller's timeout.
    """

    def __init__(self) -> None:
        self._tcp: socket.socket | None = None
        self._icmp: socket.socket | None = None
        self._waiting: dict[tuple[str, int, int], tuple[asyncio.Future[SynOutcome], float]] = {}
        self._sources: dict[str, str] = {}
        self._next_port = random.randint(20000, 60000)

    async def __aenter__(self) -> "SynProber":
        loop = asyncio.get_running_loop()
        self._tcp = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
        self._icmp = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        for sock in (self._tcp, self._icmp):
            sock.setblocking(False)
        loop.add_reader(self._tcp.fileno(), self._read_tcp)
        loop.add_reader(self._icmp.fileno(), self._read_icmp)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        loop = asyncio.get_running_loop()
        for sock in (self._tcp, self._icmp):
            if sock is not None:
                loop.remove_reader(sock.fileno())
                sock.close()
        for future, _ in self._waiting.values():
            future.cancel()
        self._waiting.clear()

    def _source_for(self, destination: str) -> str:
        # The kernel's route choice, learnt without sending anything (UDP connect).
        if destination not in self._sources:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                probe.connect((destination, 9))
                self._sources[destination] = probe.getsockname()[0]
        return self._sources[destination]

    def _allocate_port(self) -> int:
        self._next_port = 20000 + (self._next_port - 20000 + 1) % 40000
        return self._next_port

    async def probe(self, destination: str, port: int) -> SynOutcome:
        if ipaddress.ip_address(destination).version != 4:
            raise ValueError("SYN probes support IPv4 only; use connect probes for IPv6")
        assert self._tcp is not None, "use SynProber as an async context manager"
        loop = asyncio.get_running_loop()
        source = self._source_for(destination)
        source_port = self._allocate_port()
        key = (destination, port, source_port)
        future: asyncio.Future[SynOutcome] = loop.create_future()
        started = loop.time()
        self._waiting[key] = (future, started)
        try:
            segment = build_syn(source, destination, source_port, port, random.getrandbits(32))
            await loop.sock_sendto(self._tcp, segment, (destination, 0))
            return await future
        finally:
            self._waiting.pop(key, None)

    def _resolve(self, key: tuple[str, int, int], result: SynResult) -> None:
        entry = self._waiting.get(key)
        if entry and not entry[0].done():
            future, started = entry
            future.set_result(SynOutcome(result, asyncio.get_running_loop().time() - started))

    def _read_tcp(self) -> None:
        assert self._tcp is not None
        while True:
            try:
                packet = self._tcp.recv(4096)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            header_length = (packet[0] & 0x0F) * 4
            if len(packet) < header_length + 14:
                continue
            source = socket.inet_ntoa(packet[12:16])
            source_port, destination_port = struct.unpack_from("!HH", packet, header_length)
            flags = packet[header_length + 13]
            if flags & _TCP_RST:
                self._resolve((source, source_port, destination_port), SynResult.RESET)
            elif flags & _TCP_SYN and flags & _TCP_ACK:
                self._resolve((source, source_port, destination_port), SynResult.SYN_ACK)

    def _read_icmp(self) -> None:
        assert self._icmp is not None
        while True:
            try:
                packet = self._icmp.recv(4096)
            except (BlockingIOError, InterruptedError, OSError):
                return
            outer = (packet[0] & 0x0F) * 4
            if len(packet) < outer + 8 + 20 or packet[outer] != 3:  # type 3: destination unreachable
                continue
            inner = packet[outer + 8:]
            inner_length = (inner[0] & 0x0F) * 4
            if inner[9] != socket.IPPROTO_TCP or len(inner) < inner_length + 4:
                continue
            destination = socket.inet_ntoa(inner[16:20])
            source_port, destination_port = struct.unpack_from("!HH", inner, inner_length)
            self._resolve((destination, destination_port, source_port), SynResult.UNREACHABLE)
