"""DnsProbe against a real dnsmasq on loopback (UDP and TCP) and against scripted odd and hostile peers.

dnsmasq runs exactly as lab/daemons.py runs the lab's resolver (no upstream server at
all, so nothing is ever forwarded), bound to its own 127.0.0.x address and a free port.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import random
import socket
import struct
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field

import pytest

from porthole.codecs import dns
from porthole.errors import ErrorReason
from porthole.model import PortObservation, PortState, Protocol, Reason
from porthole.services.base import ProbeContext, ProbeFailure, ProbeLimits
from porthole.services.dns import DnsProbe
from porthole.targets import Target

DNSMASQ = "/usr/sbin/dnsmasq"
#: short waits keep silent-peer tests quick; the default (2 s) is protocols.md's budget
FAST = DnsProbe(response_wait=0.3)


class Paces:
    """Counts the engine's pacing hook: one call per datagram or connection."""

    def __init__(self) -> None:
        self.count = 0

    async def __call__(self) -> None:
        self.count += 1


def probe_context(address: str, port: int, protocol: Protocol, *, paces: Paces | None = None, limits: ProbeLimits | None = None) -> ProbeContext:
    target = Target(address=ipaddress.ip_address(address), spec=address)
    observation = PortObservation(port=port, protocol=protocol, state=PortState.OPEN, reason=Reason.REPLY if protocol is Protocol.UDP else Reason.SYN_ACK, service="dns")
    return ProbeContext(target=target, observation=observation, pace=paces or Paces(), limits=limits or ProbeLimits())


# --- real dnsmasq ---------------------------------------------------------------------


@dataclass(frozen=True)
class Dnsmasq:
    address: str
    port: int


def _free_port_on_both_transports(address: str) -> int:
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((address, 0))
            port = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((address, port))
                except OSError:
                    continue
                return port
    raise RuntimeError(f"no port free on {address} for both UDP and TCP")


