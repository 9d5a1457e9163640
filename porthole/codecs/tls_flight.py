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
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from porthole.codecs._errors import CodecError

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
    "ALERT_NAMES",
    "TlsAlert",
    "TlsServerFlight",
    "parse_server_flight",
    "alert_name",
]

CONTENT_CHANGE_CIPHER_SPEC = 20
CONTENT_ALERT = 21
CONTENT_HANDSHAKE = 22
CONTENT_APPLICATION_DATA = 23

HANDSHAKE_SERVER_HELLO = 2
HANDSHAKE_CERTIFICATE = 11
HANDSHAKE_SERVER_KEY_EXCHANGE = 12
HANDSHAKE_CERTIFICATE_REQUEST = 13
HANDSHAKE_SERVER_HELLO_DONE = 14

#: RFC 5246 §6.2.1 allows 2^14 + 2048 for a compressed fragment; plaintext is ≤ 2^14.
MAX_RECORD_LENGTH = 2**14 + 2048
#: a whole plaintext flight (several certificates) fits easily; a hostile peer does not
MAX_HANDSHAKE_BYTES = 256 * 1024
MAX_CERTIFICATES = 16

_RECORD = struct.Struct("!BHH")

#: RFC 5246 §7.2 and RFC 8446 §6 alert descriptions, for readable evidence
ALERT_NAMES: dict[int, str] = {
    0: "close_notify",
    10: "unexpected_message",
    20: "bad_record_mac",
    22: "record_overflow",
    30: "decompression_failure",
    40: "handshake_failure",
    42: "bad_certificate",
    43: "unsupported_certificate",
    44: "certificate_revoked",
    45: "certificate_expired",
    46: "certificate_unknown",
    47: "illegal_parameter",
    48: "unknown_ca",
    49: "access_denied",
    50: "decode_error",
    51: "decrypt_error",
    70: "protocol_version",
    71: "insufficient_security",
    80: "internal_error",
    86: "inappropriate_fallback",
    90: "user_canceled",
    100: "no_renegotiation",
    109: "missing_extension",
    110: "unsupported_extension",
    112: "unrecognized_name",
    116: "certificate_required",
    120: "no_application_protocol",
}


def alert_name(description: int) -> str:
    return ALERT_NAMES.get(description, f"unknown_{description}")


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
    """
    handshake_buffer = bytearray()
    handshake_offset = 0  # where in ``data`` the buffered handshake bytes began (for errors)
    offset = 0
    alert: TlsAlert | None = None
    change_cipher_spec = False
    truncated = False
    while offset < len(data):
        if len(data) - offset < _RECORD.size:
            truncated = True
            break
        content_type, version, length = _RECORD.unpack_from(data, offset)
        if content_type not in (CONTENT_CHANGE_CIPHER_SPEC, CONTENT_ALERT, CONTENT_HANDSHAKE, CONTENT_APPLICATION_DATA):
            raise CodecError(f"not a TLS record: content type {content_type}", offset=offset)
        if version >> 8 != 0x03:
            raise CodecError(f"not a TLS record: version {version:#06x}", offset=offset + 1)
        if length > MAX_RECORD_LENGTH:
            raise CodecError(f"TLS record of {length} bytes exceeds {MAX_RECORD_LENGTH}", offset=offset + 3)
        fragment = data[offset + _RECORD.size : offset + _RECORD.size + length]
        if len(fragment) < length:
            truncated = True
            break
        record_offset = offset
        offset += _RECORD.size + length
        if content_type == CONTENT_CHANGE_CIPHER_SPEC:
            change_cipher_spec = True
            break
        if content_type == CONTENT_APPLICATION_DATA:
            raise CodecError("application data before ChangeCipherSpec", offset=record_offset)
        if content_type == CONTENT_ALERT:
            if length != 2:
                raise CodecError(f"plaintext alert of {length} bytes (must be 2)", offset=record_offset + 3)
            if alert is None:
                alert = TlsAlert(level=fragment[0], description=fragment[1])
            continue
        if not handshake_buffer:
            handshake_offset = record_offset + _RECORD.size
        handshake_buffer += fragment
        if len(handshake_buffer) > MAX_HANDSHAKE_BYTES:
            raise CodecError(f"handshake messages exceed {MAX_HANDSHAKE_BYTES} bytes", offset=record_offset)
    messages, leftover = _split_handshake(bytes(handshake_buffer), handshake_offset)
    server_version = cipher_suite = None
    certificates: tuple[bytes, ...] = ()
    for message_type, body, body_offset in messages:
        if message_type == HANDSHAKE_SERVER_HELLO and server_version is None:
            server_version, cipher_suite = _parse_server_hello(body, body_offset)
        elif message_type == HANDSHAKE_CERTIFICATE and not certificates:
            certificates = _parse_certificate_list(body, body_offset)
    return TlsServerFlight(
        handshake_types=tuple(message_type for message_type, _, _ in messages),
        server_version=server_version,
        cipher_suite=cipher_suite,
        certificates=certificates,
        alert=alert,
        change_cipher_spec=change_cipher_spec,
        truncated=truncated or leftover,
    )


def _split_handshake(buffer: bytes, base_offset: int) -> tuple[list[tuple[int, bytes, int]], bool]:
    """Complete handshake messages and whether bytes of an incomplete one remain."""
    messages: list[tuple[int, bytes, int]] = []
    position = 0
    while position < len(buffer):
        if len(buffer) - position < 4:
            return messages, True
        message_type = buffer[position]
        length = int.from_bytes(buffer[position + 1 : position + 4], "big")
        if length > MAX_HANDSHAKE_BYTES:
            raise CodecError(f"handshake message of {length} bytes exceeds {MAX_HANDSHAKE_BYTES}", offset=base_offset + position + 1)
        body = buffer[position + 4 : position + 4 + length]
        if len(body) < length:
            return messages, True
        messages.append((message_type, body, base_offset + position + 4))
        position += 4 + length
    return messages, False


def _parse_server_hello(body: bytes, offset: int) -> tuple[int, int]:
    # version (2) + random (32) + session id length (1)
    if len(body) < 35:
        raise CodecError("ServerHello shorter than version, random and session id", offset=offset)
    version = struct.unpack_from("!H", body, 0)[0]
    session_id_length = body[34]
    cipher_at = 35 + session_id_length
    if session_id_length > 32 or len(body) < cipher_at + 3:
        raise CodecError("ServerHello truncated before cipher suite and compression", offset=offset + 34)
    return version, struct.unpack_from("!H", body, cipher_at)[0]


def _parse_certificate_list(body: bytes, offset: int) -> tuple[bytes, ...]:
    if len(body) < 3:
        raise CodecError("Certificate message shorter than its list length", offset=offset)
    total = int.from_bytes(body[:3], "big")
    if total != len(body) - 3:
        raise CodecError(f"Certificate list length {total} disagrees with message length {len(body) - 3}", offset=offset)
    certificates: list[bytes] = []
    position = 3
    while position < len(body):
        if len(certificates) == MAX_CERTIFICATES:
            raise CodecError(f"more than {MAX_CERTIFICATES} certificates in the chain", offset=offset + position)
        if len(body) - position < 3:
            raise CodecError("certificate length truncated", offset=offset + position)
        length = int.from_bytes(body[position : position + 3], "big")
        certificate = body[position + 3 : position + 3 + length]
        if length == 0 or len(certificate) < length:
            raise CodecError(f"certificate entry of {length} bytes does not fit the list", offset=offset + position)
        certificates.append(certificate)
        position += 3 + length
    return tuple(certificates)
