"""porthole.codecs.dns: exact query bytes, reply matching, and the CodecError-only contract.

The replies under ``RECORDED`` were captured from dnsmasq 2.90 on 127.0.0.1 answering
the codec's own queries (``--address=/localhost/127.0.0.1``, no upstream), so the tests
check the codec against a real server's bytes, not against themselves. scapy's DNS
layer is a second, independent oracle for both directions.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.dns import DNS, DNSQR, DNSRR

from porthole.codecs import CodecError
from porthole.codecs.dns import (
    QCLASS_CH,
    QCLASS_IN,
    QTYPE_A,
    QTYPE_PTR,
    QTYPE_TXT,
    DnsHeader,
    build_query,
    encode_name,
    is_reply_to,
    parse_header,
)

# (query_id, name, qtype, qclass, recursion_desired, exact bytes)
# The first two rows are protocols.md §3 byte for byte (with the ID filled in).
QUERY_TABLE = [
    (0x5A17, "localhost.", QTYPE_A, QCLASS_IN, True, "5a17 0100 0001 0000 0000 0000 096c6f63616c686f737400 0001 0001"),
    (0x0BAD, "version.bind.", QTYPE_TXT, QCLASS_CH, False, "0bad 0000 0001 0000 0000 0000 0776657273696f6e0462696e6400 0010 0003"),
    (0x0000, "localhost", QTYPE_A, QCLASS_IN, True, "0000 0100 0001 0000 0000 0000 096c6f63616c686f737400 0001 0001"),
    (0xFFFF, ".", QTYPE_PTR, QCLASS_IN, False, "ffff 0000 0001 0000 0000 0000 00 000c 0001"),
    (0x0102, "_ship._tcp.local.", QTYPE_PTR, QCLASS_IN, False, "0102 0000 0001 0000 0000 0000 055f73686970045f746370056c6f63616c00 000c 0001"),
]

# Recorded dnsmasq 2.90 exchanges: (query, reply). The replies compress the answer
# name with a pointer to offset 12 (c0 0c), as real servers do.
LOCALHOST_QUERY = bytes.fromhex("5a17 0100 0001 0000 0000 0000 096c6f63616c686f737400 0001 0001")
LOCALHOST_REPLY = bytes.fromhex(
    "5a17 8580 0001 0001 0000 0000 096c6f63616c686f737400 0001 0001"
    " c00c 0001 0001 00000000 0004 7f000001"
)
VERSION_QUERY = bytes.fromhex("0bad 0000 0001 0000 0000 0000 0776657273696f6e0462696e6400 0010 0003")
VERSION_REPLY = bytes.fromhex(
    "0bad 8480 0001 0001 0000 0000 0776657273696f6e0462696e6400 0010 0003"
    " c00c 0010 0003 00000000 000d 0c646e736d6173712d322e3930"
)
RECORDED = [
    pytest.param(LOCALHOST_QUERY, LOCALHOST_REPLY, id="localhost-A"),
    pytest.param(VERSION_QUERY, VERSION_REPLY, id="version.bind-TXT-CH"),
]
HEADER_SIZE = 12


@pytest.mark.parametrize(("query_id", "name", "qtype", "qclass", "recursion_desired", "expected_hex"), QUERY_TABLE)
def test_build_query_produces_exact_wire_bytes(query_id: int, name: str, qtype: int, qclass: int, recursion_desired: bool, expected_hex: str) -> None:
    # Given a query description / When it is built / Then the bytes match the table exactly
    assert build_query(query_id, name, qtype, qclass, recursion_desired=recursion_desired) == bytes.fromhex(expected_hex)


@pytest.mark.parametrize(("query_id", "name", "qtype", "qclass", "recursion_desired", "expected_hex"), QUERY_TABLE)
def test_build_query_over_tcp_adds_a_two_byte_length_prefix(query_id: int, name: str, qtype: int, qclass: int, recursion_desired: bool, expected_hex: str) -> None:
    # Given the UDP form of a query
    message = bytes.fromhex(expected_hex)
    # When the same query is built for TCP (RFC 1035 §4.2.2)
    framed = build_query(query_id, name, qtype, qclass, recursion_desired=recursion_desired, tcp=True)
    # Then it is the same message behind its big-endian length
    assert framed == len(message).to_bytes(2, "big") + message


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("localhost.", b"\x09localhost\x00"),
        ("localhost", b"\x09localhost\x00"),
        ("", b"\x00"),
        (".", b"\x00"),
        ("a." * 127, b"\x01a" * 127 + b"\x00"),  # 255 bytes on the wire: the maximum
        ("x" * 63 + ".", b"\x3f" + b"x" * 63 + b"\x00"),  # 63-byte label: the maximum
    ],
)
def test_encode_name_writes_length_prefixed_labels(name: str, expected: bytes) -> None:
    assert encode_name(name) == expected


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("x" * 64 + ".", id="label-64-bytes"),
        pytest.param("a." * 127 + "b.", id="name-257-bytes"),
        pytest.param("a..b.", id="empty-label"),
        pytest.param("bücher.example.", id="non-ascii-label"),
    ],
)
def test_encode_name_rejects_names_dns_cannot_carry(name: str) -> None:
    with pytest.raises(CodecError):
        encode_name(name)


@pytest.mark.parametrize("query_id", [-1, 0x10000])
def test_build_query_rejects_an_id_wider_than_16_bits(query_id: int) -> None:
    with pytest.raises(CodecError, match="16 bits"):
        build_query(query_id, "localhost.")


@pytest.mark.parametrize(("query_id", "name", "qtype", "qclass", "recursion_desired", "expected_hex"), QUERY_TABLE)
def test_scapy_reads_our_query_as_the_question_we_meant(query_id: int, name: str, qtype: int, qclass: int, recursion_desired: bool, expected_hex: str) -> None:
    # Given our query bytes / When scapy (an independent implementation) dissects them
    dissected = DNS(build_query(query_id, name, qtype, qclass, recursion_desired=recursion_desired))
    # Then every header field and the single question are what we asked for
    assert (dissected.id, dissected.qr, dissected.opcode, dissected.rd) == (query_id, 0, 0, int(recursion_desired))
    assert (dissected.qdcount, dissected.ancount, dissected.nscount, dissected.arcount) == (1, 0, 0, 0)
    question = dissected.qd[0]
    assert question.qname == (name.strip(".") + ".").encode()  # scapy writes the root as b"."
    assert (question.qtype, question.qclass) == (qtype, qclass)


def test_parse_header_reads_every_field_of_a_recorded_reply() -> None:
    # Given dnsmasq's answer to "localhost. A" / When its header is parsed
    header = parse_header(LOCALHOST_REPLY)
    # Then: QR, AA, RD and RA set (0x8580), NOERROR, one question, one answer
    assert header == DnsHeader(id=0x5A17, flags=0x8580, qdcount=1, ancount=1, nscount=0, arcount=0)
    assert header.is_response and header.recursion_available and header.rcode == 0


@pytest.mark.parametrize(("query", "reply"), RECORDED)
def test_recorded_reply_matches_its_query_whole_and_with_trailing_bytes(query: bytes, reply: bytes) -> None:
    # Given a real server's reply / When matched, alone and followed by junk
    # Then it is recognised either way: trailing bytes do not change the header or question
    assert is_reply_to(query, reply) is True
    assert is_reply_to(query, reply + b"\x00trailing junk\xff") is True
    assert parse_header(reply + b"junk") == parse_header(reply)


@pytest.mark.parametrize(("query", "reply"), RECORDED)
def test_truncated_reply_is_matched_only_while_its_question_is_complete(query: bytes, reply: bytes) -> None:
    question_end = len(query)  # the reply echoes the query's question right after the header
    for length in range(len(reply)):
        truncated = reply[:length]
        # Given the reply cut at every length / When parsed and matched
        # Then a short header is a CodecError (never IndexError/struct.error) ...
        if length < HEADER_SIZE:
            with pytest.raises(CodecError):
                parse_header(truncated)
        else:
            assert parse_header(truncated) == parse_header(reply)
        # ... and the match holds exactly when the echoed question is all there
        assert is_reply_to(query, truncated) is (length >= question_end), length


def test_reply_with_another_id_is_not_a_reply() -> None:
    # Given dnsmasq's reply with the ID's low byte changed (a stray or spoofed answer)
    reply = LOCALHOST_REPLY[:1] + bytes([LOCALHOST_REPLY[1] ^ 0x01]) + LOCALHOST_REPLY[2:]
    # Then it does not match
    assert is_reply_to(LOCALHOST_QUERY, reply) is False


def test_our_own_query_echoed_back_is_not_a_reply() -> None:
    # A UDP echo service on 53 returns the query itself: same id, QR clear
    assert is_reply_to(LOCALHOST_QUERY, LOCALHOST_QUERY) is False


# --- scapy as the oracle for the reply side ------------------------------------------


def scapy_reply(query_id: int, name: str, qtype: str = "A", **flags: int) -> bytes:
    """A reply built by scapy's DNS layer, with an answer record."""
    return bytes(
        DNS(
            id=query_id,
            qr=1,
            rd=1,
            ra=flags.pop("ra", 1),
            rcode=flags.pop("rcode", 0),
            qd=DNSQR(qname=name, qtype=qtype),
            an=DNSRR(rrname=name, type="A", rdata="127.0.0.1", ttl=0),
            **flags,
        )
    )


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        pytest.param(scapy_reply(0x1234, "localhost."), True, id="same-id-and-question"),
        pytest.param(scapy_reply(0x1234, "LocalHost."), True, id="question-case-differs"),  # 0x20 mixing
        pytest.param(scapy_reply(0x1234, "localhost.", rcode=5, ra=0), True, id="refused-is-still-a-dns-reply"),
        pytest.param(scapy_reply(0x1235, "localhost."), False, id="other-id"),
        pytest.param(scapy_reply(0x1234, "localhost.", qtype="AAAA"), False, id="other-qtype"),
        pytest.param(scapy_reply(0x1234, "otherhost."), False, id="other-name"),
        pytest.param(bytes(DNS(id=0x1234, qr=1, qd=[])), True, id="question-omitted-mdns-legacy-unicast"),
        pytest.param(bytes(DNS(id=0x1234, qr=0, qd=DNSQR(qname="localhost."))), False, id="qr-clear"),
    ],
)
def test_is_reply_to_agrees_with_replies_scapy_builds(reply: bytes, expected: bool) -> None:
    # Given our localhost query and a reply built by scapy / Then the verdict matches the table
    assert is_reply_to(build_query(0x1234, "localhost."), reply) is expected


