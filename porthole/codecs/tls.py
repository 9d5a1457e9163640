"""TLS handshake codec for grading what a server *accepts* (RFC 5246, RFC 8446, RFC 6101).

Why porthole builds its own ClientHello (architecture.md §5.5): CPython's ``ssl`` cannot
restrict TLS 1.3 suites and the local OpenSSL refuses SSLv3, export, RC4, 3DES... so it
cannot ask a server whether it accepts them. This codec builds hellos offering any code
point and parses the server's plaintext flight; it never derives keys, so it never
completes a handshake.

Contract:

* Pure: no sockets, clocks or randomness. The 32-byte client random, the session id and
  any TLS 1.3 key share are arguments, so a hello rebuilds byte for byte.
* ``RecordReader`` is fed bytes and yields events (``HandshakeMessage``, ``Alert``,
  ``ChangeCipherSpec``, ``OpaqueRecord``) or ``NEED_DATA``; it reassembles handshake
  messages spanning records and splits several per record. Parsers raise only
  ``CodecError`` (with the byte offset), and every length a server controls is capped.
* Unknown extensions are kept raw (type, bytes).

Record (RFC 5246 §6.2.1)::

    0      1      3      5                     5+length
    +------+------+------+---------------------+
    | type |version| len | fragment            |   type 20 CCS, 21 alert, 22 handshake, 23 data
    +------+------+------+---------------------+   length <= 2^14 (+2048 for ciphertext)

Handshake message (RFC 5246 §7.4, RFC 8446 §4)::

    +------+-----------------+---------------------+
    | type | length (uint24) | body                |   may span records; several per record
    +------+-----------------+---------------------+

ClientHello body::

    client_version(2) random(32) session_id<0..32> cipher_suites<2..2^16-2>
    compression_methods<1..2^8-1> extensions<0..2^16-1> = { type(2) length(2) data }*

ServerHello body: legacy_version(2) random(32) session_id<0..32> cipher_suite(2)
compression_method(1) [extensions]. A ServerHello whose random is
``HELLO_RETRY_REQUEST_RANDOM`` is a HelloRetryRequest (RFC 8446 §4.1.3); TLS 1.3 is
signalled only by its ``supported_versions`` extension (§4.2.1).
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Final

from porthole.codecs._errors import CodecError

__all__ = [
    "alert_name",
    "ProtocolVersion",
    "ContentType",
    "HandshakeType",
    "ExtensionType",
    "NamedGroup",
    "SignatureScheme",
    "AlertLevel",
    "AlertDescription",
    "CompressionMethod",
    "EphemeralKeyExchange",
    "HELLO_RETRY_REQUEST_RANDOM",
    "TLS_EMPTY_RENEGOTIATION_INFO_SCSV",
    "TLS_FALLBACK_SCSV",
    "DEFAULT_GROUPS",
    "DEFAULT_SIGNATURE_ALGORITHMS",
    "KeyShare",
    "build_client_hello",
    "server_name_for",
    "NEED_DATA",
    "NeedData",
    "HandshakeMessage",
    "Alert",
    "ChangeCipherSpec",
    "OpaqueRecord",
    "RecordReader",
    "ServerHello",
    "ServerKeyExchange",
    "CertificateRequest",
    "parse_server_hello",
    "parse_certificate",
    "parse_server_key_exchange",
    "parse_certificate_request",
    "parse_server_hello_done",
    "parse_distinguished_name",
]


class ProtocolVersion(IntEnum):
    SSL_3_0 = 0x0300
    TLS_1_0 = 0x0301
    TLS_1_1 = 0x0302
    TLS_1_2 = 0x0303
    TLS_1_3 = 0x0304

    @property
    def label(self) -> str:
        """The name auditors read in nmap/sslyze/testssl output: ``SSLv3``, ``TLSv1.2``."""
        return "SSLv3" if self is ProtocolVersion.SSL_3_0 else f"TLSv1.{self.value - 0x0301}"


class ContentType(IntEnum):
    CHANGE_CIPHER_SPEC = 20
    ALERT = 21
    HANDSHAKE = 22
    APPLICATION_DATA = 23
    HEARTBEAT = 24


class HandshakeType(IntEnum):
    HELLO_REQUEST = 0
    CLIENT_HELLO = 1
    SERVER_HELLO = 2
    NEW_SESSION_TICKET = 4
    END_OF_EARLY_DATA = 5
    ENCRYPTED_EXTENSIONS = 8
    CERTIFICATE = 11
    SERVER_KEY_EXCHANGE = 12
    CERTIFICATE_REQUEST = 13
    SERVER_HELLO_DONE = 14
    CERTIFICATE_VERIFY = 15
    CLIENT_KEY_EXCHANGE = 16
    FINISHED = 20
    CERTIFICATE_STATUS = 22
    KEY_UPDATE = 24


class ExtensionType(IntEnum):
    SERVER_NAME = 0x0000
    STATUS_REQUEST = 0x0005
    SUPPORTED_GROUPS = 0x000A
    EC_POINT_FORMATS = 0x000B
    SIGNATURE_ALGORITHMS = 0x000D
    APPLICATION_LAYER_PROTOCOL_NEGOTIATION = 0x0010
    PADDING = 0x0015
    ENCRYPT_THEN_MAC = 0x0016
    EXTENDED_MASTER_SECRET = 0x0017
    SESSION_TICKET = 0x0023
    SUPPORTED_VERSIONS = 0x002B
    COOKIE = 0x002C
    PSK_KEY_EXCHANGE_MODES = 0x002D
    KEY_SHARE = 0x0033
    RENEGOTIATION_INFO = 0xFF01


class NamedGroup(IntEnum):
    """Supported-groups code points (RFC 8422 §5.1.1, RFC 7919, RFC 8446 §4.2.7, IANA)."""

    SECT163K1 = 1
    SECT163R1 = 2
    SECT163R2 = 3
    SECT193R1 = 4
    SECT193R2 = 5
    SECT233K1 = 6
    SECT233R1 = 7
    SECT239K1 = 8
    SECT283K1 = 9
    SECT283R1 = 10
    SECT409K1 = 11
    SECT409R1 = 12
    SECT571K1 = 13
    SECT571R1 = 14
    SECP160K1 = 15
    SECP160R1 = 16
    SECP160R2 = 17
    SECP192K1 = 18
    SECP192R1 = 19
    SECP224K1 = 20
    SECP224R1 = 21
    SECP256K1 = 22
    SECP256R1 = 23
    SECP384R1 = 24
    SECP521R1 = 25
    BRAINPOOLP256R1 = 26
    BRAINPOOLP384R1 = 27
    BRAINPOOLP512R1 = 28
    X25519 = 29
    X448 = 30
    FFDHE2048 = 256
    FFDHE3072 = 257
    FFDHE4096 = 258
    FFDHE6144 = 259
    FFDHE8192 = 260
    SECP256R1MLKEM768 = 0x11EB
    X25519MLKEM768 = 0x11EC

    @property
    def bits(self) -> int:
        """Size of the group (curve order or prime) in bits, for strength comparisons."""
        return _GROUP_BITS[self]


_GROUP_BITS: Final = {
    NamedGroup.SECT163K1: 163, NamedGroup.SECT163R1: 163, NamedGroup.SECT163R2: 163,
    NamedGroup.SECT193R1: 193, NamedGroup.SECT193R2: 193, NamedGroup.SECT233K1: 233,
    NamedGroup.SECT233R1: 233, NamedGroup.SECT239K1: 239, NamedGroup.SECT283K1: 283,
    NamedGroup.SECT283R1: 283, NamedGroup.SECT409K1: 409, NamedGroup.SECT409R1: 409,
    NamedGroup.SECT571K1: 571, NamedGroup.SECT571R1: 571, NamedGroup.SECP160K1: 160,
    NamedGroup.SECP160R1: 160, NamedGroup.SECP160R2: 160, NamedGroup.SECP192K1: 192,
    NamedGroup.SECP192R1: 192, NamedGroup.SECP224K1: 224, NamedGroup.SECP224R1: 224,
    NamedGroup.SECP256K1: 256, NamedGroup.SECP256R1: 256, NamedGroup.SECP384R1: 384,
    NamedGroup.SECP521R1: 521, NamedGroup.BRAINPOOLP256R1: 256, NamedGroup.BRAINPOOLP384R1: 384,
    NamedGroup.BRAINPOOLP512R1: 512, NamedGroup.X25519: 256, NamedGroup.X448: 448,
    NamedGroup.FFDHE2048: 2048, NamedGroup.FFDHE3072: 3072, NamedGroup.FFDHE4096: 4096,
    NamedGroup.FFDHE6144: 6144, NamedGroup.FFDHE8192: 8192,
    # hybrids: the classical half bounds the strength an auditor can rely on today
    NamedGroup.SECP256R1MLKEM768: 256, NamedGroup.X25519MLKEM768: 256,
}


class SignatureScheme(IntEnum):
    """signature_algorithms code points (RFC 5246 §7.4.1.4.1 pairs, RFC 8446 §4.2.3)."""

    RSA_PKCS1_MD5 = 0x0101
    RSA_PKCS1_SHA1 = 0x0201
    DSA_SHA1 = 0x0202
    ECDSA_SHA1 = 0x0203
    RSA_PKCS1_SHA224 = 0x0301
    DSA_SHA224 = 0x0302
    ECDSA_SHA224 = 0x0303
    RSA_PKCS1_SHA256 = 0x0401
    DSA_SHA256 = 0x0402
    ECDSA_SECP256R1_SHA256 = 0x0403
    RSA_PKCS1_SHA384 = 0x0501
    DSA_SHA384 = 0x0502
    ECDSA_SECP384R1_SHA384 = 0x0503
    RSA_PKCS1_SHA512 = 0x0601
    DSA_SHA512 = 0x0602
    ECDSA_SECP521R1_SHA512 = 0x0603
    RSA_PSS_RSAE_SHA256 = 0x0804
    RSA_PSS_RSAE_SHA384 = 0x0805
    RSA_PSS_RSAE_SHA512 = 0x0806
    ED25519 = 0x0807
    ED448 = 0x0808
    RSA_PSS_PSS_SHA256 = 0x0809
    RSA_PSS_PSS_SHA384 = 0x080A
    RSA_PSS_PSS_SHA512 = 0x080B
    ECDSA_BRAINPOOLP256R1_SHA256 = 0x081A
    ECDSA_BRAINPOOLP384R1_SHA384 = 0x081B
    ECDSA_BRAINPOOLP512R1_SHA512 = 0x081C


class AlertLevel(IntEnum):
    WARNING = 1
    FATAL = 2


class AlertDescription(IntEnum):
    CLOSE_NOTIFY = 0
    UNEXPECTED_MESSAGE = 10
    BAD_RECORD_MAC = 20
    DECRYPTION_FAILED = 21
    RECORD_OVERFLOW = 22
    DECOMPRESSION_FAILURE = 30
    HANDSHAKE_FAILURE = 40
    NO_CERTIFICATE = 41
    BAD_CERTIFICATE = 42
    UNSUPPORTED_CERTIFICATE = 43
    CERTIFICATE_REVOKED = 44
    CERTIFICATE_EXPIRED = 45
    CERTIFICATE_UNKNOWN = 46
    ILLEGAL_PARAMETER = 47
    UNKNOWN_CA = 48
    ACCESS_DENIED = 49
    DECODE_ERROR = 50
    DECRYPT_ERROR = 51
    EXPORT_RESTRICTION = 60
    PROTOCOL_VERSION = 70
    INSUFFICIENT_SECURITY = 71
    INTERNAL_ERROR = 80
    INAPPROPRIATE_FALLBACK = 86
    USER_CANCELED = 90
    NO_RENEGOTIATION = 100
    MISSING_EXTENSION = 109
    UNSUPPORTED_EXTENSION = 110
    CERTIFICATE_UNOBTAINABLE = 111
    UNRECOGNIZED_NAME = 112
    BAD_CERTIFICATE_STATUS_RESPONSE = 113
    BAD_CERTIFICATE_HASH_VALUE = 114
    UNKNOWN_PSK_IDENTITY = 115
    CERTIFICATE_REQUIRED = 116
    NO_APPLICATION_PROTOCOL = 120


class CompressionMethod(IntEnum):
    NULL = 0
    DEFLATE = 1


class EphemeralKeyExchange(IntEnum):
    """How to read a ServerKeyExchange: its layout depends on the suite's key exchange."""

    DHE = 1
    ECDHE = 2


