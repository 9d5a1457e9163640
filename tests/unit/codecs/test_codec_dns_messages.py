"""porthole.codecs.dns full-message parsing: recorded dnsmasq replies, scapy as oracle, hostile names.

The ``.bin`` fixtures under tests/fixtures/wire/dns were recorded from dnsmasq 2.90
on loopback answering porthole's own queries (``record.py`` there re-records them);
each ``.expected.json`` sidecar holds the query and the facts a reader checked by hand.
scapy's DNS layer is the independent second opinion in both directions.
"""

from __future__ import annotations

import ipaddress
import json
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.dns import DNS, DNSQR, DNSRR, DNSRRSRV

from porthole.codecs import CodecError
from porthole.codecs import dns

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "wire" / "dns"
CASES = sorted(path.stem for path in FIXTURES.glob("*.bin"))
HEADER = 12


def load(case: str) -> tuple[bytes, dict]:
    """The reply message (TCP framing removed) and its sidecar."""
    raw = (FIXTURES / f"{case}.bin").read_bytes()
    expected = json.loads((FIXTURES / f"{case}.expected.json").read_text())
    if expected["query"]["transport"] == "tcp":
        frame = dns.parse_tcp_frame(raw)
        assert frame is not dns.NEED_DATA
        consumed, raw = frame
    return raw, expected


def test_the_fixture_set_covers_every_decoded_record_type_and_both_transports() -> None:
    # Guards the parametrized tests below against an empty or shrunken fixture directory
    types = {json.loads((FIXTURES / f"{case}.expected.json").read_text())["query"]["qtype"] for case in CASES}
    transports = {json.loads((FIXTURES / f"{case}.expected.json").read_text())["query"]["transport"] for case in CASES}
    assert {dns.QTYPE_A, dns.QTYPE_AAAA, dns.QTYPE_TXT, dns.QTYPE_PTR, dns.QTYPE_SRV} <= types
    assert transports == {"udp", "tcp"}


@pytest.mark.parametrize("case", CASES)
def test_recorded_reply_parses_to_the_facts_in_its_sidecar(case: str) -> None:
    # Given a real dnsmasq reply and the query that produced it
    reply, expected = load(case)
    query = bytes.fromhex(expected["query"]["hex"])
    # When the whole message is parsed
    message = dns.parse_message(reply)
    # Then header, question and every record are what the sidecar says
    assert dns.is_reply_to(query, reply)
    assert message.header.flags == expected["reply"]["flags"]
    assert message.header.rcode == expected["reply"]["rcode"]
    assert message.header.recursion_available is expected["reply"]["recursion_available"]
    assert message.questions == (dns.DnsQuestion(name=expected["query"]["name"], qtype=expected["query"]["qtype"], qclass=expected["query"]["qclass"]),)
    assert [dns.record_text(record) for record in message.answers] == expected["reply"]["answers"]
    assert [dns.record_text(record) for record in message.additionals] == expected["reply"]["additionals"]
    assert message.authorities == ()


@pytest.mark.parametrize("case", CASES)
def test_recorded_reply_with_trailing_bytes_parses_the_same(case: str) -> None:
    reply, _ = load(case)
    # Given the reply followed by junk (UDP padding, a sloppy stack) / Then the message is unchanged
    assert dns.parse_message(reply + b"\x00\xffjunk") == dns.parse_message(reply)


@pytest.mark.parametrize("case", [case for case in CASES if "refused" not in case])
def test_recorded_reply_cut_at_every_length_is_a_codec_error(case: str) -> None:
    reply, _ = load(case)
    # Given the reply cut short anywhere (a truncated answer) / Then CodecError, never IndexError or struct.error
    for length in range(len(reply)):
        with pytest.raises(CodecError):
            dns.parse_message(reply[:length])


