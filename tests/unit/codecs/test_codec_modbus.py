"""porthole.codecs.modbus: exact request bytes, recorded pymodbus replies, scapy as oracle, hostile frames.

The ``.bin`` fixtures under tests/fixtures/wire/modbus were recorded from the lab's
pymodbus 3.16 server (lab/services/modbus.py) answering porthole's own requests
(``record.py`` there re-records them); each ``.expected.json`` sidecar holds the
request and the facts a reader checked by hand. scapy.contrib.modbus is the
independent second opinion in both directions.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.contrib.modbus import (
    ModbusADURequest,
    ModbusADUResponse,
    ModbusObjectId,
    ModbusPDU03ReadHoldingRegistersError,
    ModbusPDU03ReadHoldingRegistersResponse,
    ModbusPDU2B0EReadDeviceIdentificationError,
    ModbusPDU2B0EReadDeviceIdentificationResponse,
)

from porthole.codecs import CodecError
from porthole.codecs import modbus

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "wire" / "modbus"
CASES = sorted(path.stem for path in FIXTURES.glob("*.bin"))

# (description, transaction id, unit id, PDU, exact ADU bytes). The first two rows are
# protocols.md §6 byte for byte.
REQUEST_TABLE = [
    ("device-identification-basic", 0x0001, 0xFF, modbus.build_read_device_identification(), "0001 0000 0005 ff 2b0e0100"),
    ("holding-registers-100-x2", 0x0002, 0xFF, modbus.build_read_holding_registers(address=100, count=2), "0002 0000 0006 ff 03 0064 0002"),
    ("device-identification-continue-at-2", 0xBEEF, 0x01, modbus.build_read_device_identification(object_id=0x02), "beef 0000 0005 01 2b0e0102"),
    ("device-identification-regular", 0xFFFF, 0x01, modbus.build_read_device_identification(read_code=modbus.ReadDeviceIdCode.REGULAR), "ffff 0000 0005 01 2b0e0200"),
    ("holding-register-highest", 0x0000, 0x01, modbus.build_read_holding_registers(address=0xFFFF, count=1), "0000 0000 0006 01 03 ffff 0001"),
    ("holding-registers-max-quantity", 0x0003, 0xF7, modbus.build_read_holding_registers(address=0, count=125), "0003 0000 0006 f7 03 0000 007d"),
]


def load(case: str) -> tuple[bytes, dict]:
    return (FIXTURES / f"{case}.bin").read_bytes(), json.loads((FIXTURES / f"{case}.expected.json").read_text())


@pytest.mark.parametrize(("description", "transaction_id", "unit_id", "pdu", "expected_hex"), REQUEST_TABLE, ids=[row[0] for row in REQUEST_TABLE])
def test_build_request_produces_exact_wire_bytes(description: str, transaction_id: int, unit_id: int, pdu: bytes, expected_hex: str) -> None:
    assert modbus.build_request(transaction_id=transaction_id, unit_id=unit_id, pdu=pdu) == bytes.fromhex(expected_hex)


@pytest.mark.parametrize(("description", "transaction_id", "unit_id", "pdu", "expected_hex"), REQUEST_TABLE, ids=[row[0] for row in REQUEST_TABLE])
def test_scapy_reads_our_request_as_the_request_we_meant(description: str, transaction_id: int, unit_id: int, pdu: bytes, expected_hex: str) -> None:
    # Given our request / When scapy dissects it
    request = ModbusADURequest(modbus.build_request(transaction_id=transaction_id, unit_id=unit_id, pdu=pdu))
    # Then the MBAP fields and the PDU fields are ours
    assert (request.transId, request.protoId, request.len, request.unitId) == (transaction_id, 0, 1 + len(pdu), unit_id)
    body = request.payload
    assert body.funcCode == pdu[0]
    if pdu[0] == 0x2B:
        assert (body.MEIType, body.readCode, body.objectId) == (0x0E, pdu[2], pdu[3])
    else:
        assert (body.startAddr, body.quantity) == struct.unpack("!HH", pdu[1:])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"transaction_id": 1, "unit_id": 0}, "broadcast"),
        ({"transaction_id": 1, "unit_id": 256}, "outside 1..255"),
        ({"transaction_id": 1, "unit_id": -1}, "outside 1..255"),
        ({"transaction_id": 0x10000, "unit_id": 1}, "16 bits"),
        ({"transaction_id": -1, "unit_id": 1}, "16 bits"),
    ],
)
def test_build_request_refuses_broadcast_and_out_of_range_ids(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(CodecError, match=message):
        modbus.build_request(pdu=modbus.build_read_device_identification(), **kwargs)


@pytest.mark.parametrize(
    "pdu",
    [
        pytest.param(bytes.fromhex("06 0064 0003"), id="write-single-register"),
        pytest.param(bytes.fromhex("05 0000 ff00"), id="write-single-coil"),
        pytest.param(bytes.fromhex("10 0064 0001 02 0003"), id="write-multiple-registers"),
        pytest.param(bytes.fromhex("08 0001 0000"), id="diagnostics-restart-communications"),
        pytest.param(bytes.fromhex("08 0004 0000"), id="diagnostics-force-listen-only"),
        pytest.param(bytes.fromhex("2b 0d 00 00"), id="canopen-general-reference"),
        pytest.param(bytes.fromhex("11"), id="report-server-id"),
        pytest.param(bytes.fromhex("03 0064 0001 ff"), id="read-with-trailing-byte"),
        pytest.param(bytes.fromhex("2b 0e 01"), id="device-identification-cut-short"),
        pytest.param(b"", id="empty"),
    ],
)
def test_build_request_refuses_anything_but_a_well_formed_read(pdu: bytes) -> None:
    # Given a PDU that writes, diagnoses, or is not one of the reads / Then no ADU is built
    with pytest.raises(CodecError, match="porthole only sends reads"):
        modbus.build_request(transaction_id=1, unit_id=255, pdu=pdu)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"address": 0, "count": 0}, "quantity 0"),
        ({"address": 0, "count": 126}, "quantity 126"),
        ({"address": 0xFFFF, "count": 2}, "below address 65536"),
        ({"address": 0x10000, "count": 1}, "outside 0..65535"),
        ({"address": -1, "count": 1}, "outside 0..65535"),
    ],
)
def test_build_read_holding_registers_refuses_quantities_the_spec_forbids(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(CodecError, match=message):
        modbus.build_read_holding_registers(**kwargs)


def test_build_read_device_identification_refuses_unknown_codes_and_wide_object_ids() -> None:
    with pytest.raises(CodecError, match="not 1-4"):
        modbus.build_read_device_identification(read_code=5)  # type: ignore[arg-type]
    with pytest.raises(CodecError, match="does not fit a byte"):
        modbus.build_read_device_identification(object_id=0x100)


# --- recorded replies -----------------------------------------------------------------


def test_the_fixture_set_covers_identification_registers_and_exceptions() -> None:
    kinds = {load(case)[1]["reply"]["kind"] for case in CASES}
    assert kinds == {"device-identification", "registers", "exception"}


@pytest.mark.parametrize("case", CASES)
def test_recorded_reply_parses_to_the_facts_in_its_sidecar(case: str) -> None:
    # Given pymodbus's reply to our request
    raw, expected = load(case)
    request = bytes.fromhex(expected["request_hex"])
    # When framed and decoded
    consumed, adu = modbus.parse_adu(raw)
    response = modbus.parse_response(adu.pdu, request_function=request[7])
    # Then every field is what the sidecar says
    reply = expected["reply"]
    assert (consumed, adu.transaction_id, adu.unit_id) == (len(raw), reply["transaction_id"], reply["unit_id"])
    if reply["kind"] == "device-identification":
        assert isinstance(response, modbus.DeviceIdentification)
        assert (response.conformity_level, response.more_follows, response.next_object_id) == (reply["conformity_level"], reply["more_follows"], reply["next_object_id"])
        assert {str(item.object_id): item.value.decode() for item in response.objects} == reply["objects"]
    elif reply["kind"] == "registers":
        assert response == modbus.RegisterValues(function_code=0x03, registers=tuple(reply["registers"]))
    else:
        assert response == modbus.ModbusException(function_code=reply["function_code"], exception_code=reply["exception_code"])


@pytest.mark.parametrize("case", CASES)
def test_recorded_reply_fed_byte_by_byte_needs_data_until_complete(case: str) -> None:
    raw, _ = load(case)
    for length in range(len(raw)):
        assert modbus.parse_adu(raw[:length]) is modbus.NEED_DATA, length
    assert modbus.parse_adu(raw)[0] == len(raw)


@pytest.mark.parametrize("case", CASES)
def test_recorded_reply_with_trailing_bytes_consumes_only_its_frame(case: str) -> None:
    raw, _ = load(case)
    consumed, adu = modbus.parse_adu(raw + raw[:9])
    assert consumed == len(raw) and adu == modbus.parse_adu(raw)[1]


@pytest.mark.parametrize("case", CASES)
def test_scapy_dissects_recorded_replies_to_the_same_fields(case: str) -> None:
    # Given a recorded reply / When scapy reads it
    raw, expected = load(case)
    theirs = ModbusADUResponse(raw)
    _, adu = modbus.parse_adu(raw)
    ours = modbus.parse_response(adu.pdu, request_function=bytes.fromhex(expected["request_hex"])[7])
    # Then it agrees with porthole
    assert (theirs.transId, theirs.unitId, theirs.len) == (adu.transaction_id, adu.unit_id, len(adu.pdu) + 1)
    if isinstance(ours, modbus.DeviceIdentification):
        body = theirs[ModbusPDU2B0EReadDeviceIdentificationResponse]
        assert (body.conformityLevel, body.objCount) == (ours.conformity_level, len(ours.objects))
        scapy_objects = [layer for layer in _layers(theirs) if isinstance(layer, ModbusObjectId)]
        assert [(item.id, item.value) for item in scapy_objects] == [(item.object_id, item.value) for item in ours.objects]
    elif isinstance(ours, modbus.RegisterValues):
        assert list(theirs[ModbusPDU03ReadHoldingRegistersResponse].registerVal) == list(ours.registers)
    else:
        assert theirs[ModbusPDU03ReadHoldingRegistersError].exceptCode == ours.exception_code


def _layers(packet: object) -> list[object]:
    layers = []
    while packet:
        layers.append(packet)
        packet = packet.payload  # type: ignore[attr-defined]
    return layers


# --- scapy builds, porthole parses ------------------------------------------------------


def test_device_identification_with_more_follows_built_by_scapy() -> None:
    # Given a reply that says two objects came and more follow from object 2
    wire = bytes(
        ModbusADUResponse(transId=7, unitId=255)
        / ModbusPDU2B0EReadDeviceIdentificationResponse(readCode=1, conformityLevel=0x01, more=0xFF, nextObjId=2, objCount=2)
        / ModbusObjectId(id=0, value="Acme")
        / ModbusObjectId(id=1, value="CC")
    )
    # When parsed
    consumed, adu = modbus.parse_adu(wire)
    response = modbus.parse_response(adu.pdu, request_function=0x2B)
    # Then the continuation point and the objects are there
    assert consumed == len(wire)
    assert response == modbus.DeviceIdentification(
        read_code=1,
        conformity_level=0x01,
        more_follows=True,
        next_object_id=2,
        objects=(modbus.DeviceObject(object_id=0, value=b"Acme"), modbus.DeviceObject(object_id=1, value=b"CC")),
    )
    assert [item.name for item in response.objects] == ["VendorName", "ProductCode"]


def test_registers_and_exceptions_built_by_scapy() -> None:
    registers = bytes(ModbusADUResponse(transId=9, unitId=1) / ModbusPDU03ReadHoldingRegistersResponse(registerVal=[1, 2, 0xFFFF]))
    refused = bytes(ModbusADUResponse(transId=9, unitId=1) / ModbusPDU2B0EReadDeviceIdentificationError(exceptCode=1))
    assert modbus.parse_response(modbus.parse_adu(registers)[1].pdu, request_function=0x03) == modbus.RegisterValues(function_code=0x03, registers=(1, 2, 0xFFFF))
    exception = modbus.parse_response(modbus.parse_adu(refused)[1].pdu, request_function=0x2B)
    assert exception == modbus.ModbusException(function_code=0x2B, exception_code=0x01)
    assert exception.name == "illegal-function"


@pytest.mark.parametrize(("code", "name"), [(0x02, "illegal-data-address"), (0x04, "server-device-failure"), (0x0B, "gateway-target-failed-to-respond"), (0x42, "exception-0x42")])
def test_exception_names(code: int, name: str) -> None:
    assert modbus.exception_name(code) == name


@pytest.mark.parametrize(("object_id", "name"), [(0x05, "ModelName"), (0x07, "Reserved0x07"), (0x80, "Private0x80")])
def test_device_object_names_follow_the_spec_table(object_id: int, name: str) -> None:
    assert modbus.DeviceObject(object_id=object_id, value=b"").name == name


# --- hostile frames -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(bytes.fromhex("0001 0001"), "protocol id is 0x0001", id="protocol-id-1-after-4-bytes"),
        pytest.param(b"HTTP/1.1 400 Bad Request\r\n", "protocol id is 0x5450", id="http-garbage"),
        pytest.param(bytes.fromhex("0001 0000 ffff"), "length 65535", id="length-0xffff-after-6-bytes"),
        pytest.param(bytes.fromhex("0001 0000 00ff ff"), "length 255", id="length-one-past-maximum"),
        pytest.param(bytes.fromhex("0001 0000 0001 ff"), "length 1", id="length-without-a-function-code"),
        pytest.param(bytes.fromhex("0001 0000 0000"), "length 0", id="length-0"),
    ],
)
def test_malformed_mbap_headers_fail_fast_without_waiting_for_the_body(data: bytes, message: str) -> None:
    # Given only the first bytes of a frame that can never be Modbus TCP
    # Then the framer refuses at once, instead of asking for 65 535 more bytes
    with pytest.raises(CodecError, match=message):
        modbus.parse_adu(data)


def test_maximum_size_frame_is_accepted() -> None:
    frame = bytes.fromhex("0001 0000 00fe 01 03 fa") + b"\x00" * 251  # 7 + 253 = 260 bytes
    consumed, adu = modbus.parse_adu(frame)
    assert consumed == modbus.MAX_ADU and len(adu.pdu) == 253


@pytest.mark.parametrize(
    ("pdu", "request_function", "message"),
    [
        pytest.param(b"", 0x03, "empty", id="empty"),
        pytest.param(bytes.fromhex("04 02 0001"), 0x03, "does not answer request function 0x03", id="other-function"),
        pytest.param(bytes.fromhex("83"), 0x03, "exception response must be 2 bytes", id="exception-without-code"),
        pytest.param(bytes.fromhex("83 02 00"), 0x03, "exception response must be 2 bytes", id="exception-with-extra-byte"),
        pytest.param(bytes.fromhex("03 03 000100"), 0x03, "not a positive even number", id="odd-byte-count"),
        pytest.param(bytes.fromhex("03 00"), 0x03, "not a positive even number", id="zero-byte-count"),
        pytest.param(bytes.fromhex("03 04 0001"), 0x03, "declares 4 data bytes, carries 2", id="registers-cut"),
        pytest.param(bytes.fromhex("03"), 0x03, "before its byte count", id="no-byte-count"),
        pytest.param(bytes.fromhex("2b 0d 01 01 00 00 00"), 0x2B, "MEI type 0x0d", id="canopen-mei"),
        pytest.param(bytes.fromhex("2b 0e 01 01 00 00"), 0x2B, "shorter than its 7-byte head", id="identification-head-cut"),
        pytest.param(bytes.fromhex("2b 0e 01 01 42 00 00"), 0x2B, "more-follows byte 0x42", id="bad-more-follows"),
        pytest.param(bytes.fromhex("2b 0e 01 01 00 00 01 00 05 4163"), 0x2B, "declares 5 bytes, carries 2", id="object-value-cut"),
        pytest.param(bytes.fromhex("2b 0e 01 01 00 00 02 00 01 41"), 0x2B, "object 2 of 2 cut off", id="fewer-objects-than-counted"),
        pytest.param(bytes.fromhex("2b 0e 01 01 00 00 01 00 01 41 ff"), 0x2B, "1 bytes after the 1 device objects", id="bytes-after-objects"),
        pytest.param(bytes.fromhex("06 0064 0003"), 0x06, "no parser for function 0x06", id="write-echo-never-parsed"),
    ],
)
def test_malformed_reply_pdus_are_codec_errors(pdu: bytes, request_function: int, message: str) -> None:
    with pytest.raises(CodecError, match=message):
        modbus.parse_response(pdu, request_function=request_function)


# --- fuzz: a value, NEED_DATA or CodecError, never anything else -------------------------


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_parse_adu_on_random_bytes_needs_data_frames_or_raises_codec_error(data: bytes) -> None:
    try:
        result = modbus.parse_adu(data)
    except CodecError:
        return
    if result is modbus.NEED_DATA:
        assert len(data) < modbus.MAX_ADU
    else:
        consumed, adu = result
        assert 8 <= consumed <= min(len(data), modbus.MAX_ADU) and len(adu.pdu) == consumed - 7


@settings(max_examples=400, deadline=None)
@given(pdu=st.binary(max_size=260), request_function=st.sampled_from([0x03, 0x04, 0x2B]))
def test_parse_response_on_random_pdus_returns_a_response_or_raises_codec_error(pdu: bytes, request_function: int) -> None:
    try:
        response = modbus.parse_response(pdu, request_function=request_function)
    except CodecError:
        return
    assert isinstance(response, (modbus.DeviceIdentification, modbus.RegisterValues, modbus.ModbusException))


@settings(max_examples=300, deadline=None)
@given(case=st.sampled_from(CASES), position=st.integers(min_value=0, max_value=60), value=st.integers(min_value=0, max_value=255))
def test_mutated_recorded_replies_only_ever_parse_or_raise_codec_error(case: str, position: int, value: int) -> None:
    raw, expected = load(case)
    mutated = bytearray(raw)
    mutated[position % len(mutated)] = value
    try:
        result = modbus.parse_adu(bytes(mutated))
        if result is not modbus.NEED_DATA:
            modbus.parse_response(result[1].pdu, request_function=bytes.fromhex(expected["request_hex"])[7])
    except CodecError:
        pass
