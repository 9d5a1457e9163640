"""The generic banner grab against real loopback peers: recorded servers and hostile ones.

Every peer records what it received, so each test also proves the probe's one promise
beyond bounded reads: it sends nothing.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from lab.services._common import ServiceContext
from lab.services.hostile import Misbehaviour, Options, serve
from porthole.catalog import select_ports
from porthole.engine import DiscoveryMode, ScanConfig, Scanner, TimingPolicy
from porthole.model import PortObservation, PortState, Protocol, Reason
from porthole.services.banner import BannerProbe
from porthole.services.banner.probe import READ_LIMIT
from porthole.services.base import ProbeContext, ProbeLimits
from porthole.targets import Target

OPENSSH = (Path(__file__).parents[2] / "fixtures" / "wire" / "ssh" / "openssh-9.2-kexinit.bin").read_bytes()
#: a short wait for peers that are expected to stay silent, so the tests stay quick
QUICK = ProbeLimits(first_byte=0.3, between_chunks=0.3)

Behaviour = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Peer:
    """A loopback TCP server running ``behaviour`` per connection and keeping what it was sent."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.received = bytearray()
        self.port = 0

    async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self.behaviour(reader, writer)
            while data := await reader.read(4096):
                self.received += data
        except OSError:
            pass
        finally:
            writer.close()


