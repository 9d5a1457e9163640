"""The plaintext part of a TLS ≤ 1.2 server flight, read from recorded server bytes.

What it is for: a probe that lets the stdlib ``ssl`` module do a real handshake still
needs facts that ``ssl`` hides when the handshake *fails*: did the server send a
CertificateRequest, which certificate did it present, which alert ended it. In TLS
1.2 everything the server sends before its ChangeCipherSpec is plaintext, so those
facts can be read from the bytes the server sent (the probe tees them). This module
parses that byte string; it is not a TLS implementation and builds nothing.

What it must not do: guess past the server's ChangeCipherSpec (what follows is
encrypted), or accept unbounded input (record, message and certificate-count caps).

TLS record (RFC 5246 §6.2.1)::

    0        1                3                5
    +--------+----------------+----------------+------------------------+
    | type   | version        | length (≤ 2^14 + 2048)  | fragment ...  |
    +--------+----------------+----------------+------------------------+
    type: 20 change_cipher_spec, 21 alert, 22 handshake, 23 application_data

Handshake message (§7.4), possibly split over several records::

    +--------+--------------------------+-----------------+
    | type   | length (uint24)          | body ...        |
    +--------+--------------------------+-----------------+
    type: 2 server_hello, 11 certificate, 12 server_key_exchange,
          13 certificate_request, 14 server_hello_done

Certificate body (§7.4.2, TLS ≤ 1.2): uint24 list length, then per certificate a
uint24 length and the DER bytes. Alert fragment (§7.2): level (1 warning, 2 fatal),
description. ServerHello body (§7.4.1.3): version (2), random (32), session id
(uint8-prefixed), cipher suite (2), compression method (1), extensions.

A truncated last record is not an error: the server (or our read limit) may have
stopped mid-record; ``TlsServerFlight.truncated`` says so.

The record layer, handshake reassembly and the ServerHello and Certificate parsers are
``porthole.codecs.tls``'s (the TLS probe's); this module only folds their events into
the facts above and adds the caps of a whole flight (handshake bytes, chain length).
"""

from __future__ import annotations

from dataclasses import dataclass

from porthole.codecs._errors import CodecError
from porthole.codecs.tls import (
    MAX_RECORD_PAYLOAD,
    NEED_DATA,
    Alert,
    ChangeCipherSpec,
    ContentType,
    HandshakeMessage,
    HandshakeType,
    OpaqueRecord,
    RecordReader,
    alert_name,
    parse_certificate,
    parse_server_hello,
)

__all__ = [
    "CONTENT_CHANGE_CIPHER_SPEC",
    "CONTENT_ALERT",
    "CONTENT_HANDSHAKE",
    "CONTENT_APPLICATION_DATA",
    "HANDSHAKE_SERVER_HELLO",
    "HANDSHAKE_CERTIFICATE",
    "HANDSHAKE_SERVER_KEY_EXCHANGE",
    "HANDSHAKE_CERTIFICATE_REQUEST",
    "HANDSHAKE_SERVER_HELLO_DONE",
    "MAX_RECORD_LENGTH",
    "MAX_HANDSHAKE_BYTES",
    "MAX_CERTIFICATES",
    "TlsAlert",
    "TlsServerFlight",
    "parse_server_flight",
    "alert_name",
]

CONTENT_CHANGE_CIPHER_SPEC = ContentType.CHANGE_CIPHER_SPEC
CONTENT_ALERT = ContentType.ALERT
CONTENT_HANDSHAKE = ContentType.HANDSHAKE
CONTENT_APPLICATION_DATA = ContentType.APPLICATION_DATA

HANDSHAKE_SERVER_HELLO = HandshakeType.SERVER_HELLO
HANDSHAKE_CERTIFICATE = HandshakeType.CERTIFICATE
HANDSHAKE_SERVER_KEY_EXCHANGE = HandshakeType.SERVER_KEY_EXCHANGE
HANDSHAKE_CERTIFICATE_REQUEST = HandshakeType.CERTIFICATE_REQUEST
HANDSHAKE_SERVER_HELLO_DONE = HandshakeType.SERVER_HELLO_DONE

