"""SempProbe against the lab's real SEMP gateway (aiohttp.web) and hostile HTTP peers on loopback.

What every test also holds: the probe only ever sends GET, at most three of them,
each after ``context.pace()``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from lab.services import semp as lab_semp
from lab.services._common import Running, ServiceContext
from porthole.codecs.xmldoc import ENTITY_REFUSAL
from porthole.model import PortState, Protocol
from porthole.services.base import ProbeFailure, ProbeLimits
from porthole.services.semp import BASE_PATHS, SempProbe
from porthole.services.semp.probe import advertised_base_path
from semp_ssdp_peers import XML_BOMB, HttpPeer, Paces, http_response, probe_context, respond_with, send_ten_megabytes, stall

FAST = ProbeLimits(first_byte=0.5, between_chunks=0.5)


@pytest.fixture
async def lab_gateway(tmp_path: Path) -> AsyncIterator[Running]:
    running = await lab_semp.serve("127.0.0.1", [0], lab_semp.Options(), context=ServiceContext(state_dir=tmp_path / "misconf", name="misconf"))
    yield running
    await running.close()


async def test_the_lab_gateway_is_read_from_its_first_base_path_with_one_get(lab_gateway: Running) -> None:
    # Given the lab's SEMP gateway (base path /semp) and a pacing hook that counts
    paces = Paces()
    context = probe_context(port=lab_gateway.ports[0], protocol=Protocol.TCP, service="semp", pace=paces)
    # When the probe runs
    evidence = await SempProbe().collect(context)
    # Then one paced GET of /semp/ found the Device2EM document and its identity
    assert evidence.recognised and evidence.base_path == "/semp/"
    assert [attempt.path for attempt in evidence.attempts] == ["/semp/"] and paces.count == 1
    (info,) = evidence.device_info
    assert (info.device_id, info.device_name, info.device_type, info.device_serial, info.device_vendor) == (
        "F-4C41422D-A60FCC5C66D8-00", "Charge Controller", "EVCharger", "A60FCC5C66D8", "ChargeCtl Lab"
    )
    (status,) = evidence.device_status
    assert (status.status, status.em_signals_accepted) == ("Off", "true")
    assert evidence.namespace == "http://www.sma.de/communication/schema/SEMP/v1"


async def test_a_gateway_under_evccs_path_is_found_on_the_second_get(tmp_path: Path) -> None:
    # Given a gateway serving SEMP under /SimpleEnergyManagementProtocol (evcc's path for these controllers)
    options = lab_semp.Options(base_path="/SimpleEnergyManagementProtocol")
    running = await lab_semp.serve("127.0.0.1", [0], options, context=ServiceContext(state_dir=tmp_path / "c", name="c"))
    try:
        evidence = await SempProbe().collect(probe_context(port=running.ports[0], protocol=Protocol.TCP, service="semp"))
    finally:
        await running.close()
    # Then /semp/ answered 404 and the second path answered the document; /SEMP/ was never asked
    assert [(a.path, a.status, a.outcome.value) for a in evidence.attempts] == [
        ("/semp/", 404, "http-status"),
        ("/SimpleEnergyManagementProtocol/", 200, "device2em"),
    ]
    assert evidence.recognised and evidence.base_path == "/SimpleEnergyManagementProtocol/"


def ssdp_evidence(server: str | None, base_path: str | None) -> dict:
    """The host evidence the SSDP probe leaves on 1900/udp when its description has X_SEMPSERVICE."""
    return {"1900/udp": {"ssdp": {"description": {"device": {"semp_service": {"server": server, "base_path": base_path}}}}}}


async def test_a_base_path_advertised_in_the_upnp_description_is_asked_first_and_alone(tmp_path: Path) -> None:
    # Given a gateway under a path no client guesses, and the SSDP probe's description naming it
    running = await lab_semp.serve("127.0.0.1", [0], lab_semp.Options(base_path="/em/semp"), context=ServiceContext(state_dir=tmp_path / "c", name="c"))
    port = running.ports[0]
    try:
        context = probe_context(port=port, protocol=Protocol.TCP, service="semp")
        context.host_evidence = ssdp_evidence(f"http://127.0.0.1:{port}", "/em/semp")
        evidence = await SempProbe().collect(context)
    finally:
        await running.close()
    # Then one GET of the advertised path found it, and the evidence says where the path came from
    assert [(a.path, a.outcome.value) for a in evidence.attempts] == [("/em/semp/", "device2em")]
    assert evidence.recognised and evidence.base_path == evidence.advertised_base_path == "/em/semp/"


@pytest.mark.parametrize(
    ("server", "base_path", "expected"),
    [
        ("http://127.0.0.1:8888", "/em/semp", "/em/semp/"),
        ("http://charger-7.depot.example:8888", "/semp/", "/semp/"),  # the name the user gave
        (None, "/SEMP", "/SEMP/"),  # no server named: the port it was found for
        ("http://127.0.0.1:8080", "/em/semp", None),  # another port of the host
        ("http://198.18.9.9:8888", "/em/semp", None),  # another host: never followed
        ("https://127.0.0.1:8888", "/em/semp", None),  # not what this port speaks
        ("http://127.0.0.1:8888", "/em/semp HTTP/1.1\r\nX-Injected: 1", None),  # device text into our request line: refused
        ("http://127.0.0.1:8888", "em/semp", None),  # not an absolute path
        ("http://127.0.0.1:8888", None, None),
    ],
)
def test_only_a_plain_path_for_this_host_and_port_is_taken(server: str | None, base_path: str | None, expected: str | None) -> None:
    found = advertised_base_path(ssdp_evidence(server, base_path), address="127.0.0.1", hostname="charger-7.depot.example", port=8888)
    assert found == expected


async def test_an_http_server_without_semp_is_described_after_three_gets_only() -> None:
    # Given a web server that answers 404 to everything
    async with HttpPeer(respond_with(http_response(b"<html>no</html>", status="404 Not Found", content_type="text/html"))) as peer:
        paces = Paces()
        evidence = await SempProbe().collect(probe_context(port=peer.port, protocol=Protocol.TCP, service="semp", pace=paces))
    # Then it is not SEMP, each base path was tried once with GET, and nothing else was sent
    assert not evidence.recognised
    assert peer.request_lines == [f"GET {path} HTTP/1.1" for path in BASE_PATHS] and paces.count == 3
    assert {(a.status, a.outcome.value, a.server) for a in evidence.attempts} == {(404, "http-status", "hostile/1.0")}


async def test_an_xml_bomb_is_refused_and_recorded_for_each_path() -> None:
    # Given a peer answering every GET with a billion-laughs document
    async with HttpPeer(respond_with(http_response(XML_BOMB))) as peer:
        evidence = await SempProbe().collect(probe_context(port=peer.port, protocol=Protocol.TCP, service="semp"))
    # Then nothing was expanded: each attempt says why it was refused
    assert not evidence.recognised
    assert [(a.outcome.value, a.detail) for a in evidence.attempts] == [("refused", ENTITY_REFUSAL)] * 3


async def test_a_ten_megabyte_body_is_cut_at_the_document_cap_and_not_parsed() -> None:
    # Given a peer sending a 10 MB document, and a 64 KiB document cap
    async with HttpPeer(send_ten_megabytes()) as peer:
        limits = ProbeLimits(max_document=64 * 1024, first_byte=2.0, between_chunks=2.0)
        evidence = await SempProbe().collect(probe_context(port=peer.port, protocol=Protocol.TCP, service="semp", limits=limits))
    # Then each attempt kept exactly the cap and says the body was too large
    assert {(a.outcome.value, a.body_bytes) for a in evidence.attempts} == {("too-large", 64 * 1024)}
    assert evidence.attempts[0].detail == "body larger than 65536 bytes: not parsed"


async def test_a_stalled_reply_ends_the_probe_after_one_connection() -> None:
    # Given a peer that reads the request and never answers
    async with HttpPeer(stall()) as peer:
        with pytest.raises(ProbeFailure) as failure:
            await SempProbe().collect(probe_context(port=peer.port, protocol=Protocol.TCP, service="semp", limits=FAST))
    # Then the probe gives up with a timeout naming the phase, without trying the other paths
    assert failure.value.reason == "timeout"
    assert str(failure.value) == "GET /semp/: no HTTP response head within 0.5 s"
    assert len(peer.request_heads) == 1


async def test_a_body_that_stalls_midway_is_recorded_as_incomplete() -> None:
    # Given a 200 head promising 5000 bytes, then 100 bytes, then silence
    async def handler(_head, writer) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n<Device2EM>" + b" " * 89)
        await writer.drain()
        await asyncio.sleep(3600)

    async with HttpPeer(handler) as peer:
        evidence = await SempProbe(base_paths=("/semp/",)).collect(probe_context(port=peer.port, protocol=Protocol.TCP, service="semp", limits=FAST))
    (attempt,) = evidence.attempts
    assert attempt.outcome.value == "incomplete" and attempt.body_bytes == 100
    assert attempt.detail is not None and attempt.detail.startswith("body stalled after 100 bytes: malformed XML")


@pytest.mark.parametrize(
    ("payload", "reason", "message"),
    [
        (b"HTTP/1.1 200 OK\r\nX-Endless: " + b"a" * 100_000, "malformed", "GET /semp/: not a valid HTTP response head"),
        (b"\x16\x03\x01\x00\x2a garbage, not HTTP\r\n\r\n", "malformed", "GET /semp/: not a valid HTTP response head"),
        (b"", "connection-reset", "GET /semp/: the server closed the connection without an HTTP response"),
    ],
    ids=["endless-header", "garbage", "closed-at-once"],
)
async def test_a_peer_that_does_not_speak_http_ends_the_probe_with_the_reason(payload: bytes, reason: str, message: str) -> None:
    async with HttpPeer(respond_with(payload)) as peer:
        with pytest.raises(ProbeFailure) as failure:
            await SempProbe().collect(probe_context(port=peer.port, protocol=Protocol.TCP, service="semp", limits=FAST))
    assert failure.value.reason == reason
    assert str(failure.value).startswith(message)


async def test_a_closed_port_is_a_refused_connection() -> None:
    # Given a port nothing listens on (bound and closed again)
    async with HttpPeer(stall()) as peer:
        port = peer.port
    with pytest.raises(ProbeFailure) as failure:
        await SempProbe().collect(probe_context(port=port, protocol=Protocol.TCP, service="semp"))
    assert failure.value.reason == "connection-refused"


async def test_a_redirect_is_recorded_and_never_followed() -> None:
    # Given a peer redirecting every path to another host
    redirect = http_response(b"", status="302 Found", extra="Location: http://198.18.0.99/semp/\r\n")
    async with HttpPeer(respond_with(redirect)) as peer:
        evidence = await SempProbe().collect(probe_context(port=peer.port, protocol=Protocol.TCP, service="semp"))
    # Then three GETs reached the peer itself and the redirect is just a status
    assert len(peer.request_heads) == 3
    assert [(a.status, a.outcome.value) for a in evidence.attempts] == [(302, "http-status")] * 3


def test_the_probe_claims_open_semp_ports_only() -> None:
    probe = SempProbe()
    assert probe.claims(probe_context(port=8888, protocol=Protocol.TCP, service="semp").observation)
    assert not probe.claims(probe_context(port=8888, protocol=Protocol.TCP, service="semp", state=PortState.FILTERED).observation)
    assert not probe.claims(probe_context(port=80, protocol=Protocol.TCP, service="http").observation)
