"""lab.services.v2g: a silent V2GTP listener that hangs up on malformed headers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from lab.services._common import Running, ServiceContext
from lab.services.v2g import Options, is_valid_header, serve


@pytest.fixture
async def listener(tmp_path: Path) -> AsyncIterator[Running]:
    context = ServiceContext(state_dir=tmp_path / "site" / "master", name="master")
    running = await serve("127.0.0.1", [0], Options(), context=context)
    yield running
    await running.close()


async def read_or_silence(reader: asyncio.StreamReader, wait: float) -> bytes | None:
    """The next bytes (b"" = server closed), or None if the server stayed silent for ``wait``."""
    try:
        async with asyncio.timeout(wait):
            return await reader.read(100)
    except TimeoutError:
        return None


async def test_listener_never_speaks_first(listener: Running) -> None:
    # Given a fresh connection, When the client says nothing, Then the server says nothing
    reader, writer = await asyncio.open_connection("127.0.0.1", listener.ports[0])
    assert await read_or_silence(reader, 0.3) is None
    writer.close()
    await writer.wait_closed()


@pytest.mark.parametrize(
    "payload",
    [
        b"GET / HTTP/1.1\r\n\r\n",
        bytes.fromhex("02fd800100000000"),  # wrong version bytes
        bytes.fromhex("01fe123400000000"),  # undefined payload type
        bytes.fromhex("01fe8001ffffffff"),  # length far above the bound
    ],
    ids=["http", "version", "type", "length"],
)
async def test_malformed_header_is_answered_by_a_silent_close(listener: Running, payload: bytes) -> None:
    # Given a connection, When a malformed V2GTP header arrives
    reader, writer = await asyncio.open_connection("127.0.0.1", listener.ports[0])
    writer.write(payload)
    await writer.drain()
    # Then the server closes without sending a byte
    assert await read_or_silence(reader, 2.0) == b""
    writer.close()
    await writer.wait_closed()


async def test_well_formed_message_is_read_silently_and_the_connection_kept(listener: Running) -> None:
    # Given a well-formed EXI message (payload content is not interpreted)
    reader, writer = await asyncio.open_connection("127.0.0.1", listener.ports[0])
    writer.write(bytes.fromhex("01fe800100000003") + b"\x80\x00\x00")
    await writer.drain()
    # When the server has read it, Then it neither answers nor closes
    assert await read_or_silence(reader, 0.3) is None
    # and a malformed header afterwards still closes the connection
    writer.write(b"\x00" * 8)
    await writer.drain()
    assert await read_or_silence(reader, 2.0) == b""
    writer.close()
    await writer.wait_closed()


@pytest.mark.parametrize(
    ("header", "valid"),
    [
        ("01fe800100000000", True),
        ("01fe900000000002", True),
        ("01fea00000000010", True),  # manufacturer specific
        ("01fe800100002001", False),  # 8193 > default bound 8192
        ("01ff800100000000", False),
        ("01fe7fff00000000", False),
    ],
)
def test_header_validation_table(header: str, valid: bool) -> None:
    assert is_valid_header(bytes.fromhex(header), max_payload=8192) is valid
