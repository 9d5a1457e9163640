"""A hostile peer: a device that misbehaves on purpose, so every probe meets its nemesis.

Each service entry of kind ``hostile`` gives its ports one misbehaviour; a site maps
ports to misbehaviours with one entry per misbehaviour (as ``misconf`` runs ``tls``
twice with different options)::

    [[controller.service]]
    kind = "hostile"
    ports = [22, 2323]
    options = { misbehaviour = "huge_banner" }

Misbehaviours (option ``misbehaviour``), each aimed at one way a probe can go wrong:

====================  =====================================================================
``huge_banner``       on connect: ``prefix``, then filler bytes without a newline up to
                      ``banner_bytes`` (10 MB) in all, then holds the connection open and
                      silent. Nemesis of line readers without a cap (SSH, banner grab).
``garbage``           random bytes (``garbage_bytes``) on connect and again after every read.
``tls_garbage``       silent until the client speaks (normally a ClientHello), then one
                      malformed TLS record and a close: a handshake record header claiming
                      65535 bytes (plaintext records stop at 2^14, RFC 8446 §5.1), carrying a
                      ServerHello whose handshake header claims 0xFFFFFF bytes, cut off
                      after 64 bytes (absurd lengths, truncated).
``stall``             on connect: ``prefix``, the start of a protocol answer (``"SSH-2.0-"``,
                      ``"HTTP/1.1 200 OK\\r\\n"``), then never another byte, never a close.
``endless_header``    after the client's first bytes (its request): ``HTTP/1.1 200 OK`` and
                      then header lines, forever, ``header_bytes_per_second`` (4 KB/s).
``xml_bomb``          answers any HTTP request with ``200`` and a billion-laughs document
                      (nested entities that expand to 10^9 "lol"s, about 1 KB on the
                      wire): a SEMP ``Device2EM`` for paths naming SEMP, a UPnP device
                      description for any other path; then closes.
``malformed_modbus``  answers each MBAP request (7-byte header + PDU) with a broken reply,
                      alternating on one connection: first an MBAP length of 0xFFFF (the
                      Modbus ADU is at most 260 bytes) followed by 3 PDU bytes only; then a
                      protocol identifier of 0x0001 instead of 0x0000.
``udp_garbage``       (UDP ports) answers every datagram with ``garbage_bytes`` random bytes.
``slowloris``         on connect: ``prefix`` then ``"X"`` forever, one byte every
                      ``trickle_interval`` seconds (1 s): never stalls long enough to look
                      dead, never finishes. Nemesis of probes without an overall deadline.
====================  =====================================================================

Other options (JSON keys of ``--options``):

=========================  ===============================================================
``prefix``                 text sent first, one byte per character (latin-1, so
                           ``"\\u0016\\u0003"`` sends 16 03); required by ``stall``
``banner_bytes``           ``huge_banner``: bytes in all (default 10485760)
``garbage_bytes``          ``garbage``/``udp_garbage``: bytes per burst (default 512)
``header_bytes_per_second``  ``endless_header``: pace (default 4096)
``trickle_interval``       ``slowloris``: seconds between two bytes (default 1.0)
``seed``                   seed for the random bytes (default: fresh entropy)
=========================  ===============================================================

``udp_garbage`` serves UDP ports (``ports = ["53/udp"]``), every other misbehaviour TCP
ports; a mismatch fails at start.

Must not: grow with what it sends (10 MB banners are written in 64 KiB chunks as the
peer reads them), read without a cap, or keep writing to a peer that has gone (the
first write after the peer's close fails, and ends the connection).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import struct
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from lab.services._common import Running, ServiceContext, TcpListeners, run_service
from lab.services._udp import DatagramResponder
from porthole.errors import LabError
from porthole.model import Protocol as Transport

__all__ = [
    "Misbehaviour",
    "Options",
    "BILLION_LAUGHS_DEPTH",
    "billion_laughs",
    "malformed_tls_reply",
    "malformed_modbus_replies",
    "serve",
    "main",
]

log = logging.getLogger("lab.services.hostile")

_CHUNK = 64 * 1024
#: how much of a request is read before answering (bounded: the peer may be hostile too)
_MAXIMUM_REQUEST = 16 * 1024
_MBAP = struct.Struct(">HHHB")
_FILLER = b"A"
_TRICKLE = b"X"
#: entity levels of the billion-laughs document: 10 ** 9 "lol"s when expanded
BILLION_LAUGHS_DEPTH = 9


class Misbehaviour(StrEnum):
    HUGE_BANNER = "huge_banner"
    GARBAGE = "garbage"
    TLS_GARBAGE = "tls_garbage"
    STALL = "stall"
    ENDLESS_HEADER = "endless_header"
    XML_BOMB = "xml_bomb"
    MALFORMED_MODBUS = "malformed_modbus"
    UDP_GARBAGE = "udp_garbage"
    SLOWLORIS = "slowloris"

    @property
    def transport(self) -> Transport:
        return Transport.UDP if self is Misbehaviour.UDP_GARBAGE else Transport.TCP


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    misbehaviour: Misbehaviour
    prefix: str = ""
    banner_bytes: int = 10 * 1024 * 1024
    garbage_bytes: int = 512
    header_bytes_per_second: int = 4096
    trickle_interval: float = 1.0
    seed: int | None = None

    def __post_init__(self) -> None:
        try:
            self.prefix.encode("latin-1")
        except UnicodeEncodeError:
            raise ValueError("option 'prefix' must be latin-1 text (one byte per character, \\u0000-\\u00ff)") from None
        if self.misbehaviour is Misbehaviour.STALL and not self.prefix:
            raise ValueError("misbehaviour 'stall' needs option 'prefix', the partial answer it stalls after (e.g. \"SSH-2.0-\")")
        if self.banner_bytes < len(self.prefix):
            raise ValueError("option 'banner_bytes' must be at least the length of 'prefix'")
        if not 1 <= self.garbage_bytes <= 65507:
            raise ValueError("option 'garbage_bytes' must be 1..65507 (it must fit one UDP datagram)")
        if self.header_bytes_per_second < 1 or self.trickle_interval <= 0:
            raise ValueError("options 'header_bytes_per_second' and 'trickle_interval' must be positive")

    @property
    def prefix_bytes(self) -> bytes:
        return self.prefix.encode("latin-1")


# --- what each misbehaviour sends (pure, so tests can compare bytes) ---------------------


def malformed_tls_reply(random_bytes: bytes) -> bytes:
    """A handshake record with absurd lengths, cut short: 64 body bytes of a claimed 65535.

        16 03 03 FF FF     record: handshake, TLS 1.2, length 65535 (limit 2^14, RFC 8446 §5.1)
        02 FF FF FF        handshake: ServerHello, length 16777215
        03 03 <random...>  server_version and the start of random; then nothing
    """
    if len(random_bytes) < 58:
        raise ValueError("malformed_tls_reply needs 58 random bytes")
    return bytes.fromhex("160303ffff" "02ffffff" "0303") + random_bytes[:58]


def malformed_modbus_replies(transaction: int, unit: int, function_code: int) -> tuple[bytes, bytes]:
    """The two broken answers to one request: (length 0xFFFF, wrong protocol identifier).

    MBAP header (Modbus Messaging on TCP/IP v1.0b §3.1.3): transaction id, protocol id
    (0 = Modbus), length of unit id + PDU, unit id. Both PDUs are an exception response
    "illegal function" (function code | 0x80, 0x01).
    """
    pdu = bytes((function_code | 0x80, 0x01))
    oversized = _MBAP.pack(transaction, 0x0000, 0xFFFF, unit) + pdu + b"\x00"
    wrong_protocol = _MBAP.pack(transaction, 0x0001, 1 + len(pdu), unit) + pdu
    return oversized, wrong_protocol


def billion_laughs(path: str) -> bytes:
    """An XML document whose one text node expands to 10**9 "lol"s (about 1 KB unexpanded).

    The root is SEMP's ``Device2EM`` when ``path`` names SEMP (``/semp/``,
    ``/SimpleEnergyManagementProtocol/``), else a UPnP device description, so the
    parser that chokes is the one the probe really uses for that document.
    """
    entities = ['  <!ENTITY lol "lol">']
    for level in range(1, BILLION_LAUGHS_DEPTH + 1):
        previous = "lol" if level == 1 else f"lol{level - 1}"
        entities.append(f'  <!ENTITY lol{level} "{("&" + previous + ";") * 10}">')
    bomb = f"&lol{BILLION_LAUGHS_DEPTH};"
    if "semp" in path.lower() or "simpleenergymanagementprotocol" in path.lower():
        root = "Device2EM"
        body = (
            '<Device2EM xmlns="http://www.sma.de/communication/schema/SEMP/v1">'
            f"<DeviceInfo><Identification><DeviceId>F-00000000-000000000000-00</DeviceId><DeviceName>{bomb}</DeviceName>"
            "</Identification></DeviceInfo></Device2EM>"
        )
    else:
        root = "root"
        body = (
            '<root xmlns="urn:schemas-upnp-org:device-1-0"><specVersion><major>1</major><minor>0</minor></specVersion>'
            f"<device><deviceType>urn:schemas-simple-energy-management-protocol:device:Gateway:1</deviceType>"
            f"<friendlyName>{bomb}</friendlyName><UDN>uuid:00000000-0000-0000-0000-000000000000</UDN></device></root>"
        )
    text = '<?xml version="1.0" encoding="utf-8"?>\n' + f"<!DOCTYPE {root} [\n" + "\n".join(entities) + "\n]>\n" + body + "\n"
    return text.encode("ascii")


# --- the connection handlers ---------------------------------------------------------------


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _discard_until_eof(reader: asyncio.StreamReader) -> None:
    """Hold the connection: read and drop whatever comes until the peer closes."""
    while await reader.read(_CHUNK):
        pass


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    """The client's first bytes (up to a blank line, or whatever one read brought)."""
    data = await reader.read(_MAXIMUM_REQUEST)
    while data and b"\r\n\r\n" not in data and len(data) < _MAXIMUM_REQUEST:
        more = await reader.read(_MAXIMUM_REQUEST - len(data))
        if not more:
            break
        data += more
    return data


