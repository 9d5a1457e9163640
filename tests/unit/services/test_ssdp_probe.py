"""SsdpProbe against the lab's real SSDP responder + SEMP gateway, and hostile UDP/HTTP peers on loopback.

The lab responder (lab/services/ssdp.py) puts the address the M-SEARCH reached into
LOCATION, so on 127.0.0.1 the description is on the target and is followed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lab.services import semp as lab_semp
from lab.services import ssdp as lab_ssdp
from lab.services._common import Running, ServiceContext
from porthole.codecs.ssdp import SEMP_GATEWAY_URN
from porthole.codecs.xmldoc import ENTITY_REFUSAL
from porthole.model import PortState, Protocol
from porthole.services.base import ProbeFailure, ProbeLimits
from porthole.services.ssdp import SsdpProbe
from porthole.services.ssdp.evidence import LOCATION_ELSEWHERE
from porthole.services.ssdp.probe import MAX_REPLIES
from semp_ssdp_peers import XML_BOMB, HttpPeer, Paces, UdpPeer, http_response, probe_context, respond_with, send_ten_megabytes, ssdp_reply, stall

FAST = ProbeLimits(first_byte=0.5, between_chunks=0.5)
# a short window for peers that stay silent; the default (1.5 s) is for real devices
SHORT = SsdpProbe(window=0.3, quiet=0.1)


@dataclass
class LabUnit:
    http: Running
    ssdp: Running


@pytest.fixture
async def lab_unit(tmp_path: Path) -> AsyncIterator[LabUnit]:
    # Given the lab's SEMP gateway and its SSDP responder, LOCATION pointing at the gateway's port
    context = ServiceContext(state_dir=tmp_path / "misconf", name="misconf")
    http = await lab_semp.serve("127.0.0.1", [0], lab_semp.Options(), context=context)
    ssdp = await lab_ssdp.serve("127.0.0.1", [0], lab_ssdp.Options(location_port=http.ports[0]), context=context)
    yield LabUnit(http, ssdp)
    await ssdp.close()
    await http.close()


def udp_context(port: int, **kwargs):  # noqa: ANN201
    return probe_context(port=port, protocol=Protocol.UDP, service="ssdp", **kwargs)


async def test_the_lab_unit_answers_ssdp_all_and_its_description_is_read(lab_unit: LabUnit) -> None:
    paces = Paces()
    # When the probe searches the lab responder
    evidence = await SsdpProbe().collect(udp_context(lab_unit.ssdp.ports[0], pace=paces))
    # Then one M-SEARCH (ssdp:all) drew the three answers of a root device
    assert evidence.searches == ("ssdp:all",)
    udn = lab_semp.default_udn("misconf")
    assert [reply.st for reply in evidence.replies] == ["upnp:rootdevice", f"uuid:{udn}", SEMP_GATEWAY_URN]
    assert {reply.server for reply in evidence.replies} == {"Linux/5.10 UPnP/1.0 ChargeController-SEMP/1.0"}
    location = f"http://127.0.0.1:{lab_unit.http.ports[0]}/uuid:{udn}/description.xml"
    assert {reply.location for reply in evidence.replies} == {location}
    # And the one LOCATION, on the target, was fetched (paced: datagram + GET) and parsed
    assert [(check.url, check.followed) for check in evidence.locations] == [(location, True)]
    assert paces.count == 2
    assert evidence.description is not None and evidence.description.outcome.value == "parsed"
    device = evidence.description.device
    assert device is not None
    assert (device.device_type, device.friendly_name, device.manufacturer, device.model_name, device.udn) == (
        SEMP_GATEWAY_URN, "Charge Controller SEMP Gateway", "ChargeCtl Lab", "Charge Controller", f"uuid:{udn}"
    )
    assert device.semp_service is not None
    assert (device.semp_service.server, device.semp_service.base_path) == (f"http://127.0.0.1:{lab_unit.http.ports[0]}", "/semp")
    assert evidence.semp_gateway


async def test_a_location_pointing_elsewhere_is_recorded_and_never_fetched(tmp_path: Path) -> None:
    # Given a responder on 127.0.0.1 whose LOCATION names 127.0.0.2, where an HTTP server counts requests
    async with HttpPeer(respond_with(http_response(b"<root/>")), host="127.0.0.2") as elsewhere:
        context = ServiceContext(state_dir=tmp_path / "c", name="c")
        options = lab_ssdp.Options(location_port=elsewhere.port, advertise_address="127.0.0.2")
        responder = await lab_ssdp.serve("127.0.0.1", [0], options, context=context)
        try:
            evidence = await SsdpProbe().collect(udp_context(responder.ports[0]))
        finally:
            await responder.close()
    # Then the LOCATION is listed as not followed, no description exists, and nothing reached 127.0.0.2
    (check,) = evidence.locations
    assert check.url.startswith("http://127.0.0.2:") and not check.followed and check.note == LOCATION_ELSEWHERE
    assert evidence.description is None
    assert elsewhere.request_heads == []


async def test_a_location_naming_the_users_host_name_counts_as_the_target() -> None:
    async with HttpPeer(respond_with(http_response(b"<root><device><friendlyName>x</friendlyName></device></root>"))) as http:
        answer = ssdp_reply(location=f"http://Controller.Example:{http.port}/d.xml")
        async with UdpPeer(lambda _: [answer]) as responder:
            evidence = await SsdpProbe().collect(udp_context(responder.port, hostname="controller.example"))
    assert evidence.locations[0].followed
    assert evidence.description is not None and evidence.description.device is not None
    assert evidence.description.device.friendly_name == "x"
    # the GET went to the target's address, with the user's name as Host
    assert b"Host: controller.example:" in http.request_heads[0]


async def test_replies_from_another_source_port_are_accepted() -> None:
    # Given a device that answers from an ephemeral port instead of 1900 (protocols.md §7.1)
    answer = ssdp_reply(location="http://198.18.0.99/d.xml")
    async with UdpPeer(lambda _: [answer], reply_from="other-port") as responder:
        evidence = await SsdpProbe().collect(udp_context(responder.port))
    # Then its reply counts, with the port it came from
    (reply,) = evidence.replies
    assert reply.source_port == responder.reply_port != responder.port


async def test_datagrams_from_other_addresses_are_ignored() -> None:
    # Given replies that come from 127.0.0.2 while the target is 127.0.0.1
    answer = ssdp_reply(location="http://127.0.0.2/d.xml")
    async with UdpPeer(lambda _: [answer], reply_from="127.0.0.2") as responder:
        with pytest.raises(ProbeFailure) as failure:
            await SHORT.collect(udp_context(responder.port))
    # Then they are not the target's answers: silence, after both searches
    assert failure.value.reason == "timeout"
    assert responder.search_targets == ["ssdp:all", SEMP_GATEWAY_URN]


async def test_silence_is_a_timeout_after_ssdp_all_and_the_semp_urn() -> None:
    async with UdpPeer(lambda _: []) as responder:
        paces = Paces()
        with pytest.raises(ProbeFailure) as failure:
            await SHORT.collect(udp_context(responder.port, pace=paces))
    assert failure.value.reason == "timeout"
    assert str(failure.value) == f"no SSDP reply within 0.3 s to M-SEARCH ssdp:all nor {SEMP_GATEWAY_URN}"
    assert responder.search_targets == ["ssdp:all", SEMP_GATEWAY_URN] and paces.count == 2
    # every M-SEARCH is a discovery request, never a NOTIFY or SUBSCRIBE
    assert all(payload.startswith(b"M-SEARCH * HTTP/1.1\r\n") and b'MAN: "ssdp:discover"' in payload for payload in responder.received)


async def test_a_device_answering_only_the_semp_urn_is_found_by_the_second_search() -> None:
    def answer(payload: bytes) -> list[bytes]:
        return [ssdp_reply(location="http://198.18.0.99/d.xml", st=SEMP_GATEWAY_URN)] if SEMP_GATEWAY_URN.encode() in payload else []

    async with UdpPeer(answer) as responder:
        evidence = await SHORT.collect(udp_context(responder.port))
    assert evidence.searches == ("ssdp:all", SEMP_GATEWAY_URN)
    assert evidence.semp_gateway and evidence.replies[0].st == SEMP_GATEWAY_URN


async def test_garbage_datagrams_end_as_a_malformed_failure() -> None:
    async with UdpPeer(lambda _: [b"\x00\xffGARBAGE" * 10, b"NOTIFY * HTTP/1.1\r\n\r\n"]) as responder:
        with pytest.raises(ProbeFailure) as failure:
            await SHORT.collect(udp_context(responder.port))
    assert failure.value.reason == "malformed"
    assert str(failure.value).startswith("4 datagram(s) from the target, none an SSDP response; first: not an HTTPU status line")


async def test_garbage_beside_real_replies_is_counted_not_fatal() -> None:
    answer = ssdp_reply(location="http://198.18.0.99/d.xml")
    async with UdpPeer(lambda _: [b"junk", answer, b"x" * 9000]) as responder:
        evidence = await SsdpProbe().collect(udp_context(responder.port))
    assert len(evidence.replies) == 1 and evidence.malformed_datagrams == 2
    assert evidence.locations[0].note == LOCATION_ELSEWHERE


async def test_a_reply_flood_is_cut_at_the_reply_cap() -> None:
    answer = ssdp_reply(location="http://198.18.0.99/d.xml")
    async with UdpPeer(lambda _: [answer] * 200) as responder:
        evidence = await SsdpProbe().collect(udp_context(responder.port))
    assert len(evidence.replies) == MAX_REPLIES
    assert evidence.searches == ("ssdp:all",)


@pytest.mark.parametrize(
    ("handler", "outcome", "detail"),
    [
        (respond_with(http_response(XML_BOMB)), "refused", ENTITY_REFUSAL),
        (send_ten_megabytes(), "too-large", "description larger than 262144 bytes: not parsed"),
        (stall(), "failed", "timeout: GET /d.xml: no HTTP response head within 0.5 s"),
        (respond_with(http_response(b"<html/>", content_type="text/html")), "other-document", "not a UPnP device description: root element <html>"),
        (respond_with(http_response(b"", status="404 Not Found")), "http-status", "HTTP 404 Not Found"),
    ],
    ids=["xml-bomb", "ten-megabytes", "stalled", "html", "not-found"],
)
async def test_a_hostile_description_becomes_a_described_outcome(handler, outcome: str, detail: str) -> None:
    # Given a responder whose LOCATION, on the target, serves something hostile
    async with HttpPeer(handler) as http:
        answer = ssdp_reply(location=f"http://127.0.0.1:{http.port}/d.xml")
        async with UdpPeer(lambda _: [answer]) as responder:
            evidence = await SsdpProbe().collect(udp_context(responder.port, limits=FAST if outcome == "failed" else ProbeLimits()))
    # Then the SSDP facts stand and the description says exactly what went wrong
    assert evidence.replies[0].server == "Hostile/1.0 UPnP/1.0 test/1"
    assert evidence.description is not None
    assert (evidence.description.outcome.value, evidence.description.detail) == (outcome, detail)
    assert evidence.description.device is None
    assert len(http.request_heads) == 1 and http.request_lines[0] == "GET /d.xml HTTP/1.1"


@pytest.mark.parametrize(
    ("location", "note"),
    [
        ("https://127.0.0.1/d.xml", "LOCATION scheme 'https' is not http: not followed"),
        ("http://[::1/d.xml", "LOCATION is not a valid URL: not followed"),
        ("http://127.0.0.1:99999/d.xml", "LOCATION is not a valid URL: not followed"),
        ("http://127.0.0.1/a b.xml", "LOCATION path has spaces or control characters: not followed"),
        ("http://evil.example/d.xml", LOCATION_ELSEWHERE),
    ],
)
async def test_unusable_locations_are_recorded_with_the_reason(location: str, note: str) -> None:
    async with UdpPeer(lambda _: [ssdp_reply(location=location)]) as responder:
        evidence = await SsdpProbe().collect(udp_context(responder.port))
    assert [(check.url, check.followed, check.note) for check in evidence.locations] == [(location, False, note)]
    assert evidence.description is None


def test_the_probe_also_claims_silent_1900_because_reach_asks_from_a_connected_socket() -> None:
    probe = SsdpProbe()
    assert probe.claims(udp_context(1900).observation)
    assert probe.claims(udp_context(1900, state=PortState.OPEN_FILTERED).observation)
    assert not probe.claims(udp_context(1900, state=PortState.CLOSED).observation)
