"""lab.services.forward: bytes relayed both ways, both ends closed on EOF, peer-less forwarder."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from lab.services._common import Running, ServiceContext
from lab.services.forward import Options, serve


@pytest.fixture
def context(tmp_path: Path) -> ServiceContext:
    return ServiceContext(state_dir=tmp_path / "site" / "slave", name="slave")


@pytest.fixture
async def echo_peer() -> AsyncIterator[tuple[int, asyncio.Queue[bytes]]]:
    """A peer that greets, echoes upper-cased, and records what it received before EOF."""
    received: asyncio.Queue[bytes] = asyncio.Queue()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hello from peer\n")
        collected = b""
        while chunk := await reader.read(65536):
            collected += chunk
            writer.write(chunk.upper())
            await writer.drain()
        await received.put(collected)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1], received
    server.close()
    await server.wait_closed()


async def test_bytes_flow_both_ways_and_eof_closes_both_ends(echo_peer, context: ServiceContext) -> None:
    # Given a forwarder to the echo peer
    peer_port, received = echo_peer
    running = await serve("127.0.0.1", [0], Options(to_address="127.0.0.1", port=peer_port), context=context)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", running.ports[0])
        # When the client reads the greeting and sends data
        async with asyncio.timeout(2):
            assert await reader.readline() == b"hello from peer\n"
            writer.write(b"abc")
            await writer.drain()
            assert await reader.readexactly(3) == b"ABC"
            # and then closes its sending side
            writer.write_eof()
            # Then the peer saw exactly the client's bytes and its connection ended,
            # and the client's side is closed by the forwarder
            assert await received.get() == b"abc"
            assert await reader.read() == b""
        writer.close()
        await writer.wait_closed()
    finally:
        await running.close()


async def test_large_transfer_is_relayed_intact(echo_peer, context: ServiceContext) -> None:
    # Given a forwarder, When 1 MiB goes through it
    peer_port, received = echo_peer
    running = await serve("127.0.0.1", [0], Options(to_address="127.0.0.1", port=peer_port), context=context)
    payload = bytes(range(256)) * 4096
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", running.ports[0])
        async with asyncio.timeout(10):
            await reader.readline()

            async def send() -> None:
                writer.write(payload)
                await writer.drain()
                writer.write_eof()

            sender = asyncio.create_task(send())
            echoed = await reader.read(-1)
            await sender
        writer.close()
        await writer.wait_closed()
    finally:
        await running.close()
    # Then the peer got it byte for byte and the echo came back whole
    assert await received.get() == payload
    assert echoed == payload.upper()


async def test_forwarder_without_peer_closes_the_client_silently(context: ServiceContext) -> None:
    # Given a forwarder whose peer port is closed
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    running = await serve("127.0.0.1", [0], Options(to_address="127.0.0.1", port=closed_port), context=context)
    try:
        # When a client connects
        reader, writer = await asyncio.open_connection("127.0.0.1", running.ports[0])
        # Then the connection is accepted and closed without a byte
        async with asyncio.timeout(2):
            assert await reader.read() == b""
        writer.close()
        await writer.wait_closed()
    finally:
        await running.close()


def test_site_options_with_the_peer_name_are_accepted() -> None:
    # Given the options lab.daemons passes (site's `to` + `port`, plus the resolved `to_address`)
    from lab.services._common import options_from_mapping

    options = options_from_mapping(Options, {"to": "master", "port": 443, "to_address": "198.18.0.10"}, kind="forward")
    # Then they parse into the forwarder's options
    assert (options.to, options.to_address, options.port) == ("master", "198.18.0.10", 443)
