"""porthole.codecs.ocpp_soap: the harmless probe envelope, and a reply parser safe against hostile XML.

Fixtures in tests/fixtures/wire/ocpp_soap/ were recorded from the lab's OCPP-S
emulator (aiohttp.web + defusedxml): its Fault to porthole's envelope, and its WSDL.
"""

from __future__ import annotations

import re
from pathlib import Path
from xml.etree import ElementTree

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from porthole.codecs import CodecError
from porthole.codecs.ocpp_soap import (
    ADDRESSING_NAMESPACE,
    SOAP12_NAMESPACE,
    SoapReply,
    build_probe_envelope,
    ocpp_version_of,
    parse_reply,
)

FIXTURES = Path(__file__).parents[2] / "fixtures" / "wire" / "ocpp_soap"
IDENTITY = "porthole-probe-7f3a0b1c"
MESSAGE_ID = "urn:uuid:00000000-0000-4000-8000-000000000001"


def test_probe_envelope_is_the_recorded_heartbeat_byte_for_byte() -> None:
    # Given the identity, message id and To URL (the lab's ephemeral port) the fixture was recorded with
    recorded = (FIXTURES / "probe-envelope.bin").read_bytes()
    to_match = re.search(rb"<a:To [^>]*>([^<]*)<", recorded)
    assert to_match is not None
    # When built again Then the builder reproduces it exactly
    assert build_probe_envelope(identity=IDENTITY, message_id=MESSAGE_ID, to_url=to_match.group(1).decode()) == recorded


def test_probe_envelope_only_ever_asks_for_heartbeat_with_an_empty_body() -> None:
    # Given the envelope, parsed by an independent XML parser
    root = ElementTree.fromstring(build_probe_envelope(identity=IDENTITY, message_id=MESSAGE_ID, to_url="http://198.18.0.12:8090/"))
    soap = f"{{{SOAP12_NAMESPACE}}}"
    header, body = root.find(f"{soap}Header"), root.find(f"{soap}Body")
    # Then the Action is /Heartbeat (a central-system operation), the identity is porthole's and the Body is empty
    assert header is not None and body is not None
    assert header.findtext(f"{{{ADDRESSING_NAMESPACE}}}Action") == "/Heartbeat"
    assert header.findtext("{urn://Ocpp/Cp/2015/10/}chargeBoxIdentity") == IDENTITY
    assert list(body) == [] and not (body.text or "").strip()


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"identity": "CP-0001"}, id="real-looking-identity"),
        pytest.param({"identity": "porthole-probe-</cp:chargeBoxIdentity>"}, id="markup-in-identity"),
        pytest.param({"message_id": "x"}, id="bad-message-id"),
        pytest.param({"to_url": "http://a/<b>"}, id="markup-in-to"),
    ],
)
def test_envelope_builder_refuses_anything_but_a_probe_identity_and_plain_values(kwargs: dict[str, str]) -> None:
    arguments = {"identity": IDENTITY, "message_id": MESSAGE_ID, "to_url": "http://h:8090/", **kwargs}
    with pytest.raises(CodecError):
        build_probe_envelope(**arguments)


def test_recorded_identity_mismatch_fault_is_an_ocpp_s_1_6_fault() -> None:
    # Given the lab charge point's answer to porthole's envelope
    reply = parse_reply((FIXTURES / "identity-mismatch-fault-1.6.bin").read_bytes())
    # Then code, subcode (its prefix resolved from the Envelope's declarations) and reason come out
    assert reply == SoapReply(
        root_namespace=SOAP12_NAMESPACE,
        root_name="Envelope",
        soap_version="1.2",
        is_fault=True,
        fault_code="Sender",
        fault_subcode="IdentityMismatch",
        fault_subcode_namespace="urn://Ocpp/Cp/2015/10/",
        fault_reason="chargeBoxIdentity does not match",
        namespaces=(SOAP12_NAMESPACE, "urn://Ocpp/Cp/2015/10/"),
    )
    assert reply.ocpp_namespaces == ("urn://Ocpp/Cp/2015/10/",)


def test_recorded_wsdl_names_the_ocpp_1_2_charge_point_namespace() -> None:
    reply = parse_reply((FIXTURES / "wsdl-1.2.bin").read_bytes())
    assert (reply.root_name, reply.soap_version, reply.is_fault) == ("definitions", None, False)
    assert reply.ocpp_namespaces == ("urn://Ocpp/Cp/2010/08/",)
    assert ocpp_version_of(reply.ocpp_namespaces[0]) == "1.2"


def test_soap_1_1_fault_is_read_from_faultcode_and_faultstring() -> None:
    document = (
        b'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body><e:Fault>'
        b"<faultcode>e:Client</faultcode><faultstring>Bad request</faultstring></e:Fault></e:Body></e:Envelope>"
    )
    reply = parse_reply(document)
    assert (reply.soap_version, reply.is_fault, reply.fault_code, reply.fault_reason, reply.fault_subcode) == ("1.1", True, "Client", "Bad request", None)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        pytest.param(
            b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><lolz>&lol2;</lolz>',
            "DTDForbidden",
            id="billion-laughs",
        ),
        pytest.param(b'<!DOCTYPE x SYSTEM "file:///etc/passwd"><x/>', "DTDForbidden", id="external-dtd"),
        pytest.param(b"<s:Envelope xmlns:s='x'><unclosed>", "not safe, well-formed XML", id="truncated"),
        pytest.param(b"<html><body>404</body>", "not safe, well-formed XML", id="broken-html"),
        pytest.param(b"   ", "empty reply document", id="blank"),
        pytest.param(b"<a>" + b"x" * 70_000 + b"</a>", "larger than 65536 bytes", id="over-the-size-cap"),
    ],
)
def test_hostile_or_broken_documents_are_codec_errors(document: bytes, message: str) -> None:
    with pytest.raises(CodecError, match=message):
        parse_reply(document)


def test_namespace_list_is_bounded() -> None:
    declarations = " ".join(f'xmlns:n{i}="urn:x:{i}"' for i in range(500))
    reply = parse_reply(f"<root {declarations}/>".encode())
    assert len(reply.namespaces) == 64


@pytest.mark.parametrize(("namespace", "version"), [("urn://Ocpp/Cp/2015/10/", "1.6"), ("urn://Ocpp/Cs/2012/06/", "1.5"), ("urn://Ocpp/Cp/2010/08/", "1.2"), ("urn://Ocpp/Cp/2099/01/", None), ("urn:other", None), (None, None)])
def test_ocpp_version_follows_the_namespace_date(namespace: str | None, version: str | None) -> None:
    assert ocpp_version_of(namespace) == version


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=1024))
def test_fuzz_garbage_only_ever_raises_codec_error(data: bytes) -> None:
    try:
        parse_reply(data)
    except CodecError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=len((FIXTURES / "identity-mismatch-fault-1.6.bin").read_bytes())))
def test_fuzz_truncated_fault_is_a_codec_error_or_a_reply(cut: int) -> None:
    data = (FIXTURES / "identity-mismatch-fault-1.6.bin").read_bytes()[:cut]
    try:
        assert isinstance(parse_reply(data), SoapReply)
    except CodecError:
        pass
