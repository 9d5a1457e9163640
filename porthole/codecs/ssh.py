"""SSH transport, up to and including the server's KEXINIT (RFC 4253 §4.2, §6, §7.1).

What porthole reads of an SSH server is everything it says *before* any key is
agreed: the identification line and the algorithm lists of its KEXINIT. This module
parses and builds exactly that, and recognises Telnet negotiation (port 23 carries
either the SSH forwarder or, worse, a Telnet server).

Identification exchange (RFC 4253 §4.2)::

    [ other lines CR LF ]*            the server may send text lines first
    SSH-protoversion-softwareversion[ SP comments] CR LF    at most 255 bytes with CR LF

Binary packet, before keys are set, so no MAC (RFC 4253 §6)::

    +-----------------+-------------+------------------+-------------------+
    | uint32          | byte        | byte[n]          | byte[p]           |
    | packet_length   | padding_len | payload          | random padding    |
    +-----------------+-------------+------------------+-------------------+
      n = packet_length - padding_len - 1;  p = padding_len >= 4;
      4 + packet_length is a multiple of 8 (the cipher block size before keys)

KEXINIT payload (RFC 4253 §7.1)::

    byte       20 = SSH_MSG_KEXINIT
    byte[16]   cookie (random)
    name-list  kex_algorithms
    name-list  server_host_key_algorithms
    name-list  encryption_algorithms_client_to_server
    name-list  encryption_algorithms_server_to_client
    name-list  mac_algorithms_client_to_server
    name-list  mac_algorithms_server_to_client
    name-list  compression_algorithms_client_to_server
    name-list  compression_algorithms_server_to_client
    name-list  languages_client_to_server
    name-list  languages_server_to_client
    boolean    first_kex_packet_follows
    uint32     0 (reserved)

    name-list = uint32 length + comma-separated US-ASCII names (RFC 4251 §5)

Contract: pure (no sockets, clocks or randomness: the cookie and the padding bytes
are arguments); every parser is capped; parsers raise only ``CodecError`` (or one of
its subclasses below) and say "need more data" by returning ``NEED_DATA``.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Literal

from porthole.codecs._errors import CodecError

__all__ = [
    "NEED_DATA",
    "NeedData",
    "MAX_IDENTIFICATION_LINE",
    "MAX_PREAMBLE_LINES",
    "MAX_PACKET_LENGTH",
    "MSG_DISCONNECT",
    "MSG_IGNORE",
    "MSG_DEBUG",
    "MSG_KEXINIT",
    "LineTooLongError",
    "NoIdentificationError",
    "Identification",
    "KexInit",
    "Disconnect",
    "TelnetOption",
    "parse_identification",
    "build_identification",
    "parse_packet",
    "build_packet",
    "message_type",
    "parse_kexinit",
    "build_kexinit",
    "parse_disconnect",
    "is_telnet_negotiation",
    "parse_telnet_negotiation",
]


class NeedData(enum.Enum):
    """The bytes so far are a valid prefix; feed more and call again."""

    NEED_DATA = "need-data"


NEED_DATA: Literal[NeedData.NEED_DATA] = NeedData.NEED_DATA

#: RFC 4253 §4.2: "The maximum length of the string is 255 characters, including the
#: Carriage Return and Line Feed." porthole applies the same cap to the lines before it.
MAX_IDENTIFICATION_LINE = 255
#: RFC 4253 §4.2 sets no number; ten lines is plenty for a real pre-banner (a legal
#: notice is sent later, as SSH_MSG_USERAUTH_BANNER) and bounds a chatty peer.
MAX_PREAMBLE_LINES = 10
#: RFC 4253 §6.1: implementations must handle 35000-byte packets. A KEXINIT is one to
#: two kilobytes, so a larger claim is a broken or hostile peer.
MAX_PACKET_LENGTH = 35000
#: RFC 4253 §6: at least four bytes of padding.
MIN_PADDING = 4
BLOCK_SIZE = 8
COOKIE_LENGTH = 16

MSG_DISCONNECT = 1
MSG_IGNORE = 2
MSG_DEBUG = 4
MSG_KEXINIT = 20

# RFC 4251 §6: names are printable US-ASCII without commas or whitespace.
_NAME_CHARACTERS = frozenset(range(0x21, 0x7F)) - {ord(",")}
_UINT32 = struct.Struct(">I")


class LineTooLongError(CodecError):
    """A line (before or as the identification) longer than 255 bytes."""


class NoIdentificationError(CodecError):
    """More lines than ``MAX_PREAMBLE_LINES`` arrived and none started with ``SSH-``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Identification:
    """The server's identification line, split per RFC 4253 §4.2.

    Text is kept printable: bytes that are not printable UTF-8 appear as ``\\xNN``
    escapes, so a hostile banner cannot drive the auditor's terminal.
    """

    #: the whole line without its CR LF
    line: str
    #: ``2.0``; ``1.99`` means the server also speaks SSH-1
    protocol_version: str
    software_version: str
    comments: str | None
    #: ``crlf`` as the RFC asks, or ``lf`` (seen on some servers, accepted)
    line_ending: Literal["crlf", "lf"]
    #: text lines the server sent before the identification line
    preamble: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class KexInit:
    """An SSH_MSG_KEXINIT, lists in the server's order of preference."""

    cookie: bytes
    kex_algorithms: tuple[str, ...]
    server_host_key_algorithms: tuple[str, ...]
    encryption_algorithms_client_to_server: tuple[str, ...]
    encryption_algorithms_server_to_client: tuple[str, ...]
    mac_algorithms_client_to_server: tuple[str, ...]
    mac_algorithms_server_to_client: tuple[str, ...]
    compression_algorithms_client_to_server: tuple[str, ...]
    compression_algorithms_server_to_client: tuple[str, ...]
    languages_client_to_server: tuple[str, ...] = ()
    languages_server_to_client: tuple[str, ...] = ()
    first_kex_packet_follows: bool = False
    reserved: int = 0