@contextlib.contextmanager
def dnsmasq(*extra: str) -> Iterator[Dnsmasq]:
    address = f"127.0.{random.randint(1, 254)}.{random.randint(2, 254)}"
    port = _free_port_on_both_transports(address)
    argv = [DNSMASQ, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-poll", "--no-hosts", f"--listen-address={address}", "--bind-interfaces", f"--port={port}", "--pid-file=", "--log-facility=-", *extra]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(100):  # ready once it accepts on TCP (it binds UDP first)
            if process.poll() is not None:
                raise RuntimeError(f"dnsmasq exited: {process.stderr.read().decode() if process.stderr else ''}")
            with socket.socket() as probe:
                if probe.connect_ex((address, port)) == 0:
                    break
            subprocess.run(["sleep", "0.05"], check=True)
        yield Dnsmasq(address, port)
    finally:
        process.terminate()
        process.wait(timeout=5)
        if process.stderr:
            process.stderr.close()


@pytest.fixture
def open_resolver() -> Iterator[Dnsmasq]:
    # the lab's open resolver: localhost answered from a host record, RA set
    with dnsmasq("--host-record=localhost,127.0.0.1") as server:
        yield server


@pytest.fixture
def refusing_resolver() -> Iterator[Dnsmasq]:
    # no localhost record and no upstream: dnsmasq answers REFUSED (with RA still set)
    with dnsmasq() as server:
        yield server


@pytest.mark.parametrize("protocol", [Protocol.UDP, Protocol.TCP])
async def test_open_dnsmasq_resolves_localhost_with_recursion_available_and_names_its_version(open_resolver: Dnsmasq, protocol: Protocol) -> None:
    # Given the lab's open resolver
    paces = Paces()
    probe = DnsProbe()
    # When probed over one transport
    evidence = await probe.run(probe_context(open_resolver.address, open_resolver.port, protocol, paces=paces))
    # Then it answers, offers recursion, resolves localhost. and says it is dnsmasq
    assert evidence["transport"] == protocol.value
    assert (evidence["answers_queries"], evidence["recursion_available"], evidence["resolves_localhost"]) == (True, True, True)
    assert evidence["localhost_addresses"] == ["127.0.0.1"]
    assert evidence["version"].startswith("dnsmasq-2.")
    localhost, version = evidence["exchanges"]
    assert (localhost["question"], localhost["recursion_desired"], localhost["outcome"], localhost["rcode_name"]) == ("localhost. IN A", True, "reply", "NOERROR")
    assert localhost["answers"] == ["localhost. 0 IN A 127.0.0.1"]
    assert (version["question"], version["recursion_desired"], version["answers"]) == ("version.bind. CH TXT", False, [f'version.bind. 0 CH TXT "{evidence["version"]}"'])
    # And it cost two datagrams (UDP) or one connection (TCP), each paced by the engine
    assert paces.count == (2 if protocol is Protocol.UDP else 1)
    assert probe.summarise(evidence) == f"{evidence['version']}: open resolver (RA, resolves localhost.)"
    assert [item.id for item in probe.assess(evidence, probe_context(open_resolver.address, 53, protocol).observation)] == ["dns-open-resolver"]


@pytest.mark.parametrize("protocol", [Protocol.UDP, Protocol.TCP])
async def test_refusing_dnsmasq_answers_but_is_no_open_resolver(refusing_resolver: Dnsmasq, protocol: Protocol) -> None:
    # Given dnsmasq with nothing to answer localhost from and no upstream
    probe = DnsProbe()
    evidence = await probe.run(probe_context(refusing_resolver.address, refusing_resolver.port, protocol))
    # Then it is a DNS server (REFUSED is a reply), RA is set, but localhost. is not resolved: no finding
    assert (evidence["answers_queries"], evidence["recursion_available"], evidence["resolves_localhost"]) == (True, True, False)
    assert evidence["exchanges"][0]["rcode_name"] == "REFUSED" and evidence["exchanges"][0]["answers"] == []
    assert evidence["version"].startswith("dnsmasq-2.")  # version.bind is answered from dnsmasq's own data
    assert probe.assess(evidence, probe_context(refusing_resolver.address, 53, protocol).observation) == []
    assert probe.summarise(evidence) == f"{evidence['version']}: localhost. REFUSED, RA=1"


async def test_closed_udp_port_is_a_connection_refused_failure() -> None:
    # Given a UDP port nothing listens on (ICMP port unreachable on loopback)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
    with pytest.raises(ProbeFailure) as failure:
        await FAST.run(probe_context("127.0.0.1", port, Protocol.UDP))
    assert failure.value.reason == ErrorReason.CONNECTION_REFUSED.value


def test_udp_ports_that_stayed_silent_in_the_reachability_phase_are_not_claimed() -> None:
    # The reachability phase sent the same localhost. query, with retries, and heard nothing
    silent = PortObservation(port=53, protocol=Protocol.UDP, state=PortState.OPEN_FILTERED, reason=Reason.TIMEOUT, service="dns")
    answered = PortObservation(port=53, protocol=Protocol.UDP, state=PortState.OPEN, reason=Reason.REPLY, service="dns")
    assert (DnsProbe().claims(silent), DnsProbe().claims(answered)) == (False, True)


# --- scripted peers ---------------------------------------------------------------------


def reply_to(query: bytes, *, flags: int = 0x8580, answers: bytes = b"", ancount: int = 1, query_id: int | None = None) -> bytes:
    """A reply echoing the query's id and question, with hand-written answer bytes."""
    header = dns.parse_header(query)
    question = query[12:]
    return struct.pack("!HHHHHH", header.id if query_id is None else query_id, flags, 1, ancount, 0, 0) + question + answers


LOCALHOST_ANSWER = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 0, 4) + b"\x7f\x00\x00\x01"


@dataclass
class UdpPeer(asyncio.DatagramProtocol):
    respond: Callable[[bytes], list[bytes]]
    received: list[bytes] = field(default_factory=list)
    transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received.append(data)
        assert self.transport is not None
        for datagram in self.respond(data):
            self.transport.sendto(datagram, addr)


@contextlib.asynccontextmanager
async def udp_peer(respond: Callable[[bytes], list[bytes]]) -> AsyncIterator[tuple[UdpPeer, int]]:
    loop = asyncio.get_running_loop()
    transport, peer = await loop.create_datagram_endpoint(lambda: UdpPeer(respond), local_addr=("127.0.0.1", 0))
    try:
        yield peer, transport.get_extra_info("sockname")[1]
    finally:
        transport.close()


async def test_compression_loop_in_the_answer_is_malformed_evidence_not_a_crash() -> None:
    # Given a reply whose answer name points at itself (the answer starts where the query ends)
    def loop_answer(query: bytes) -> bytes:
        return struct.pack("!H", 0xC000 | len(query)) + struct.pack("!HHIH", 1, 1, 0, 4) + b"\x7f\x00\x00\x01"

    async with udp_peer(lambda query: [reply_to(query, answers=loop_answer(query))]) as (_, port):
        evidence = await FAST.run(probe_context("127.0.0.1", port, Protocol.UDP))
    # Then the header facts stand, the body is recorded as malformed, and nothing is claimed resolved
    localhost = evidence["exchanges"][0]
    assert (localhost["outcome"], localhost["rcode_name"], localhost["recursion_available"]) == ("malformed", "NOERROR", True)
    assert "compression loop" in localhost["detail"]
    assert (evidence["answers_queries"], evidence["resolves_localhost"]) == (True, False)
    assert FAST.assess(evidence, probe_context("127.0.0.1", 53, Protocol.UDP).observation) == []


