"""Plain V2G TCP listener for 15119 (ISO 15118 / DIN 70121 without TLS).

Behaves like SwitchEV's SECC transport towards a client that is not a vehicle:
it never speaks first, reads V2GTP messages with a bound, and closes the
connection without a word on a malformed header (protocols.md §9.3). A
well-formed message is read and discarded: this lab has no EXI codec, so the
emulator never answers, and closes after ``idle_timeout`` seconds of silence.

V2GTP header (8 bytes)::

    0  protocol version          0x01
    1  inverse protocol version  0xFE
    2  payload type              uint16 (0x8001 EXI, 0x8002-0x8006, 0x8101, 0x9000-0x9003,
                                         0xA000-0xFFFF manufacturer specific)
    4  payload length            uint32, at most ``max_payload``

Options (JSON keys of ``--options``):

=================  ===================================================
``idle_timeout``   seconds without a complete message before closing (default 10)
``max_payload``    largest accepted payload length (default 8192)
=================  ===================================================

Must not: send any byte, or keep a connection beyond ``idle_timeout``.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from lab.services._common import Running, ServiceContext, TcpListeners, run_service
from porthole.model import Protocol as Transport

__all__ = ["Options", "is_valid_header", "serve", "main"]

log = logging.getLogger("lab.services.v2g")

_HEADER = struct.Struct(">BBHI")
_KNOWN_PAYLOAD_TYPES = frozenset({0x8001, 0x8002, 0x8003, 0x8004, 0x8005, 0x8006, 0x8101, 0x9000, 0x9001, 0x9002, 0x9003})


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    idle_timeout: float = 10.0
    max_payload: int = 8192

    def __post_init__(self) -> None:
        if self.idle_timeout <= 0:
            raise ValueError("option 'idle_timeout' must be positive")
        if self.max_payload < 0:
            raise ValueError("option 'max_payload' must not be negative")


def is_valid_header(header: bytes, *, max_payload: int) -> bool:
    """True for an 8-byte V2GTP header with a known payload type and an acceptable length."""
    if len(header) != _HEADER.size:
        return False
    version, inverse, payload_type, length = _HEADER.unpack(header)
    known_type = payload_type in _KNOWN_PAYLOAD_TYPES or payload_type >= 0xA000
    return version == 0x01 and inverse == 0xFE and known_type and length <= max_payload


async def serve(bind: str, ports: Sequence[int], options: Options, *, context: ServiceContext) -> Running:
    """Listen on every TCP port of ``ports`` (0 = any)."""

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        while True:
            async with asyncio.timeout(options.idle_timeout):
                header = await reader.readexactly(_HEADER.size)
                if not is_valid_header(header, max_payload=options.max_payload):
                    log.info("malformed V2GTP header %s from %s: closing without a reply", header.hex(), peer)
                    return
                _version, _inverse, payload_type, length = _HEADER.unpack(header)
                await reader.readexactly(length)
            log.info("V2GTP message (type 0x%04x) from %s read and ignored", payload_type, peer)

    listeners = TcpListeners(on_connection, logger=log)
    await listeners.start(bind, ports)
    return Running(ports=listeners.ports, close=listeners.close)


def main(argv: list[str] | None = None) -> int:
    return run_service(argv, kind="v2g", transport=Transport.TCP, options_type=Options, serve=serve)


if __name__ == "__main__":
    raise SystemExit(main())