#: RFC 5246 §6.2.1 allows 2^14 + 2048 for a compressed fragment; plaintext is ≤ 2^14.
MAX_RECORD_LENGTH = MAX_RECORD_PAYLOAD
#: a whole plaintext flight (several certificates) fits easily; a hostile peer does not
MAX_HANDSHAKE_BYTES = 256 * 1024
MAX_CERTIFICATES = 16


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsAlert:
    level: int
    description: int

    @property
    def name(self) -> str:
        return alert_name(self.description)

    @property
    def fatal(self) -> bool:
        return self.level == 2


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsServerFlight:
    """What the plaintext part of the server's bytes says."""

    #: handshake message types in the order received (complete messages only)
    handshake_types: tuple[int, ...]
    #: ServerHello's version and cipher suite, when a ServerHello arrived
    server_version: int | None = None
    cipher_suite: int | None = None
    #: DER certificates of the first Certificate message, leaf first
    certificates: tuple[bytes, ...] = ()
    #: the first plaintext alert (before any ChangeCipherSpec)
    alert: TlsAlert | None = None
    #: the server sent ChangeCipherSpec: what follows is encrypted and not parsed
    change_cipher_spec: bool = False
    #: the bytes ended inside a record or a handshake message
    truncated: bool = False

    @property
    def certificate_requested(self) -> bool:
        return HANDSHAKE_CERTIFICATE_REQUEST in self.handshake_types


def parse_server_flight(data: bytes) -> TlsServerFlight:
    """Parse the plaintext records of a TLS ≤ 1.2 server flight.

    Raises ``CodecError`` when the bytes are not TLS records (unknown content type,
    oversized record, malformed handshake body). Stops at the first ChangeCipherSpec.
    Message bodies are parsed once the records are read, so a flight over the
    handshake cap is refused as such before any of its messages is judged.
    """
    records = RecordReader(max_handshake_message=MAX_HANDSHAKE_BYTES)
    records.feed(data)
    messages: list[HandshakeMessage] = []
    handshake_bytes = 0
    alert: TlsAlert | None = None
    change_cipher_spec = False
    while (event := records.next_event()) is not NEED_DATA:
        if isinstance(event, ChangeCipherSpec):
            change_cipher_spec = True
            break
        if isinstance(event, OpaqueRecord):
            what = "application data" if event.content_type == ContentType.APPLICATION_DATA else f"record of content type {event.content_type}"
            raise CodecError(f"{what} before ChangeCipherSpec")
        if isinstance(event, Alert):
            alert = alert or TlsAlert(level=event.level, description=event.description)
            continue
        handshake_bytes += 4 + len(event.body)
        if handshake_bytes > MAX_HANDSHAKE_BYTES:
            raise CodecError(f"handshake messages exceed {MAX_HANDSHAKE_BYTES} bytes")
        messages.append(event)
    server_hello = next((message for message in messages if message.msg_type == HANDSHAKE_SERVER_HELLO), None)
    hello = parse_server_hello(server_hello.body) if server_hello is not None else None
    certificate = next((message for message in messages if message.msg_type == HANDSHAKE_CERTIFICATE), None)
    certificates = parse_certificate(certificate.body) if certificate is not None else ()
    if len(certificates) > MAX_CERTIFICATES:
        raise CodecError(f"more than {MAX_CERTIFICATES} certificates in the chain")
    return TlsServerFlight(
        handshake_types=tuple(message.msg_type for message in messages),
        server_version=hello.legacy_version if hello is not None else None,
        cipher_suite=hello.cipher_suite if hello is not None else None,
        certificates=certificates,
        alert=alert,
        change_cipher_spec=change_cipher_spec,
        truncated=not change_cipher_spec and records.buffered > 0,
    )
