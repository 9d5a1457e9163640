"""lab.services.ssdp: unicast M-SEARCH answers over real UDP sockets on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import asyncio_dgram
import pytest

from lab.services._common import Running, ServiceContext
from lab.services.semp import GATEWAY_DEVICE_TYPE, default_udn
from lab.services.ssdp import Options, serve

UDN = default_udn("master")


def m_search(search_target: str, *, man: str = '"ssdp:discover"') -> bytes:
    return (
        "M-SEARCH * HTTP/1.1\r\n"
        "HOST: 127.0.0.1:1900\r\n"
        f"MAN: {man}\r\n"
        f"ST: {search_target}\r\n"
        "USER-AGENT: porthole/0 UPnP/1.1 porthole/0\r\n"
        "\r\n"
    ).encode()


def parse_response(data: bytes) -> tuple[str, dict[str, str]]:
    status, *lines = data.decode("ascii").split("\r\n")
    headers = {}
    for line in lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.upper()] = value.strip()
    return status, headers


@pytest.fixture
async def responder(tmp_path: Path) -> AsyncIterator[Running]:
    context = ServiceContext(state_dir=tmp_path / "site" / "master", name="master")
    running = await serve("127.0.0.1", [0], Options(), context=context)
    yield running
    await running.close()


async def exchange(port: int, payload: bytes, *, expect: int) -> tuple[list[bytes], tuple[str, int] | None]:
    """Send from a bound, unconnected socket (protocols.md §7.1) and collect ``expect`` replies.

    After the expected replies, one more short wait proves nothing else arrives.
    """
    client = await asyncio_dgram.bind(("127.0.0.1", 0))
    replies: list[bytes] = []
    source = None
    try:
        await client.send(payload, ("127.0.0.1", port))
        for _ in range(expect):
            data, source = await _recv(client, 2.0)
            replies.append(data)
        extra = await _recv_or_none(client, 0.3)
        assert extra is None, f"unexpected extra datagram: {extra!r}"
    finally:
        client.close()
    return replies, source


async def _recv(client: asyncio_dgram.DatagramServer, timeout: float) -> tuple[bytes, tuple[str, int]]:
    async with asyncio.timeout(timeout):
        return await client.recv()


async def _recv_or_none(client: asyncio_dgram.DatagramServer, timeout: float) -> bytes | None:
    try:
        data, _source = await _recv(client, timeout)
    except TimeoutError:
        return None
    return data


async def test_gateway_search_gets_one_answer_with_location_and_usn(responder: Running) -> None:
    # Given the responder, When the SEMP Gateway URN is searched for
    replies, source = await exchange(responder.ports[0], m_search(GATEWAY_DEVICE_TYPE), expect=1)
    status, headers = parse_response(replies[0])
    # Then one 200 OK answers from the port the request reached, with the UDA headers
    assert source == ("127.0.0.1", responder.ports[0])
    assert status == "HTTP/1.1 200 OK"
    assert headers["ST"] == GATEWAY_DEVICE_TYPE
    assert headers["USN"] == f"uuid:{UDN}::{GATEWAY_DEVICE_TYPE}"
    # LOCATION names the address the datagram arrived on (IP_PKTINFO), not 0.0.0.0
    assert headers["LOCATION"] == f"http://127.0.0.1:8888/uuid:{UDN}/description.xml"
    assert headers["CACHE-CONTROL"] == "max-age=1800"
    assert "EXT" in headers
    assert "UPnP/1.0" in headers["SERVER"]
    assert headers["DATE"].endswith("GMT")


async def test_rootdevice_and_uuid_searches_are_answered(responder: Running) -> None:
    for search_target, usn in (
        ("upnp:rootdevice", f"uuid:{UDN}::upnp:rootdevice"),
        (f"uuid:{UDN}", f"uuid:{UDN}"),
    ):
        # When each is searched for, Then one answer echoes the ST with the matching USN
        replies, _source = await exchange(responder.ports[0], m_search(search_target), expect=1)
        _status, headers = parse_response(replies[0])
        assert (headers["ST"], headers["USN"]) == (search_target, usn)


async def test_ssdp_all_gets_the_three_root_device_answers(responder: Running) -> None:
    # When ssdp:all is searched for
    replies, _source = await exchange(responder.ports[0], m_search("ssdp:all"), expect=3)
    # Then rootdevice, uuid and device type are each announced once
    targets = sorted(parse_response(reply)[1]["ST"] for reply in replies)
    assert targets == sorted(["upnp:rootdevice", f"uuid:{UDN}", GATEWAY_DEVICE_TYPE])


@pytest.mark.parametrize(
    "payload",
    [
        m_search("urn:schemas-upnp-org:device:MediaRenderer:1"),
        m_search(GATEWAY_DEVICE_TYPE, man="ssdp:discover"),  # MAN without the quotes UDA requires
        b"NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nNT: upnp:rootdevice\r\nNTS: ssdp:alive\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nST: ssdp:all\r\n\r\n",
        b"\x00\xff\xfe garbage \x80",
        b"",
        b"M-SEARCH * HTTP/1.1\r\n" + b"X: y\r\n" * 2000 + b"\r\n",
    ],
    ids=["other-st", "unquoted-man", "notify", "response", "binary", "empty", "oversized"],
)
async def test_anything_else_gets_no_reply_and_the_responder_survives(responder: Running, payload: bytes) -> None:
    # Given a datagram that is not an answerable M-SEARCH
    # When it is sent, Then nothing comes back
    replies, _source = await exchange(responder.ports[0], payload, expect=0)
    assert replies == []
    # and a proper search right after is still answered
    replies, _source = await exchange(responder.ports[0], m_search("upnp:rootdevice"), expect=1)
    assert parse_response(replies[0])[0] == "HTTP/1.1 200 OK"


async def test_advertise_address_and_location_port_options_shape_location(tmp_path: Path) -> None:
    # Given explicit advertise_address, location_port and udn
    context = ServiceContext(state_dir=tmp_path / "site" / "master", name="master")
    udn = "12345678-1234-5678-1234-567812345678"
    options = Options(advertise_address="198.18.0.10", location_port=8080, udn=udn)
    running = await serve("127.0.0.1", [0], options, context=context)
    try:
        replies, _source = await exchange(running.ports[0], m_search("upnp:rootdevice"), expect=1)
    finally:
        await running.close()
    # Then LOCATION uses them
    assert parse_response(replies[0])[1]["LOCATION"] == f"http://198.18.0.10:8080/uuid:{udn}/description.xml"


async def test_wildcard_bind_reports_the_address_the_search_reached(tmp_path: Path) -> None:
    # Given a responder bound to 0.0.0.0 (as in the lab namespaces)
    context = ServiceContext(state_dir=tmp_path / "site" / "master", name="master")
    running = await serve("0.0.0.0", [0], Options(), context=context)
    try:
        # When a search reaches it on 127.0.0.2 (still loopback)
        client = await asyncio_dgram.bind(("127.0.0.1", 0))
        try:
            await client.send(m_search("upnp:rootdevice"), ("127.0.0.2", running.ports[0]))
            data, _source = await _recv(client, 2.0)
        finally:
            client.close()
    finally:
        await running.close()
    # Then LOCATION names 127.0.0.2
    assert parse_response(data)[1]["LOCATION"].startswith("http://127.0.0.2:8888/")


async def test_ipv6_bind_answers_with_a_bracketed_ipv6_location(tmp_path: Path) -> None:
    # Given a responder bound to ::1
    context = ServiceContext(state_dir=tmp_path / "site" / "master", name="master")
    running = await serve("::1", [0], Options(), context=context)
    try:
        # When a search arrives over IPv6
        client = await asyncio_dgram.bind(("::1", 0))
        try:
            await client.send(m_search("upnp:rootdevice"), ("::1", running.ports[0]))
            data, _source = await _recv(client, 2.0)
        finally:
            client.close()
    finally:
        await running.close()
    # Then LOCATION brackets the IPv6 host
    assert parse_response(data)[1]["LOCATION"].startswith("http://[::1]:8888/")