def _handler(options: Options, generator: random.Random) -> Handler:
    def garbage() -> bytes:
        return generator.randbytes(options.garbage_bytes)

    async def huge_banner(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(options.prefix_bytes)
        remaining = options.banner_bytes - len(options.prefix_bytes)
        chunk = _FILLER * _CHUNK
        while remaining > 0:
            writer.write(chunk[:remaining])
            remaining -= min(remaining, len(chunk))
            await writer.drain()  # waits for the peer to read: memory stays one chunk
        await _discard_until_eof(reader)

    async def send_garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(garbage())
        await writer.drain()
        while await reader.read(_CHUNK):
            writer.write(garbage())
            await writer.drain()

    async def tls_garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not await reader.read(_MAXIMUM_REQUEST):
            return
        writer.write(malformed_tls_reply(generator.randbytes(58)))
        await writer.drain()
        # returning closes the connection: the record stays truncated

    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(options.prefix_bytes)
        await writer.drain()
        await _discard_until_eof(reader)

    async def endless_header(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not await _read_request(reader):
            return
        writer.write(b"HTTP/1.1 200 OK\r\n")
        ticks_per_second = 4
        per_tick = max(1, options.header_bytes_per_second // ticks_per_second)
        numbers = itertools.count(1)
        while True:
            sent = 0
            while sent < per_tick:
                line = f"X-Hostile-{next(numbers):08d}: ".encode() + b"a" * 40 + b"\r\n"
                writer.write(line)
                sent += len(line)
            await writer.drain()  # a peer that left surfaces here as ConnectionResetError
            await asyncio.sleep(1 / ticks_per_second)

    async def xml_bomb(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await _read_request(reader)
        if not request:
            return
        request_line = request.split(b"\r\n", 1)[0].decode("latin-1")
        parts = request_line.split(" ")
        path = parts[1] if len(parts) >= 2 else "/"
        body = billion_laughs(path)
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/xml; charset=utf-8\r\nConnection: close\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode("ascii")
            + body
        )
        await writer.drain()

    async def malformed_modbus(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for number in itertools.count():
            transaction, _protocol, length, unit = _MBAP.unpack(await reader.readexactly(_MBAP.size))
            # the PDU: at most a valid ADU's worth; a hostile length is not trusted either
            pdu = await reader.readexactly(max(0, min(length, 254) - 1))
            oversized, wrong_protocol = malformed_modbus_replies(transaction, unit, pdu[0] if pdu else 0)
            writer.write(oversized if number % 2 == 0 else wrong_protocol)
            await writer.drain()

    async def slowloris(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for byte in itertools.chain(options.prefix_bytes, itertools.repeat(_TRICKLE[0])):
            writer.write(bytes((byte,)))
            await writer.drain()
            await asyncio.sleep(options.trickle_interval)

    handlers: dict[Misbehaviour, Handler] = {
        Misbehaviour.HUGE_BANNER: huge_banner,
        Misbehaviour.GARBAGE: send_garbage,
        Misbehaviour.TLS_GARBAGE: tls_garbage,
        Misbehaviour.STALL: stall,
        Misbehaviour.ENDLESS_HEADER: endless_header,
        Misbehaviour.XML_BOMB: xml_bomb,
        Misbehaviour.MALFORMED_MODBUS: malformed_modbus,
        Misbehaviour.SLOWLORIS: slowloris,
    }
    return handlers[options.misbehaviour]


async def serve(bind: str, ports: Sequence[int], options: Options, *, context: ServiceContext) -> Running:
    """Misbehave on every port of ``ports`` (UDP for ``udp_garbage``, else TCP)."""
    generator = random.Random(options.seed)
    if options.misbehaviour is Misbehaviour.UDP_GARBAGE:
        responder = DatagramResponder(lambda _datagram: [generator.randbytes(options.garbage_bytes)])
        await responder.open(bind, ports)

        async def close_responder() -> None:
            responder.close()

        return Running(ports=responder.ports, close=close_responder)
    listeners = TcpListeners(_handler(options, generator), logger=log)
    await listeners.start(bind, ports)
    return Running(ports=listeners.ports, close=listeners.close)


def _port_transport(argv: Sequence[str] | None) -> Transport:
    """UDP when the command line's ``--port`` values say ``/udp``, else TCP."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    values = [
        (argument.split("=", 1)[1] if argument.startswith("--port=") else following)
        for argument, following in zip(arguments, [*arguments[1:], ""])
        if argument == "--port" or argument.startswith("--port=")
    ]
    return Transport.UDP if any(value.lower().endswith("/udp") for value in values) else Transport.TCP


def main(argv: list[str] | None = None) -> int:
    transport = _port_transport(argv)

    async def serve_checked(bind: str, ports: Sequence[int], options: Options, *, context: ServiceContext) -> Running:
        if options.misbehaviour.transport is not transport:
            wanted = options.misbehaviour.transport.value
            raise LabError(f"hostile: misbehaviour {options.misbehaviour.value!r} serves {wanted} ports; list them as \"N/{wanted}\"")
        return await serve(bind, ports, options, context=context)

    return run_service(argv, kind="hostile", transport=transport, options_type=Options, serve=serve_checked)


if __name__ == "__main__":
    raise SystemExit(main())
