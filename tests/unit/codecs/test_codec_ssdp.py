"""porthole.codecs.ssdp: exact M-SEARCH bytes and a hostile-input-safe response parser.

The response fixture has the shape protocols.md §7.1 describes for SEMP gateways
(SMA-style SERVER string, USN of uuid::ST); SSDP is one datagram, so a "truncated"
response is a shorter datagram that must still parse to something defined or raise
CodecError.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from porthole.codecs import CodecError
from porthole.codecs.ssdp import MAX_HEADERS, MAX_RESPONSE, SEMP_GATEWAY_URN, SsdpResponse, build_msearch, parse_response

SEMP_RESPONSE = (
    b"HTTP/1.1 200 OK\r\n"
    b"CACHE-CONTROL: max-age=1800\r\n"
    b"EXT:\r\n"
    b"LOCATION: http://198.18.1.10:8888/uuid:2fac1234-31f8-11b4-a222-08002b34c003/description.xml\r\n"
    b"SERVER: Linux/2.6.32 UPnP/1.0 SMA SSDP Server/1.0.0\r\n"
    b"ST: urn:schemas-simple-energy-management-protocol:device:Gateway:1\r\n"
    b"USN: uuid:2fac1234-31f8-11b4-a222-08002b34c003::urn:schemas-simple-energy-management-protocol:device:Gateway:1\r\n"
    b"\r\n"
)
SEMP_HEADERS = (
    ("cache-control", "max-age=1800"),
    ("ext", ""),
    ("location", "http://198.18.1.10:8888/uuid:2fac1234-31f8-11b4-a222-08002b34c003/description.xml"),
    ("server", "Linux/2.6.32 UPnP/1.0 SMA SSDP Server/1.0.0"),
    ("st", SEMP_GATEWAY_URN),
    ("usn", f"uuid:2fac1234-31f8-11b4-a222-08002b34c003::{SEMP_GATEWAY_URN}"),
)


# --- M-SEARCH builder -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "kwargs", "expected"),
    [
        (
            "198.18.1.10",
            {"search_target": SEMP_GATEWAY_URN, "user_agent": "porthole/0.1.0"},
            b"M-SEARCH * HTTP/1.1\r\n"
            b"HOST: 198.18.1.10:1900\r\n"
            b'MAN: "ssdp:discover"\r\n'
            b"ST: urn:schemas-simple-energy-management-protocol:device:Gateway:1\r\n"
            b"USER-AGENT: porthole/0.1.0 UPnP/1.1 porthole/0.1.0\r\n"
            b"\r\n",
        ),
        (
            "127.0.0.1",
            {},
            b"M-SEARCH * HTTP/1.1\r\n"
            b"HOST: 127.0.0.1:1900\r\n"
            b'MAN: "ssdp:discover"\r\n'
            b"ST: ssdp:all\r\n"
            b"USER-AGENT: porthole UPnP/1.1 porthole\r\n"
            b"\r\n",
        ),
    ],
)
def test_build_msearch_produces_exact_unicast_request(host: str, kwargs: dict[str, str], expected: bytes) -> None:
    # Given a unicast target / When the request is built / Then it is protocols.md §7.1 byte for byte
    assert build_msearch(host, **kwargs) == expected


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"host": "198.18.1.10\r\nX-Injected: 1"}, id="crlf-in-host"),
        pytest.param({"host": "198.18.1.10", "search_target": "ssdp:all\nMX: 5"}, id="lf-in-search-target"),
        pytest.param({"host": "198.18.1.10", "user_agent": "porthole\r"}, id="cr-in-user-agent"),
    ],
)
def test_build_msearch_rejects_header_injection(kwargs: dict[str, str]) -> None:
    # Given a value carrying CR or LF (it would smuggle an extra header line)
    # Then the builder refuses instead of emitting it
    with pytest.raises(CodecError, match="CR or LF"):
        build_msearch(**kwargs)


def test_msearch_header_lines_are_name_colon_value_ending_in_a_blank_line() -> None:
    # Our request's header block is itself well-formed "Name: value" lines
    lines = build_msearch("198.18.1.10").split(b"\r\n")
    assert lines[-2:] == [b"", b""]
    assert all(b": " in line for line in lines[1:-2])


# --- response parser ------------------------------------------------------------------


def test_parse_response_reads_status_and_every_header_of_a_semp_gateway_answer() -> None:
    # Given a realistic 200 OK / When parsed
    response = parse_response(SEMP_RESPONSE)
    # Then status and all six headers come out, names lower-cased, values trimmed
    assert response == SsdpResponse(status=200, headers=SEMP_HEADERS)


@pytest.mark.parametrize("name", ["LOCATION", "location", "Location", "lOcAtIoN"])
def test_header_lookup_ignores_case(name: str) -> None:
    response = parse_response(SEMP_RESPONSE)
    assert response.header(name) == SEMP_HEADERS[2][1]


def test_header_lookup_of_an_absent_header_is_none_and_empty_value_is_kept() -> None:
    response = parse_response(SEMP_RESPONSE)
    assert response.header("date") is None
    assert response.header("EXT") == ""  # EXT is present and empty by specification


@pytest.mark.parametrize(
    "trailer",
    [
        pytest.param(b"", id="nothing"),
        pytest.param(b"<?xml version='1.0'?><root/>", id="body-after-blank-line"),
        pytest.param(b"\r\n\r\n\x00\xff", id="binary-junk"),
    ],
)
def test_bytes_after_the_header_block_are_ignored(trailer: bytes) -> None:
    assert parse_response(SEMP_RESPONSE + trailer) == parse_response(SEMP_RESPONSE)


def test_response_without_the_closing_blank_line_still_parses() -> None:
    # Some devices end the datagram after the last header's CRLF
    assert parse_response(SEMP_RESPONSE.removesuffix(b"\r\n")) == parse_response(SEMP_RESPONSE)
    assert parse_response(SEMP_RESPONSE.removesuffix(b"\r\n\r\n")) == parse_response(SEMP_RESPONSE)


def test_truncated_response_parses_to_a_prefix_or_raises_codec_error() -> None:
    full = parse_response(SEMP_RESPONSE)
    outcomes = {"parsed": 0, "rejected": 0}
    for length in range(len(SEMP_RESPONSE)):
        # Given the datagram cut at every length / When parsed
        try:
            partial = parse_response(SEMP_RESPONSE[:length])
        except CodecError:
            outcomes["rejected"] += 1
            continue
        outcomes["parsed"] += 1
        # Then what parses is the full response's status digits and a prefix of its
        # headers, where only the last one may be cut short
        assert str(full.status).startswith(str(partial.status))
        complete, last = partial.headers[:-1], partial.headers[-1:]
        assert complete == full.headers[: len(complete)]
        for name, value in last:
            # A name only comes out once its colon arrived, so it is whole; the value may be cut
            full_name, full_value = full.headers[len(complete)]
            assert name == full_name and full_value.startswith(value), length
    # Both outcomes really occur (cut inside a header name: rejected; after a colon: parsed)
    assert outcomes["parsed"] > 0 and outcomes["rejected"] > 0


@pytest.mark.parametrize(
    "datagram",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n\r\n", id="a-request-not-a-response"),
        pytest.param(b"HTTP/1.1 OK\r\n\r\n", id="no-status-code"),
        pytest.param(b"HTTP/1.1 2OO OK\r\n\r\n", id="letters-in-status"),
        pytest.param(b"HTTP/1.1 \xb2\xb3 OK\r\n\r\n", id="latin1-superscript-digits"),
        pytest.param(b"HTTP/2 200 OK\r\n\r\n", id="http2"),
        pytest.param(b"HTTP/1.1 200 OK\r\nEXT\r\n\r\n", id="header-without-colon"),
        pytest.param(b"HTTP/1.1 200 OK\r\n: no-name\r\n\r\n", id="header-without-name"),
        pytest.param(b"HTTP/1.1 200 OK\r\n\tfolded continuation\r\n\r\n", id="obsolete-line-folding"),
    ],
)
def test_malformed_responses_raise_codec_error(datagram: bytes) -> None:
    with pytest.raises(CodecError):
        parse_response(datagram)


def test_response_at_the_size_cap_is_accepted_and_one_byte_more_is_rejected() -> None:
    # Given a response padded to exactly MAX_RESPONSE bytes with a long SERVER value
    head = b"HTTP/1.1 200 OK\r\nSERVER: "
    at_cap = head + b"x" * (MAX_RESPONSE - len(head) - 4) + b"\r\n\r\n"
    assert len(at_cap) == MAX_RESPONSE
    # Then the cap itself parses, and a hostile device inflating it by one byte is refused
    assert parse_response(at_cap).header("server") == "x" * (MAX_RESPONSE - len(head) - 4)
    with pytest.raises(CodecError, match="larger than"):
        parse_response(at_cap + b"x")


def test_response_with_max_headers_is_accepted_and_one_more_is_rejected() -> None:
    def response_with(count: int) -> bytes:
        return b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: v\r\n" % index for index in range(count)) + b"\r\n"

    assert len(parse_response(response_with(MAX_HEADERS)).headers) == MAX_HEADERS
    with pytest.raises(CodecError, match="headers"):
        parse_response(response_with(MAX_HEADERS + 1))


# --- fuzz -----------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=MAX_RESPONSE + 16))
def test_parse_response_on_random_bytes_returns_a_response_or_raises_codec_error(data: bytes) -> None:
    try:
        assert isinstance(parse_response(data), SsdpResponse)
    except CodecError:
        pass


@settings(max_examples=300, deadline=None)
@given(
    status=st.binary(max_size=6),
    lines=st.lists(st.binary(max_size=24), max_size=MAX_HEADERS + 2),
)
def test_parse_response_on_near_valid_datagrams_returns_a_response_or_raises_codec_error(status: bytes, lines: list[bytes]) -> None:
    # Random status codes and header lines behind a valid protocol token reach the
    # header loop, which purely random bytes almost never do.
    data = b"HTTP/1.1 " + status + b" OK\r\n" + b"\r\n".join(lines) + b"\r\n\r\n"
    try:
        assert isinstance(parse_response(data), SsdpResponse)
    except CodecError:
        pass
