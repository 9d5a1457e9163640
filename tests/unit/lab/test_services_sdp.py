"""lab.services.sdp: ISO 15118 SECC Discovery over real UDP sockets (IPv4 and IPv6 loopback)."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncio_dgram
import pytest

from lab.services._common import Running, ServiceContext
from lab.services.sdp import Options, SecurityMode, serve

REQUEST_NO_TLS = bytes.fromhex("01fe9000000000021000")
REQUEST_TLS = bytes.fromhex("01fe9000000000020000")


@pytest.fixture
async def start(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[Running]]]:
    started: list[Running] = []
    context = ServiceContext(state_dir=tmp_path / "site" / "master", name="master")

    async def starter(bind: str = "127.0.0.1", **options: object) -> Running:
        running = await serve(bind, [0], Options(**options), context=context)  # type: ignore[arg-type]
        started.append(running)
        return running

    yield starter
    for running in started:
        await running.close()


async def ask(host: str, port: int, payload: bytes, *, wait: float = 2.0) -> bytes | None:
    client = await asyncio_dgram.bind((host, 0))
    try:
        await client.send(payload, (host, port))
        try:
            async with asyncio.timeout(wait):
                data, _source = await client.recv()
        except TimeoutError:
            return None
        return data
    finally:
        client.close()


def decode(response: bytes) -> tuple[bytes, ipaddress.IPv6Address, int, int, int]:
    return (
        response[:8],
        ipaddress.IPv6Address(response[8:24]),
        int.from_bytes(response[24:26], "big"),
        response[26],
        response[27],
    )


async def test_no_tls_secc_answers_a_28_byte_response_with_its_mapped_address(start) -> None:
    # Given the default responder (no TLS) on IPv4 loopback
    running = await start()
    # When the standard request is sent
    response = await ask("127.0.0.1", running.ports[0], REQUEST_NO_TLS)
    # Then a 28-byte SDP response names ::ffff:127.0.0.1, port 15119, no TLS, TCP
    assert response is not None and len(response) == 28
    header, address, port, security, transport = decode(response)
    assert header == bytes.fromhex("01fe900100000014")
    assert address == ipaddress.IPv6Address("::ffff:127.0.0.1")
    assert (port, security, transport) == (15119, 0x10, 0x00)


async def test_tls_enforcing_secc_answers_tls_even_when_asked_for_no_tls(start) -> None:
    # Given a TLS-enforcing SECC, When a no-TLS request arrives
    running = await start(security=SecurityMode.TLS)
    response = await ask("127.0.0.1", running.ports[0], REQUEST_NO_TLS)
    # Then the answer says TLS on 15120
    assert response is not None
    _header, _address, port, security, _transport = decode(response)
    assert (port, security) == (15120, 0x00)


@pytest.mark.parametrize(("request_bytes", "security", "port"), [(REQUEST_TLS, 0x00, 15120), (REQUEST_NO_TLS, 0x10, 15119)])
async def test_client_mode_echoes_the_requested_security(start, request_bytes: bytes, security: int, port: int) -> None:
    running = await start(security=SecurityMode.CLIENT)
    response = await ask("127.0.0.1", running.ports[0], request_bytes)
    assert response is not None
    assert decode(response)[2:4] == (port, security)


async def test_options_set_port_and_address(start) -> None:
    # Given explicit tcp_port and secc_address
    running = await start(tcp_port=51000, secc_address="fe80::1234")
    response = await ask("127.0.0.1", running.ports[0], REQUEST_NO_TLS)
    # Then the answer carries them
    assert response is not None
    _header, address, port, _security, _transport = decode(response)
    assert (address, port) == (ipaddress.IPv6Address("fe80::1234"), 51000)


async def test_ipv6_request_is_answered_with_the_ipv6_address_it_reached(start) -> None:
    # Given a responder bound to ::1, When a request arrives over IPv6
    running = await start("::1")
    response = await ask("::1", running.ports[0], REQUEST_NO_TLS)
    # Then the SECC address in the answer is ::1
    assert response is not None
    assert decode(response)[1] == ipaddress.IPv6Address("::1")


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        REQUEST_NO_TLS[:9],
        REQUEST_NO_TLS + b"\x00",
        bytes.fromhex("02fd9000000000021000"),  # wrong version / inverse
        bytes.fromhex("01fe8001000000021000"),  # EXI payload type
        bytes.fromhex("01fe9000000000031000"),  # length field 3
        bytes.fromhex("01fe9000000000022000"),  # undefined security value
        bytes.fromhex("01fe9000000000021020"),  # undefined transport value
        b"\xff" * 10,
    ],
    ids=["empty", "short", "long", "version", "type", "length", "security", "transport", "garbage"],
)
async def test_malformed_requests_get_no_reply_and_the_responder_survives(start, payload: bytes) -> None:
    # Given the responder, When a malformed request is sent, Then nothing comes back
    running = await start()
    assert await ask("127.0.0.1", running.ports[0], payload, wait=0.3) is None
    # and a valid request right after is still answered
    assert await ask("127.0.0.1", running.ports[0], REQUEST_NO_TLS) is not None