async def test_truncated_answer_section_is_malformed_and_the_tc_flag_is_recorded() -> None:
    # Given a reply with TC set that counts two answers but carries one
    async with udp_peer(lambda query: [reply_to(query, flags=0x8780, answers=LOCALHOST_ANSWER, ancount=2)]) as (_, port):
        evidence = await FAST.run(probe_context("127.0.0.1", port, Protocol.UDP))
    localhost = evidence["exchanges"][0]
    assert (localhost["outcome"], localhost["truncated"]) == ("malformed", True)
    assert "answer record 2 of 2" in localhost["detail"] and "truncated answer" in localhost["detail"]
    assert evidence["resolves_localhost"] is False


async def test_whole_reply_with_tc_set_is_parsed_and_recorded_as_truncated() -> None:
    async with udp_peer(lambda query: [reply_to(query, flags=0x8780, answers=LOCALHOST_ANSWER if dns.parse_message(query).questions[0].qtype == 1 else b"", ancount=int(dns.parse_message(query).questions[0].qtype == 1))]) as (_, port):
        evidence = await FAST.run(probe_context("127.0.0.1", port, Protocol.UDP))
    assert (evidence["exchanges"][0]["outcome"], evidence["exchanges"][0]["truncated"], evidence["resolves_localhost"]) == ("reply", True, True)


async def test_replies_with_another_id_are_ignored_and_the_query_is_retried_once() -> None:
    # Given a peer that answers every datagram with the id + 1 (a stale or spoofed reply), plus garbage
    def respond(query: bytes) -> list[bytes]:
        return [reply_to(query, answers=LOCALHOST_ANSWER, query_id=(dns.parse_header(query).id + 1) & 0xFFFF), b"\xff" * 40]

    async with udp_peer(respond) as (peer, port):
        with pytest.raises(ProbeFailure) as failure:
            await FAST.run(probe_context("127.0.0.1", port, Protocol.UDP))
    # Then nothing counted as a reply, the query went out twice (one retry), and the failure says so
    assert failure.value.reason == ErrorReason.TIMEOUT.value
    assert "no reply to 2 datagram(s), 0.3 s each" in str(failure.value)
    assert len(peer.received) == 2 and peer.received[0] == peer.received[1]


async def test_a_stray_datagram_before_the_real_reply_is_skipped() -> None:
    def respond(query: bytes) -> list[bytes]:
        return [b"garbage", reply_to(query, answers=LOCALHOST_ANSWER if b"localhost" in query else b"", ancount=int(b"localhost" in query))]

    async with udp_peer(respond) as (_, port):
        evidence = await FAST.run(probe_context("127.0.0.1", port, Protocol.UDP))
    assert evidence["resolves_localhost"] is True


async def test_silence_to_version_bind_is_recorded_but_the_localhost_verdict_stands() -> None:
    # Given a resolver that answers localhost. but ignores CHAOS queries
    async with udp_peer(lambda query: [reply_to(query, answers=LOCALHOST_ANSWER)] if b"localhost" in query else []) as (peer, port):
        evidence = await FAST.run(probe_context("127.0.0.1", port, Protocol.UDP))
    assert evidence["version"] is None and evidence["exchanges"][1]["outcome"] == "no-reply"
    assert evidence["resolves_localhost"] is True
    assert len(peer.received) == 3  # localhost once, version.bind twice (one retry)
    assert FAST.summarise(evidence) == "DNS: open resolver (RA, resolves localhost.)"


# --- TCP peers --------------------------------------------------------------------------


@dataclass
class TcpPeer:
    respond: Callable[[bytes, int], bytes | None]
    connections: int = 0
    queries: list[bytes] = field(default_factory=list)
    close_after_first: bool = False
    stall_after: bool = False
    handlers: set[asyncio.Task[None]] = field(default_factory=set)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        self.connections += 1
        try:
            while True:
                length = struct.unpack("!H", await reader.readexactly(2))[0]
                query = await reader.readexactly(length)
                self.queries.append(query)
                answer = self.respond(query, len(self.queries))
                if answer is None:
                    await reader.read()  # stall until the client leaves
                    return
                writer.write(answer)
                await writer.drain()
                if self.close_after_first:
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


@contextlib.asynccontextmanager
async def tcp_peer(respond: Callable[[bytes, int], bytes | None], **options: bool) -> AsyncIterator[tuple[TcpPeer, int]]:
    peer = TcpPeer(respond, **options)
    server = await asyncio.start_server(peer.handle, "127.0.0.1", 0)
    try:
        yield peer, server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()
        if peer.handlers:
            await asyncio.wait(peer.handlers, timeout=5)