#: RFC 8446 §4.1.3: SHA-256("HelloRetryRequest")
HELLO_RETRY_REQUEST_RANDOM: Final = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")
#: RFC 5746 §3.3 signalling value (not a real suite)
TLS_EMPTY_RENEGOTIATION_INFO_SCSV: Final = 0x00FF
#: RFC 7507 signalling value (not a real suite)
TLS_FALLBACK_SCSV: Final = 0x5600

#: Offered by default: every curve/group a server might pick, modern first, so an
#: ECDHE/DHE suite is never refused for want of a common group.
DEFAULT_GROUPS: Final[tuple[int, ...]] = (
    NamedGroup.X25519, NamedGroup.SECP256R1, NamedGroup.SECP384R1, NamedGroup.SECP521R1,
    NamedGroup.X448, NamedGroup.BRAINPOOLP256R1, NamedGroup.BRAINPOOLP384R1,
    NamedGroup.BRAINPOOLP512R1, NamedGroup.SECP256K1, NamedGroup.SECP224R1, NamedGroup.SECP192R1,
    NamedGroup.FFDHE2048, NamedGroup.FFDHE3072, NamedGroup.FFDHE4096,
)
#: Every signature scheme a server might need, so no suite is refused for want of one.
DEFAULT_SIGNATURE_ALGORITHMS: Final[tuple[int, ...]] = (
    SignatureScheme.ECDSA_SECP256R1_SHA256, SignatureScheme.ECDSA_SECP384R1_SHA384,
    SignatureScheme.ECDSA_SECP521R1_SHA512, SignatureScheme.ED25519, SignatureScheme.ED448,
    SignatureScheme.RSA_PSS_RSAE_SHA256, SignatureScheme.RSA_PSS_RSAE_SHA384,
    SignatureScheme.RSA_PSS_RSAE_SHA512, SignatureScheme.RSA_PSS_PSS_SHA256,
    SignatureScheme.RSA_PSS_PSS_SHA384, SignatureScheme.RSA_PSS_PSS_SHA512,
    SignatureScheme.RSA_PKCS1_SHA256, SignatureScheme.RSA_PKCS1_SHA384, SignatureScheme.RSA_PKCS1_SHA512,
    SignatureScheme.ECDSA_SHA224, SignatureScheme.RSA_PKCS1_SHA224, SignatureScheme.DSA_SHA256,
    SignatureScheme.ECDSA_SHA1, SignatureScheme.RSA_PKCS1_SHA1, SignatureScheme.DSA_SHA1,
)

