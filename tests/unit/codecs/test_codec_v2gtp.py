"""porthole.codecs.v2gtp: SECC Discovery Protocol request bytes and response parsing.

Wire facts from protocols.md §9: request ``01 FE 90 00 00 00 00 02 <sec> <transport>``,
response ``01 FE 90 01 00 00 00 14`` + IPv6 address (16) + port (2) + security + transport.
"""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from porthole.codecs import CodecError
from porthole.codecs.v2gtp import (
    SECURITY_NO_TLS,
    SECURITY_TLS,
    TRANSPORT_TCP,
    TRANSPORT_UDP,
    SdpResponse,
    build_sdp_request,
    parse_sdp_response,
)

# An SECC at fe80::2 offering unencrypted V2G on 15119/tcp (the vendor's documented port)
SDP_RESPONSE = bytes.fromhex("01fe9001 00000014 fe800000000000000000000000000002 3b0f 10 00")
SDP_RESPONSE_VALUE = SdpResponse(
    secc_address=ipaddress.IPv6Address("fe80::2"),
    port=15119,
    security=SECURITY_NO_TLS,
    transport=TRANSPORT_TCP,
)


@pytest.mark.parametrize(
    ("security", "transport", "expected_hex"),
    [
        (SECURITY_NO_TLS, TRANSPORT_TCP, "01 FE 90 00 00 00 00 02 10 00"),  # protocols.md §9.2 example
        (SECURITY_TLS, TRANSPORT_TCP, "01 FE 90 00 00 00 00 02 00 00"),
        (SECURITY_NO_TLS, TRANSPORT_UDP, "01 FE 90 00 00 00 00 02 10 10"),
        (SECURITY_TLS, TRANSPORT_UDP, "01 FE 90 00 00 00 00 02 00 10"),
    ],
)
def test_build_sdp_request_produces_exact_ten_bytes(security: int, transport: int, expected_hex: str) -> None:
    assert build_sdp_request(security, transport) == bytes.fromhex(expected_hex)


def test_build_sdp_request_defaults_to_asking_for_plain_tcp() -> None:
    # The probe asks for no-TLS: an answer of TLS then means the SECC enforces TLS (§9.2)
    assert build_sdp_request() == bytes.fromhex("01 FE 90 00 00 00 00 02 10 00")


@pytest.mark.parametrize(("security", "transport"), [(0x01, TRANSPORT_TCP), (SECURITY_TLS, 0x20), (0xFF, 0xFF)])
def test_build_sdp_request_rejects_undefined_codes(security: int, transport: int) -> None:
    with pytest.raises(CodecError):
        build_sdp_request(security, transport)


def test_parse_sdp_response_reads_address_port_and_choices() -> None:
    assert len(SDP_RESPONSE) == 28
    assert parse_sdp_response(SDP_RESPONSE) == SDP_RESPONSE_VALUE


def test_parse_sdp_response_reports_a_tls_enforcing_secc_on_a_dynamic_port() -> None:
    # Given an SECC answering TLS from the ISO 15118-2 dynamic range (port 49152)
    data = bytes.fromhex("01fe9001 00000014") + ipaddress.IPv6Address("fe80::1:2:3:4").packed + bytes.fromhex("c000 00 00")
    # Then each field is read at its own offset
    assert parse_sdp_response(data) == SdpResponse(
        secc_address=ipaddress.IPv6Address("fe80::1:2:3:4"), port=49152, security=SECURITY_TLS, transport=TRANSPORT_TCP
    )


@pytest.mark.parametrize(
    ("data", "offset"),
    [
        pytest.param(b"\x02" + SDP_RESPONSE[1:], 0, id="wrong-version"),
        pytest.param(SDP_RESPONSE[:1] + b"\xfd" + SDP_RESPONSE[2:], 0, id="wrong-inverse-version"),
        pytest.param(SDP_RESPONSE[:2] + b"\x90\x00" + SDP_RESPONSE[4:], 2, id="sdp-request-not-response"),
        pytest.param(SDP_RESPONSE[:2] + b"\x80\x01" + SDP_RESPONSE[4:], 2, id="exi-payload"),
        pytest.param(SDP_RESPONSE[:4] + b"\x00\x00\x00\x13" + SDP_RESPONSE[8:], 4, id="header-length-19"),
        pytest.param(SDP_RESPONSE[:4] + b"\xff\xff\xff\xff" + SDP_RESPONSE[8:], 4, id="header-length-huge"),
    ],
)
def test_parse_sdp_response_rejects_a_wrong_header_field_at_its_offset(data: bytes, offset: int) -> None:
    with pytest.raises(CodecError) as raised:
        parse_sdp_response(data)
    assert raised.value.offset == offset


def test_parse_sdp_response_rejects_trailing_bytes() -> None:
    # A datagram is the whole message: extra bytes contradict the length field
    with pytest.raises(CodecError, match="20 bytes"):
        parse_sdp_response(SDP_RESPONSE + b"\x00")


def test_truncated_sdp_response_raises_codec_error_at_every_length() -> None:
    for length in range(len(SDP_RESPONSE)):
        # Given the response cut at every length / Then CodecError, never IndexError/struct.error
        with pytest.raises(CodecError) as raised:
            parse_sdp_response(SDP_RESPONSE[:length])
        assert raised.value.offset == (length if length < 8 else 4), length


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40))
def test_parse_sdp_response_on_random_bytes_returns_a_response_or_raises_codec_error(data: bytes) -> None:
    try:
        assert isinstance(parse_sdp_response(data), SdpResponse)
    except CodecError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=20, max_size=20))
def test_any_twenty_byte_body_behind_a_valid_header_parses(body: bytes) -> None:
    # The body has no invalid values at the codec level: judging them is assess's job
    response = parse_sdp_response(bytes.fromhex("01fe9001 00000014") + body)
    assert (response.secc_address.packed, response.port, response.security, response.transport) == (
        body[:16],
        int.from_bytes(body[16:18], "big"),
        body[18],
        body[19],
    )
