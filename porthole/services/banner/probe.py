"""The generic banner grab: what an open TCP port no catalogued service explains says first.

It connects, sends nothing, and reads what the peer volunteers (nmap's NULL probe),
so an unknown open port is still described ("SSH-2.0-dropbear", "speaks first: 220
…", "silent on connect"). It claims exactly the open TCP ports whose catalogue
service is unknown (``--ports +2323``); every catalogued port has its own probe.

Reading stops at the first of: EOF, a reset, ``READ_LIMIT`` bytes, no byte within
the wait (``FIRST_BYTE_WAIT`` for the first, ``BETWEEN_CHUNKS`` after), or the end of
the whole ``BANNER_WINDOW``: a peer trickling one byte a second costs five seconds,
not the engine's whole probe budget, and its bytes are still evidence. The evidence
says which (``ReadStop``).

Must not: send a single byte. The silence is recorded as the fact it is. The one
follow-up porthole allows on a silent port is a single TLS ClientHello from the TLS
probe (``TlsProbe.follows_up``): TLS servers never speak first, and TLS is the one
protocol the audit must find on any port. Guessing further protocols by sending HTTP,
Modbus or other payloads to an unknown service on a charger in service is exactly the
nmap ``-sV`` behaviour (dozens of payloads per port) porthole avoids.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from porthole.codecs.banner import identify, preview
from porthole.model import Finding, PortObservation, PortState, Protocol
from porthole.jsonable import to_jsonable
from porthole.services.banner import assess as assess_module
from porthole.services.banner.evidence import BannerEvidence, ReadStop
from porthole.services.base import ProbeContext, close_stream

__all__ = ["BannerProbe", "read_banner", "READ_LIMIT", "FIRST_BYTE_WAIT", "BETWEEN_CHUNKS", "BANNER_WINDOW"]

#: bytes read at most: a banner is a line or a few; 10 MB of "banner" costs 4 KiB
READ_LIMIT = 4096
#: how long a server that speaks first gets to say its first byte
FIRST_BYTE_WAIT = 2.0
#: how long a pause between two chunks of one banner may be
BETWEEN_CHUNKS = 1.0
#: the whole read, however the peer paces its bytes
BANNER_WINDOW = 5.0
#: bytes kept as hex and as preview in the evidence
EVIDENCE_BYTES = 512


async def read_banner(reader: asyncio.StreamReader, *, limit: int, first_byte: float, between_chunks: float, window: float) -> tuple[bytes, ReadStop]:
    """Read what the peer volunteers, bounded in bytes and time; return it and why reading stopped.

    Unlike ``base.read_bounded`` the bytes survive every ending, the window's included:
    a trickle is evidence, not a timeout.
    """
    data = bytearray()
    stopped = ReadStop.LIMIT
    try:
        async with asyncio.timeout(window):
            wait = first_byte
            while len(data) < limit:
                try:
                    async with asyncio.timeout(wait):
                        chunk = await reader.read(limit - len(data))
                except TimeoutError:
                    stopped = ReadStop.STALLED
                    break
                if not chunk:
                    stopped = ReadStop.EOF
                    break
                data += chunk
                wait = between_chunks
    except TimeoutError:
        stopped = ReadStop.WINDOW
    except ConnectionResetError:
        stopped = ReadStop.RESET
    return bytes(data), stopped


class BannerProbe:
    id: ClassVar[str] = "banner"

    def __init__(self, *, window: float = BANNER_WINDOW) -> None:
        self.window = window

    def claims(self, observation: PortObservation) -> bool:
        return observation.protocol is Protocol.TCP and observation.state is PortState.OPEN and observation.service is None

    async def run(self, context: ProbeContext) -> dict[str, Any]:
        return to_jsonable(await self.collect(context))

    async def collect(self, context: ProbeContext) -> BannerEvidence:
        limit = min(READ_LIMIT, context.limits.max_read)
        first_byte = min(FIRST_BYTE_WAIT, context.limits.first_byte)
        reader, writer = await context.open_stream()
        try:
            data, stopped = await read_banner(
                reader,
                limit=limit,
                first_byte=first_byte,
                between_chunks=min(BETWEEN_CHUNKS, context.limits.between_chunks),
                window=self.window,
            )
        finally:
            await close_stream(writer)
        signature = identify(data)
        return BannerEvidence(
            speaks_first=bool(data),
            received_bytes=len(data),
            received_hex=data[:EVIDENCE_BYTES].hex(),
            preview=preview(data[:EVIDENCE_BYTES]),
            protocol=signature.protocol if signature else None,
            stopped=stopped,
            read_limit=limit,
            first_byte_wait_s=first_byte,
        )

    def assess(self, evidence: dict[str, Any], observation: PortObservation) -> list[Finding]:
        return assess_module.assess(evidence, observation)

    def summarise(self, evidence: dict[str, Any]) -> str | None:
        return assess_module.summarise(evidence)
