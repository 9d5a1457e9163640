"""Small loopback peers for the SEMP and SSDP probe tests: scripted HTTP servers and UDP responders.

Each records what it received, so tests can assert what the probe sent (GET only,
how many requests, which search targets) as well as what it concluded.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import asyncio_dgram

from porthole.model import PortObservation, PortState, Protocol, Reason
from porthole.services.base import ProbeContext, ProbeLimits
from porthole.targets import Target

XML_BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(f'<!ENTITY lol{n} "{("&lol" + (str(n - 1) if n > 1 else "") + ";") * 10}">'.encode() for n in range(1, 10))
    + b"]><root><device><friendlyName>&lol9;</friendlyName></device></root>"
)


def http_response(body: bytes, *, status: str = "200 OK", content_type: str = "text/xml", extra: str = "") -> bytes:
    return (
        f"HTTP/1.1 {status}\r\nServer: hostile/1.0\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n"
    ).encode() + body


Handler = Callable[[bytes, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class HttpPeer:
    """A raw HTTP/1.1 server on loopback: reads one request head, then runs ``handler``."""

    handler: Handler
    host: str = "127.0.0.1"
    request_heads: list[bytes] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task] = field(default_factory=set)

    @property
    def request_lines(self) -> list[str]:
        return [head.split(b"\r\n", 1)[0].decode("latin-1") for head in self.request_heads]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._tasks.add(asyncio.current_task())  # type: ignore[arg-type]
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            self.request_heads.append(head)
            await self.handler(head, writer)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            self._tasks.discard(asyncio.current_task())  # type: ignore[arg-type]
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def __aenter__(self) -> "HttpPeer":
        self._server = await asyncio.start_server(self._serve, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()


def respond_with(payload: bytes) -> Handler:
    async def handler(_head: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(payload)
        await writer.drain()

    return handler


def stall() -> Handler:
    async def handler(_head: bytes, _writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(3600)

    return handler


def send_ten_megabytes() -> Handler:
    async def handler(_head: bytes, writer: asyncio.StreamWriter) -> None:
        size = 10 * 1024 * 1024
        writer.write(f"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {size}\r\n\r\n".encode())
        chunk = b"<root>" + b" " * (64 * 1024 - 6)
        for _ in range(size // len(chunk)):
            writer.write(chunk)
            await writer.drain()  # raises once the probe has hung up: the peer stops

    return handler


@dataclass
class UdpPeer:
    """A UDP responder on loopback: ``answer(payload) -> datagrams`` sent back from ``reply_from``.

    ``reply_from`` is ``"same"`` (the listening socket), ``"other-port"`` (a second socket
    on the same address: the §7.1 gotcha) or an address (a second socket there: a stranger).
    """

    answer: Callable[[bytes], list[bytes]]
    host: str = "127.0.0.1"
    reply_from: str = "same"
    received: list[bytes] = field(default_factory=list)
    port: int = 0
    reply_port: int = 0
    _listener: asyncio_dgram.DatagramServer | None = None
    _sender: asyncio_dgram.DatagramServer | None = None
    _task: asyncio.Task | None = None

    @property
    def search_targets(self) -> list[str]:
        targets = []
        for payload in self.received:
            for line in payload.decode("latin-1").split("\r\n"):
                if line.upper().startswith("ST:"):
                    targets.append(line[3:].strip())
        return targets

    async def _loop(self) -> None:
        assert self._listener is not None
        while True:
            data, source = await self._listener.recv()
            self.received.append(data)
            sender = self._sender or self._listener
            for datagram in self.answer(data):
                await sender.send(datagram, source[:2])

    async def __aenter__(self) -> "UdpPeer":
        self._listener = await asyncio_dgram.bind((self.host, 0))
        self.port = self._listener.sockname[1]
        if self.reply_from != "same":
            address = self.host if self.reply_from == "other-port" else self.reply_from
            self._sender = await asyncio_dgram.bind((address, 0))
        self.reply_port = (self._sender or self._listener).sockname[1]
        self._task = asyncio.create_task(self._loop())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None and self._listener is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, asyncio_dgram.TransportClosed):
            await self._task
        self._listener.close()
        if self._sender is not None:
            self._sender.close()


def ssdp_reply(*, location: str, st: str = "upnp:rootdevice", server: str = "Hostile/1.0 UPnP/1.0 test/1") -> bytes:
    return (
        "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=60\r\nEXT:\r\n"
        f"LOCATION: {location}\r\nSERVER: {server}\r\nST: {st}\r\nUSN: uuid:00000000-0000-0000-0000-000000000001::{st}\r\n\r\n"
    ).encode()


@dataclass
class Paces:
    count: int = 0

    async def __call__(self) -> None:
        self.count += 1


def probe_context(
    *,
    port: int,
    protocol: Protocol,
    service: str,
    address: str = "127.0.0.1",
    hostname: str | None = None,
    limits: ProbeLimits | None = None,
    pace: Paces | None = None,
    state: PortState = PortState.OPEN,
) -> ProbeContext:
    observation = PortObservation(port=port, protocol=protocol, state=state, reason=Reason.SYN_ACK if protocol is Protocol.TCP else Reason.REPLY, service=service)
    return ProbeContext(
        target=Target(address=ipaddress.ip_address(address), hostname=hostname, spec=hostname or address),
        observation=observation,
        limits=limits or ProbeLimits(),
        pace=pace or Paces(),
        version="0.1.0",
    )
