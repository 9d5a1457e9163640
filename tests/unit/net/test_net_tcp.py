"""porthole.net.tcp: connect probes against real loopback sockets, and a FIN (not RST) close.

"Clean close" is judged where it matters, at the server: its read ends with EOF
(b"") rather than ConnectionResetError. A control test closes *without* draining to
show the same check does see a reset, so the clean-close tests can fail.
"""

from __future__ import annotations

import asyncio
import select
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from porthole.net.tcp import ConnectResult, close_gently, connect_probe

BANNER = b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"
EOF, RESET = "eof", "reset"


def closed_port(family: socket.AddressFamily = socket.AF_INET, host: str = "127.0.0.1") -> int:
    """A port nothing listens on: bound once by the kernel's choice, then released."""
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


@asynccontextmanager
async def recording_server(host: str = "127.0.0.1", banner: bytes = b"") -> AsyncIterator[tuple[int, asyncio.Queue[str]]]:
    """A TCP server that optionally greets, then reads to the end and records how it ended."""
    endings: asyncio.Queue[str] = asyncio.Queue()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if banner:
                writer.write(banner)
                await writer.drain()
            rest = await reader.read()  # until EOF
            endings.put_nowait(EOF if rest == b"" else f"data:{rest!r}")
        except ConnectionResetError:
            endings.put_nowait(RESET)
        finally:
            writer.close()

    server = await asyncio.start_server(handle, host, 0)
    async with server:
        yield server.sockets[0].getsockname()[1], endings


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
async def test_connect_probe_to_a_listener_is_connected_and_the_server_sees_eof(host: str) -> None:
    # Given a listening server on loopback
    async with recording_server(host) as (port, endings):
        # When the probe connects and closes
        async with asyncio.timeout(5):
            outcome = await connect_probe(host, port)
            ending = await endings.get()
    # Then it reports CONNECTED, and the server's read ended with FIN, not RST
    assert outcome.result is ConnectResult.CONNECTED
    assert outcome.rtt_s >= 0 and outcome.detail is None
    assert ending == EOF


@pytest.mark.parametrize(("family", "host"), [pytest.param(socket.AF_INET, "127.0.0.1", id="ipv4"), pytest.param(socket.AF_INET6, "::1", id="ipv6")])
async def test_connect_probe_to_a_closed_port_is_refused(family: socket.AddressFamily, host: str) -> None:
    # Given a port nobody listens on / When probed / Then the kernel's RST means REFUSED
    async with asyncio.timeout(5):
        outcome = await connect_probe(host, closed_port(family, host))
    assert outcome.result is ConnectResult.REFUSED
    assert outcome.rtt_s >= 0


async def test_connect_probe_to_a_banner_service_is_connected_and_the_server_sees_eof() -> None:
    # Given a server that greets first, like SSH
    async with recording_server(banner=BANNER) as (port, endings):
        async with asyncio.timeout(5):
            outcome = await connect_probe("127.0.0.1", port)
            ending = await endings.get()
    # Then the probe still reports CONNECTED and the server's read ends with EOF.
    # (The probe closes as soon as the handshake completes, usually before the banner
    # arrives; see test_close_gently_* for the case where it is already there.)
    assert outcome.result is ConnectResult.CONNECTED
    assert ending == EOF


def server_ending_after_banner(close: Callable[[socket.socket], None]) -> str:
    """Connect, let the server's banner arrive unread at the client, close with ``close``,
    and return how the server's next read ends."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname(), timeout=5)
        client.setblocking(False)  # as connect_probe's socket is
        server_side, _ = listener.accept()
        with server_side, client:  # client is closed by ``close``; a second close is a no-op
            server_side.settimeout(5)
            server_side.sendall(BANNER)
            # The banner is now in the client's receive queue (readable), still unread
            readable, _, _ = select.select([client], [], [], 5)
            assert readable == [client], "banner did not arrive"
            close(client)
            try:
                return EOF if server_side.recv(4096) == b"" else "data"
            except ConnectionResetError:
                return RESET


def test_close_gently_drains_an_unread_banner_so_the_server_sees_eof() -> None:
    assert server_ending_after_banner(close_gently) == EOF


def test_plain_close_with_an_unread_banner_resets_the_server() -> None:
    # Control for the test above: Linux answers close() with unread data by RST
    # (RFC 2525 §2.17), and the server-side check does detect it.
    assert server_ending_after_banner(socket.socket.close) == RESET


class ResetWatcher:
    """Counts TCP segments with RST set to or from one port on loopback (raw socket, root)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
        self.sock.setblocking(False)

    def resets(self) -> int:
        count = 0
        while select.select([self.sock], [], [], 0)[0]:
            packet = self.sock.recv(65535)
            header = (packet[0] & 0x0F) * 4
            source, destination = int.from_bytes(packet[header:header + 2], "big"), int.from_bytes(packet[header + 2:header + 4], "big")
            if self.port in (source, destination) and packet[header + 13] & 0x04:
                count += 1
        return count

    def close(self) -> None:
        self.sock.close()


async def test_a_service_that_greets_late_still_gets_fin_not_rst() -> None:
    # Given a service that sends its banner a moment after accepting (as sshd does)
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(0.02)
        writer.write(BANNER)
        try:
            await writer.drain()
            await reader.read()
        except ConnectionError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    watcher = ResetWatcher(port)
    try:
        async with server:
            # When porthole probes it
            outcome = await connect_probe("127.0.0.1", port)
            await asyncio.sleep(0.1)
        # Then the connection ended without a single RST on the wire
        assert outcome.result is ConnectResult.CONNECTED
        assert watcher.resets() == 0
    finally:
        watcher.close()