# Caps on what a server controls (hostile devices exist; architecture.md §5.5)
MAX_RECORD_PAYLOAD: Final = 2**14 + 2048  # RFC 5246 §6.2.3 TLSCiphertext bound
MAX_HANDSHAKE_MESSAGE: Final = 64 * 1024  # certificate chains of embedded devices are far smaller
MAX_DISTINGUISHED_NAMES: Final = 256
_RANDOM_LENGTH: Final = 32


# --------------------------------------------------------------------------- ClientHello


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyShare:
    """One TLS 1.3 key_share entry; ``key_exchange`` is the public key, made by the caller."""

    group: int
    key_exchange: bytes


def server_name_for(host: str | None) -> str | None:
    """The SNI value for ``host``: DNS names only; RFC 6066 §3 forbids IP literals."""
    if not host:
        return None
    candidate = host.strip("[]").rstrip(".")
    try:
        ipaddress.ip_address(candidate.split("%", 1)[0])
    except ValueError:
        return candidate if candidate else None
    return None


def build_client_hello(
    *,
    version: ProtocolVersion,
    cipher_suites: Sequence[int],
    random: bytes,
    session_id: bytes = b"",
    server_name: str | None = None,
    groups: Sequence[int] = DEFAULT_GROUPS,
    signature_algorithms: Sequence[int] = DEFAULT_SIGNATURE_ALGORITHMS,
    key_shares: Sequence[KeyShare] = (),
    compression_methods: Sequence[int] = (CompressionMethod.NULL,),
    record_version: int = ProtocolVersion.TLS_1_0,
    extra_extensions: Sequence[tuple[int, bytes]] = (),
    pad: bool = False,
) -> bytes:
    """One handshake record holding a ClientHello that offers exactly ``version``.

    * SSLv3 .. TLS 1.2: ``client_version`` = ``version``; extensions server_name (DNS
      names only), supported_groups, ec_point_formats, signature_algorithms (TLS 1.2
      only: RFC 5246 §7.4.1.4.1), renegotiation_info. SSLv3 hellos carry no extensions
      (RFC 6101 has none; SSLv3-era stacks choke on them).
    * TLS 1.3: ``client_version`` 0x0303 and supported_versions = [0x0304] alone, so a
      server either speaks 1.3 or refuses; key_share holds ``key_shares`` — an empty
      list is legal (RFC 8446 §4.2.8) and forces a HelloRetryRequest naming the
      server's group and suite without any key exchange (nmap's trick).
    * ``record_version`` 0x0301 for a first flight (RFC 8446 §5.1); SSLv3 probes use 0x0300.
    * ``pad``: a ClientHello message of 256-511 bytes gets an RFC 7685 padding extension
      that takes it to at least 512 (stacks with the F5 bug hang on that range; OpenSSL's
      ``SSL_OP_TLSEXT_PADDING`` does the same). SSLv3 hellos carry no extensions: no pad.
    """
    if len(random) != _RANDOM_LENGTH:
        raise CodecError(f"client random must be {_RANDOM_LENGTH} bytes, got {len(random)}")
    if len(session_id) > 32:
        raise CodecError(f"session id must be at most 32 bytes, got {len(session_id)}")
    if not cipher_suites:
        raise CodecError("a ClientHello must offer at least one cipher suite")
    if not compression_methods or CompressionMethod.NULL not in compression_methods:
        raise CodecError("compression methods must include null (0): RFC 5246 §7.4.1.2")
    _check_uint16s("cipher suite", cipher_suites)
    _check_uint16s("group", groups)
    _check_uint16s("signature scheme", signature_algorithms)
    extensions: list[tuple[int, bytes]] = []
    sni = server_name_for(server_name)
    if version is not ProtocolVersion.SSL_3_0:
        if sni is not None:
            encoded = sni.encode("idna")
            if len(encoded) > 255:
                raise CodecError(f"server name {sni!r} is longer than 255 bytes")
            entry = b"\x00" + _u16(len(encoded)) + encoded  # name_type host_name (0)
            extensions.append((ExtensionType.SERVER_NAME, _u16(len(entry)) + entry))
        if groups:
            extensions.append((ExtensionType.SUPPORTED_GROUPS, _vector16(b"".join(_u16(g) for g in groups))))
    if version in (ProtocolVersion.TLS_1_0, ProtocolVersion.TLS_1_1, ProtocolVersion.TLS_1_2):
        extensions.append((ExtensionType.EC_POINT_FORMATS, b"\x01\x00"))  # uncompressed only
    if version in (ProtocolVersion.TLS_1_2, ProtocolVersion.TLS_1_3) and signature_algorithms:
        extensions.append((ExtensionType.SIGNATURE_ALGORITHMS, _vector16(b"".join(_u16(s) for s in signature_algorithms))))
    if version is ProtocolVersion.TLS_1_3:
        extensions.append((ExtensionType.SUPPORTED_VERSIONS, b"\x02" + _u16(ProtocolVersion.TLS_1_3)))
        shares = b"".join(_u16(share.group) + _vector16(share.key_exchange) for share in key_shares)
        extensions.append((ExtensionType.KEY_SHARE, _vector16(shares)))
    elif version is not ProtocolVersion.SSL_3_0:
        extensions.append((ExtensionType.RENEGOTIATION_INFO, b"\x00"))  # RFC 5746 §3.4 empty
    extensions.extend(extra_extensions)

    client_version = ProtocolVersion.TLS_1_2 if version is ProtocolVersion.TLS_1_3 else version
    head = bytearray()
    head += _u16(client_version)
    head += random
    head += bytes([len(session_id)]) + session_id
    head += _vector16(b"".join(_u16(suite) for suite in cipher_suites))
    head += bytes([len(compression_methods)]) + bytes(compression_methods)
    message = _client_hello_message(bytes(head), extensions)
    if pad and extensions and _F5_RANGE[0] <= len(message) < _F5_RANGE[1]:
        filler = max(0, _F5_RANGE[1] - len(message) - 4)  # the extension's own 4-byte header
        message = _client_hello_message(bytes(head), [*extensions, (ExtensionType.PADDING, bytes(filler))])
    if len(message) > 2**14:
        raise CodecError(f"ClientHello of {len(message)} bytes does not fit one record; offer fewer suites")
    return bytes([ContentType.HANDSHAKE]) + _u16(record_version) + _u16(len(message)) + message


