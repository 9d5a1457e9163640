"""porthole.codecs.banner: protocol signatures of a server's first bytes, and a terminal-safe preview.

The SSH case uses bytes recorded from the real OpenSSH 9.2 server (identification line
then KEXINIT, exactly what it sends unasked); the others are the greetings the cited
RFCs define.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from porthole.codecs.banner import SIGNATURES, find_ssh_identification, first_line, identify, preview

OPENSSH = (Path(__file__).parents[2] / "fixtures" / "wire" / "ssh" / "openssh-9.2-kexinit.bin").read_bytes()

GREETINGS = [
    (OPENSSH, "ssh"),
    (b"SSH-2.0-dropbear_2022.83\r\n", "ssh"),
    (b"Welcome to the service port\r\nSSH-2.0-OpenSSH_8.4\r\n", "ssh"),
    (b"HTTP/1.0 400 Bad Request\r\n\r\n", "http"),
    (bytes.fromhex("160303007a020000760303") + bytes(32), "tls"),
    (bytes.fromhex("15030300020228"), "tls"),
    (bytes.fromhex("fffd18fffd20fffd23fffd27"), "telnet"),
    (b"220 mail.example.org ESMTP Postfix (Debian/GNU)\r\n", "smtp"),
    (b"220-smtp.example.org ESMTP ready\r\n220 go ahead\r\n", "smtp"),
    (b"220 (vsFTPd 3.0.3)\r\n", "ftp"),
    (b"220 ProFTPD Server (Debian) [::ffff:198.18.0.14]\r\n", "ftp"),
    (b"220 Service ready\r\n", "smtp-or-ftp"),
    (b"+OK Dovecot ready.\r\n", "pop3"),
    (b"* OK [CAPABILITY IMAP4rev1] ready\r\n", "imap"),
    (b"RFB 003.008\n", "vnc"),
]


@pytest.mark.parametrize(("data", "protocol"), GREETINGS)
def test_greetings_are_recognised_whole_and_with_trailing_bytes(data: bytes, protocol: str) -> None:
    # Given a server's first bytes, When they are identified, alone or followed by more
    for sample in (data, data + b"\x00garbage\xff" * 3):
        signature = identify(sample)
        # Then the protocol is the one its RFC greeting names
        assert signature is not None and signature.protocol == protocol


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"SS",  # too short to say
        b"ssh-2.0-lowercase\r\n",
        b"HTTP",
        bytes.fromhex("1703"),  # a TLS record header cut before the minor version
        bytes.fromhex("160205"),  # SSL 2-era major version
        b"\xff\xf0",  # IAC SE: not a negotiation opener
        b"2200 not a reply code\r\n",
        b"AAAAAAAAAAAAAAAA",
        b"login: ",
    ],
)
def test_bytes_that_open_no_known_protocol_are_not_recognised(data: bytes) -> None:
    assert identify(data) is None


def test_a_recorded_openssh_greeting_is_found_at_offset_zero_and_behind_other_lines() -> None:
    assert find_ssh_identification(OPENSSH) == 0
    assert find_ssh_identification(b"hello\r\nworld\r\n" + OPENSSH) == len(b"hello\r\nworld\r\n")
    assert find_ssh_identification(b"no identification here\r\n") is None


def test_every_signature_names_its_reference_and_a_label() -> None:
    assert len({signature.protocol for signature in SIGNATURES}) == len(SIGNATURES)
    assert all(signature.reference and signature.label for signature in SIGNATURES)


@pytest.mark.parametrize(
    ("data", "limit", "expected"),
    [
        (OPENSSH, 255, (b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10", True)),
        (b"220 ready\nnext", 255, (b"220 ready", True)),
        (b"no newline at all", 255, (b"no newline at all", False)),
        (b"A" * 300 + b"\n", 255, (b"A" * 255, False)),
        (b"\r\n", 255, (b"", True)),
    ],
)
def test_first_line_drops_the_line_end_and_says_whether_it_was_complete(data: bytes, limit: int, expected: tuple[bytes, bool]) -> None:
    assert first_line(data, limit) == expected


def test_preview_escapes_every_byte_a_terminal_would_act_on() -> None:
    # Given a banner carrying an ANSI colour sequence, line ends, a NUL, a backslash and high bytes
    data = b"220 \x1b[31mred\x1b[0m\\ok\r\n\t\x00\xff\xc3\xa9"
    # Then the preview is one line of printable ASCII that still shows every byte
    assert preview(data) == "220 \\x1b[31mred\\x1b[0m\\\\ok\\r\\n\\t\\x00\\xff\\xc3\\xa9"


@given(st.binary(max_size=2048))
def test_any_bytes_are_judged_without_raising_and_preview_stays_printable(data: bytes) -> None:
    signature = identify(data)
    assert signature is None or signature in SIGNATURES
    line, complete = first_line(data, 255)
    assert len(line) <= 255 and (b"\n" in data[:256]) >= complete
    rendered = preview(data)
    assert all(0x20 <= ord(character) < 0x7F for character in rendered)


@given(st.binary(max_size=512))
def test_preview_is_lossless_for_printable_ascii(data: bytes) -> None:
    printable = bytes(byte for byte in data if 0x20 <= byte < 0x7F and byte != 0x5C)
    assert preview(printable) == printable.decode("ascii")
