"""porthole.codecs.semp: Device2EM documents, on bytes recorded from the lab's SEMP gateway.

``tests/fixtures/wire/semp/lab-device2em.bin`` is ``GET /semp/`` from
lab/services/semp.py (ElementTree-built, independent of this parser).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from porthole.codecs import CodecError
from porthole.codecs import semp as semp_codec
from porthole.codecs.semp import MAX_DEVICES, SEMP_NAMESPACE, SempDeviceInfo, SempDeviceStatus, parse_device2em
from porthole.codecs.xmldoc import ENTITY_REFUSAL, UnexpectedDocument, XmlRefused
from porthole.report.encode import to_jsonable

FIXTURES = Path(__file__).parents[2] / "fixtures" / "wire" / "semp"
RECORDED = (FIXTURES / "lab-device2em.bin").read_bytes()
EXPECTED = json.loads((FIXTURES / "lab-device2em.expected.json").read_text())


def test_the_recorded_lab_document_parses_to_its_expected_facts() -> None:
    document = parse_device2em(RECORDED)
    assert to_jsonable(document) == EXPECTED
    assert document.namespace == SEMP_NAMESPACE
    assert document.device_info[0].device_type == "EVCharger"
    assert document.device_status[0].status == "Off"


def test_every_truncation_of_the_recorded_document_raises_codec_error() -> None:
    for end in range(len(RECORDED)):
        with pytest.raises(CodecError):
            parse_device2em(RECORDED[:end])


def test_trailing_markup_is_refused() -> None:
    assert parse_device2em(RECORDED + b"\n") == parse_device2em(RECORDED)
    with pytest.raises(CodecError, match="junk after document element"):
        parse_device2em(RECORDED + b"<Device2EM/>")


def test_a_gateway_with_several_devices_gives_each_one_and_is_capped() -> None:
    # Given a namespace-less Device2EM listing more devices than the cap
    info = b"".join(
        b"<DeviceInfo><Identification><DeviceId>F-00000001-%012d-00</DeviceId><DeviceType>Heater</DeviceType></Identification></DeviceInfo>" % n
        for n in range(MAX_DEVICES + 4)
    )
    status = b"<DeviceStatus><DeviceId>F-00000001-000000000000-00</DeviceId><Status>On</Status></DeviceStatus>"
    document = parse_device2em(b"<Device2EM>" + info + status + b"</Device2EM>")
    # Then the first MAX_DEVICES are kept, fields absent stay None, the namespace is empty
    assert document.namespace == ""
    assert len(document.device_info) == MAX_DEVICES
    assert document.device_info[1] == SempDeviceInfo(device_id="F-00000001-000000000001-00", device_type="Heater")
    assert document.device_status == (SempDeviceStatus(device_id="F-00000001-000000000000-00", status="On"),)
    assert document.planning_requests == 0


def test_an_html_page_is_another_document_not_semp() -> None:
    with pytest.raises(UnexpectedDocument, match="not a SEMP Device2EM document: root element <html>"):
        parse_device2em(b"<html><head><title>404</title></head></html>")


def test_an_xml_bomb_is_refused_unexpanded() -> None:
    bomb = b'<!DOCTYPE d [<!ENTITY a "x"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><Device2EM>&b;</Device2EM>'
    with pytest.raises(XmlRefused, match=ENTITY_REFUSAL):
        parse_device2em(bomb)


def test_the_codec_can_only_read_semp_never_build_a_command() -> None:
    # protocols.md §7.3: an EM2Device/DeviceControl document switches charging; porthole has no builder for it
    assert not [name for name in dir(semp_codec) if name.startswith("build")]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(min_value=0, max_value=len(RECORDED) - 1), st.integers(min_value=0, max_value=255)), max_size=8))
def test_mutated_recordings_only_ever_raise_codec_error(flips: list[tuple[int, int]]) -> None:
    mutated = bytearray(RECORDED)
    for offset, value in flips:
        mutated[offset] = value
    try:
        parse_device2em(bytes(mutated))
    except CodecError:
        pass
