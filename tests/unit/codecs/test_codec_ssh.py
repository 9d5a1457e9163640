"""The SSH codec on recorded OpenSSH bytes and hand-made hostile input.

Every stream parser runs three ways (h11's style): the whole input, byte by byte
(NEED_DATA until the last byte) and with trailing bytes (left unconsumed).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from porthole.codecs import CodecError
from porthole.codecs import ssh

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "wire" / "ssh"


def recorded(name: str) -> tuple[bytes, dict]:
    data = (FIXTURES / f"{name}.bin").read_bytes()
    expected = json.loads((FIXTURES / f"{name}.expected.json").read_text())
    return data, expected


def feed_byte_by_byte(parse, data: bytes):
    """Call ``parse`` on every prefix; all but the full input must say NEED_DATA."""
    for end in range(len(data)):
        assert parse(data[:end]) is ssh.NEED_DATA, f"parsed early at {end} of {len(data)} bytes"
    return parse(data)


def simple_kexinit(**overrides) -> ssh.KexInit:
    lists = dict(
        cookie=bytes(range(16)),
        kex_algorithms=("curve25519-sha256", "diffie-hellman-group14-sha1"),
        server_host_key_algorithms=("ssh-ed25519",),
        encryption_algorithms_client_to_server=("aes128-ctr",),
        encryption_algorithms_server_to_client=("aes256-ctr", "3des-cbc"),
        mac_algorithms_client_to_server=("hmac-sha2-256",),
        mac_algorithms_server_to_client=("hmac-sha1",),
        compression_algorithms_client_to_server=("none",),
        compression_algorithms_server_to_client=("none", "zlib"),
    )
    lists.update(overrides)
    return ssh.KexInit(**lists)


# --- recorded OpenSSH 9.2 (Debian 12) -----------------------------------------------


def test_recorded_openssh_identification_and_kexinit_parse_to_the_recorded_facts() -> None:
    # Given the bytes a real OpenSSH 9.2 sent: its identification line, then its KEXINIT
    data, expected = recorded("openssh-9.2-kexinit")
    # When the line and the packet after it are parsed
    consumed, identification = ssh.parse_identification(data)
    packet_consumed, payload = ssh.parse_packet(data[consumed:])
    kexinit = ssh.parse_kexinit(payload)
    # Then every field matches the sidecar, and the packet ends exactly at the recording's end
    assert identification.line == expected["identification"]["line"]
    assert identification.software_version == expected["identification"]["software_version"]
    assert identification.comments == expected["identification"]["comments"]
    assert identification.line_ending == "crlf"
    assert consumed + packet_consumed == len(data)
    for name in ssh.NAME_LIST_FIELDS:
        assert list(getattr(kexinit, name)) == expected["kexinit"][name], name
    assert kexinit.first_kex_packet_follows is False and kexinit.reserved == 0


def test_recorded_kexinit_rebuilds_byte_for_byte() -> None:
    # Given the recorded KEXINIT payload
    data, _ = recorded("openssh-9.2-kexinit")
    consumed, _ = ssh.parse_identification(data)
    _, payload = ssh.parse_packet(data[consumed:])
    # When it is parsed and built again
    rebuilt = ssh.build_kexinit(ssh.parse_kexinit(payload))
    # Then the bytes are the server's own
    assert rebuilt == payload


def test_recorded_bytes_fed_one_at_a_time_need_data_until_complete() -> None:
    # Given the recording split into single bytes
    data, expected = recorded("openssh-9.2-kexinit")
    # When the identification parser sees each prefix
    consumed, identification = feed_byte_by_byte(ssh.parse_identification, data[: data.index(b"\n") + 1])
    # Then it only answers once the line end arrived, and the packet parser likewise
    assert identification.line == expected["identification"]["line"]
    packet = data[consumed:]
    packet_consumed, payload = feed_byte_by_byte(ssh.parse_packet, packet)
    assert packet_consumed == len(packet) and payload[0] == ssh.MSG_KEXINIT


def test_recorded_bytes_with_trailing_bytes_leave_them_unconsumed() -> None:
    # Given the recording followed by the start of another packet
    data, _ = recorded("openssh-9.2-kexinit")
    trailing = b"\x00\x00\x00\x0c\x0a"
    # When both parsers run
    consumed, _ = ssh.parse_identification(data + trailing)
    packet_consumed, _ = ssh.parse_packet(data[consumed:] + trailing)
    # Then they consume exactly their own bytes
    assert consumed + packet_consumed == len(data)


# --- identification line ------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "protocol", "software", "comments", "ending"),
    [
        (b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u7\r\n", "2.0", "OpenSSH_9.2p1", "Debian-2+deb12u7", "crlf"),
        (b"SSH-2.0-dropbear_2022.83\n", "2.0", "dropbear_2022.83", None, "lf"),
        (b"SSH-1.99-Cisco-1.25\r\n", "1.99", "Cisco-1.25", None, "crlf"),
        (b"SSH-2.0-x with  two spaces\r\n", "2.0", "x", "with  two spaces", "crlf"),
    ],
)
def test_identification_line_splits_into_its_rfc_4253_parts(line: bytes, protocol: str, software: str, comments: str | None, ending: str) -> None:
    # Given an identification line as real servers send them (CR LF or LF only)
    # When it is parsed
    consumed, identification = ssh.parse_identification(line)
    # Then protocol, software and comments are split at the first '-' and first space
    assert (identification.protocol_version, identification.software_version, identification.comments, identification.line_ending) == (protocol, software, comments, ending)
    assert consumed == len(line)


def test_lines_before_the_identification_are_kept_as_preamble() -> None:
    # Given a server that greets with text before its SSH- line (RFC 4253 §4.2 allows it)
    data = b"Welcome to unit 7\r\nauthorised use only\n" + b"SSH-2.0-X\r\n"
    # When parsed
    _, identification = ssh.parse_identification(data)
    # Then the text lines are the preamble, in order
    assert identification.preamble == ("Welcome to unit 7", "authorised use only")


def test_a_line_of_exactly_255_bytes_is_accepted_and_256_is_refused() -> None:
    # Given lines at and one past the RFC's 255-byte limit (CR LF included)
    at_limit = b"SSH-2.0-" + b"a" * (255 - 10) + b"\r\n"
    over_limit = b"SSH-2.0-" + b"a" * (256 - 10) + b"\r\n"
    assert len(at_limit) == 255 and len(over_limit) == 256
    # When parsed / Then the first passes and the second is refused as too long
    assert ssh.parse_identification(at_limit)[0] == 255
    with pytest.raises(ssh.LineTooLongError):
        ssh.parse_identification(over_limit)


def test_a_huge_banner_without_newline_is_refused_after_255_bytes() -> None:
    # Given 10 MB without a line end
    data = b"A" * 10_000_000
    # When parsed / Then the codec refuses it, pointing at the start of the line
    with pytest.raises(ssh.LineTooLongError) as caught:
        ssh.parse_identification(data)
    assert caught.value.offset == 0
    # and 254 bytes without a line end are still only a prefix
    assert ssh.parse_identification(b"A" * 254) is ssh.NEED_DATA


def test_more_than_ten_lines_without_an_identification_are_refused() -> None:
    # Given an HTTP server answering on the SSH port
    data = b"HTTP/1.1 400 Bad Request\r\n" + b"X-Header: y\r\n" * 10
    # When parsed / Then the eleventh non-SSH line ends the search
    with pytest.raises(ssh.NoIdentificationError):
        ssh.parse_identification(data)
    # and ten lines followed by an SSH line are fine
    assert ssh.parse_identification(b"x\r\n" * 10 + b"SSH-2.0-X\r\n")[1].software_version == "X"


@pytest.mark.parametrize("line", [b"SSH-\r\n", b"SSH-2.0\r\n", b"SSH-2.0-\r\n", b"SSH--X\r\n", b"SSH-2 0-X\r\n"])
def test_malformed_identification_lines_raise_codec_error(line: bytes) -> None:
    # Given SSH- lines missing a protocol or software version
    # When parsed / Then CodecError, not an exception of another kind
    with pytest.raises(CodecError):
        ssh.parse_identification(line)


def test_control_characters_in_a_banner_are_escaped() -> None:
    # Given a banner carrying a terminal escape sequence and invalid UTF-8
    data = b"\x1b[2J evil\xff\r\nSSH-2.0-X \x1b]0;title\x07\r\n"
    # When parsed
    _, identification = ssh.parse_identification(data)
    # Then nothing non-printable survives into the text fields
    assert identification.preamble == ("\\x1b[2J evil\\xff",)
    assert identification.comments == "\\x1b]0;title\\x07"


def test_build_identification_makes_porthole_line() -> None:
    # Given porthole's software version / When built / Then it is an RFC 4253 line
    assert ssh.build_identification("porthole_0.1.0") == b"SSH-2.0-porthole_0.1.0\r\n"
    with pytest.raises(CodecError):
        ssh.build_identification("porthole-0.1")


# --- binary packet ------------------------------------------------------------------


def test_build_packet_pads_to_a_multiple_of_eight_with_at_least_four_bytes() -> None:
    # Given payloads of every length modulo 8
    for length in range(1, 17):
        payload = bytes([ssh.MSG_IGNORE]) + b"x" * (length - 1)
        # When framed with zero padding
        packet = ssh.build_packet(payload)
        # Then the frame is a multiple of 8, padding is 4..11 bytes, and it parses back
        assert len(packet) % 8 == 0 and 4 <= packet[4] <= 11
        assert ssh.parse_packet(packet) == (len(packet), payload)


def test_build_packet_uses_the_given_padding_source() -> None:
    # Given a padding source (the probe passes os.urandom)
    packet = ssh.build_packet(b"\x02abc", padding=lambda n: b"\xaa" * n)
    # Then the padding bytes are its bytes
    assert packet.endswith(b"\xaa" * packet[4])


def test_bogus_packet_length_is_refused_from_its_four_bytes() -> None:
    # Given a peer claiming a 4 GiB packet
    # When only the length has arrived / Then the codec refuses at once instead of waiting for 4 GiB
    with pytest.raises(CodecError, match="exceeds"):
        ssh.parse_packet(b"\xff\xff\xff\xff")


@pytest.mark.parametrize(
    "data",
    [
        struct.pack(">IB", 5, 4) + b"\x14" + bytes(3),  # too short for padding + payload
        struct.pack(">IB", 12, 3) + bytes(11),  # padding below the RFC's minimum of 4
        struct.pack(">IB", 12, 11) + bytes(11),  # padding leaves no payload byte
    ],
)
def test_packets_with_impossible_padding_are_refused(data: bytes) -> None:
    with pytest.raises(CodecError):
        ssh.parse_packet(data)


# --- KEXINIT ------------------------------------------------------------------------


def test_kexinit_round_trips_through_build_and_parse() -> None:
    # Given a KEXINIT with different lists per direction and an empty language list
    kexinit = simple_kexinit(first_kex_packet_follows=True)
    # When built and parsed / Then it is the same value
    assert ssh.parse_kexinit(ssh.build_kexinit(kexinit)) == kexinit


def test_name_list_longer_than_the_packet_is_refused() -> None:
    # Given a KEXINIT whose kex list claims more bytes than the payload holds
    payload = bytes([ssh.MSG_KEXINIT]) + bytes(16) + struct.pack(">I", 5000) + b"curve25519-sha256"
    # When parsed / Then CodecError names the list
    with pytest.raises(CodecError, match="kex_algorithms claims 5000 bytes"):
        ssh.parse_kexinit(payload)


@pytest.mark.parametrize("names", [b"a,,b", b",a", b"a,", b"a b", b"a\x00b", b"\xc3\xa9"])
def test_name_lists_with_empty_or_non_ascii_names_are_refused(names: bytes) -> None:
    payload = bytes([ssh.MSG_KEXINIT]) + bytes(16) + struct.pack(">I", len(names)) + names
    with pytest.raises(CodecError, match="kex_algorithms entry"):
        ssh.parse_kexinit(payload)


def test_truncated_kexinit_is_refused() -> None:
    # Given a valid KEXINIT cut before its last fields
    payload = ssh.build_kexinit(simple_kexinit())
    # When any proper prefix is parsed / Then CodecError (never IndexError or struct.error)
    for end in range(len(payload)):
        with pytest.raises(CodecError):
            ssh.parse_kexinit(payload[:end])


def test_a_different_message_is_not_taken_for_a_kexinit() -> None:
    with pytest.raises(CodecError, match="got message 2"):
        ssh.parse_kexinit(b"\x02hello")


def test_disconnect_reason_is_decoded() -> None:
    # Given SSH_MSG_DISCONNECT "too many connections" (reason 2, protocol error)
    description = b"Too many connections"
    payload = bytes([ssh.MSG_DISCONNECT]) + struct.pack(">II", 2, len(description)) + description + struct.pack(">I", 0)
    # When parsed / Then reason and text are available for the evidence
    assert ssh.parse_disconnect(payload) == ssh.Disconnect(reason_code=2, description="Too many connections")


# --- Telnet -------------------------------------------------------------------------


def test_telnet_negotiation_is_recognised_and_named() -> None:
    # Given what a busybox telnetd sends first: DO ECHO? WILL ECHO, WILL SGA, DO NAWS, then text
    data = b"\xff\xfb\x01\xff\xfb\x03\xff\xfd\x1f\xff\xfd\x63login: "
    # When checked and parsed
    options = ssh.parse_telnet_negotiation(data)
    # Then each triple is named, unknown options by number
    assert ssh.is_telnet_negotiation(data)
    assert [str(option) for option in options] == ["WILL ECHO", "WILL SUPPRESS-GO-AHEAD", "DO NAWS", "DO 99"]


def test_ssh_and_garbage_are_not_telnet() -> None:
    assert not ssh.is_telnet_negotiation(b"SSH-2.0-X\r\n")
    assert not ssh.is_telnet_negotiation(b"\xff")
    assert not ssh.is_telnet_negotiation(b"\xff\x00")
    with pytest.raises(CodecError):
        ssh.parse_telnet_negotiation(b"SSH-")


# --- fuzz: garbage only ever raises CodecError --------------------------------------


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600))
def test_identification_parser_on_garbage_returns_or_raises_codec_error(data: bytes) -> None:
    try:
        result = ssh.parse_identification(data)
    except CodecError:
        return
    assert result is ssh.NEED_DATA or result[0] <= len(data)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_packet_and_kexinit_parsers_on_garbage_return_or_raise_codec_error(data: bytes) -> None:
    for parse in (ssh.parse_packet, ssh.parse_kexinit, ssh.parse_disconnect, ssh.parse_telnet_negotiation):
        try:
            parse(data)
        except CodecError:
            pass


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_recorded_kexinit_only_ever_raises_codec_error(data: st.DataObject) -> None:
    # Given the recorded KEXINIT payload with a few bytes overwritten
    raw, _ = recorded("openssh-9.2-kexinit")
    consumed, _ = ssh.parse_identification(raw)
    _, payload = ssh.parse_packet(raw[consumed:])
    mutated = bytearray(payload)
    for _ in range(data.draw(st.integers(1, 4))):
        mutated[data.draw(st.integers(0, len(mutated) - 1))] = data.draw(st.integers(0, 255))
    # When parsed / Then a value or CodecError, nothing else
    try:
        ssh.parse_kexinit(bytes(mutated))
    except CodecError:
        pass


def test_recorded_kexinit_lists_agree_with_paramikos_independent_parser() -> None:
    # Given the recorded payload and paramiko's own message reader as an oracle
    import paramiko

    raw, _ = recorded("openssh-9.2-kexinit")
    consumed, _ = ssh.parse_identification(raw)
    _, payload = ssh.parse_packet(raw[consumed:])
    message = paramiko.Message(payload)
    assert message.get_byte() == bytes([ssh.MSG_KEXINIT])
    message.get_bytes(16)
    # (paramiko reads an empty name-list as [""])
    oracle = [tuple(name for name in message.get_list() if name) for _ in ssh.NAME_LIST_FIELDS]
    # When porthole parses the same payload
    kexinit = ssh.parse_kexinit(payload)
    # Then all ten lists are the same, in the same order
    assert [getattr(kexinit, name) for name in ssh.NAME_LIST_FIELDS] == oracle
    assert kexinit.first_kex_packet_follows == message.get_boolean()
