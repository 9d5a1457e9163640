"""The SSH probe against a real OpenSSH on loopback and against hostile peers.

The real server is /usr/sbin/sshd (Debian's OpenSSH), started per test on 127.0.0.1
with a config written here; ``sshd -T`` on the same config is the independent oracle
for the algorithm lists. Hostile peers are small asyncio servers that send what a
broken or malicious device might. Phase waits are shortened (a subclass and small
``ProbeLimits``) so stalls cost fractions of a second; no test asserts a duration.
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import subprocess
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from ipaddress import ip_address
from pathlib import Path

import paramiko
import pytest

from lab.services._common import ServiceContext
from lab.services.hostile import Misbehaviour, Options, serve as serve_hostile
from porthole.codecs import ssh as codec
from porthole.model import PortObservation, PortState, Protocol, Reason
from porthole.services.base import ProbeContext, ProbeFailure, ProbeLimits
from porthole.services.ssh import SshProbe
from porthole.targets import Target

SSHD = "/usr/sbin/sshd"
FAST_LIMITS = ProbeLimits(first_byte=1.0, between_chunks=0.5)


class QuickSshProbe(SshProbe):
    """The real probe with short phase waits, so stalling peers keep the suite fast."""

    kexinit_wait = 0.3
    auth_wait = 4.0


class Paces:
    """Counts the probe's paced connection starts (the engine's pacing hook)."""

    def __init__(self) -> None:
        self.count = 0

    async def __call__(self) -> None:
        self.count += 1


def context_for(port: int, paces: Paces | None = None) -> ProbeContext:
    observation = PortObservation(port=port, protocol=Protocol.TCP, state=PortState.OPEN, reason=Reason.SYN_ACK, service="ssh")
    return ProbeContext(
        target=Target(address=ip_address("127.0.0.1"), spec="127.0.0.1"),
        observation=observation,
        limits=FAST_LIMITS,
        pace=paces or Paces(),
        version="0.1.0",
    )


# --- a real OpenSSH ---------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        return probe_socket.getsockname()[1]


def write_sshd_config(directory: Path, port: int, extra: list[str]) -> Path:
    key = directory / "ssh_host_ed25519_key"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    config = directory / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {key}",
                f"PidFile {directory / 'sshd.pid'}",
                "UsePAM no",
                "StrictModes no",
                "KbdInteractiveAuthentication no",
                "PermitRootLogin no",
                "AuthorizedKeysFile none",
                "AllowUsers porthole-test-nobody",
                *extra,
            ]
        )
        + "\n"
    )
    return config


def effective_sshd_setting(config: Path, keyword: str) -> list[str]:
    """What ``sshd -T`` says the server will offer: the oracle for the KEXINIT lists."""
    output = subprocess.run([SSHD, "-T", "-f", str(config)], capture_output=True, text=True, check=True).stdout
    line = next(line for line in output.splitlines() if line.startswith(f"{keyword} "))
    return line.split(" ", 1)[1].split(",")


@pytest.fixture
def start_sshd(tmp_path: Path) -> Iterator[Callable[[list[str]], tuple[int, Path]]]:
    """Start a real sshd on 127.0.0.1 with extra config lines; stopped by its PID after the test."""
    processes: list[subprocess.Popen[str]] = []
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)

    def start(extra: list[str]) -> tuple[int, Path]:
        port = free_port()
        config = write_sshd_config(tmp_path, port, extra)
        process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stderr=subprocess.PIPE, text=True)
        processes.append(process)
        assert process.stderr is not None
        line = process.stderr.readline()  # "Server listening on 127.0.0.1 port N." once bound
        assert "Server listening" in line, line
        return port, config

    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=10)


async def test_real_openssh_evidence_matches_what_sshd_itself_says_it_offers(start_sshd) -> None:
    # Given OpenSSH with password logins and a legacy SHA-1 key exchange added
    port, config = start_sshd(["PasswordAuthentication yes", "KexAlgorithms +diffie-hellman-group14-sha1"])
    paces = Paces()
    # When the probe runs
    evidence = await QuickSshProbe().run(context_for(port, paces))
    # Then the identification is OpenSSH's, sent unasked, with CR LF
    identification = evidence["identification"]
    assert identification["line"].startswith("SSH-2.0-OpenSSH_") and identification["protocol_version"] == "2.0"
    assert identification["line_ending"] == "crlf" and identification["preamble"] == []
    # and the KEXINIT lists are exactly sshd -T's (plus OpenSSH's strict-kex marker)
    kexinit = evidence["kexinit"]
    assert kexinit["kex_algorithms"] == [*effective_sshd_setting(config, "kexalgorithms"), "kex-strict-s-v00@openssh.com"]
    assert kexinit["encryption_algorithms_client_to_server"] == effective_sshd_setting(config, "ciphers")
    assert kexinit["encryption_algorithms_server_to_client"] == effective_sshd_setting(config, "ciphers")
    assert kexinit["mac_algorithms_server_to_client"] == effective_sshd_setting(config, "macs")
    assert kexinit["server_host_key_algorithms"] == ["ssh-ed25519"]  # only keys it holds
    assert kexinit["compression_algorithms_server_to_client"] == ["none", "zlib@openssh.com"]
    assert kexinit["solicited"] is False and evidence["kexinit_error"] is None
    # and the second connection learned the methods without a password
    assert evidence["auth"] == {"username": "porthole-probe", "methods": ["publickey", "password"], "none_accepted": False, "error": None}
    # and exactly two paced connections were made, leaving no paramiko thread behind
    assert paces.count == 2
    assert not [thread for thread in threading.enumerate() if isinstance(thread, paramiko.Transport) and thread.is_alive()]


async def test_real_openssh_without_passwords_offers_only_publickey(start_sshd) -> None:
    # Given OpenSSH as hardened: no passwords
    port, _ = start_sshd(["PasswordAuthentication no"])
    # When probed
    evidence = await QuickSshProbe().run(context_for(port))
    # Then only publickey is offered
    assert evidence["auth"]["methods"] == ["publickey"]


async def test_findings_on_real_openssh_name_the_sha1_kex_and_password_logins(start_sshd) -> None:
    # Given the misconfigured server of the first test
    port, _ = start_sshd(["PasswordAuthentication yes", "KexAlgorithms +diffie-hellman-group14-sha1"])
    probe = QuickSshProbe()
    context = context_for(port)
    # When probed and assessed
    evidence = await probe.run(context)
    findings = {item.id: item for item in probe.assess(evidence, context.observation)}
    # Then SSH is open, weak algorithms fail on the SHA-1 kex and MAC, passwords are offered
    assert set(findings) == {"ssh-open", "ssh-weak-algorithm", "ssh-password-auth"}
    weak = findings["ssh-weak-algorithm"]
    assert weak.severity.value == "high"
    assert "kex diffie-hellman-group14-sha1: fail (sha1-hash, dh-2048-modulus)" in weak.evidence
    assert "mac hmac-sha1: fail (sha1-hash)" in weak.evidence
    assert probe.summarise(evidence).startswith("OpenSSH_")


# --- hostile and odd peers --------------------------------------------------------

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def peer(handler: Handler) -> AsyncIterator[tuple[int, bytearray]]:
    """A one-off server on 127.0.0.1:0; yields its port and every byte the probe sent it."""
    received = bytearray()

    async def record_until_eof(reader: asyncio.StreamReader) -> None:
        while chunk := await reader.read(65536):
            received.extend(chunk)

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(reader, writer)
            await record_until_eof(reader)
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(on_connection, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], received
    finally:
        server.close()
        await server.wait_closed()


def sends(*chunks: bytes) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for chunk in chunks:
            writer.write(chunk)
            await writer.drain()

    return handler


def server_kexinit(**overrides) -> bytes:
    kexinit = codec.KexInit(
        cookie=os.urandom(16),
        kex_algorithms=("diffie-hellman-group1-sha1",),
        server_host_key_algorithms=("ssh-rsa",),
        encryption_algorithms_client_to_server=("aes128-cbc",),
        encryption_algorithms_server_to_client=("aes128-cbc",),
        mac_algorithms_client_to_server=("hmac-md5",),
        mac_algorithms_server_to_client=("hmac-md5",),
        compression_algorithms_client_to_server=("none",),
        compression_algorithms_server_to_client=("none",),
        **overrides,
    )
    return codec.build_packet(codec.build_kexinit(kexinit))


async def test_huge_banner_without_newline_fails_as_too_large() -> None:
    # Given a device that streams 10 MB with no line end
    async with peer(sends(b"A" * 10_000_000)) as (port, _):
        # When probed / Then the probe stops at the 255-byte line cap and says so
        with pytest.raises(ProbeFailure) as caught:
            await QuickSshProbe().run(context_for(port))
    assert caught.value.reason == "too-large"
    assert "255 bytes" in str(caught.value) and "41 41 41" in str(caught.value)


async def test_http_server_on_the_ssh_port_fails_as_unrecognised() -> None:
    # Given an HTTP server answering on 22 (more than ten lines, none SSH-)
    async with peer(sends(b"HTTP/1.1 400 Bad Request\r\n" + b"Server: x\r\n" * 12)) as (port, _):
        with pytest.raises(ProbeFailure) as caught:
            await QuickSshProbe().run(context_for(port))
    assert caught.value.reason == "unrecognised"
    assert "without an SSH- identification line" in str(caught.value)


async def test_malformed_identification_line_fails_as_malformed() -> None:
    async with peer(sends(b"SSH-2.0\r\n")) as (port, _):
        with pytest.raises(ProbeFailure) as caught:
            await QuickSshProbe().run(context_for(port))
    assert caught.value.reason == "malformed"


async def test_partial_line_then_stall_fails_as_timeout() -> None:
    # Given a peer that sends half a line and then nothing
    async with peer(sends(b"SSH-2.0-Half")) as (port, _):
        with pytest.raises(ProbeFailure) as caught:
            await QuickSshProbe().run(context_for(port))
    assert caught.value.reason == "timeout"
    assert "received 12 bytes" in str(caught.value)


async def test_close_before_any_line_fails_as_unrecognised() -> None:
    async def close_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    async with peer(close_at_once) as (port, _):
        with pytest.raises(ProbeFailure) as caught:
            await QuickSshProbe().run(context_for(port))
    assert caught.value.reason == "unrecognised" and "nothing received" in str(caught.value)


async def test_banner_then_stall_keeps_the_banner_and_says_no_kexinit_came() -> None:
    # Given a server that sends its line and then nothing, even after porthole's KEXINIT
    paces = Paces()
    async with peer(sends(b"SSH-2.0-Stall_1.0\r\n")) as (port, received):
        evidence = await QuickSshProbe().run(context_for(port, paces))
    # Then the identification is evidence and the KEXINIT's absence is explained
    assert evidence["identification"]["software_version"] == "Stall_1.0"
    assert evidence["kexinit"] is None
    assert evidence["kexinit_error"] == "no KEXINIT within 0.3 s, then 0.3 s after porthole's own KEXINIT"
    # and porthole sent its identification, then one well-formed client KEXINIT, and no second connection
    assert received.startswith(b"SSH-2.0-porthole_0.1.0\r\n")
    consumed, payload = codec.parse_packet(bytes(received[len(b"SSH-2.0-porthole_0.1.0\r\n") :]))
    assert codec.parse_kexinit(payload).kex_algorithms[0] == "sntrup761x25519-sha512@openssh.com"
    assert evidence["auth"] is None and paces.count == 1


async def test_server_that_waits_for_the_client_kexinit_is_answered_and_recorded_as_solicited() -> None:
    # Given a server that only sends its KEXINIT after it received the client's
    async def waits_for_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"SSH-2.0-Shy_2.0\r\n")
        await reader.readline()  # porthole's identification
        await reader.readexactly(4)  # the start of porthole's KEXINIT packet
        writer.write(server_kexinit())
        await writer.drain()

    async with peer(waits_for_client) as (port, _):
        evidence = await QuickSshProbe().run(context_for(port))
    # Then its lists are evidence, marked as solicited
    assert evidence["kexinit"]["solicited"] is True
    assert evidence["kexinit"]["kex_algorithms"] == ["diffie-hellman-group1-sha1"]


async def test_bogus_packet_length_keeps_the_banner_and_names_the_length() -> None:
    # Given a banner followed by a packet claiming 0xFFFFFFFF bytes
    async with peer(sends(b"SSH-2.0-Bogus\r\n", b"\xff\xff\xff\xff" + b"\x00" * 64)) as (port, _):
        evidence = await QuickSshProbe().run(context_for(port))
    assert evidence["kexinit"] is None
    assert evidence["kexinit_error"].startswith("malformed binary packet: packet length 4294967295 exceeds the 35000-byte cap")


async def test_name_list_longer_than_its_packet_is_reported_as_a_malformed_kexinit() -> None:
    # Given a KEXINIT whose first name-list claims 60000 bytes inside a small packet
    payload = bytes([codec.MSG_KEXINIT]) + bytes(16) + struct.pack(">I", 60000) + b"curve25519-sha256"
    async with peer(sends(b"SSH-2.0-Liar\r\n", codec.build_packet(payload))) as (port, _):
        evidence = await QuickSshProbe().run(context_for(port))
    assert evidence["kexinit_error"].startswith("malformed KEXINIT: kex_algorithms claims 60000 bytes")


async def test_disconnect_instead_of_kexinit_is_explained() -> None:
    description = b"Too many authentication failures"
    disconnect = bytes([codec.MSG_DISCONNECT]) + struct.pack(">II", 2, len(description)) + description + struct.pack(">I", 0)
    async with peer(sends(b"SSH-2.0-Busy\r\n", codec.build_packet(disconnect))) as (port, _):
        evidence = await QuickSshProbe().run(context_for(port))
    assert evidence["kexinit_error"] == "server disconnected before KEXINIT: reason 2: Too many authentication failures"


async def test_preamble_lines_lf_endings_and_ignore_packets_are_tolerated() -> None:
    # Given a chatty embedded server: text first, LF-only lines, an IGNORE packet, then KEXINIT,
    # and nothing afterwards (so the second connection's key exchange fails and says so)
    ignore = codec.build_packet(bytes([codec.MSG_IGNORE]) + struct.pack(">I", 3) + b"abc")
    async with peer(sends(b"Welcome\nunit 7\n", b"SSH-2.0-Embedded_1\n", ignore + server_kexinit())) as (port, _):
        evidence = await QuickSshProbe().run(context_for(port))
    # Then the identification, preamble and lists are evidence
    assert evidence["identification"]["preamble"] == ["Welcome", "unit 7"]
    assert evidence["identification"]["line_ending"] == "lf"
    assert evidence["kexinit"]["mac_algorithms_client_to_server"] == ["hmac-md5"]
    assert evidence["auth"]["methods"] is None and evidence["auth"]["error"].startswith("key exchange failed")


async def test_telnet_negotiation_on_port_23_is_evidence_of_telnet() -> None:
    # Given a Telnet server: WILL ECHO, WILL SUPPRESS-GO-AHEAD, DO NAWS, then a login prompt
    async with peer(sends(b"\xff\xfb\x01\xff\xfb\x03\xff\xfd\x1f", b"login: ")) as (port, received):
        probe = QuickSshProbe()
        context = context_for(port)
        evidence = await probe.run(context)
    # Then the port is recorded as Telnet, porthole sent nothing to it, and telnet-open fires
    assert evidence["protocol"] == "telnet" and evidence["identification"] is None
    assert evidence["telnet_options"] == ["WILL ECHO", "WILL SUPPRESS-GO-AHEAD", "DO NAWS"]
    assert received == b""
    assert [item.id for item in probe.assess(evidence, context.observation)] == ["telnet-open"]
    assert probe.summarise(evidence) == "Telnet (WILL ECHO, WILL SUPPRESS-GO-AHEAD, DO NAWS)"


def test_the_probe_claims_only_the_catalogue_ssh_ports_over_tcp() -> None:
    probe = SshProbe()
    ssh_port = PortObservation(port=23, protocol=Protocol.TCP, state=PortState.OPEN, reason=Reason.SYN_ACK, service="ssh")
    http_port = PortObservation(port=80, protocol=Protocol.TCP, state=PortState.OPEN, reason=Reason.SYN_ACK, service="http")
    assert probe.claims(ssh_port) and not probe.claims(http_port)


async def test_a_single_telnet_triple_then_silence_is_telnet() -> None:
    # Given a Telnet server that sends one negotiation and waits for the answer
    async with peer(sends(b"\xff\xfd\x18")) as (port, _):
        evidence = await QuickSshProbe().run(context_for(port))
    assert evidence["protocol"] == "telnet" and evidence["telnet_options"] == ["DO TERMINAL-TYPE"]


async def test_garbage_that_happens_to_open_with_one_iac_triple_is_not_taken_for_telnet() -> None:
    # Given random-looking bytes whose first three happen to form IAC WILL x, and no more triples
    async with peer(sends(b"\xff\xfb\x01" + bytes(range(0x20, 0x7F)) * 3)) as (port, _):
        with pytest.raises(ProbeFailure) as caught:
            await QuickSshProbe().run(context_for(port))
    # Then it ends as a failed SSH identification, not as a Telnet finding
    assert caught.value.reason == "too-large"


@pytest.mark.parametrize(
    ("options", "reason", "words"),
    [
        (Options(misbehaviour=Misbehaviour.HUGE_BANNER), "too-large", "no line end within 255 bytes"),
        (Options(misbehaviour=Misbehaviour.STALL, prefix="SSH-2.0-"), "timeout", "received 8 bytes"),
        (Options(misbehaviour=Misbehaviour.GARBAGE, seed=7, garbage_bytes=4096), "too-large", "no SSH identification"),
    ],
    ids=["huge_banner", "stall", "garbage"],
)
async def test_the_lab_hostile_peer_ends_as_a_named_probe_failure(tmp_path: Path, options: Options, reason: str, words: str) -> None:
    # Given the lab's hostile device (lab/services/hostile.py) with one misbehaviour
    running = await serve_hostile("127.0.0.1", [0], options, context=ServiceContext(state_dir=tmp_path / "hostile", name="hostile"))
    try:
        # When the SSH probe meets it
        with pytest.raises(ProbeFailure) as caught:
            await QuickSshProbe().run(context_for(running.ports[0]))
    finally:
        await running.close()
    # Then it fails with the reason that names the misbehaviour, never hangs or crashes
    assert caught.value.reason == reason and words in str(caught.value)
