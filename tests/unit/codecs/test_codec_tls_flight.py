"""porthole.codecs.tls_flight: the plaintext part of recorded TLS 1.2 server flights.

Fixtures are real bytes from OpenSSL (the lab's stdlib TLS server) answering
porthole's EEBUS ClientHello, recorded once: one server that requires a client
certificate (flight ends with a plaintext handshake_failure alert) and one that
completes without it (flight goes on past ChangeCipherSpec, encrypted).
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from porthole.codecs import CodecError
from porthole.codecs.tls_flight import (
    MAX_CERTIFICATES,
    MAX_RECORD_LENGTH,
    TlsAlert,
    alert_name,
    parse_server_flight,
)

FIXTURES = Path(__file__).parents[2] / "fixtures" / "wire" / "tls_flight"
CASES = ("tls12-client-certificate-required", "tls12-completed-without-client-certificate")


def fixture(case: str) -> tuple[bytes, dict]:
    return (FIXTURES / f"{case}.bin").read_bytes(), json.loads((FIXTURES / f"{case}.expected.json").read_text())


def record(content_type: int, fragment: bytes, version: int = 0x0303) -> bytes:
    return struct.pack("!BHH", content_type, version, len(fragment)) + fragment


def handshake(message_type: int, body: bytes) -> bytes:
    return bytes([message_type]) + len(body).to_bytes(3, "big") + body


@pytest.mark.parametrize("case", CASES)
def test_recorded_flight_parses_to_its_recorded_facts(case: str) -> None:
    # Given a server flight recorded from OpenSSL
    data, expected = fixture(case)
    # When it is parsed whole
    flight = parse_server_flight(data)
    # Then every fact matches the sidecar
    assert list(flight.handshake_types) == expected["handshake_types"]
    assert flight.server_version == expected["server_version"]
    assert flight.cipher_suite == expected["cipher_suite"]
    assert len(flight.certificates) == expected["certificate_count"]
    assert hashlib.sha256(flight.certificates[0]).hexdigest() == expected["leaf_sha256"]
    assert (None if flight.alert is None else [flight.alert.level, flight.alert.description]) == expected["alert"]
    assert flight.change_cipher_spec is expected["change_cipher_spec"]
    assert flight.truncated is False


def test_server_requiring_a_certificate_asks_for_it_and_ends_with_a_fatal_handshake_failure() -> None:
    data, _ = fixture("tls12-client-certificate-required")
    flight = parse_server_flight(data)
    assert flight.certificate_requested
    assert flight.alert == TlsAlert(level=2, description=40)
    assert flight.alert.fatal and flight.alert.name == "handshake_failure"


def test_completed_flight_stops_at_change_cipher_spec_and_ignores_the_encrypted_rest() -> None:
    # Given the completed flight, followed here by bytes that are not TLS at all
    data, _ = fixture("tls12-completed-without-client-certificate")
    # When parsed with that garbage after the encrypted Finished
    flight = parse_server_flight(data + b"\xff" * 40)
    # Then parsing stopped at ChangeCipherSpec: nothing after it is read
    assert flight.change_cipher_spec and not flight.certificate_requested


def record_boundaries(data: bytes) -> set[int]:
    boundaries, offset = {0}, 0
    while offset + 5 <= len(data):
        offset += 5 + struct.unpack_from("!H", data, offset + 3)[0]
        boundaries.add(offset)
    return boundaries


def test_every_prefix_parses_as_a_truncated_prefix_of_the_whole() -> None:
    # Given a recorded flight cut after every byte (a server or our read limit stopping mid-way)
    data, _ = fixture("tls12-client-certificate-required")
    whole = parse_server_flight(data)
    boundaries = record_boundaries(data)
    for cut in range(len(data)):
        # When the prefix is parsed
        prefix = parse_server_flight(data[:cut])
        # Then it never raises, what it saw is a prefix of the whole flight, and a
        # cut inside a record is flagged as truncated
        assert whole.handshake_types[: len(prefix.handshake_types)] == prefix.handshake_types
        if cut not in boundaries:
            assert prefix.truncated, cut


def test_a_record_cut_short_is_reported_as_truncated() -> None:
    data, _ = fixture("tls12-client-certificate-required")
    assert parse_server_flight(data[:-1]).truncated
    assert parse_server_flight(data[:3]).truncated


def test_handshake_messages_split_across_records_are_reassembled() -> None:
    # Given a ServerHello split over three records (RFC 5246 §6.2.1 allows any fragmentation)
    body = b"\x03\x03" + bytes(32) + b"\x00" + b"\xc0\x23" + b"\x00"
    message = handshake(2, body) + handshake(14, b"")
    data = record(22, message[:3]) + record(22, message[3:20]) + record(22, message[20:])
    # When parsed
    flight = parse_server_flight(data)
    # Then both messages are seen once, complete
    assert flight.handshake_types == (2, 14)
    assert (flight.server_version, flight.cipher_suite) == (0x0303, 0xC023)
    assert not flight.truncated


def test_alert_without_server_hello_is_read() -> None:
    # Given a server that accepts none of the offered suites
    flight = parse_server_flight(record(21, b"\x02\x28"))
    assert flight.handshake_types == () and flight.alert == TlsAlert(level=2, description=40)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"HTTP/1.1 400 Bad Request\r\n\r\n", "content type"),
        (record(22, b"", version=0x0a0b), "version"),
        (struct.pack("!BHH", 22, 0x0303, MAX_RECORD_LENGTH + 1), "exceeds"),
        (record(23, b"\x00" * 8), "application data"),
        (record(21, b"\x02\x28\x00"), "alert"),
        (record(22, handshake(2, b"\x03\x03")), "ServerHello"),
        (record(22, handshake(11, b"\x00\x00\x05\x00\x00\x09abc")), "trailing bytes"),
        (record(22, handshake(11, b"\x00\x00\x03\x00\x00\x00")), "empty certificate"),
    ],
)
def test_malformed_flights_raise_codec_error_naming_the_problem(data: bytes, message: str) -> None:
    with pytest.raises(CodecError, match=message):
        parse_server_flight(data)


def test_certificate_count_is_capped() -> None:
    # Given a Certificate message with one entry more than the cap
    entries = b"".join(b"\x00\x00\x01" + b"\x30" for _ in range(MAX_CERTIFICATES + 1))
    body = len(entries).to_bytes(3, "big") + entries
    # Then it is refused instead of collected
    with pytest.raises(CodecError, match="more than"):
        parse_server_flight(record(22, handshake(11, body)))


def test_unknown_alert_descriptions_get_a_readable_name() -> None:
    assert alert_name(116) == "certificate_required"
    assert alert_name(201) == "unknown_201"


def test_handshake_bytes_are_capped_against_a_hostile_stream() -> None:
    # Given 300 KiB of full handshake records (each within the record cap)
    chunk = record(22, b"\x0b" + b"\x00" * (2**14 - 1))
    with pytest.raises(CodecError, match="exceed"):
        parse_server_flight(chunk * 20)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600))
def test_garbage_only_ever_raises_codec_error(data: bytes) -> None:
    try:
        parse_server_flight(data)
    except CodecError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_recorded_flights_only_ever_raise_codec_error(data: st.DataObject) -> None:
    # Given a recorded flight with a few bytes overwritten
    original, _ = fixture("tls12-client-certificate-required")
    mutated = bytearray(original)
    for _ in range(data.draw(st.integers(1, 6))):
        position = data.draw(st.integers(0, len(mutated) - 1))
        mutated[position] = data.draw(st.integers(0, 255))
    # Then parsing returns or raises CodecError, nothing else
    try:
        parse_server_flight(bytes(mutated))
    except CodecError:
        pass
