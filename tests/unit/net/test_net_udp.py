"""porthole.net.udp: one-datagram probes against real UDP sockets on loopback.

The responder is an asyncio datagram endpoint whose answers are scripted per test.
Closed ports use a fresh kernel-chosen port each time; Linux does not rate-limit
ICMP errors on loopback, and a fresh port keeps one test's ICMP from reaching another.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import cast

import pytest

from porthole.net.udp import DatagramResult, datagram_probe

Script = Callable[[bytes], list[bytes]]


class Responder(asyncio.DatagramProtocol):
    """Records every datagram it receives and answers with ``script(datagram)``."""

    def __init__(self, script: Script) -> None:
        self.received: asyncio.Queue[bytes] = asyncio.Queue()
        self._script = script
        self._transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)  # asyncio's selector transport does not subclass it

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received.put_nowait(data)
        assert self._transport is not None
        for answer in self._script(data):
            self._transport.sendto(answer, addr)


@asynccontextmanager
async def responder(script: Script, host: str = "127.0.0.1") -> AsyncIterator[tuple[int, Responder]]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(lambda: Responder(script), local_addr=(host, 0))
    try:
        yield transport.get_extra_info("sockname")[1], protocol
    finally:
        transport.close()


def closed_udp_port(family: socket.AddressFamily = socket.AF_INET, host: str = "127.0.0.1") -> int:
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
async def test_datagram_probe_returns_the_reply_bytes(host: str) -> None:
    # Given a responder that answers every datagram
    async with responder(lambda data: [b"pong:" + data], host) as (port, service):
        # When probed with a payload
        async with asyncio.timeout(5):
            outcome = await datagram_probe(host, port, b"ping")
            sent = await service.received.get()
    # Then the probe reports REPLY with the answer's bytes, and the payload arrived intact
    assert outcome.result is DatagramResult.REPLY
    assert outcome.reply == b"pong:ping"
    assert outcome.rtt_s >= 0 and outcome.detail is None
    assert sent == b"ping"


@pytest.mark.parametrize(
    ("family", "host"),
    [pytest.param(socket.AF_INET, "127.0.0.1", id="ipv4"), pytest.param(socket.AF_INET6, "::1", id="ipv6")],
)
async def test_datagram_probe_to_a_closed_port_reports_port_unreachable(family: socket.AddressFamily, host: str) -> None:
    # Given a port nobody listens on / When probed
    async with asyncio.timeout(5):
        outcome = await datagram_probe(host, closed_udp_port(family, host), b"ping")
    # Then the kernel's ICMP port-unreachable ends the wait at once
    assert outcome.result is DatagramResult.PORT_UNREACHABLE
    assert outcome.reply == b""


async def test_datagram_probe_skips_datagrams_accept_rejects() -> None:
    # Given a responder that first sends garbage, then the real answer
    async with responder(lambda _: [b"\x00garbage", b"GOOD answer"]) as (port, _service):
        # When the caller accepts only well-formed answers
        async with asyncio.timeout(5):
            outcome = await datagram_probe("127.0.0.1", port, b"q", accept=lambda data: data.startswith(b"GOOD"))
    # Then the garbage is ignored and the second datagram is the reply
    assert outcome.result is DatagramResult.REPLY
    assert outcome.reply == b"GOOD answer"


async def test_silence_is_ended_by_the_callers_timeout() -> None:
    # Given a responder that receives but never answers
    async with responder(lambda _: []) as (port, service):
        # When the caller bounds the probe / Then the probe does not return on its own
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await datagram_probe("127.0.0.1", port, b"hello?")
        # and the datagram was sent (silence came from the peer, not from us)
        assert service.received.get_nowait() == b"hello?"


async def test_silence_with_only_rejected_datagrams_is_still_silence() -> None:
    async with responder(lambda _: [b"not what we asked"]) as (port, service):
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await datagram_probe("127.0.0.1", port, b"q", accept=lambda _: False)
        assert service.received.qsize() == 1


async def test_an_empty_payload_is_sent_as_a_zero_byte_datagram() -> None:
    # Given a responder that answers even empty datagrams (as many UDP services do)
    async with responder(lambda data: [b"len=%d" % len(data)]) as (port, service):
        # When probed with no payload (nmap's probe for an unknown UDP port)
        async with asyncio.timeout(5):
            outcome = await datagram_probe("127.0.0.1", port, b"")
            sent = await service.received.get()
    # Then a 0-byte datagram really went out and its answer came back
    assert sent == b""
    assert outcome.result is DatagramResult.REPLY
    assert outcome.reply == b"len=0"
