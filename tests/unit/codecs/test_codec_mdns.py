"""porthole.codecs.mdns: legacy-unicast queries, DNS-SD lookups and SHIP TXT keys.

Fixtures are real python-zeroconf answers (the lab's SHIP announcement, recorded
once with the queries porthole sent); scapy's DNS layer is the independent oracle
for the query bytes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.dns import DNS

from porthole.codecs import CodecError, dns, mdns

FIXTURES = Path(__file__).parents[2] / "fixtures" / "wire" / "mdns"
CASES = ("zeroconf-services-enumeration", "zeroconf-ship-ptr", "zeroconf-ship-instance-txt")


def recorded(case: str) -> tuple[bytes, bytes]:
    return (FIXTURES / f"{case}.query.bin").read_bytes(), (FIXTURES / f"{case}.bin").read_bytes()


def test_legacy_query_bytes_are_a_plain_question_without_rd_or_qu() -> None:
    # Given the SHIP browse question, When built, Then the bytes are exact (RFC 6762 §6.7)
    assert mdns.build_legacy_query(0x5678, "_ship._tcp.local.", dns.QTYPE_PTR) == bytes.fromhex(
        "5678 0000 0001 0000 0000 0000" "055f73686970 045f746370 056c6f63616c 00" "000c 0001"
    )


def test_legacy_query_agrees_with_scapy() -> None:
    query = mdns.build_legacy_query(0x9ABC, "CC\\032one\\.two._ship._tcp.local.", dns.QTYPE_TXT)
    parsed = DNS(query)
    assert (parsed.id, parsed.qr, parsed.rd, parsed.qdcount) == (0x9ABC, 0, 0, 1)
    assert (parsed.qd[0].qname, parsed.qd[0].qtype, parsed.qd[0].qclass) == (b"CC one.two._ship._tcp.local.", 16, 1)  # scapy does not escape the dot
    assert query[12:23] == b"\x0aCC one.two"


@pytest.mark.parametrize(
    "name",
    ["_ship._tcp.local.", "CC\\032master._ship._tcp.local.", "a\\.b\\\\c.local.", "caf\\195\\169._ship._tcp.local.", "."],
)
def test_presentation_names_round_trip_through_read_name(name: str) -> None:
    wire = mdns.encode_presentation_name(name)
    assert dns.read_name(wire, 0) == (name, len(wire))


@pytest.mark.parametrize("name", ["a..b.", "x" * 64 + ".local.", "trailing\\", "bad\\300escape.", ("a" * 60 + ".") * 5])
def test_names_that_cannot_be_encoded_raise_codec_error(name: str) -> None:
    with pytest.raises(CodecError):
        mdns.encode_presentation_name(name)


def test_recorded_ship_answer_gives_instance_srv_address_and_txt() -> None:
    # Given zeroconf's answer to "_ship._tcp.local. PTR", with its additionals
    query, reply = recorded("zeroconf-ship-ptr")
    expected = json.loads((FIXTURES / "zeroconf-ship-ptr.expected.json").read_text())
    assert dns.is_reply_to(query, reply)
    message = dns.parse_message(reply)
    # When the DNS-SD lookups run over it
    (instance,) = mdns.ptr_targets([message], mdns.SHIP_SERVICE)
    srv = mdns.srv_of([message], instance)
    txt = mdns.parse_txt(mdns.txt_of([message], instance) or ())
    # Then everything the responder announced is found
    assert [instance] == expected["instances"]
    assert srv is not None and (srv.target, srv.port) == (expected["srv"]["target"], expected["srv"]["port"])
    assert list(mdns.addresses_of([message], srv.target)) == expected["addresses"]
    assert txt == expected["txt"]
    ship = mdns.ship_txt(txt)
    assert ship.ski == expected["txt"]["ski"] and ship.ski_valid and ship.register is True
    # and the advertised SKI is the complement of the certificate's (the lab's ski_mismatch)
    assert bytes.fromhex(ship.ski) == bytes(b ^ 0xFF for b in bytes.fromhex(expected["certificate_ski"]))


def test_recorded_services_enumeration_lists_ship() -> None:
    _, reply = recorded("zeroconf-services-enumeration")
    assert mdns.ptr_targets([dns.parse_message(reply)], mdns.SERVICES_ENUMERATION) == ("_ship._tcp.local.",)


def test_lookups_are_case_insensitive_and_deduplicated() -> None:
    _, reply = recorded("zeroconf-ship-ptr")
    message = dns.parse_message(reply)
    assert mdns.ptr_targets([message, message], "_SHIP._TCP.LOCAL.") == ("CC-misconf._ship._tcp.local.",)
    assert mdns.srv_of([message], "cc-MISCONF._ship._tcp.local.") is not None
    assert mdns.txt_of([message], "nobody._ship._tcp.local.") is None


@pytest.mark.parametrize("case", CASES)
def test_recorded_replies_parse_whole_and_with_trailing_bytes(case: str) -> None:
    _, reply = recorded(case)
    assert dns.parse_message(reply + b"\x00" * 9) == dns.parse_message(reply)


@pytest.mark.parametrize("case", CASES)
def test_every_cut_of_a_recorded_reply_raises_only_codec_error(case: str) -> None:
    # A datagram cut short (a truncating middlebox) must never crash the lookups
    _, reply = recorded(case)
    for cut in range(len(reply)):
        with pytest.raises(CodecError):
            dns.parse_message(reply[:cut])


@pytest.mark.parametrize(
    ("strings", "expected"),
    [
        ([b"txtvers=1", b"TxtVers=2"], {"txtvers": "1"}),  # case-insensitive, first wins (RFC 6763 §6.4)
        ([b"flag", b"empty="], {"flag": None, "empty": ""}),  # bare key = boolean; "key=" = empty value
        ([b"", b"=orphan"], {}),  # empty string, and a string with no key, are skipped
        ([b"brand=Caf\xc3\xa9", b"model=\xff\xfe"], {"brand": "Café", "model": "\ufffd\ufffd"}),
        ([b"path=/a=b"], {"path": "/a=b"}),  # only the first "=" separates
    ],
)
def test_txt_strings_follow_dns_sd_rules(strings: list[bytes], expected: dict) -> None:
    assert mdns.parse_txt(strings) == expected


def test_txt_keys_are_capped() -> None:
    pairs = mdns.parse_txt(f"k{n}=v".encode() for n in range(500))
    assert len(pairs) == mdns.MAX_TXT_KEYS


@pytest.mark.parametrize(
    ("raw", "normalised", "valid"),
    [
        ("AB-CD EF" + "0" * 34, "abcdef" + "0" * 34, True),
        ("d476ed87b8898c564eeca74a0e0b2cd0f54fa6b1", "d476ed87b8898c564eeca74a0e0b2cd0f54fa6b1", True),
        ("d476", "d476", False),
        ("zz" * 20, "zz" * 20, False),
    ],
)
def test_ski_is_normalised_like_ship_go(raw: str, normalised: str, valid: bool) -> None:
    ship = mdns.ship_txt({"ski": raw})
    assert (ship.ski, ship.ski_valid) == (normalised, valid)


def test_ship_view_keeps_unknown_keys_apart_and_reads_register_strictly() -> None:
    ship = mdns.ship_txt({"register": "yes", "serial": "4711-0815", "cat": "3", "vendor": "x"})
    assert (ship.register, ship.register_raw, ship.serial, ship.cat) == (None, "yes", "4711-0815", "3")
    assert ship.other == {"vendor": "x"}
    assert mdns.ship_txt({}).ski is None and not mdns.ship_txt({}).ski_valid


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=80), max_size=80))
def test_any_txt_strings_parse_without_error(strings: list[bytes]) -> None:
    mdns.ship_txt(mdns.parse_txt(strings))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120))
def test_any_text_name_either_encodes_or_raises_codec_error(name: str) -> None:
    try:
        mdns.encode_presentation_name(name)
    except CodecError:
        pass