@pytest.mark.parametrize("case", [case for case in CASES if case.endswith("-tcp")])
def test_tcp_frame_needs_data_until_its_last_byte_and_leaves_what_follows(case: str) -> None:
    raw = (FIXTURES / f"{case}.bin").read_bytes()
    # Given the recorded TCP stream fed byte by byte / Then NEED_DATA until the frame is whole
    for length in range(len(raw)):
        assert dns.parse_tcp_frame(raw[:length]) is dns.NEED_DATA, length
    # And with the next frame's first bytes behind it, only this frame is consumed
    consumed, message = dns.parse_tcp_frame(raw + raw[:5])
    assert (consumed, message) == (len(raw), raw[2:])


def test_tcp_frame_shorter_than_a_header_is_never_dns() -> None:
    # Given a length prefix of 11 (a 12-byte header cannot fit) / Then CodecError at once
    with pytest.raises(CodecError, match="less than a 12-byte header"):
        dns.parse_tcp_frame(b"\x00\x0b" + b"\x00" * 11)


def test_srv_reply_resolves_names_compressed_into_record_data() -> None:
    # Given dnsmasq's SRV reply, whose additional A/AAAA names point *into* the SRV target (c0 3a)
    reply, _ = load("open-srv")
    assert reply.count(b"\xc0\x3a") == 2
    # When parsed / Then the pointers resolve to the target's name and the SRV fields decode
    message = dns.parse_message(reply)
    assert message.answers[0].value == dns.SrvData(priority=10, weight=5, port=1600, target="controller.lab.invalid.")
    assert [record.name for record in message.additionals] == ["controller.lab.invalid."] * 2
    assert [record.value for record in message.additionals] == [ipaddress.IPv4Address("198.18.0.12"), ipaddress.IPv6Address("fd00::12")]


@pytest.mark.parametrize("case", [case for case in CASES if case.startswith("open-") and not case.endswith("refused")])
def test_scapy_dissects_recorded_replies_to_the_same_records(case: str) -> None:
    # Given a recorded reply / When scapy (independent implementation) and porthole both read it
    reply, _ = load(case)
    ours = dns.parse_message(reply)
    theirs = DNS(reply)
    # Then every answer and additional agrees on owner, type, TTL and value
    for our_records, their_records in ((ours.answers, theirs.an), (ours.additionals, theirs.ar)):
        assert len(our_records) == len(their_records or [])
        for our, their in zip(our_records, their_records or []):
            assert (our.name.encode(), our.rtype, our.ttl) == (their.rrname, their.type, their.ttl)
            assert _scapy_value(their) == our.value


def _scapy_value(record: object) -> object:
    if isinstance(record, DNSRRSRV):
        return dns.SrvData(priority=record.priority, weight=record.weight, port=record.port, target=record.target.decode())
    rdata = record.rdata  # type: ignore[attr-defined]
    if record.type in (dns.QTYPE_A, dns.QTYPE_AAAA):  # type: ignore[attr-defined]
        return ipaddress.ip_address(rdata)
    if record.type == dns.QTYPE_PTR:  # type: ignore[attr-defined]
        return rdata.decode()
    return tuple(rdata)  # TXT: scapy gives the list of character strings


# --- scapy builds, porthole parses ------------------------------------------------------