#: the ten name-list fields of ``KexInit``, in wire order
NAME_LIST_FIELDS: tuple[str, ...] = tuple(field.name for field in fields(KexInit) if field.name not in {"cookie", "first_kex_packet_follows", "reserved"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Disconnect:
    """SSH_MSG_DISCONNECT (RFC 4253 §11.1): why the server hung up."""

    reason_code: int
    description: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TelnetOption:
    """One Telnet negotiation (RFC 854): ``IAC <command> <option>``."""

    command: Literal["WILL", "WONT", "DO", "DONT"]
    option: int

    def __str__(self) -> str:
        name = _TELNET_OPTION_NAMES.get(self.option)
        return f"{self.command} {name or self.option}"


# --- identification ---------------------------------------------------------------


def parse_identification(data: bytes, *, max_preamble_lines: int = MAX_PREAMBLE_LINES) -> tuple[int, Identification] | NeedData:
    """Find the identification line at the start of ``data``.

    Returns ``(bytes consumed, Identification)``; the bytes after it (the start of
    the server's KEXINIT, often in the same segment) are the caller's. Raises
    ``LineTooLongError`` for a line over 255 bytes, ``NoIdentificationError`` after
    ``max_preamble_lines`` other lines, ``CodecError`` for a malformed ``SSH-`` line.
    """
    start = 0
    preamble: list[str] = []
    while True:
        end = data.find(b"\n", start, start + MAX_IDENTIFICATION_LINE)
        if end < 0:
            if len(data) - start >= MAX_IDENTIFICATION_LINE:
                raise LineTooLongError(f"no line end within {MAX_IDENTIFICATION_LINE} bytes (RFC 4253 §4.2 limit)", offset=start)
            return NEED_DATA
        raw = data[start:end]
        line_ending: Literal["crlf", "lf"] = "crlf" if raw.endswith(b"\r") else "lf"
        raw = raw.removesuffix(b"\r")
        if raw.startswith(b"SSH-"):
            return end + 1, _split_identification(raw, line_ending, tuple(preamble), offset=start)
        if len(preamble) >= max_preamble_lines:
            raise NoIdentificationError(f"{len(preamble) + 1} lines without an SSH- identification line", offset=start)
        preamble.append(_printable(raw))
        start = end + 1


def _split_identification(raw: bytes, line_ending: Literal["crlf", "lf"], preamble: tuple[str, ...], *, offset: int) -> Identification:
    body = raw[len(b"SSH-"):]
    protocol, dash, rest = body.partition(b"-")
    if not dash or not protocol or not all(byte in _NAME_CHARACTERS for byte in protocol):
        raise CodecError(f"identification line without a protocol version: {_printable(raw)[:80]!r}", offset=offset)
    software, space, comments = rest.partition(b" ")
    if not software:
        raise CodecError(f"identification line without a software version: {_printable(raw)[:80]!r}", offset=offset)
    return Identification(
        line=_printable(raw),
        protocol_version=protocol.decode("ascii"),
        # RFC 4253 forbids '-' and spaces in softwareversion, but real servers put
        # '-' there ("SSH-2.0-Cisco-1.25"); keep everything up to the first space.
        software_version=_printable(software),
        comments=_printable(comments) if space else None,
        line_ending=line_ending,
        preamble=preamble,
    )


def build_identification(software_version: str, comments: str | None = None) -> bytes:
    """``SSH-2.0-<software_version>[ <comments>]\\r\\n`` (RFC 4253 §4.2)."""
    if not software_version or not all(ord(ch) in _NAME_CHARACTERS and ch != "-" for ch in software_version):
        raise CodecError(f"software version {software_version!r} must be printable US-ASCII without '-' or spaces")
    line = f"SSH-2.0-{software_version}" + (f" {comments}" if comments else "")
    if not line.isascii() or not line.isprintable():
        raise CodecError("identification comments must be printable US-ASCII")
    encoded = line.encode("ascii") + b"\r\n"
    if len(encoded) > MAX_IDENTIFICATION_LINE:
        raise CodecError(f"identification line of {len(encoded)} bytes exceeds {MAX_IDENTIFICATION_LINE}")
    return encoded


# --- binary packets ---------------------------------------------------------------


def parse_packet(data: bytes, *, max_packet_length: int = MAX_PACKET_LENGTH) -> tuple[int, bytes] | NeedData:
    """One unencrypted binary packet at the start of ``data``: ``(consumed, payload)``.

    The length is checked as soon as its four bytes are in, so a peer that claims
    0xFFFFFFFF is refused before anything is buffered for it.
    """
    if len(data) < 4:
        return NEED_DATA
    (packet_length,) = _UINT32.unpack_from(data)
    if packet_length > max_packet_length:
        raise CodecError(f"packet length {packet_length} exceeds the {max_packet_length}-byte cap (RFC 4253 §6.1)", offset=0)
    if packet_length < 1 + MIN_PADDING + 1:
        raise CodecError(f"packet length {packet_length} leaves no room for padding and a payload", offset=0)
    if len(data) < 4 + packet_length:
        return NEED_DATA
    padding_length = data[4]
    if padding_length < MIN_PADDING or padding_length > packet_length - 2:
        raise CodecError(f"padding length {padding_length} invalid for a {packet_length}-byte packet (needs 4..{packet_length - 2})", offset=4)
    # The multiple-of-8 rule is not enforced: it says nothing about the algorithm
    # lists, and refusing a sloppy embedded stack would lose exactly the evidence
    # an auditor wants from it.
    payload = data[5 : 4 + packet_length - padding_length]
    return 4 + packet_length, payload


def build_packet(payload: bytes, *, padding: Callable[[int], bytes] = bytes) -> bytes:
    """Frame ``payload``; ``padding(n)`` returns n padding bytes (callers pass ``os.urandom``).

    The padding is the smallest that is at least 4 bytes and makes the packet a
    multiple of 8 bytes (nmap's ``transport.build`` does the same).
    """
    padding_length = BLOCK_SIZE - (4 + 1 + len(payload)) % BLOCK_SIZE
    if padding_length < MIN_PADDING:
        padding_length += BLOCK_SIZE
    padding_bytes = padding(padding_length)
    if len(padding_bytes) != padding_length:
        raise CodecError(f"padding source returned {len(padding_bytes)} bytes, {padding_length} needed")
    packet_length = 1 + len(payload) + padding_length
    if packet_length > MAX_PACKET_LENGTH:
        raise CodecError(f"payload of {len(payload)} bytes exceeds the packet cap")
    return _UINT32.pack(packet_length) + bytes([padding_length]) + payload + padding_bytes


def message_type(payload: bytes) -> int:
    """The message number (first byte) of a packet payload."""
    if not payload:
        raise CodecError("empty packet payload", offset=0)
    return payload[0]


# --- KEXINIT ----------------------------------------------------------------------


def parse_kexinit(payload: bytes) -> KexInit:
    """Parse an SSH_MSG_KEXINIT payload (RFC 4253 §7.1).

    Bytes after the reserved field are ignored: they say nothing about the lists,
    and a lenient parse keeps the evidence of a sloppy stack.
    """
    kind = message_type(payload)
    if kind != MSG_KEXINIT:
        raise CodecError(f"expected SSH_MSG_KEXINIT (20), got message {kind}", offset=0)
    offset = 1
    if len(payload) < offset + COOKIE_LENGTH:
        raise CodecError("KEXINIT shorter than its 16-byte cookie", offset=offset)
    cookie = payload[offset : offset + COOKIE_LENGTH]
    offset += COOKIE_LENGTH
    lists: dict[str, tuple[str, ...]] = {}
    for name in NAME_LIST_FIELDS:
        lists[name], offset = _pull_name_list(payload, offset, name)
    if len(payload) < offset + 5:
        raise CodecError("KEXINIT ends before first_kex_packet_follows and the reserved field", offset=offset)
    first_kex_packet_follows = payload[offset] != 0
    (reserved,) = _UINT32.unpack_from(payload, offset + 1)
    return KexInit(cookie=cookie, **lists, first_kex_packet_follows=first_kex_packet_follows, reserved=reserved)


def build_kexinit(kexinit: KexInit) -> bytes:
    """The KEXINIT payload for ``kexinit`` (for the client KEXINIT porthole may send)."""
    if len(kexinit.cookie) != COOKIE_LENGTH:
        raise CodecError(f"KEXINIT cookie must be {COOKIE_LENGTH} bytes, got {len(kexinit.cookie)}")
    parts = [bytes([MSG_KEXINIT]), kexinit.cookie]
    for name in NAME_LIST_FIELDS:
        parts.append(_name_list(getattr(kexinit, name), name))
    parts.append(bytes([1 if kexinit.first_kex_packet_follows else 0]))
    parts.append(_UINT32.pack(kexinit.reserved))
    return b"".join(parts)


def _pull_name_list(payload: bytes, offset: int, field_name: str) -> tuple[tuple[str, ...], int]:
    if len(payload) < offset + 4:
        raise CodecError(f"KEXINIT ends before the length of {field_name}", offset=offset)
    (length,) = _UINT32.unpack_from(payload, offset)
    start = offset + 4
    if length > len(payload) - start:
        raise CodecError(f"{field_name} claims {length} bytes but only {len(payload) - start} remain in the packet", offset=offset)
    raw = payload[start : start + length]
    if not raw:
        return (), start + length
    names = raw.split(b",")
    for position, name in enumerate(names):
        if not name or not all(byte in _NAME_CHARACTERS for byte in name):
            raise CodecError(f"{field_name} entry {position + 1} is not a valid algorithm name: {_printable(name)[:64]!r}", offset=start)
    return tuple(name.decode("ascii") for name in names), start + length


def _name_list(names: tuple[str, ...], field_name: str) -> bytes:
    for name in names:
        if not name or not name.isascii() or not all(ord(ch) in _NAME_CHARACTERS for ch in name):
            raise CodecError(f"{field_name}: {name!r} is not a valid algorithm name")
    encoded = ",".join(names).encode("ascii")
    return _UINT32.pack(len(encoded)) + encoded


# --- disconnect -------------------------------------------------------------------


def parse_disconnect(payload: bytes) -> Disconnect:
    """SSH_MSG_DISCONNECT: ``byte 1, uint32 reason, string description, string language``."""
    if message_type(payload) != MSG_DISCONNECT or len(payload) < 9:
        raise CodecError("not a complete SSH_MSG_DISCONNECT", offset=0)
    (reason_code,) = _UINT32.unpack_from(payload, 1)
    (length,) = _UINT32.unpack_from(payload, 5)
    if length > len(payload) - 9:
        raise CodecError(f"disconnect description claims {length} bytes, {len(payload) - 9} remain", offset=5)
    return Disconnect(reason_code=reason_code, description=_printable(payload[9 : 9 + length]))


# --- Telnet -----------------------------------------------------------------------

_IAC = 0xFF
_TELNET_COMMANDS: dict[int, Literal["WILL", "WONT", "DO", "DONT"]] = {0xFB: "WILL", 0xFC: "WONT", 0xFD: "DO", 0xFE: "DONT"}
# RFC 857 (ECHO), 858 (SUPPRESS-GO-AHEAD), 859 (STATUS), 1091 (TERMINAL-TYPE),
# 1073 (NAWS), 1079 (TERMINAL-SPEED), 1372 (LINEMODE), 1572 (NEW-ENVIRON)
_TELNET_OPTION_NAMES = {1: "ECHO", 3: "SUPPRESS-GO-AHEAD", 5: "STATUS", 24: "TERMINAL-TYPE", 31: "NAWS", 32: "TERMINAL-SPEED", 34: "LINEMODE", 39: "NEW-ENVIRON"}
#: a Telnet server opens with a handful of negotiations; more than this is not one
MAX_TELNET_OPTIONS = 64


def is_telnet_negotiation(data: bytes) -> bool:
    """Whether ``data`` opens with a Telnet option negotiation (``FF FB..FE``)."""
    return len(data) >= 2 and data[0] == _IAC and data[1] in _TELNET_COMMANDS


def parse_telnet_negotiation(data: bytes) -> tuple[TelnetOption, ...]:
    """The ``IAC WILL/WONT/DO/DONT <option>`` triples at the start of ``data``.

    Stops at the first byte that is not such a triple (text, a subnegotiation, a
    truncated triple) and at ``MAX_TELNET_OPTIONS``.
    """
    if not is_telnet_negotiation(data):
        raise CodecError("data does not open with a Telnet IAC negotiation", offset=0)
    options: list[TelnetOption] = []
    offset = 0
    while offset + 3 <= len(data) and len(options) < MAX_TELNET_OPTIONS:
        if data[offset] != _IAC or data[offset + 1] not in _TELNET_COMMANDS:
            break
        options.append(TelnetOption(command=_TELNET_COMMANDS[data[offset + 1]], option=data[offset + 2]))
        offset += 3
    return tuple(options)


# --- helpers ----------------------------------------------------------------------


def _printable(raw: bytes) -> str:
    """UTF-8 text with every non-printable character shown as an escape."""
    text = raw.decode("utf-8", errors="backslashreplace")
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)
