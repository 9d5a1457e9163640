"""lab.services.hostile: each misbehaviour really happens, over real sockets on loopback.

Every read here is bounded in bytes and time, as a probe's would be: the peer under
test is hostile by design.
"""

from __future__ import annotations

import asyncio
import functools
import random
import re
import struct
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import asyncio_dgram
import defusedxml.ElementTree
import pytest
from defusedxml import EntitiesForbidden

from lab.services._common import Running, ServiceContext, options_from_mapping
from lab.services.hostile import Misbehaviour, Options, billion_laughs, main, malformed_modbus_replies, serve
from porthole.errors import LabError

MODBUS_DEVICE_IDENTIFICATION = bytes.fromhex("000100000005FF2B0E0100")


@asynccontextmanager
async def hostile(tmp_path: Path, **options: object) -> AsyncIterator[Running]:
    context = ServiceContext(state_dir=tmp_path / "site" / "hostile", name="hostile")
    running = await serve("127.0.0.1", [0], Options(**options), context=context)  # type: ignore[arg-type]
    try:
        yield running
    finally:
        await running.close()


@asynccontextmanager
async def connection(running: Running) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", running.ports[0])
    try:
        yield reader, writer
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass  # the hostile side may have reset it


async def read_exactly(reader: asyncio.StreamReader, count: int, *, within: float = 10.0) -> bytes:
    async with asyncio.timeout(within):
        return await reader.readexactly(count)


async def read_until(reader: asyncio.StreamReader, done: Callable[[bytes], bool], *, limit: int, within: float = 10.0) -> bytes:
    data = b""
    async with asyncio.timeout(within):
        while not done(data) and len(data) < limit:
            chunk = await reader.read(limit - len(data))
            if not chunk:
                break
            data += chunk
    return data


async def assert_silent_and_open(reader: asyncio.StreamReader, *, for_seconds: float = 0.3) -> None:
    """Nothing more arrives for a while, and the connection is not closed either."""
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(for_seconds):
            await reader.read(1)


# --- huge_banner -------------------------------------------------------------------------


async def test_huge_banner_sends_ten_megabytes_without_a_newline_then_holds(tmp_path: Path) -> None:
    # Given the default huge banner, with a protocol-looking start
    async with hostile(tmp_path, misbehaviour=Misbehaviour.HUGE_BANNER, prefix="SSH-2.0-") as running, connection(running) as (reader, _writer):
        # When exactly 10 MiB are read
        banner = await read_exactly(reader, 10 * 1024 * 1024)
        # Then they start with the prefix, hold no line end, and the connection then stays open and silent
        assert banner.startswith(b"SSH-2.0-AAAA")
        assert b"\n" not in banner and b"\r" not in banner
        await assert_silent_and_open(reader)


# --- garbage -----------------------------------------------------------------------------


async def test_garbage_arrives_on_connect_and_after_every_read(tmp_path: Path) -> None:
    # Given a seeded garbage peer
    async with hostile(tmp_path, misbehaviour=Misbehaviour.GARBAGE, garbage_bytes=300, seed=7) as running, connection(running) as (reader, writer):
        expected = random.Random(7)
        # When the client connects, Then a burst of random bytes arrives unasked
        assert await read_exactly(reader, 300) == expected.randbytes(300)
        # And each thing the client sends draws another burst
        for request in (b"GET / HTTP/1.1\r\n\r\n", b"\x16\x03\x01\x00\x05hello"):
            writer.write(request)
            assert await read_exactly(reader, 300) == expected.randbytes(300)
        await assert_silent_and_open(reader)


# --- tls_garbage ---------------------------------------------------------------------------


async def test_tls_garbage_answers_a_client_hello_with_absurd_lengths_then_cuts_off(tmp_path: Path) -> None:
    async with hostile(tmp_path, misbehaviour=Misbehaviour.TLS_GARBAGE) as running, connection(running) as (reader, writer):
        # Given a connected client that has not spoken yet, Then the peer is silent
        await assert_silent_and_open(reader)
        # When the client sends (the start of) a ClientHello
        writer.write(bytes.fromhex("16030100a5010000a10303") + bytes(32))
        reply = await read_until(reader, lambda _data: False, limit=70_000)
        # Then one handshake record claims 65535 bytes, its ServerHello claims 16 MiB, and EOF follows 64 body bytes
        record_type, version, record_length = struct.unpack(">BHH", reply[:5])
        assert (record_type, version, record_length) == (0x16, 0x0303, 0xFFFF)
        assert reply[5] == 0x02 and int.from_bytes(reply[6:9], "big") == 0xFFFFFF
        assert len(reply) == 5 + 64
        assert reader.at_eof()


