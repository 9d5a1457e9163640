"""DNS messages (RFC 1035 §4.1): query building, reply matching and full reply parsing.

    0               2               4               6               8  ...  12
    +-------+-------+-------+-------+-------+-------+-------+-------+--------+
    |      ID       |     FLAGS     |    QDCOUNT    |    ANCOUNT    | NS, AR |
    +-------+-------+-------+-------+-------+-------+-------+-------+--------+
    question: QNAME (length-prefixed labels, 0-terminated) | QTYPE | QCLASS
    record:   NAME | TYPE (2) | CLASS (2) | TTL (4) | RDLENGTH (2) | RDATA

FLAGS: QR 0x8000, OPCODE 0x7800, AA 0x0400, TC 0x0200, RD 0x0100, RA 0x0080,
RCODE 0x000F. Over TCP every message has a 2-byte length prefix (RFC 1035 §4.2.2).

Name compression (RFC 1035 §4.1.4): a label length byte ``11xxxxxx`` starts a 14-bit
pointer to where the rest of the name continues. A hostile reply can point a name at
itself or build long chains, so ``read_name`` follows at most ``MAX_POINTER_HOPS``
pointers, refuses to visit one offset twice (a loop), and caps the decoded name at
255 bytes on the wire, as the RFC does.

Decoded record data: A and AAAA (``ipaddress`` objects), TXT (tuple of character
strings), PTR (a name) and SRV (RFC 2782). Every other type keeps only its raw
``rdata``. mDNS (RFC 6762 §10.2, §5.4) borrows the top bit of the class field; the
``cache_flush`` / ``unicast_response`` properties read it and ``record_class`` masks it.

Contract: pure (no sockets, clocks or randomness: the query id is an argument);
parsers raise only ``CodecError`` with the byte offset; the TCP framer returns
``NEED_DATA`` for a partial frame.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from typing import Final

from porthole.codecs._errors import CodecError
from porthole.codecs._framing import NEED_DATA, NeedData

__all__ = [
    "NEED_DATA",
    "NeedData",
    "DnsHeader",
    "DnsQuestion",
    "DnsRecord",
    "DnsMessage",
    "SrvData",
    "RecordValue",
    "build_query",
    "encode_name",
    "parse_header",
    "parse_message",
    "read_name",
    "is_reply_to",
    "frame_tcp",
    "parse_tcp_frame",
    "record_text",
    "type_name",
    "class_name",
    "rcode_name",
    "QTYPE_A",
    "QTYPE_PTR",
    "QTYPE_TXT",
    "QTYPE_AAAA",
    "QTYPE_SRV",
    "QCLASS_IN",
    "QCLASS_CH",
    "FLAG_QR",
    "FLAG_AA",
    "FLAG_TC",
    "FLAG_RD",
    "FLAG_RA",
    "MAX_POINTER_HOPS",
    "MAX_MESSAGE",
]

QTYPE_A = 1
QTYPE_PTR = 12
QTYPE_TXT = 16
QTYPE_AAAA = 28
QTYPE_SRV = 33
QCLASS_IN = 1
QCLASS_CH = 3
FLAG_QR = 0x8000
FLAG_AA = 0x0400
FLAG_TC = 0x0200
FLAG_RD = 0x0100
FLAG_RA = 0x0080
_OPCODE_MASK = 0x7800
_RCODE_MASK = 0x000F
#: mDNS: top bit of a question's class (QU) or a record's class (cache flush)
_MDNS_CLASS_BIT = 0x8000

#: a message cannot be longer than its TCP length prefix can say
MAX_MESSAGE: Final = 0xFFFF
#: compression pointers followed while reading one name; real servers need 1-3
MAX_POINTER_HOPS: Final = 32
_MAX_NAME = 255

_HEADER = struct.Struct("!HHHHHH")
_QUESTION_TAIL = struct.Struct("!HH")
_RECORD_TAIL = struct.Struct("!HHIH")
_SRV_FIXED = struct.Struct("!HHH")

_TYPE_NAMES = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA", 33: "SRV", 41: "OPT", 47: "NSEC", 255: "ANY"}
_CLASS_NAMES = {1: "IN", 3: "CH", 4: "HS", 255: "ANY"}
_RCODE_NAMES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


def type_name(rtype: int) -> str:
    """``1`` → ``"A"``; unknown types in RFC 3597 form (``"TYPE65"``)."""
    return _TYPE_NAMES.get(rtype, f"TYPE{rtype}")


def class_name(rclass: int) -> str:
    return _CLASS_NAMES.get(rclass, f"CLASS{rclass}")


def rcode_name(rcode: int) -> str:
    return _RCODE_NAMES.get(rcode, f"RCODE{rcode}")


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
    def opcode(self) -> int:
        return (self.flags & _OPCODE_MASK) >> 11

    @property
    def authoritative(self) -> bool:
        return bool(self.flags & FLAG_AA)

    @property
    def truncated(self) -> bool:
        """TC: the server cut the message to fit UDP; the full answer needs TCP."""
        return bool(self.flags & FLAG_TC)

    @property
    def recursion_desired(self) -> bool:
        return bool(self.flags & FLAG_RD)

    @property
    def recursion_available(self) -> bool:
        return bool(self.flags & FLAG_RA)

    @property
    def rcode(self) -> int:
        return self.flags & _RCODE_MASK


@dataclass(frozen=True, slots=True, kw_only=True)
class DnsQuestion:
    name: str
    qtype: int
    qclass: int

    @property
    def unicast_response(self) -> bool:
        """mDNS QU bit (RFC 6762 §5.4)."""
        return bool(self.qclass & _MDNS_CLASS_BIT)


@dataclass(frozen=True, slots=True, kw_only=True)
class SrvData:
    """SRV record data (RFC 2782)."""

    priority: int
    weight: int
    port: int
    target: str


#: what a record's data decodes to: an address (A/AAAA), a name (PTR), the
#: character strings (TXT), SRV data, or ``None`` (any other type: see ``rdata``)
RecordValue = ipaddress.IPv4Address | ipaddress.IPv6Address | str | tuple[bytes, ...] | SrvData | None


@dataclass(frozen=True, slots=True, kw_only=True)
class DnsRecord:
    name: str
    rtype: int
    #: the class field as sent (mDNS may set the cache-flush bit; see ``record_class``)
    rclass: int
    ttl: int
    #: the record data exactly as sent (names inside may be compression pointers)
    rdata: bytes
    value: RecordValue = None

    @property
    def cache_flush(self) -> bool:
        """mDNS cache-flush bit (RFC 6762 §10.2)."""
        return bool(self.rclass & _MDNS_CLASS_BIT)

    @property
    def record_class(self) -> int:
        return self.rclass & ~_MDNS_CLASS_BIT


@dataclass(frozen=True, slots=True, kw_only=True)
class DnsMessage:
    header: DnsHeader
    questions: tuple[DnsQuestion, ...]
    answers: tuple[DnsRecord, ...]
    authorities: tuple[DnsRecord, ...]
    additionals: tuple[DnsRecord, ...]


# --- building ------------------------------------------------------------------------


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
    """One question, no records. ``tcp=True`` adds the 2-byte length prefix.

    Opcode is always 0 (QUERY): porthole never builds updates (opcode 5) or notifies.
    """
    if not 0 <= query_id <= 0xFFFF:
        raise CodecError("DNS id must fit in 16 bits")
    flags = FLAG_RD if recursion_desired else 0
    message = _HEADER.pack(query_id, flags, 1, 0, 0, 0) + encode_name(name) + struct.pack("!HH", qtype, qclass)
    return frame_tcp(message) if tcp else message


# --- TCP framing (RFC 1035 §4.2.2) ---------------------------------------------------


def frame_tcp(message: bytes) -> bytes:
    """The message behind its 2-byte big-endian length."""
    if len(message) > MAX_MESSAGE:
        raise CodecError(f"DNS message of {len(message)} bytes does not fit a TCP length prefix")
    return struct.pack("!H", len(message)) + message


def parse_tcp_frame(data: bytes) -> tuple[int, bytes] | NeedData:
    """``(bytes consumed, message)`` for the first frame in ``data``, or ``NEED_DATA``.

    A declared length below the 12-byte header can never be DNS: ``CodecError``.
    """
    if len(data) < 2:
        return NEED_DATA
    (length,) = struct.unpack_from("!H", data)
    if length < _HEADER.size:
        raise CodecError(f"DNS-over-TCP frame declares {length} bytes, less than a 12-byte header", offset=0)
    if len(data) < 2 + length:
        return NEED_DATA
    return 2 + length, bytes(data[2 : 2 + length])


# --- parsing -------------------------------------------------------------------------


def parse_header(data: bytes) -> DnsHeader:
    if len(data) < _HEADER.size:
        raise CodecError(f"DNS message shorter than its 12-byte header ({len(data)} bytes)", offset=len(data))
    return DnsHeader(**dict(zip(("id", "flags", "qdcount", "ancount", "nscount", "arcount"), _HEADER.unpack_from(data))))


def read_name(message: bytes, offset: int) -> tuple[str, int]:
    """The name at ``offset`` in presentation form (``"localhost."``) and the offset after it.

    The offset after a compressed name is just past its first pointer. Label bytes
    outside printable ASCII, and ``.`` or ``\\`` inside a label, are escaped as RFC 1035
    §5.1 writes them (``\\DDD``, ``\\.``), so a hostile label cannot forge structure.
    """
    labels: list[str] = []
    wire_length = 1  # the terminating root label
    position = offset
    after: int | None = None
    visited: set[int] = set()
    while True:
        if position >= len(message):
            raise CodecError("DNS name runs past the end of the message", offset=position)
        length = message[position]
        kind = length & 0xC0
        if kind == 0xC0:
            if position + 1 >= len(message):
                raise CodecError("DNS compression pointer cut off", offset=position)
            target = ((length & 0x3F) << 8) | message[position + 1]
            if after is None:
                after = position + 2
            if target in visited:
                raise CodecError(f"DNS name compression loop: offset {target} reached twice", offset=position)
            if len(visited) >= MAX_POINTER_HOPS:
                raise CodecError(f"DNS name follows more than {MAX_POINTER_HOPS} compression pointers", offset=position)
            visited.add(target)
            position = target
            continue
        if kind:
            raise CodecError(f"DNS label type {kind:#04x} is reserved (RFC 6891 §5)", offset=position)
        if length == 0:
            break
        label = message[position + 1 : position + 1 + length]
        if len(label) < length:
            raise CodecError("DNS label runs past the end of the message", offset=position)
        wire_length += 1 + length
        if wire_length > _MAX_NAME:
            raise CodecError("DNS name longer than 255 bytes", offset=position)
        labels.append(_label_text(label))
        position += 1 + length
    return ("".join(f"{label}." for label in labels) or "."), (after if after is not None else position + 1)


def _label_text(label: bytes) -> str:
    out = []
    for byte in label:
        if byte in (0x2E, 0x5C):  # "." and "\" are data here, not structure
            out.append("\\" + chr(byte))
        elif 0x21 <= byte <= 0x7E:
            out.append(chr(byte))
        else:
            out.append(f"\\{byte:03d}")
    return "".join(out)


def parse_message(data: bytes) -> DnsMessage:
    """A whole DNS message: header, questions and all three record sections.

    Bytes after the last record the header announces are ignored (UDP padding). A
    section shorter than its count says (a truncated answer) is a ``CodecError``; the
    TC flag, which a server sets when *it* truncated, is reported in the header.
    """
    if len(data) > MAX_MESSAGE:
        raise CodecError(f"DNS message of {len(data)} bytes exceeds the {MAX_MESSAGE}-byte maximum", offset=MAX_MESSAGE)
    header = parse_header(data)
    offset = _HEADER.size
    questions = []
    for _ in range(header.qdcount):
        name, offset = read_name(data, offset)
        if offset + _QUESTION_TAIL.size > len(data):
            raise CodecError("DNS question cut off before its type and class", offset=offset)
        qtype, qclass = _QUESTION_TAIL.unpack_from(data, offset)
        offset += _QUESTION_TAIL.size
        questions.append(DnsQuestion(name=name, qtype=qtype, qclass=qclass))
    sections: list[tuple[DnsRecord, ...]] = []
    for count, section in ((header.ancount, "answer"), (header.nscount, "authority"), (header.arcount, "additional")):
        records = []
        for index in range(count):
            record, offset = _read_record(data, offset, f"{section} record {index + 1} of {count}")
            records.append(record)
        sections.append(tuple(records))
    return DnsMessage(header=header, questions=tuple(questions), answers=sections[0], authorities=sections[1], additionals=sections[2])


def _read_record(data: bytes, offset: int, where: str) -> tuple[DnsRecord, int]:
    if offset >= len(data):
        raise CodecError(f"{where} missing: the message ends first (truncated answer)", offset=offset)
    try:
        name, offset = read_name(data, offset)
    except CodecError as exc:
        raise CodecError(f"{where}: {exc.args[0]}") from None
    if offset + _RECORD_TAIL.size > len(data):
        raise CodecError(f"{where} cut off before its type, class, TTL and length (truncated answer)", offset=offset)
    rtype, rclass, ttl, rdlength = _RECORD_TAIL.unpack_from(data, offset)
    offset += _RECORD_TAIL.size
    end = offset + rdlength
    if end > len(data):
        raise CodecError(f"{where}: {type_name(rtype)} data of {rdlength} bytes runs past the end of the message (truncated answer)", offset=offset)
    value = _decode_rdata(data, offset, end, rtype, where)
    return DnsRecord(name=name, rtype=rtype, rclass=rclass, ttl=ttl, rdata=bytes(data[offset:end]), value=value), end


def _decode_rdata(data: bytes, start: int, end: int, rtype: int, where: str) -> RecordValue:
    length = end - start
    if rtype == QTYPE_A:
        if length != 4:
            raise CodecError(f"{where}: A data must be 4 bytes, not {length}", offset=start)
        return ipaddress.IPv4Address(bytes(data[start:end]))
    if rtype == QTYPE_AAAA:
        if length != 16:
            raise CodecError(f"{where}: AAAA data must be 16 bytes, not {length}", offset=start)
        return ipaddress.IPv6Address(bytes(data[start:end]))
    if rtype == QTYPE_TXT:
        strings = []
        position = start
        while position < end:
            size = data[position]
            if position + 1 + size > end:
                raise CodecError(f"{where}: TXT string runs past its record", offset=position)
            strings.append(bytes(data[position + 1 : position + 1 + size]))
            position += 1 + size
        return tuple(strings)
    if rtype == QTYPE_PTR:
        # the name may be compressed: read it in the whole message, then check it fit
        target, _ = _name_within(data, start, end, where, "PTR")
        return target
    if rtype == QTYPE_SRV:
        if length < _SRV_FIXED.size + 1:
            raise CodecError(f"{where}: SRV data of {length} bytes is too short", offset=start)
        priority, weight, port = _SRV_FIXED.unpack_from(data, start)
        target, _ = _name_within(data, start + _SRV_FIXED.size, end, where, "SRV target")
        return SrvData(priority=priority, weight=weight, port=port, target=target)
    return None


def _name_within(data: bytes, start: int, end: int, where: str, what: str) -> tuple[str, int]:
    try:
        name, after = read_name(data[:end], start)
    except CodecError as exc:
        raise CodecError(f"{where}: {what} name: {exc.args[0]}") from None
    if after != end:
        raise CodecError(f"{where}: {what} name ends at byte {after}, its record at {end}", offset=after)
    return name, after


# --- matching and presentation -------------------------------------------------------


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
    question = query[_HEADER.size :]
    return reply[_HEADER.size : _HEADER.size + len(question)].lower() == question.lower()


def _character_string_text(text: bytes) -> str:
    """A TXT string quoted as RFC 1035 §5.1 writes it: ``"dnsmasq-2.90"``."""
    out = []
    for byte in text:
        if byte in (0x22, 0x5C):
            out.append("\\" + chr(byte))
        elif 0x20 <= byte <= 0x7E:
            out.append(chr(byte))
        else:
            out.append(f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


def record_text(record: DnsRecord) -> str:
    """One record in zone-file form: ``localhost. 0 IN A 127.0.0.1``."""
    head = f"{record.name} {record.ttl} {class_name(record.record_class)} {type_name(record.rtype)}"
    value = record.value
    if isinstance(value, tuple):
        data = " ".join(_character_string_text(text) for text in value)
    elif isinstance(value, SrvData):
        data = f"{value.priority} {value.weight} {value.port} {value.target}"
    elif value is None:
        data = f"\\# {len(record.rdata)} {record.rdata.hex()}" if record.rdata else "\\# 0"
    else:
        data = str(value)
    return f"{head} {data}"