def test_message_built_by_scapy_with_every_decoded_type_parses_record_for_record() -> None:
    # Given a reply scapy builds, with name compression turned on
    packet = DNS(
        id=0x4242,
        qr=1,
        aa=1,
        rd=1,
        ra=1,
        qd=DNSQR(qname="svc.example.", qtype="SRV"),
        an=[
            DNSRRSRV(rrname="svc.example.", ttl=120, priority=1, weight=2, port=502, target="host.example."),
            DNSRR(rrname="host.example.", type="A", ttl=60, rdata="192.0.2.7"),
            DNSRR(rrname="host.example.", type="AAAA", ttl=60, rdata="2001:db8::7"),
            DNSRR(rrname="host.example.", type="TXT", ttl=60, rdata=[b"a=1", b"", b"b=two words"]),
            DNSRR(rrname="7.2.0.192.in-addr.arpa.", type="PTR", ttl=60, rdata="host.example."),
            DNSRR(rrname="host.example.", type="MX", ttl=60, rdata=b"\x00\x0a\x04mail\xc0\x0c"),
        ],
    ).compress()
    wire = bytes(packet)
    # When porthole parses it
    message = dns.parse_message(wire)
    # Then header flags and each record's decoded value are what scapy was told
    assert (message.header.id, message.header.authoritative, message.header.recursion_available, message.header.rcode) == (0x4242, True, True, 0)
    assert [record.value for record in message.answers[:5]] == [
        dns.SrvData(priority=1, weight=2, port=502, target="host.example."),
        ipaddress.IPv4Address("192.0.2.7"),
        ipaddress.IPv6Address("2001:db8::7"),
        (b"a=1", b"", b"b=two words"),
        "host.example.",
    ]
    # And a type without a decoder keeps its raw data only
    mx = message.answers[5]
    assert (dns.type_name(mx.rtype), mx.value) == ("MX", None)
    assert mx.rdata == b"\x00\x0a\x04mail\xc0\x0c"
    assert dns.record_text(message.answers[3]) == 'host.example. 60 IN TXT "a=1" "" "b=two words"'


@pytest.mark.parametrize(("flags", "property_name"), [({"tc": 1}, "truncated"), ({"aa": 1}, "authoritative"), ({"rd": 1}, "recursion_desired"), ({"ra": 1}, "recursion_available")])
def test_header_flag_properties_agree_with_scapy(flags: dict[str, int], property_name: str) -> None:
    # Given scapy sets exactly one flag / Then exactly that property reads True
    header = dns.parse_header(bytes(DNS(id=1, qr=1, qd=[], **{"rd": 0, **flags})))  # scapy sets RD by default
    for name in ("truncated", "authoritative", "recursion_desired", "recursion_available"):
        assert getattr(header, name) is (name == property_name)


def test_opcode_is_read_from_the_flags() -> None:
    # scapy opcode 5 = UPDATE: porthole never sends one but must recognise one
    assert dns.parse_header(bytes(DNS(id=1, qr=1, opcode=5, qd=[]))).opcode == 5


def test_mdns_cache_flush_and_unicast_response_bits_are_separated_from_the_class() -> None:
    # Given an mDNS answer with the cache-flush bit and a question with the QU bit (RFC 6762)
    wire = bytes(DNS(id=0, qr=1, aa=1, qd=DNSQR(qname="x.local.", qtype="A", unicastresponse=1), an=DNSRR(rrname="x.local.", type="A", cacheflush=1, rdata="198.18.0.12")))
    message = dns.parse_message(wire)
    # Then the flags read set and the class reads IN
    assert message.questions[0].unicast_response is True
    record = message.answers[0]
    assert (record.cache_flush, record.record_class) == (True, dns.QCLASS_IN)
    assert dns.record_text(record).startswith("x.local. ") and " IN A 198.18.0.12" in dns.record_text(record)


# --- hostile names and records ----------------------------------------------------------


def reply_with(body: bytes, *, ancount: int = 1, qdcount: int = 0) -> bytes:
    return struct.pack("!HHHHHH", 0x1234, 0x8180, qdcount, ancount, 0, 0) + body