# --- stall -------------------------------------------------------------------------------


@pytest.mark.parametrize("partial", ["SSH-2.0-", "HTTP/1.1 200 OK\r\n"])
async def test_stall_sends_a_partial_answer_then_nothing_ever(tmp_path: Path, partial: str) -> None:
    async with hostile(tmp_path, misbehaviour=Misbehaviour.STALL, prefix=partial) as running, connection(running) as (reader, writer):
        # When the client connects, Then exactly the partial answer arrives
        assert await read_exactly(reader, len(partial)) == partial.encode()
        # And nothing follows, even when the client asks, and the connection stays open
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await assert_silent_and_open(reader, for_seconds=0.5)


# --- endless_header ------------------------------------------------------------------------


async def test_endless_header_never_ends_the_header_block(tmp_path: Path) -> None:
    async with hostile(tmp_path, misbehaviour=Misbehaviour.ENDLESS_HEADER, header_bytes_per_second=256 * 1024) as running, connection(running) as (reader, writer):
        # Given a client that has not sent its request, Then no answer comes yet
        await assert_silent_and_open(reader)
        # When it sends a request and reads 64 KiB (four times h11's header cap)
        writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        data = await read_exactly(reader, 64 * 1024)
        # Then it is a status line followed by header lines only: no blank line, ever
        assert data.startswith(b"HTTP/1.1 200 OK\r\nX-Hostile-00000001: ")
        assert b"\r\n\r\n" not in data
        complete_lines = data.split(b"\r\n")[1:-1]
        assert len(complete_lines) > 1000
        assert all(re.fullmatch(rb"X-Hostile-\d{8}: a{40}", line) for line in complete_lines)


# --- xml_bomb ------------------------------------------------------------------------------


def expanded_length(document: bytes, entity: str) -> int:
    """How many characters ``&entity;`` expands to, computed from the declarations, never expanded."""
    declarations = dict(re.findall(rb'<!ENTITY (\w+) "([^"]*)">', document))

    @functools.cache  # without it, counting the laughs takes a billion calls
    def length(name: bytes) -> int:
        value = declarations[name]
        references = re.findall(rb"&(\w+);", value)
        return len(re.sub(rb"&\w+;", b"", value)) + sum(length(reference) for reference in references)

    return length(entity.encode())


@pytest.mark.parametrize(("path", "root"), [("/semp/", "Device2EM"), ("/SimpleEnergyManagementProtocol/", "Device2EM"), ("/uuid:1/description.xml", "root")])
async def test_xml_bomb_answers_200_with_a_billion_laughs_document(tmp_path: Path, path: str, root: str) -> None:
    async with hostile(tmp_path, misbehaviour=Misbehaviour.XML_BOMB) as running, connection(running) as (reader, writer):
        # When a SEMP or UPnP path is requested
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        response = await read_until(reader, lambda _data: False, limit=64 * 1024)
        head, _, body = response.partition(b"\r\n\r\n")
        # Then a complete 200 response carries a small document
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert f"Content-Length: {len(body)}".encode() in head
        assert len(body) < 2048
        # whose root is the document the probe expects there, and whose one text node is 10^9 "lol"s
        assert f"<!DOCTYPE {root} [".encode() in body
        assert expanded_length(body, "lol9") == 3 * 10**9
        # which an entity-safe parser refuses unexpanded
        with pytest.raises(EntitiesForbidden):
            defusedxml.ElementTree.fromstring(body)


def test_billion_laughs_document_is_the_same_for_every_semp_spelling() -> None:
    assert billion_laughs("/semp/") == billion_laughs("/SEMP/") == billion_laughs("/SimpleEnergyManagementProtocol/")
    assert billion_laughs("/description.xml") != billion_laughs("/semp/")


# --- malformed_modbus ----------------------------------------------------------------------


