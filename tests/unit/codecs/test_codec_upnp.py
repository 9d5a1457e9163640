"""porthole.codecs.upnp: the device description, on bytes recorded from the lab's SEMP gateway.

``tests/fixtures/wire/upnp/lab-gateway-description.bin`` is what lab/services/semp.py
(built with ElementTree, an implementation independent of this parser) served at
the LOCATION its SSDP responder advertised.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from porthole.codecs import CodecError
from porthole.codecs.upnp import MAX_LISTED, DeviceDescription, SempServiceInfo, parse_device_description
from porthole.codecs.xmldoc import ENTITY_REFUSAL, UnexpectedDocument, XmlRefused
from porthole.report.encode import to_jsonable

FIXTURES = Path(__file__).parents[2] / "fixtures" / "wire" / "upnp"
RECORDED = (FIXTURES / "lab-gateway-description.bin").read_bytes()
EXPECTED = json.loads((FIXTURES / "lab-gateway-description.expected.json").read_text())


def test_the_recorded_lab_description_parses_to_its_expected_facts() -> None:
    description = parse_device_description(RECORDED)
    assert to_jsonable(description) == EXPECTED
    assert description.device_type == "urn:schemas-simple-energy-management-protocol:device:Gateway:1"
    assert description.semp_service == SempServiceInfo(
        server="http://127.0.0.1:32849", base_path="/semp", transport="HTTP/Pull", exchange_format="XML", ws_version="1.1.0"
    )


def test_every_truncation_of_the_recorded_description_raises_codec_error() -> None:
    # Given the description cut after every byte (a reply stalled or cut short)
    for end in range(len(RECORDED)):
        # Then no prefix parses as a description, and none raises anything but CodecError
        with pytest.raises(CodecError):
            parse_device_description(RECORDED[:end])


def test_trailing_whitespace_is_accepted_and_trailing_markup_is_not() -> None:
    assert parse_device_description(RECORDED + b"\r\n\r\n") == parse_device_description(RECORDED)
    with pytest.raises(CodecError, match="junk after document element"):
        parse_device_description(RECORDED + b"<root/>")


def test_a_description_without_namespace_or_semp_block_still_gives_the_device() -> None:
    # Given a minimal UDA 1.0 description from a device that omits the namespace
    document = (
        b"<root><specVersion><major>1</major><minor>1</minor></specVersion><URLBase>http://127.0.0.1:49152</URLBase>"
        b"<device><deviceType>urn:schemas-upnp-org:device:Basic:1</deviceType><friendlyName>cam</friendlyName>"
        b"<manufacturer>Acme</manufacturer><modelName>C1</modelName><modelNumber>2</modelNumber>"
        b"<serialNumber>0042</serialNumber><UDN>uuid:1</UDN>"
        b"<serviceList><service><serviceType>urn:schemas-upnp-org:service:NULL:1</serviceType></service></serviceList>"
        b"<deviceList><device><deviceType>urn:x:device:Sub:1</deviceType></device></deviceList>"
        b"</device></root>"
    )
    # Then every identity field is read and the SEMP block is absent, not invented
    assert parse_device_description(document) == DeviceDescription(
        spec_version="1.1",
        url_base="http://127.0.0.1:49152",
        device_type="urn:schemas-upnp-org:device:Basic:1",
        friendly_name="cam",
        manufacturer="Acme",
        model_name="C1",
        model_number="2",
        serial_number="0042",
        udn="uuid:1",
        service_types=("urn:schemas-upnp-org:service:NULL:1",),
        embedded_device_types=("urn:x:device:Sub:1",),
    )


def test_service_and_embedded_device_lists_are_capped() -> None:
    services = b"".join(b"<service><serviceType>urn:s:%d</serviceType></service>" % n for n in range(100))
    description = parse_device_description(b"<root><device><serviceList>" + services + b"</serviceList></device></root>")
    assert len(description.service_types) == MAX_LISTED


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b"<html><body>It works</body></html>", "root element <html>"),
        (b"<root><specVersion/></root>", "<root> has no <device>"),
    ],
)
def test_other_documents_are_told_apart_from_broken_ones(document: bytes, message: str) -> None:
    with pytest.raises(UnexpectedDocument, match=message):
        parse_device_description(document)


def test_an_xml_bomb_description_is_refused() -> None:
    bomb = b'<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><root><device><friendlyName>&b;</friendlyName></device></root>'
    with pytest.raises(XmlRefused, match=ENTITY_REFUSAL):
        parse_device_description(bomb)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(min_value=0, max_value=len(RECORDED) - 1), st.integers(min_value=0, max_value=255)), max_size=8))
def test_mutated_recordings_only_ever_raise_codec_error(flips: list[tuple[int, int]]) -> None:
    mutated = bytearray(RECORDED)
    for offset, value in flips:
        mutated[offset] = value
    try:
        parse_device_description(bytes(mutated))
    except CodecError:
        pass
