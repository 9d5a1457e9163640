"""What a server says before it is asked: which protocol its first bytes open, and a safe preview.

The generic banner grab (nmap's "NULL probe") connects, sends nothing and reads what
the peer volunteers. This module judges those bytes and nothing else: it is pure (no
socket, clock or randomness) and never raises, whatever the bytes.

Signatures are matched on the *first* bytes only, as a table (``SIGNATURES``), in
order; the first row that matches names the protocol. Only protocols whose server
speaks first are worth a row: an HTTP or Modbus server waits for a request, so its
silence is the expected answer to a banner grab, not a signature.

    protocol      first bytes                         reference
    ssh           "SSH-" (at a line start)            RFC 4253 §4.2 identification string; other
                                                      lines may precede it
    http          "HTTP/"                             RFC 9112 §4 status line (unasked: odd, but seen)
    tls           16|15 03 00..04                     RFC 8446 §5.1 record: handshake/alert, legacy version 3.x
    telnet        FF FB..FE                           RFC 854 IAC WILL/WONT/DO/DONT option negotiation
    smtp          "220" + line naming SMTP            RFC 5321 §4.2 greeting
    ftp           "220" + line naming FTP             RFC 959 §4.2 reply 220 "service ready"
    smtp-or-ftp   "220 " / "220-"                     either; the line does not say which
    pop3          "+OK"                               RFC 1939 §4 greeting
    imap          "* OK" / "* PREAUTH"                RFC 9051 §7.1 greeting
    vnc           "RFB 003."                          RFC 6143 §7.1.1 ProtocolVersion

``preview`` renders bytes for a report or a terminal: printable ASCII as is, every
other byte escaped (``\\r``, ``\\n``, ``\\t``, ``\\\\``, ``\\xNN``), so a device cannot put
control sequences into the auditor's terminal or a line break into a table cell.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Signature", "SIGNATURES", "identify", "find_ssh_identification", "first_line", "preview"]

_ESCAPES = {0x5C: "\\\\", 0x0D: "\\r", 0x0A: "\\n", 0x09: "\\t"}
_SMTP_WORD = re.compile(rb"\bE?SMTP\b", re.IGNORECASE)
_FTP_WORD = re.compile(rb"FTP", re.IGNORECASE)
#: how far into the first line a 220 greeting is searched for "SMTP" / "FTP"
_GREETING_SCAN = 512
#: how far an SSH identification line is looked for behind other lines (RFC 4253 §4.2
#: bounds neither; OpenSSH's client gives up after 1024 lines, a grab reads 4 KiB)
_SSH_SCAN = 8192


@dataclass(frozen=True, slots=True, kw_only=True)
class Signature:
    """One row of the signature table: a protocol and how its first bytes look."""

    protocol: str
    #: what the bytes are, for a summary line ("TLS record", "telnet option negotiation")
    label: str
    #: whether the protocol's greeting is a text line worth quoting in a summary
    textual: bool
    reference: str
    matches: Callable[[bytes], bool]


def _starts_with(*prefixes: bytes) -> Callable[[bytes], bool]:
    return lambda data: data.startswith(prefixes)


def find_ssh_identification(data: bytes) -> int | None:
    """Offset of the ``SSH-`` identification line, which may follow other lines; else ``None``."""
    if data.startswith(b"SSH-"):
        return 0
    index = data.find(b"\nSSH-", 0, _SSH_SCAN)
    return None if index < 0 else index + 1


def _tls_record(data: bytes) -> bool:
    # content type handshake (22) or alert (21), then legacy_record_version 3.0-3.4
    return len(data) >= 3 and data[0] in (0x15, 0x16) and data[1] == 0x03 and data[2] <= 0x04


def _telnet_negotiation(data: bytes) -> bool:
    return len(data) >= 2 and data[0] == 0xFF and 0xFB <= data[1] <= 0xFE


def _greeting_220(data: bytes) -> bool:
    return data.startswith((b"220 ", b"220-"))


def _greeting_naming(word: re.Pattern[bytes]) -> Callable[[bytes], bool]:
    def matches(data: bytes) -> bool:
        line, _complete = first_line(data, _GREETING_SCAN)
        return _greeting_220(data) and word.search(line) is not None

    return matches


SIGNATURES: tuple[Signature, ...] = (
    Signature(protocol="ssh", label="SSH identification", textual=True, reference="RFC 4253 §4.2", matches=lambda data: find_ssh_identification(data) is not None),
    Signature(protocol="http", label="HTTP response", textual=True, reference="RFC 9112 §4", matches=_starts_with(b"HTTP/")),
    Signature(protocol="tls", label="TLS record", textual=False, reference="RFC 8446 §5.1", matches=_tls_record),
    Signature(protocol="telnet", label="telnet option negotiation", textual=False, reference="RFC 854", matches=_telnet_negotiation),
    Signature(protocol="smtp", label="SMTP greeting", textual=True, reference="RFC 5321 §4.2", matches=_greeting_naming(_SMTP_WORD)),
    Signature(protocol="ftp", label="FTP greeting", textual=True, reference="RFC 959 §4.2", matches=_greeting_naming(_FTP_WORD)),
    Signature(protocol="smtp-or-ftp", label="220 greeting", textual=True, reference="RFC 5321 §4.2 / RFC 959 §4.2", matches=_greeting_220),
    Signature(protocol="pop3", label="POP3 greeting", textual=True, reference="RFC 1939 §4", matches=_starts_with(b"+OK")),
    Signature(protocol="imap", label="IMAP greeting", textual=True, reference="RFC 9051 §7.1", matches=_starts_with(b"* OK", b"* PREAUTH")),
    Signature(protocol="vnc", label="VNC (RFB) version", textual=True, reference="RFC 6143 §7.1.1", matches=_starts_with(b"RFB 003.")),
)


def identify(data: bytes) -> Signature | None:
    """The first signature that ``data`` (the peer's first bytes) matches, or ``None``."""
    return next((signature for signature in SIGNATURES if signature.matches(data)), None)


def first_line(data: bytes, limit: int) -> tuple[bytes, bool]:
    """The bytes before the first LF (a trailing CR dropped), at most ``limit`` of them.

    Returns ``(line, complete)``: ``complete`` is false when no LF came within ``limit``
    bytes (a banner without a newline, or one cut short), so a caller can say so.
    """
    end = data.find(b"\n", 0, limit)
    if end < 0:
        return data[:limit], False
    line = data[:end]
    return (line[:-1] if line.endswith(b"\r") else line), True


def preview(data: bytes) -> str:
    """``data`` as printable ASCII, every other byte escaped; one line, always safe to print."""
    return "".join(_ESCAPES.get(byte) or (chr(byte) if 0x20 <= byte < 0x7F else f"\\x{byte:02x}") for byte in data)