async def test_malformed_modbus_alternates_an_oversized_length_and_a_wrong_protocol_id(tmp_path: Path) -> None:
    async with hostile(tmp_path, misbehaviour=Misbehaviour.MALFORMED_MODBUS) as running, connection(running) as (reader, writer):
        # When a Read Device Identification request is sent
        writer.write(MODBUS_DEVICE_IDENTIFICATION)
        first = await read_exactly(reader, 10)
        # Then the MBAP header claims 65535 bytes, but only 3 PDU bytes follow
        assert struct.unpack(">HHHB", first[:7]) == (0x0001, 0x0000, 0xFFFF, 0xFF)
        assert first[7:] == b"\xab\x01\x00"
        await assert_silent_and_open(reader)
        # And the same request again gets a well-sized reply with protocol id 1 instead of 0
        writer.write(MODBUS_DEVICE_IDENTIFICATION)
        second = await read_exactly(reader, 9)
        assert struct.unpack(">HHHB", second[:7]) == (0x0001, 0x0001, 3, 0xFF)
        assert second[7:] == b"\xab\x01"


def test_malformed_modbus_replies_echo_the_transaction_and_unit() -> None:
    oversized, wrong_protocol = malformed_modbus_replies(0xBEEF, 7, 0x03)
    assert oversized == bytes.fromhex("beef0000ffff07" "830100")
    assert wrong_protocol == bytes.fromhex("beef0001000307" "8301")


# --- udp_garbage ---------------------------------------------------------------------------


async def test_udp_garbage_answers_every_datagram_with_random_bytes(tmp_path: Path) -> None:
    async with hostile(tmp_path, misbehaviour=Misbehaviour.UDP_GARBAGE, garbage_bytes=200, seed=3) as running:
        client = await asyncio_dgram.connect(("127.0.0.1", running.ports[0]))
        expected = random.Random(3)
        try:
            # When a DNS query and an M-SEARCH are sent, Then each draws one datagram of garbage
            for query in (bytes.fromhex("12340100000100000000000009") + b"localhost\x00\x00\x01\x00\x01", b"M-SEARCH * HTTP/1.1\r\n\r\n"):
                await client.send(query)
                async with asyncio.timeout(5):
                    reply, _source = await client.recv()
                assert reply == expected.randbytes(200)
        finally:
            client.close()


# --- slowloris -----------------------------------------------------------------------------


async def test_slowloris_trickles_one_byte_at_a_time_and_never_finishes(tmp_path: Path) -> None:
    async with hostile(tmp_path, misbehaviour=Misbehaviour.SLOWLORIS, prefix="AB", trickle_interval=0.3) as running, connection(running) as (reader, _writer):
        # When the client reads whatever has arrived, four times
        chunks = [await read_until(reader, lambda data: len(data) > 0, limit=4096) for _ in range(4)]
        # Then each read found a single byte: the prefix, then the endless filler
        assert chunks == [b"A", b"B", b"X", b"X"]
        assert not reader.at_eof()


# --- options and the command line ------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"misbehaviour": "stall"}, "'stall' needs option 'prefix'"),
        ({"misbehaviour": "stall", "prefix": "SSH-2.0-\u20ac"}, "latin-1"),
        ({"misbehaviour": "explode"}, "'explode' is not one of"),
        ({"misbehaviour": "garbage", "garbage_bytes": 0}, "garbage_bytes"),
        ({"misbehaviour": "huge_banner", "size": 3}, "unknown option 'size'"),
    ],
)
def test_bad_options_are_refused_naming_the_problem(raw: dict[str, object], message: str) -> None:
    with pytest.raises(LabError, match=re.escape(message)):
        options_from_mapping(Options, raw, kind="hostile")


def test_prefix_is_sent_one_byte_per_character() -> None:
    assert Options(misbehaviour=Misbehaviour.SLOWLORIS, prefix="\u0016\u0003\u0003").prefix_bytes == b"\x16\x03\x03"


def test_a_tcp_misbehaviour_on_udp_ports_fails_to_start(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # When the command line puts a TCP misbehaviour on a UDP port
    status = main(["--port", "0/udp", "--options", '{"misbehaviour": "garbage"}', "--state-dir", str(tmp_path), "--name", "hostile"])
    # Then the service does not start, and says how to fix the site file
    assert status == 1
    assert "misbehaviour 'garbage' serves tcp ports" in caplog.text