A_TAIL = struct.pack("!HHIH", 1, 1, 0, 4) + b"\x7f\x00\x00\x01"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(b"\xc0\x0c" + A_TAIL, "compression loop", id="pointer-to-itself"),
        pytest.param(b"\x01a\xc0\x0e\x01b\xc0\x0c" + A_TAIL, "compression loop", id="two-pointer-cycle"),
        pytest.param(b"\x01a\xc0\x0c" + A_TAIL, "compression loop", id="label-then-pointer-back-to-start"),
        pytest.param(b"\xc0\x40" + A_TAIL, "past the end", id="pointer-beyond-message"),
        pytest.param(b"\xc0", "pointer cut off", id="pointer-missing-second-byte"),
        pytest.param(b"\x40abc\x00" + A_TAIL, "reserved", id="label-type-0x40"),
        pytest.param(b"\x80abc\x00" + A_TAIL, "reserved", id="label-type-0x80"),
        pytest.param(b"\x3f" + b"x" * 10, "past the end", id="label-longer-than-message"),
        pytest.param((b"\x3f" + b"x" * 63) * 4 + b"\x00" + A_TAIL, "longer than 255", id="name-256-bytes"),
    ],
)
def test_hostile_names_are_codec_errors(body: bytes, message: str) -> None:
    # Given a reply whose answer name is hostile / Then a CodecError naming the problem
    with pytest.raises(CodecError, match=message):
        dns.parse_message(reply_with(body))


def test_a_chain_of_distinct_pointers_longer_than_the_cap_is_refused() -> None:
    # Given 40 pointers each pointing at the next (no loop, just a long chain), ending at the root
    start = HEADER
    chain = b"".join(struct.pack("!H", 0xC000 | (start + 2 * (index + 1))) for index in range(40)) + b"\x00"
    # Then reading the first name stops at MAX_POINTER_HOPS
    with pytest.raises(CodecError, match=f"more than {dns.MAX_POINTER_HOPS} compression pointers"):
        dns.read_name(reply_with(chain, ancount=0), start)


def test_a_chain_within_the_cap_is_followed() -> None:
    # Given 5 chained pointers ending in "ok." / Then the name reads, and reading resumes after the first pointer
    start = HEADER
    chain = b"".join(struct.pack("!H", 0xC000 | (start + 2 * (index + 1))) for index in range(5)) + b"\x02ok\x00"
    assert dns.read_name(reply_with(chain, ancount=0), start) == ("ok.", start + 2)


def test_forward_pointers_are_followed_when_they_do_not_loop() -> None:
    # RFC 1035 says "prior occurrence", but a forward pointer is not dangerous: only loops are
    body = b"\xc0\x0e" + b"\x04host\x00"
    assert dns.read_name(reply_with(body, ancount=0), HEADER) == ("host.", HEADER + 2)


@pytest.mark.parametrize(
    ("label", "text"),
    [(b"a.b", "a\\.b."), (b"a\\b", "a\\\\b."), (b"sp ce", "sp\\032ce."), (b"\xff\x00", "\\255\\000.")],
)
def test_label_bytes_that_would_forge_structure_are_escaped(label: bytes, text: str) -> None:
    wire = bytes([len(label)]) + label + b"\x00"
    assert dns.read_name(reply_with(wire, ancount=0), HEADER) == (text, HEADER + len(wire))


@pytest.mark.parametrize(
    ("rtype", "rdata", "message"),
    [
        (dns.QTYPE_A, b"\x7f\x00\x00", "A data must be 4 bytes"),
        (dns.QTYPE_AAAA, b"\x00" * 4, "AAAA data must be 16 bytes"),
        (dns.QTYPE_TXT, b"\x05abc", "TXT string runs past"),
        (dns.QTYPE_PTR, b"\x03abc\x00junk", "PTR name ends at byte"),
        (dns.QTYPE_PTR, b"\xc0\x17", "compression loop"),  # record data at offset 23 points at itself
        (dns.QTYPE_SRV, b"\x00\x01\x00\x02", "SRV data of 4 bytes is too short"),
    ],
)
def test_record_data_that_does_not_fit_its_type_is_a_codec_error(rtype: int, rdata: bytes, message: str) -> None:
    # Given one answer (owner: the root) whose data does not fit its type
    body = b"\x00" + struct.pack("!HHIH", rtype, 1, 0, len(rdata)) + rdata
    # Then a CodecError saying what does not fit
    with pytest.raises(CodecError, match=message):
        dns.parse_message(reply_with(body))