#: ClientHello message lengths (with the 4-byte handshake header) some stacks hang on
_F5_RANGE: Final = (256, 512)


def _client_hello_message(head: bytes, extensions: Sequence[tuple[int, bytes]]) -> bytes:
    body = head
    if extensions:
        body += _vector16(b"".join(_u16(kind) + _vector16(data) for kind, data in extensions))
    return bytes([HandshakeType.CLIENT_HELLO]) + len(body).to_bytes(3, "big") + body


def _u16(value: int) -> bytes:
    return struct.pack("!H", value)


def _vector16(data: bytes) -> bytes:
    if len(data) > 0xFFFF:
        raise CodecError(f"vector of {len(data)} bytes exceeds 2^16-1")
    return _u16(len(data)) + data


def _check_uint16s(what: str, values: Iterable[int]) -> None:
    for value in values:
        if not 0 <= int(value) <= 0xFFFF:
            raise CodecError(f"{what} {value!r} is not a 16-bit code point")


# --------------------------------------------------------------------------- records


class NeedData:
    """Returned by ``RecordReader.next_event`` when the buffer holds no complete event."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = NeedData()


@dataclass(frozen=True, slots=True, kw_only=True)
class HandshakeMessage:
    msg_type: int
    body: bytes
    #: record-layer version of the record the message started in
    record_version: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert:
    level: int
    description: int
    record_version: int

    @property
    def name(self) -> str:
        return alert_name(self.description)

    @property
    def fatal(self) -> bool:
        return self.level == AlertLevel.FATAL


def alert_name(description: int) -> str:
    """``handshake_failure`` for 40; ``unknown_201`` for a code outside RFC 5246 §7.2 / RFC 8446 §6."""
    try:
        return AlertDescription(description).name.lower()
    except ValueError:
        return f"unknown_{description}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeCipherSpec:
    record_version: int


@dataclass(frozen=True, slots=True, kw_only=True)
class OpaqueRecord:
    """A record porthole does not interpret (application data, encrypted TLS 1.3 flight)."""

    content_type: int
    length: int
    record_version: int


Event = HandshakeMessage | Alert | ChangeCipherSpec | OpaqueRecord


@dataclass(slots=True)
class RecordReader:
    """Feed server bytes, pull events: ``feed(data)`` then ``next_event()`` until ``NEED_DATA``.

    Handshake messages are reassembled across records and split when several share a
    record (RFC 5246 §6.2.1). Once a ChangeCipherSpec has been seen, later records are
    ciphertext and come out as ``OpaqueRecord``. Records are checked before their
    payload arrives, so a hostile length costs nothing: ``CodecError``.
    """

    max_handshake_message: int = MAX_HANDSHAKE_MESSAGE
    _buffer: bytearray = field(default_factory=bytearray)
    _handshake: bytearray = field(default_factory=bytearray)
    _handshake_version: int = 0
    _offset: int = 0
    _encrypted: bool = False
    _pending: list[Event] = field(default_factory=list)

    def feed(self, data: bytes) -> None:
        self._buffer += data

    @property
    def buffered(self) -> int:
        """Bytes received but not yet turned into events (a partial record or message)."""
        return len(self._buffer) + len(self._handshake)

    def next_event(self) -> Event | NeedData:
        while not self._pending:
            if not self._pull_record():
                return NEED_DATA
        return self._pending.pop(0)

    def _pull_record(self) -> bool:
        buffer = self._buffer
        if not buffer:
            return False
        if buffer[0] not in (20, 21, 22, 23, 24):
            raise CodecError(f"not a TLS record: content type {buffer[0]:#04x}", offset=self._offset)
        if len(buffer) >= 2 and buffer[1] != 0x03:
            raise CodecError(f"not a TLS record: version major {buffer[1]:#04x}", offset=self._offset + 1)
        if len(buffer) < 5:
            return False
        content_type = buffer[0]
        record_version, length = struct.unpack_from("!HH", buffer, 1)
        if length > MAX_RECORD_PAYLOAD:
            raise CodecError(f"record length {length} exceeds {MAX_RECORD_PAYLOAD}", offset=self._offset + 3)
        if len(buffer) < 5 + length:
            return False
        payload = bytes(buffer[5 : 5 + length])
        del buffer[: 5 + length]
        record_offset = self._offset
        self._offset += 5 + length
        if self._encrypted or content_type == ContentType.APPLICATION_DATA:
            self._pending.append(OpaqueRecord(content_type=content_type, length=length, record_version=record_version))
        elif content_type == ContentType.HANDSHAKE:
            self._take_handshake(payload, record_version, record_offset)
        elif content_type == ContentType.ALERT:
            if self._handshake:
                raise CodecError("alert interleaved with a fragmented handshake message", offset=record_offset)
            if length % 2 or not length:
                raise CodecError(f"alert record of {length} bytes (must be pairs of level, description)", offset=record_offset)
            for index in range(0, length, 2):
                self._pending.append(Alert(level=payload[index], description=payload[index + 1], record_version=record_version))
        elif content_type == ContentType.CHANGE_CIPHER_SPEC:
            if payload != b"\x01":
                raise CodecError("ChangeCipherSpec must be the single byte 0x01", offset=record_offset)
            self._pending.append(ChangeCipherSpec(record_version=record_version))
            self._encrypted = True
        else:  # heartbeat in plaintext: keep it visible, do not interpret
            self._pending.append(OpaqueRecord(content_type=content_type, length=length, record_version=record_version))
        return True

    def _take_handshake(self, payload: bytes, record_version: int, record_offset: int) -> None:
        if not payload:
            raise CodecError("empty handshake record (RFC 5246 §6.2.1 forbids it)", offset=record_offset)
        if not self._handshake:
            self._handshake_version = record_version
        self._handshake += payload
        while len(self._handshake) >= 4:
            length = int.from_bytes(self._handshake[1:4], "big")
            if length > self.max_handshake_message:
                raise CodecError(f"handshake message of {length} bytes exceeds {self.max_handshake_message}", offset=record_offset)
            if len(self._handshake) < 4 + length:
                return
            self._pending.append(
                HandshakeMessage(msg_type=self._handshake[0], body=bytes(self._handshake[4 : 4 + length]), record_version=self._handshake_version)
            )
            del self._handshake[: 4 + length]
            self._handshake_version = record_version


# --------------------------------------------------------------------------- parsers


class _Cursor:
    """Bounded reads over one message body; every overrun is a ``CodecError`` with offset."""

    __slots__ = ("data", "position", "what")

    def __init__(self, data: bytes, what: str) -> None:
        self.data = data
        self.position = 0
        self.what = what

    def take(self, count: int) -> bytes:
        if count < 0 or self.position + count > len(self.data):
            raise CodecError(f"{self.what} truncated: wanted {count} bytes, {len(self.data) - self.position} left", offset=self.position)
        chunk = self.data[self.position : self.position + count]
        self.position += count
        return chunk

    def uint(self, size: int) -> int:
        return int.from_bytes(self.take(size), "big")

    def vector(self, length_size: int) -> bytes:
        return self.take(self.uint(length_size))

    @property
    def remaining(self) -> int:
        return len(self.data) - self.position

    def finish(self) -> None:
        if self.remaining:
            raise CodecError(f"{self.what} has {self.remaining} trailing bytes", offset=self.position)


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerHello:
    legacy_version: int
    random: bytes
    session_id: bytes
    cipher_suite: int
    compression_method: int
    #: (type, data) in the order received; unknown types kept raw
    extensions: tuple[tuple[int, bytes], ...] = ()

    @property
    def is_hello_retry_request(self) -> bool:
        return self.random == HELLO_RETRY_REQUEST_RANDOM

    @property
    def version(self) -> int:
        """The negotiated version: supported_versions if present (RFC 8446 §4.2.1), else legacy."""
        data = self.extension(ExtensionType.SUPPORTED_VERSIONS)
        if data is not None:
            return int.from_bytes(data, "big")
        return self.legacy_version

    @property
    def key_share_group(self) -> int | None:
        """The group of the key_share extension (HRR: selected_group; ServerHello: the share's group)."""
        data = self.extension(ExtensionType.KEY_SHARE)
        if data is None or len(data) < 2:
            return None
        return int.from_bytes(data[:2], "big")

    def extension(self, kind: int) -> bytes | None:
        return next((data for extension_type, data in self.extensions if extension_type == kind), None)


def parse_server_hello(body: bytes) -> ServerHello:
    """A ServerHello (or HelloRetryRequest) body, extensions kept raw but validated in shape."""
    cursor = _Cursor(body, "ServerHello")
    legacy_version = cursor.uint(2)
    if legacy_version >> 8 != 0x03:
        raise CodecError(f"ServerHello version {legacy_version:#06x} is not SSLv3/TLS", offset=0)
    random = cursor.take(_RANDOM_LENGTH)
    session_id = cursor.vector(1)
    if len(session_id) > 32:
        raise CodecError(f"ServerHello session id of {len(session_id)} bytes (max 32)", offset=34)
    cipher_suite = cursor.uint(2)
    compression = cursor.uint(1)
    extensions: list[tuple[int, bytes]] = []
    if cursor.remaining:
        block = _Cursor(cursor.vector(2), "ServerHello extensions")
        cursor.finish()
        seen: set[int] = set()
        while block.remaining:
            kind = block.uint(2)
            data = block.vector(2)
            if kind in seen:
                raise CodecError(f"ServerHello repeats extension {kind:#06x}", offset=block.position)
            seen.add(kind)
            extensions.append((kind, data))
    hello = ServerHello(
        legacy_version=legacy_version,
        random=random,
        session_id=session_id,
        cipher_suite=cipher_suite,
        compression_method=compression,
        extensions=tuple(extensions),
    )
    versions = hello.extension(ExtensionType.SUPPORTED_VERSIONS)
    if versions is not None and len(versions) != 2:
        raise CodecError(f"ServerHello supported_versions must hold one version, got {len(versions)} bytes")
    return hello


def parse_certificate(body: bytes) -> tuple[bytes, ...]:
    """The DER certificates of a TLS <= 1.2 Certificate message, leaf first (RFC 5246 §7.4.2)."""
    cursor = _Cursor(body, "Certificate")
    chain = _Cursor(cursor.vector(3), "certificate_list")
    cursor.finish()
    certificates: list[bytes] = []
    while chain.remaining:
        der = chain.vector(3)
        if not der:
            raise CodecError("empty certificate in the chain", offset=chain.position)
        certificates.append(der)
    return tuple(certificates)


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerKeyExchange:
    kind: EphemeralKeyExchange
    #: ECDHE: the named group; DHE: None
    group: int | None = None
    #: DHE: size of the prime p in bits (leading zero bits ignored); ECDHE: None
    dh_prime_bits: int | None = None
    #: the server's ephemeral public value, for fingerprints; raw
    public_key: bytes = b""


def parse_server_key_exchange(body: bytes, kind: EphemeralKeyExchange) -> ServerKeyExchange:
    """Enough of a ServerKeyExchange to grade the ephemeral key (RFC 5246 §7.4.3, RFC 8422 §5.4).

    The signature that follows the parameters is not checked (porthole completes no
    handshake) and its layout depends on the version, so it is left unparsed.
    """
    cursor = _Cursor(body, "ServerKeyExchange")
    if kind is EphemeralKeyExchange.ECDHE:
        curve_type = cursor.uint(1)
        if curve_type != 3:  # named_curve; explicit curves (1, 2) are deprecated by RFC 8422
            raise CodecError(f"ECDHE parameters with curve type {curve_type} (only named_curve = 3 is supported)", offset=0)
        group = cursor.uint(2)
        point = cursor.vector(1)
        if not point:
            raise CodecError("ECDHE public point is empty", offset=3)
        return ServerKeyExchange(kind=kind, group=group, public_key=point)
    prime = cursor.vector(2)
    generator = cursor.vector(2)
    public = cursor.vector(2)
    if not prime or not generator or not public:
        raise CodecError("DHE parameters with an empty p, g or Ys")
    return ServerKeyExchange(kind=kind, dh_prime_bits=int.from_bytes(prime, "big").bit_length(), public_key=public)


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateRequest:
    certificate_types: tuple[int, ...]
    #: TLS 1.2 only (empty before)
    signature_algorithms: tuple[int, ...]
    #: DER-encoded DistinguishedName of each acceptable CA, raw (decode with parse_distinguished_name)
    certificate_authorities: tuple[bytes, ...]


def parse_certificate_request(body: bytes, version: int) -> CertificateRequest:
    """A TLS <= 1.2 CertificateRequest (RFC 5246 §7.4.4; RFC 4346 §7.4.4 without sig algs)."""
    cursor = _Cursor(body, "CertificateRequest")
    types = tuple(cursor.vector(1))
    algorithms: tuple[int, ...] = ()
    if version >= ProtocolVersion.TLS_1_2:
        raw = cursor.vector(2)
        if len(raw) % 2:
            raise CodecError("CertificateRequest signature algorithms of odd length", offset=cursor.position)
        algorithms = tuple(struct.unpack(f"!{len(raw) // 2}H", raw))
    names_block = _Cursor(cursor.vector(2), "certificate_authorities")
    cursor.finish()
    names: list[bytes] = []
    while names_block.remaining:
        if len(names) >= MAX_DISTINGUISHED_NAMES:
            raise CodecError(f"more than {MAX_DISTINGUISHED_NAMES} CA names", offset=names_block.position)
        names.append(names_block.vector(2))
    return CertificateRequest(certificate_types=types, signature_algorithms=algorithms, certificate_authorities=tuple(names))


def parse_server_hello_done(body: bytes) -> None:
    """ServerHelloDone has an empty body (RFC 5246 §7.4.5)."""
    if body:
        raise CodecError(f"ServerHelloDone with a {len(body)}-byte body")


# --------------------------------------------------------------------------- DER names

_ATTRIBUTE_NAMES: Final = {
    "2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.9": "STREET",
    "2.5.4.10": "O", "2.5.4.11": "OU", "2.5.4.5": "serialNumber", "2.5.4.4": "SN",
    "2.5.4.42": "GN", "0.9.2342.19200300.100.1.25": "DC", "0.9.2342.19200300.100.1.1": "UID",
    "1.2.840.113549.1.9.1": "emailAddress",
}
_STRING_TAGS: Final = {0x0C: "utf-8", 0x13: "ascii", 0x14: "latin-1", 0x16: "ascii", 0x1A: "ascii", 0x1E: "utf-16-be", 0x1C: "utf-32-be"}


def parse_distinguished_name(der: bytes) -> str:
    """An X.501 Name (RFC 5280 §4.1.2.4) as an RFC 4514-style string, most specific RDN first.

    Just enough DER for CertificateRequest CA names: SEQUENCE OF SET OF
    SEQUENCE { OID, string }. Unknown attribute types appear as dotted OIDs.
    """
    cursor = _Cursor(der, "DistinguishedName")
    tag, content = _der_element(cursor)
    cursor.finish()
    if tag != 0x30:
        raise CodecError(f"DistinguishedName must be a SEQUENCE, got tag {tag:#04x}")
    relative_names: list[str] = []
    rdns = _Cursor(content, "RDNSequence")
    while rdns.remaining:
        tag, rdn = _der_element(rdns)
        if tag != 0x31:
            raise CodecError(f"RelativeDistinguishedName must be a SET, got tag {tag:#04x}", offset=rdns.position)
        attributes = _Cursor(rdn, "RelativeDistinguishedName")
        parts: list[str] = []
        while attributes.remaining:
            tag, pair = _der_element(attributes)
            if tag != 0x30:
                raise CodecError("AttributeTypeAndValue must be a SEQUENCE", offset=attributes.position)
            inner = _Cursor(pair, "AttributeTypeAndValue")
            oid_tag, oid = _der_element(inner)
            value_tag, value = _der_element(inner)
            inner.finish()
            if oid_tag != 0x06:
                raise CodecError("attribute type must be an OBJECT IDENTIFIER")
            dotted = _decode_oid(oid)
            name = _ATTRIBUTE_NAMES.get(dotted, dotted)
            encoding = _STRING_TAGS.get(value_tag)
            if encoding is None:
                text = "#" + value.hex()
            else:
                try:
                    text = value.decode(encoding)
                except UnicodeDecodeError:
                    raise CodecError(f"attribute {name} is not valid {encoding}") from None
            parts.append(f"{name}={_escape_rdn_value(text)}")
        relative_names.append("+".join(parts))
    return ",".join(reversed(relative_names))


def _der_element(cursor: _Cursor) -> tuple[int, bytes]:
    tag = cursor.uint(1)
    first = cursor.uint(1)
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 3:
            raise CodecError(f"DER length with {count} length bytes", offset=cursor.position)
        length = cursor.uint(count)
    return tag, cursor.take(length)


def _decode_oid(data: bytes) -> str:
    if not data:
        raise CodecError("empty OBJECT IDENTIFIER")
    arcs: list[int] = []
    value = 0
    for index, byte in enumerate(data):
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
        elif index == len(data) - 1:
            raise CodecError("OBJECT IDENTIFIER ends inside an arc")
    first = arcs[0]
    head = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    return ".".join(str(arc) for arc in head + arcs[1:])


def _escape_rdn_value(text: str) -> str:
    escaped = "".join("\\" + char if char in ',+"\\<>;=' else char for char in text)
    if escaped.startswith((" ", "#")):
        escaped = "\\" + escaped
    if escaped.endswith(" "):
        escaped = escaped[:-1] + "\\ "
    return escaped