def framed_reply(query: bytes, _index: int) -> bytes:
    is_localhost = b"localhost" in query
    return dns.frame_tcp(reply_to(query, answers=LOCALHOST_ANSWER if is_localhost else b"\xc0\x0c" + struct.pack("!HHIH", 16, 3, 0, 5) + b"\x04x-42", ancount=1))


async def test_tcp_server_that_closes_after_each_answer_is_asked_again_on_a_new_connection() -> None:
    # Given a server that allows one query per connection (RFC 7766 allows more; not all do)
    paces = Paces()
    async with tcp_peer(framed_reply, close_after_first=True) as (peer, port):
        evidence = await FAST.run(probe_context("127.0.0.1", port, Protocol.TCP, paces=paces))
    # Then the second query went over a second, paced connection and was answered
    assert (peer.connections, paces.count, len(peer.queries)) == (2, 2, 2)
    assert (evidence["resolves_localhost"], evidence["version"]) == (True, "x-42")


async def test_tcp_server_keeping_the_connection_answers_both_queries_on_it() -> None:
    async with tcp_peer(framed_reply) as (peer, port):
        evidence = await FAST.run(probe_context("127.0.0.1", port, Protocol.TCP))
    assert (peer.connections, len(peer.queries), evidence["version"]) == (1, 2, "x-42")


async def test_tcp_stray_frame_for_another_query_is_skipped() -> None:
    def respond(query: bytes, index: int) -> bytes:
        stray = dns.frame_tcp(reply_to(query, query_id=(dns.parse_header(query).id + 1) & 0xFFFF, ancount=0))
        return stray + framed_reply(query, index)

    async with tcp_peer(respond) as (_, port):
        evidence = await FAST.run(probe_context("127.0.0.1", port, Protocol.TCP))
    assert evidence["resolves_localhost"] is True


@pytest.mark.parametrize(
    ("respond", "reason", "detail"),
    [
        pytest.param(lambda _query, _index: b"HTTP/1.1 400 Bad Request\r\n\r\n", ErrorReason.UNRECOGNISED, "closed after 28 bytes without a complete reply", id="http-garbage-then-close"),
        pytest.param(lambda _query, _index: b"\x00\x05hello", ErrorReason.MALFORMED, "less than a 12-byte header", id="frame-too-short-for-dns"),
        pytest.param(lambda _query, _index: b"", ErrorReason.UNRECOGNISED, "closed without replying", id="close-without-reply"),
        pytest.param(lambda _query, _index: None, ErrorReason.TIMEOUT, "no reply within 0.3 s", id="stall"),
    ],
)
async def test_tcp_peers_that_are_not_dns_end_the_probe_with_a_named_reason(respond: Callable[[bytes, int], bytes | None], reason: ErrorReason, detail: str) -> None:
    async with tcp_peer(respond, close_after_first=True) as (peer, port):
        with pytest.raises(ProbeFailure) as failure:
            await FAST.run(probe_context("127.0.0.1", port, Protocol.TCP))
    assert failure.value.reason == reason.value
    assert detail in str(failure.value)
    assert len(peer.queries) == 1  # no second query to something that is not DNS


async def test_tcp_reply_stalled_mid_frame_is_a_timeout() -> None:
    # Given a server that sends the first 10 bytes of its reply and stalls
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        length = struct.unpack("!H", await reader.readexactly(2))[0]
        query = await reader.readexactly(length)
        writer.write(framed_reply(query, 1)[:10])
        await writer.drain()
        await reader.read()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        with pytest.raises(ProbeFailure) as failure:
            await FAST.run(probe_context("127.0.0.1", server.sockets[0].getsockname()[1], Protocol.TCP))
    finally:
        server.close()
        await server.wait_closed()
    assert failure.value.reason == ErrorReason.TIMEOUT.value
    assert "reply stalled after 10 bytes" in str(failure.value)


async def test_ten_megabytes_on_53_tcp_are_read_only_up_to_the_cap() -> None:
    # Given a server that answers with a 65 535-byte frame header and then 10 MB
    async with tcp_peer(lambda _query, _index: b"\xff\xff" + b"\x00" * (10 * 1024 * 1024), close_after_first=True) as (_, port):
        with pytest.raises(ProbeFailure) as failure:
            await FAST.run(probe_context("127.0.0.1", port, Protocol.TCP, limits=ProbeLimits(max_read=4096)))
    # Then the read stopped at the cap and the failure says too large
    assert failure.value.reason == ErrorReason.TOO_LARGE.value
    assert "4096 bytes" in str(failure.value)