@pytest.mark.parametrize(
    ("ancount", "body", "message"),
    [
        (2, b"\x00" + A_TAIL, "answer record 2 of 2"),
        (1, b"\x00" + struct.pack("!HHI", 1, 1, 0), "cut off before its type"),
        (1, b"\x00" + struct.pack("!HHIH", 1, 1, 0, 40) + b"\x7f\x00\x00\x01", "runs past the end of the message"),
    ],
    ids=["fewer-records-than-counted", "record-header-cut", "rdlength-beyond-end"],
)
def test_truncated_answer_sections_are_codec_errors_that_say_truncated(ancount: int, body: bytes, message: str) -> None:
    with pytest.raises(CodecError, match=message):
        dns.parse_message(reply_with(body, ancount=ancount))


def test_message_longer_than_the_dns_maximum_is_refused_before_parsing() -> None:
    with pytest.raises(CodecError, match="exceeds"):
        dns.parse_message(reply_with(b"\x00" * (dns.MAX_MESSAGE + 1 - HEADER), ancount=0))


def test_unknown_types_classes_and_rcodes_have_rfc_3597_style_names() -> None:
    assert (dns.type_name(65), dns.class_name(42), dns.rcode_name(9)) == ("TYPE65", "CLASS42", "RCODE9")
    assert (dns.type_name(dns.QTYPE_SRV), dns.class_name(dns.QCLASS_CH), dns.rcode_name(5)) == ("SRV", "CH", "REFUSED")


def test_record_text_writes_unknown_data_in_generic_form() -> None:
    record = dns.DnsRecord(name="x.", rtype=99, rclass=1, ttl=5, rdata=b"\x01\x02")
    assert dns.record_text(record) == "x. 5 IN TYPE99 \\# 2 0102"


# --- fuzz: a DnsMessage or CodecError, never anything else ------------------------------


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_parse_message_on_random_bytes_returns_a_message_or_raises_codec_error(data: bytes) -> None:
    try:
        message = dns.parse_message(data)
    except CodecError:
        return
    assert isinstance(message, dns.DnsMessage)


@settings(max_examples=400, deadline=None)
@given(case=st.sampled_from([case for case in CASES if "refused" not in case]), position=st.integers(min_value=0, max_value=200), value=st.integers(min_value=0, max_value=255))
def test_parse_message_on_mutated_recorded_replies_returns_a_message_or_raises_codec_error(case: str, position: int, value: int) -> None:
    # Mutations of real replies reach deep paths (pointers, rdata) that random bytes rarely do
    reply, _ = load(case)
    mutated = bytearray(reply)
    mutated[position % len(mutated)] = value
    try:
        dns.parse_message(bytes(mutated))
    except CodecError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80))
def test_parse_tcp_frame_on_random_bytes_needs_data_frames_or_raises_codec_error(data: bytes) -> None:
    try:
        result = dns.parse_tcp_frame(data)
    except CodecError:
        return
    assert result is dns.NEED_DATA or (isinstance(result, tuple) and result[0] <= len(data))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80), st.integers(min_value=0, max_value=90))
def test_read_name_on_random_bytes_returns_a_name_or_raises_codec_error(data: bytes, offset: int) -> None:
    try:
        name, after = dns.read_name(data, offset)
    except CodecError:
        return
    assert name.endswith(".") and offset < after <= len(data)


def test_owner_name_and_record_data_pointing_at_each_other_is_a_loop() -> None:
    # Given an owner name at 12 pointing at the record data (offset 24), which points back at 12
    body = b"\xc0\x18" + struct.pack("!HHIH", dns.QTYPE_PTR, 1, 0, 2) + b"\xc0\x0c"
    # Then reading the owner name finds the loop
    with pytest.raises(CodecError, match="answer record 1 of 1: DNS name compression loop"):
        dns.parse_message(reply_with(body))
