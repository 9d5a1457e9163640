"""porthole.codecs.tls: hellos checked by scapy's TLS layer, server flights recorded from OpenSSL.

Recorded fixtures (tests/fixtures/wire/tls/<case>.bin, with the hello that produced them
in <case>.hello.bin) come from lab.services.tls (a real OpenSSL 3 server) on loopback.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.tls.handshake import TLSClientHello, TLSServerHello
from scapy.layers.tls.record import TLS, TLSAlert

from porthole.codecs import CodecError
from porthole.codecs import tls as T

FIXTURES = Path(__file__).parents[2] / "fixtures" / "wire" / "tls"
RANDOM = bytes(range(32))


def fixture(name: str) -> bytes:
    return (FIXTURES / f"{name}.bin").read_bytes()


def events_of(data: bytes, *, chunk: int | None = None) -> list[object]:
    reader = T.RecordReader()
    events: list[object] = []
    pieces = [data] if chunk is None else [data[index : index + chunk] for index in range(0, len(data), chunk)]
    for piece in pieces:
        reader.feed(piece)
        while (event := reader.next_event()) is not T.NEED_DATA:
            events.append(event)
    return events


def extensions_by_type(hello: TLSClientHello) -> dict[int, object]:
    return {extension.type: extension for extension in hello.ext or []}


# --------------------------------------------------------------------------- ClientHello


def test_tls12_hello_offers_exactly_the_given_suites_and_extensions_as_scapy_reads_them() -> None:
    # Given a TLS 1.2 hello for a DNS name
    hello = T.build_client_hello(version=T.ProtocolVersion.TLS_1_2, cipher_suites=[0xC02F, 0x002F, 0x000A], random=RANDOM, server_name="charger.example")
    # When scapy (an independent implementation) parses it
    record = TLS(hello)
    client_hello = record.msg[0]
    # Then it is one handshake record holding exactly what was asked for
    assert record.type == 22 and record.version == 0x0301 and record.len == len(hello) - 5
    assert isinstance(client_hello, TLSClientHello)
    assert client_hello.version == 0x0303 and client_hello.gmt_unix_time.to_bytes(4, "big") + client_hello.random_bytes == RANDOM
    assert client_hello.ciphers == [0xC02F, 0x002F, 0x000A]
    assert client_hello.comp == [0]
    extensions = extensions_by_type(client_hello)
    assert set(extensions) == {0x0000, 0x000A, 0x000B, 0x000D, 0xFF01}
    assert extensions[0x0000].servernames[0].servername == b"charger.example"
    assert extensions[0x000A].groups == list(T.DEFAULT_GROUPS)
    assert extensions[0x000D].sig_algs == list(T.DEFAULT_SIGNATURE_ALGORITHMS)


def test_tls13_hello_carries_supported_versions_and_the_key_share_passed_in() -> None:
    # Given an x25519 public key made by the caller (randomness is an argument)
    public_key = bytes(range(100, 132))
    hello = T.build_client_hello(
        version=T.ProtocolVersion.TLS_1_3, cipher_suites=[0x1301, 0x1302], random=RANDOM, session_id=bytes(32),
        key_shares=[T.KeyShare(group=T.NamedGroup.X25519, key_exchange=public_key)],
    )
    # When scapy parses it
    client_hello = TLS(hello).msg[0]
    extensions = extensions_by_type(client_hello)
    # Then the legacy version stays TLS 1.2 and 1.3 is offered only through supported_versions
    assert client_hello.version == 0x0303
    assert extensions[0x002B].versions == [0x0304]
    share = extensions[0x0033].client_shares[0]
    assert (share.group, bytes(share.key_exchange)) == (29, public_key)
    assert 0xFF01 not in extensions and 0x000B not in extensions


def test_tls13_hello_with_no_key_share_sends_an_empty_list_to_force_a_hello_retry() -> None:
    hello = T.build_client_hello(version=T.ProtocolVersion.TLS_1_3, cipher_suites=[0x1301], random=RANDOM)
    # the key_share extension is present and its client_shares vector is empty: 00 33 | 00 02 | 00 00
    assert hello.endswith(bytes.fromhex("003300020000"))


@pytest.mark.parametrize("host", ["198.18.0.10", "[fd00::1]", "fe80::1%eth0", "", None])
def test_no_server_name_indication_for_ip_literals(host: str | None) -> None:
    # RFC 6066 §3: "Literal IPv4 and IPv6 addresses are not permitted in HostName"
    hello = T.build_client_hello(version=T.ProtocolVersion.TLS_1_2, cipher_suites=[0x002F], random=RANDOM, server_name=host)
    assert 0x0000 not in extensions_by_type(TLS(hello).msg[0])


def test_sslv3_hello_has_no_extensions_and_an_sslv3_record() -> None:
    hello = T.build_client_hello(version=T.ProtocolVersion.SSL_3_0, cipher_suites=[0x000A], random=RANDOM, record_version=0x0300, server_name="a.example")
    client_hello = TLS(hello).msg[0]
    assert hello[1:3] == b"\x03\x00" and client_hello.version == 0x0300 and not client_hello.ext


def test_tls10_hello_has_no_signature_algorithms() -> None:
    # signature_algorithms is defined from TLS 1.2 on (RFC 5246 §7.4.1.4.1)
    hello = T.build_client_hello(version=T.ProtocolVersion.TLS_1_0, cipher_suites=[0x002F], random=RANDOM)
    assert set(extensions_by_type(TLS(hello).msg[0])) == {0x000A, 0x000B, 0xFF01}


def test_recorded_hellos_rebuild_byte_for_byte() -> None:
    rebuilt = T.build_client_hello(version=T.ProtocolVersion.TLS_1_3, cipher_suites=[0x1301, 0x1302, 0x1303], random=bytes(32), session_id=bytes(range(32)))
    assert rebuilt == fixture("tls13_hello_retry_request.hello")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"random": bytes(31)}, "client random must be 32 bytes"),
        ({"cipher_suites": []}, "at least one cipher suite"),
        ({"session_id": bytes(33)}, "session id must be at most 32 bytes"),
        ({"cipher_suites": [0x10000]}, "not a 16-bit code point"),
        ({"compression_methods": (1,)}, "must include null"),
        ({"cipher_suites": list(range(9000))}, "does not fit one record"),
    ],
)
def test_impossible_hellos_are_refused_with_a_codec_error(arguments: dict, message: str) -> None:
    base = {"version": T.ProtocolVersion.TLS_1_2, "cipher_suites": [0x002F], "random": RANDOM}
    with pytest.raises(CodecError, match=message):
        T.build_client_hello(**{**base, **arguments})


# --------------------------------------------------------------------------- server flights


def test_recorded_tls12_flight_with_client_certificate_request_parses_whole() -> None:
    # Given OpenSSL's answer to a TLS 1.2 hello when it requires client certificates
    events = events_of(fixture("tls12_client_cert_flight"))
    # Then the flight is ServerHello, Certificate, ServerKeyExchange, CertificateRequest, ServerHelloDone
    assert [event.msg_type for event in events] == [2, 11, 12, 13, 14]
    hello = T.parse_server_hello(events[0].body)
    assert (hello.version, hello.cipher_suite, hello.compression_method, hello.is_hello_retry_request) == (0x0303, 0xC02F, 0, False)
    chain = T.parse_certificate(events[1].body)
    leaf = x509.load_der_x509_certificate(chain[0])
    assert len(chain) == 2 and leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "recorded"
    exchange = T.parse_server_key_exchange(events[2].body, T.EphemeralKeyExchange.ECDHE)
    assert exchange.group == T.NamedGroup.X25519 and len(exchange.public_key) == 32
    request = T.parse_certificate_request(events[3].body, hello.version)
    # rsa_sign, dss_sign, ecdsa_sign; Python's ssl sets no client CA list, so no CA names
    assert request.certificate_types == (1, 2, 64) and request.certificate_authorities == ()
    assert 0x0804 in request.signature_algorithms
    T.parse_server_hello_done(events[4].body)


@pytest.mark.parametrize("chunk", [None, 1, 7, 300])
def test_record_reader_gives_the_same_events_whole_byte_by_byte_and_in_chunks(chunk: int | None) -> None:
    data = fixture("tls12_client_cert_flight")
    assert events_of(data, chunk=chunk) == events_of(data)


def test_trailing_partial_record_is_need_data_not_an_error() -> None:
    reader = T.RecordReader()
    reader.feed(fixture("tls12_alert_handshake_failure") + b"\x16\x03\x03\x00")
    assert isinstance(reader.next_event(), T.Alert)
    assert reader.next_event() is T.NEED_DATA and reader.buffered == 4


def test_handshake_message_spanning_two_records_is_reassembled() -> None:
    # Given one ServerHello body split across two handshake records
    body = fixture("tls10_rsa1024_expired_flight")[5 : 5 + 0x51]
    first, second = body[:10], body[10:]
    data = b"\x16\x03\x01" + len(first).to_bytes(2, "big") + first + b"\x16\x03\x01" + len(second).to_bytes(2, "big") + second
    # When it is read
    events = events_of(data)
    # Then one message comes out, equal to the unsplit one
    assert len(events) == 1 and events[0].msg_type == 2
    assert T.parse_server_hello(events[0].body).version == 0x0301


def test_recorded_hello_retry_request_names_suite_and_group_and_agrees_with_scapy() -> None:
    data = fixture("tls13_hello_retry_request")
    events = events_of(data)
    hello = T.parse_server_hello(events[0].body)
    # OpenSSL follows an HRR with a change_cipher_spec (middlebox compatibility)
    assert isinstance(events[1], T.ChangeCipherSpec)
    assert hello.is_hello_retry_request and hello.version == 0x0304
    assert hello.key_share_group == T.NamedGroup.X25519
    assert hello.cipher_suite in (0x1301, 0x1302, 0x1303)
    assert hello.session_id == bytes(range(32))  # echoed legacy session id
    # scapy leaves a stand-alone HRR raw, so compare the suite bytes at their fixed offset
    assert int.from_bytes(data[5 + 4 + 2 + 32 + 1 + 32 : 5 + 4 + 2 + 32 + 1 + 32 + 2], "big") == hello.cipher_suite


def test_recorded_tls10_server_hello_agrees_with_scapy() -> None:
    data = fixture("tls10_rsa1024_expired_flight")
    ours = T.parse_server_hello(events_of(data)[0].body)
    theirs = TLS(data).msg[0]
    assert isinstance(theirs, TLSServerHello)
    assert (ours.legacy_version, ours.cipher_suite) == (theirs.version, theirs.cipher) == (0x0301, 0x002F)


@pytest.mark.parametrize(
    ("name", "record_version", "description"),
    [("tls12_alert_protocol_version", 0x0301, 70), ("tls12_alert_handshake_failure", 0x0303, 40)],
)
def test_recorded_alerts_parse_and_agree_with_scapy(name: str, record_version: int, description: int) -> None:
    data = fixture(name)
    (alert,) = events_of(data)
    assert alert == T.Alert(level=2, description=description, record_version=record_version)
    assert alert.fatal and alert.name in ("protocol_version", "handshake_failure")
    scapy_alert = TLS(data).msg[0]
    assert isinstance(scapy_alert, TLSAlert) and (scapy_alert.level, scapy_alert.descr) == (2, description)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"HTTP/1.1 400 Bad Request\r\n\r\n", "not a TLS record: content type 0x48"),
        (b"\x16\x02\x00\x00\x05", "version major 0x02"),
        (b"\x16\x03\x03\xff\xff", "record length 65535 exceeds"),
        (b"\x15\x03\x03\x00\x03\x02\x28\x00", "alert record of 3 bytes"),
        (b"\x16\x03\x03\x00\x04\x02\xff\xff\xff", "handshake message of 16777215 bytes exceeds"),
        (b"\x16\x03\x03\x00\x00", "empty handshake record"),
        (b"\x14\x03\x03\x00\x01\x02", "ChangeCipherSpec must be the single byte"),
    ],
)
def test_hostile_records_raise_codec_error_before_buffering_their_claims(data: bytes, message: str) -> None:
    reader = T.RecordReader()
    reader.feed(data)
    with pytest.raises(CodecError, match=message):
        reader.next_event()


def test_records_after_change_cipher_spec_are_opaque() -> None:
    events = events_of(b"\x14\x03\x03\x00\x01\x01" + b"\x16\x03\x03\x00\x03abc")
    assert isinstance(events[0], T.ChangeCipherSpec)
    assert events[1] == T.OpaqueRecord(content_type=22, length=3, record_version=0x0303)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\x02\x00" + bytes(40), "not SSLv3/TLS"),
        (b"\x03\x03" + bytes(32) + b"\x21" + bytes(40), "session id of 33 bytes"),
        (b"\x03\x03" + bytes(32) + b"\x00\x00\x2f", "truncated"),
        (b"\x03\x03" + bytes(32) + b"\x00\x00\x2f\x00\x00\x08\x00\x2b\x00\x01\x03\x00\x2b\x00", "truncated"),
    ],
)
def test_malformed_server_hellos_raise_codec_error(body: bytes, message: str) -> None:
    with pytest.raises(CodecError, match=message):
        T.parse_server_hello(body)


def test_dhe_server_key_exchange_reports_the_prime_size() -> None:
    prime = (1 << 1023) | 1
    body = len(prime.to_bytes(128, "big")).to_bytes(2, "big") + prime.to_bytes(128, "big") + b"\x00\x01\x02" + b"\x00\x02\xab\xcd" + b"signature"
    exchange = T.parse_server_key_exchange(body, T.EphemeralKeyExchange.DHE)
    assert exchange.dh_prime_bits == 1024 and exchange.group is None


def test_certificate_request_ca_names_decode_like_cryptography() -> None:
    # Given two names encoded by cryptography, in a TLS 1.0 CertificateRequest (no sig algs)
    names = [
        x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Wallbox, Inc+Co"), x509.NameAttribute(NameOID.COMMON_NAME, "DLM CA")]),
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Ladesäule Root")]),
    ]
    ders = [name.public_bytes() for name in names]
    authorities = b"".join(len(der).to_bytes(2, "big") + der for der in ders)
    body = b"\x02\x01\x40" + len(authorities).to_bytes(2, "big") + authorities
    # When porthole parses the request and decodes the names
    request = T.parse_certificate_request(body, T.ProtocolVersion.TLS_1_0)
    decoded = [T.parse_distinguished_name(der) for der in request.certificate_authorities]
    # Then the names read exactly as cryptography renders them (RFC 4514)
    assert request.certificate_types == (1, 64) and request.signature_algorithms == ()
    assert decoded == [name.rfc4514_string() for name in names]


# --------------------------------------------------------------------------- fuzz


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600))
def test_garbage_only_ever_raises_codec_error(data: bytes) -> None:
    parsers = [
        T.parse_server_hello,
        T.parse_certificate,
        lambda body: T.parse_server_key_exchange(body, T.EphemeralKeyExchange.ECDHE),
        lambda body: T.parse_server_key_exchange(body, T.EphemeralKeyExchange.DHE),
        lambda body: T.parse_certificate_request(body, 0x0303),
        T.parse_distinguished_name,
    ]
    for parse in parsers:
        try:
            parse(data)
        except CodecError:
            pass
    reader = T.RecordReader()
    reader.feed(data)
    try:
        while reader.next_event() is not T.NEED_DATA:
            pass
    except CodecError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=1617), st.integers(min_value=0, max_value=255))
def test_one_corrupted_byte_in_a_recorded_flight_never_escapes_codec_error(position: int, value: int) -> None:
    data = bytearray(fixture("tls12_client_cert_flight"))
    data[position] = value
    try:
        for event in events_of(bytes(data)):
            if isinstance(event, T.HandshakeMessage) and event.msg_type == 2:
                T.parse_server_hello(event.body)
            elif isinstance(event, T.HandshakeMessage) and event.msg_type == 11:
                T.parse_certificate(event.body)
            elif isinstance(event, T.HandshakeMessage) and event.msg_type == 13:
                T.parse_certificate_request(event.body, 0x0303)
    except CodecError:
        pass