@pytest.mark.parametrize(("rcode", "ra"), [(0, 1), (5, 0), (3, 1), (2, 0)])
def test_parse_header_flags_agree_with_scapy(rcode: int, ra: int) -> None:
    # Given a scapy-built reply with a given RCODE and RA / When our header parser reads it
    header = parse_header(scapy_reply(0x4242, "localhost.", rcode=rcode, ra=ra))
    # Then the derived properties say what scapy wrote
    assert (header.id, header.is_response, header.rcode, header.recursion_available) == (0x4242, True, rcode, bool(ra))


# --- fuzz: CodecError or a value, never anything else ---------------------------------


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_parse_header_on_random_bytes_returns_a_header_or_raises_codec_error(data: bytes) -> None:
    try:
        header = parse_header(data)
    except CodecError:
        assert len(data) < HEADER_SIZE
    else:
        assert isinstance(header, DnsHeader)


@settings(max_examples=300, deadline=None)
@given(query=st.one_of(st.binary(max_size=48), st.just(LOCALHOST_QUERY)), reply=st.binary(max_size=96))
def test_is_reply_to_on_random_bytes_only_ever_returns_a_bool(query: bytes, reply: bytes) -> None:
    assert is_reply_to(query, reply) in (True, False)


@settings(max_examples=200, deadline=None)
@given(suffix=st.binary(max_size=64))
def test_is_reply_to_with_a_valid_header_and_random_body_only_ever_returns_a_bool(suffix: bytes) -> None:
    # The interesting path: id and QR match, so the question comparison runs on garbage
    assert is_reply_to(LOCALHOST_QUERY, LOCALHOST_REPLY[:HEADER_SIZE] + suffix) in (True, False)
