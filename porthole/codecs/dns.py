"""DNS messages (RFC 1035 §4.1), just enough for reachability probes.

    0               2               4               6               8  ...  12
    +-------+-------+-------+-------+-------+-------+-------+-------+--------+
    |      ID       |     FLAGS     |    QDCOUNT    |    ANCOUNT    | NS, AR |
    +-------+-------+-------+-------+-------+-------+-------+-------+--------+
    question: QNAME (length-prefixed labels, 0-terminated) | QTYPE | QCLASS

FLAGS: QR 0x8000, OPCODE 0x7800, AA 0x0400, TC 0x0200, RD 0x0100, RA 0x0080,
RCODE 0x000F. Over TCP every message has a 2-byte length prefix (RFC 1035 §4.2.2).

The reachability phase sends one query and only needs to know "a DNS server
answered this query" (matching id, QR set). The fingerprint probes (later issue)
parse answers fully.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from porthole.codecs._errors import CodecError

__all__ = ["DnsHeader", "build_query", "parse_header", "is_reply_to", "QTYPE_A", "QTYPE_PTR", "QTYPE_TXT", "QCLASS_IN", "QCLASS_CH"]

QTYPE_A = 1
QTYPE_PTR = 12
QTYPE_TXT = 16
QCLASS_IN = 1
QCLASS_CH = 3
FLAG_QR = 0x8000
FLAG_RD = 0x0100
FLAG_RA = 0x0080
_HEADER = struct.Struct("!HHHHHH")
_MAX_NAME = 255


@dataclass(frozen=True, slots=True, kw_only=True)
class DnsHeader:
    id: int
    flags: int
    qdcount: int
    ancount: int
    nscount: int
    arcount: int

    @property
    def is_response(self) -> bool:
        return bool(self.flags & FLAG_QR)

    @property
    def recursion_available(self) -> bool:
        return bool(self.flags & FLAG_RA)

    @property
    def rcode(self) -> int:
        return self.flags & 0x000F


def encode_name(name: str) -> bytes:
    """``"localhost."`` → ``b"\\x09localhost\\x00"``; labels ≤ 63 bytes, name ≤ 255."""
    out = bytearray()
    for label in name.rstrip(".").split(".") if name.strip(".") else []:
        try:
            raw = label.encode("ascii")
        except UnicodeEncodeError:
            raise CodecError(f"DNS label {label!r} must be ASCII (IDNA-encode it first)") from None
        if not 0 < len(raw) <= 63:
            raise CodecError(f"DNS label {label!r} must be 1-63 bytes")
        out += bytes([len(raw)]) + raw
    out += b"\x00"
    if len(out) > _MAX_NAME:
        raise CodecError("DNS name longer than 255 bytes")
    return bytes(out)


def build_query(query_id: int, name: str, qtype: int = QTYPE_A, qclass: int = QCLASS_IN, *, recursion_desired: bool = True, tcp: bool = False) -> bytes:
    """One question, no records. ``tcp=True`` adds the 2-byte length prefix."""
    if not 0 <= query_id <= 0xFFFF:
        raise CodecError("DNS id must fit in 16 bits")
    flags = FLAG_RD if recursion_desired else 0
    message = _HEADER.pack(query_id, flags, 1, 0, 0, 0) + encode_name(name) + struct.pack("!HH", qtype, qclass)
    return struct.pack("!H", len(message)) + message if tcp else message


def parse_header(data: bytes) -> DnsHeader:
    if len(data) < _HEADER.size:
        raise CodecError(f"DNS message shorter than its 12-byte header ({len(data)} bytes)", offset=len(data))
    return DnsHeader(**dict(zip(("id", "flags", "qdcount", "ancount", "nscount", "arcount"), _HEADER.unpack_from(data))))


def is_reply_to(query: bytes, reply: bytes) -> bool:
    """True when ``reply`` is a DNS response to ``query`` (same id, QR set, question echoed).

    Some responders (mDNS legacy unicast) may omit the question; the id match plus QR is
    then accepted, as RFC 6762 §6.7 only requires the id to be echoed.
    """
    try:
        asked = parse_header(query)
        answer = parse_header(reply)
    except CodecError:
        return False
    if answer.id != asked.id or not answer.is_response:
        return False
    if answer.qdcount == 0:
        return True
    question = query[_HEADER.size:]
    return reply[_HEADER.size:_HEADER.size + len(question)].lower() == question.lower()