@asynccontextmanager
async def peer(behaviour: Behaviour, *, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[Peer]:
    running = Peer(behaviour)
    server = await asyncio.start_server(running._on_connection, host, port)
    running.port = server.sockets[0].getsockname()[1]
    try:
        yield running
    finally:
        server.close()
        await server.wait_closed()


@asynccontextmanager
async def hostile_peer(tmp_path: Path, **options: object) -> AsyncIterator[int]:
    context = ServiceContext(state_dir=tmp_path / "hostile", name="hostile")
    running = await serve("127.0.0.1", [0], Options(**options), context=context)  # type: ignore[arg-type]
    try:
        yield running.ports[0]
    finally:
        await running.close()


def says(data: bytes) -> Behaviour:
    async def behaviour(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(data)
        await writer.drain()

    return behaviour


async def stays_silent(_reader: asyncio.StreamReader, _writer: asyncio.StreamWriter) -> None:
    pass


def observation(port: int, *, service: str | None = None, protocol: Protocol = Protocol.TCP, state: PortState = PortState.OPEN) -> PortObservation:
    return PortObservation(port=port, protocol=protocol, state=state, reason=Reason.SYN_ACK, service=service)


def context_for(port: int, *, limits: ProbeLimits = ProbeLimits()) -> ProbeContext:
    target = Target(address=ipaddress.ip_address("127.0.0.1"), spec="127.0.0.1")
    return ProbeContext(target=target, observation=observation(port), limits=limits)


async def grab(port: int, *, limits: ProbeLimits = ProbeLimits(), probe: BannerProbe | None = None) -> tuple[dict, str | None]:
    probe = probe or BannerProbe()
    evidence = await probe.run(context_for(port, limits=limits))
    return evidence, probe.summarise(evidence)


# --- servers that speak first ------------------------------------------------------------


async def test_recorded_openssh_greeting_is_named_by_its_identification_line() -> None:
    # Given a peer replaying what OpenSSH 9.2 sent unasked (identification + KEXINIT), then waiting
    async with peer(says(OPENSSH)) as server:
        # When the banner is grabbed
        evidence, summary = await grab(server.port, limits=QUICK)
    # Then the identification line names it, every byte is counted, and reading stopped on the pause
    assert summary == "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10"
    assert evidence["protocol"] == "ssh" and evidence["speaks_first"] is True
    assert evidence["received_bytes"] == len(OPENSSH) and evidence["stopped"] == "stalled"
    assert bytes.fromhex(evidence["received_hex"]) == OPENSSH[:512]
    assert evidence["preview"].startswith("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10\\r\\n\\x00\\x00\\x04")
    # And the probe sent nothing at all
    assert server.received == b""


async def test_a_multi_line_smtp_greeting_is_quoted_up_to_its_first_line_end() -> None:
    async with peer(says(b"220-smtp.example.org ESMTP ready\r\n220 go ahead\r\n")) as server:
        evidence, summary = await grab(server.port, limits=QUICK)
    assert summary == "speaks first: 220-smtp.example.org ESMTP ready"
    assert evidence["protocol"] == "smtp"
    assert server.received == b""


async def test_telnet_option_negotiation_is_named_not_quoted() -> None:
    async with peer(says(bytes.fromhex("fffd18fffd20fffd23fffd27"))) as server:
        evidence, summary = await grab(server.port, limits=QUICK)
    assert summary == "speaks first: telnet option negotiation"
    assert evidence["protocol"] == "telnet" and evidence["preview"] == "\\xff\\xfd\\x18\\xff\\xfd \\xff\\xfd#\\xff\\xfd'"


async def test_a_banner_then_close_stops_at_eof() -> None:
    async def greet_and_leave(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"RFB 003.008\n")
        await writer.drain()
        writer.close()

    async with peer(greet_and_leave) as server:
        evidence, summary = await grab(server.port)
    assert (evidence["protocol"], evidence["stopped"], summary) == ("vnc", "eof", "speaks first: RFB 003.008")


# --- servers that do not --------------------------------------------------------------------


async def test_a_silent_peer_gets_nothing_and_is_described_as_silent() -> None:
    async with peer(stays_silent) as server:
        evidence, summary = await grab(server.port, limits=QUICK)
    assert summary == "silent on connect"
    assert evidence == {
        "speaks_first": False,
        "received_bytes": 0,
        "received_hex": "",
        "preview": "",
        "protocol": None,
        "stopped": "stalled",
        "read_limit": READ_LIMIT,
        "first_byte_wait_s": 0.3,
    }
    assert server.received == b""


async def test_a_peer_that_closes_at_once_is_told_from_a_silent_one() -> None:
    async def leave(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    async with peer(leave) as server:
        evidence, summary = await grab(server.port)
    assert (evidence["stopped"], summary) == ("eof", "closes on connect without a word")


async def test_a_peer_that_resets_at_once_is_recorded_as_a_reset() -> None:
    async def reset(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        # SO_LINGER 0: close() sends RST instead of FIN
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    async with peer(reset) as server:
        evidence, summary = await grab(server.port)
    assert (evidence["stopped"], summary) == ("reset", "resets on connect")


# --- hostile peers (lab.services.hostile) -------------------------------------------------------


async def test_a_ten_megabyte_banner_costs_four_kilobytes(tmp_path: Path) -> None:
    async with hostile_peer(tmp_path, misbehaviour=Misbehaviour.HUGE_BANNER) as port:
        evidence, summary = await grab(port)
    assert evidence["received_bytes"] == READ_LIMIT and evidence["stopped"] == "limit"
    assert evidence["protocol"] is None
    assert len(bytes.fromhex(evidence["received_hex"])) == 512
    assert summary == "speaks first: " + "A" * 60 + "…"


async def test_a_stalled_ssh_identification_is_shown_cut_short(tmp_path: Path) -> None:
    async with hostile_peer(tmp_path, misbehaviour=Misbehaviour.STALL, prefix="SSH-2.0-") as port:
        evidence, summary = await grab(port, limits=QUICK)
    assert (evidence["protocol"], evidence["stopped"], evidence["received_bytes"]) == ("ssh", "stalled", 8)
    assert summary == "SSH-2.0-…"


async def test_a_trickling_peer_is_cut_off_by_the_banner_window_and_its_bytes_kept(tmp_path: Path) -> None:
    # Given a peer sending one byte every 0.2 s forever, and a one-second banner window
    async with hostile_peer(tmp_path, misbehaviour=Misbehaviour.SLOWLORIS, prefix="SSH-", trickle_interval=0.2) as port:
        evidence, _summary = await grab(port, probe=BannerProbe(window=1.0))
    # Then the window ends the read, not a stall nor the engine's budget, and what came is evidence
    assert evidence["stopped"] == "window"
    received = bytes.fromhex(evidence["received_hex"])
    assert 1 <= len(received) == evidence["received_bytes"] < 20
    assert (b"SSH-" + b"X" * 20).startswith(received)


async def test_garbage_is_kept_as_escaped_evidence(tmp_path: Path) -> None:
    async with hostile_peer(tmp_path, misbehaviour=Misbehaviour.GARBAGE, garbage_bytes=700, seed=11) as port:
        evidence, summary = await grab(port, limits=QUICK)
    garbage = random.Random(11).randbytes(700)
    assert evidence["received_bytes"] == 700 and evidence["stopped"] == "stalled"
    assert evidence["received_hex"] == garbage[:512].hex()
    assert all(0x20 <= ord(character) < 0x7F for character in evidence["preview"])
    assert summary is not None and summary.startswith("speaks first: ") and summary.isprintable()


# --- what it claims, what it judges ----------------------------------------------------------


@pytest.mark.parametrize(
    ("seen", "claimed"),
    [
        (observation(2323), True),
        (observation(22, service="ssh"), False),
        (observation(8888, service="semp"), False),
        (observation(2323, protocol=Protocol.UDP, state=PortState.OPEN_FILTERED), False),
        (observation(2323, state=PortState.CLOSED), False),
    ],
)
def test_it_claims_only_open_tcp_ports_the_catalogue_does_not_know(seen: PortObservation, claimed: bool) -> None:
    assert BannerProbe().claims(seen) is claimed


@pytest.mark.parametrize(
    ("evidence", "summary"),
    [
        ({"speaks_first": True, "received_hex": (b"Debug port v1\r\nSSH-2.0-dropbear\r\n").hex(), "protocol": "ssh", "stopped": "stalled"}, "SSH-2.0-dropbear"),
        ({"speaks_first": True, "received_hex": "160303007a02", "protocol": "tls", "stopped": "stalled"}, "speaks first: TLS record"),
        ({"speaks_first": True, "received_hex": "1b5b326a4f4b0d0a", "protocol": None, "stopped": "eof"}, "speaks first: \\x1b[2jOK"),
        ({"speaks_first": True, "received_hex": (b"\r\n\r\nUser Access Verification\r\n").hex(), "protocol": None, "stopped": "stalled"}, "speaks first: User Access Verification"),
        ({"speaks_first": False, "received_hex": "", "protocol": None, "stopped": "window"}, "silent on connect"),
    ],
)
def test_summaries_quote_safely_and_name_what_answers(evidence: dict, summary: str) -> None:
    probe = BannerProbe()
    assert probe.summarise(evidence) == summary
    # And no finding comes from a banner: the open port itself is the profile's finding
    assert probe.assess(evidence, observation(2323)) == []


async def test_the_engine_runs_it_on_an_uncatalogued_port_only() -> None:
    # Given 127.0.0.91 with the same greeting on uncatalogued 2323 and on catalogued 22
    config = ScanConfig(
        ports=tuple(select_ports("22,2323")),
        timing=TimingPolicy(initial_timeout=0.3, min_timeout=0.05, max_timeout=0.5),
        discovery=DiscoveryMode.NONE,
        per_host_rate=1000.0,
        fingerprint=True,
    )
    async with peer(says(OPENSSH), host="127.0.0.91", port=22), peer(says(OPENSSH), host="127.0.0.91", port=2323):
        # When the host is audited with the banner probe registered
        outcome = await Scanner(config, probes=[BannerProbe()]).run([Target(address=ipaddress.ip_address("127.0.0.91"), spec="127.0.0.91")], total=1)
    ports = {port.port: port for port in outcome.hosts[0].ports}
    # Then 2323 carries the banner evidence and its summary; 22 is left to the SSH probe
    assert ports[2323].service is None and ports[2323].summary == "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10"
    assert ports[2323].evidence["banner"]["protocol"] == "ssh"
    assert "banner" not in ports[22].evidence
    assert [probe.probe_id for probe in outcome.hosts[0].probes] == ["banner"]
