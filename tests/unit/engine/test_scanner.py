"""The scan engine over real loopback sockets.

Each test binds its services on its own 127.0.0.x address so that the scanner probes
the real catalogue port numbers without clashing with anything else on the machine.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import socket
import struct
from contextlib import ExitStack

import pytest

from porthole.catalog import select_ports
from porthole.engine import DiscoveryMode, ScanConfig, Scanner, TimingPolicy
from porthole.errors import ErrorReason
from porthole.model import HostStatus, PortObservation, PortState, ProbeStatus, Protocol, Reason
from porthole.services.base import ProbeFailure
from porthole.targets import Target

FAST = TimingPolicy(initial_timeout=0.3, min_timeout=0.05, max_timeout=0.5)


def target(address: str) -> Target:
    return Target(address=ipaddress.ip_address(address), spec=address)


def config(ports: str, **overrides) -> ScanConfig:
    defaults = dict(ports=tuple(select_ports(ports)), timing=FAST, discovery=DiscoveryMode.NONE, retry_spacing=0.01, per_host_rate=1000.0)
    return ScanConfig(**{**defaults, **overrides})


def tcp_listener(stack: ExitStack, address: str, port: int) -> socket.socket:
    sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((address, port))
    sock.listen(16)
    return sock


def by_port(observations: tuple[PortObservation, ...]) -> dict[str, tuple[PortState, Reason]]:
    return {f"{o.port}/{o.protocol}": (o.state, o.reason) for o in observations}


class DnsResponder(asyncio.DatagramProtocol):
    """Answers any query with its own header flipped to a response (QR|RA), question echoed."""

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        query_id, _flags, qdcount = struct.unpack_from("!HHH", data)
        self.transport.sendto(struct.pack("!HHHHHH", query_id, 0x8180, qdcount, 0, 0, 0) + data[12:], addr)


async def test_each_state_and_reason_is_reported_as_nmap_would():
    # Given 127.0.0.21 with 502/tcp listening, a DNS responder on 53/udp,
    # a bound-but-mute 5353/udp, and nothing on 22/tcp or 15118/udp
    loop = asyncio.get_running_loop()
    with ExitStack() as stack:
        tcp_listener(stack, "127.0.0.21", 502)
        mute = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
        mute.bind(("127.0.0.21", 5353))
        transport, _ = await loop.create_datagram_endpoint(DnsResponder, local_addr=("127.0.0.21", 53))
        try:
            scanner = Scanner(config("22,502,53/udp,5353/udp,15118/udp", udp_retries=1))
            # When the host is scanned
            outcome = await scanner.run([target("127.0.0.21")], total=1)
        finally:
            transport.close()
    # Then every port has nmap's state and reason
    (host,) = outcome.hosts
    assert by_port(host.ports) == {
        "22/tcp": (PortState.CLOSED, Reason.RESET),
        "502/tcp": (PortState.OPEN, Reason.SYN_ACK),
        "53/udp": (PortState.OPEN, Reason.REPLY),
        "5353/udp": (PortState.OPEN_FILTERED, Reason.TIMEOUT),
        "15118/udp": (PortState.CLOSED, Reason.ICMP),
    }
    # And the silent port was retried once, the answered ones were not
    attempts = {o.port: o.attempts for o in host.ports}
    assert attempts[5353] == 2 and attempts[502] == 1
    # And answered probes carry an RTT; the host is up on the evidence of its answers
    assert all(o.rtt_ms is not None for o in host.ports if o.reason is not Reason.TIMEOUT)
    assert host.status is HostStatus.UP and host.complete
    assert host.srtt_ms is not None


async def test_catalogue_service_ids_are_attached_to_observations():
    with ExitStack() as stack:
        tcp_listener(stack, "127.0.0.22", 8888)
        outcome = await Scanner(config("8888,+8081")).run([target("127.0.0.22")], total=1)
    services = {o.port: o.service for o in outcome.hosts[0].ports}
    assert services == {8888: "semp", 8081: None}


async def test_retries_follow_the_configured_count_for_silent_udp_ports():
    with ExitStack() as stack:
        mute = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
        mute.bind(("127.0.0.23", 1900))
        outcome = await Scanner(config("1900/udp", udp_retries=3)).run([target("127.0.0.23")], total=1)
    (observation,) = outcome.hosts[0].ports
    assert observation.state is PortState.OPEN_FILTERED
    assert observation.attempts == 4


class EvidenceProbe:
    id = "good"

    def claims(self, observation: PortObservation) -> bool:
        return observation.protocol is Protocol.TCP

    async def run(self, context) -> dict:
        return {"banner": f"hello from {context.port}"}

    def assess(self, evidence: dict, observation: PortObservation) -> list:
        return []

    def summarise(self, evidence: dict) -> str:
        return evidence["banner"]


class CrashingProbe(EvidenceProbe):
    id = "crashing"

    async def run(self, context) -> dict:
        raise RuntimeError("parser bug")


class StallingProbe(EvidenceProbe):
    id = "stalling"

    async def run(self, context) -> dict:
        await asyncio.sleep(60)
        return {}


async def test_a_crashing_or_stalling_probe_becomes_data_and_spares_its_siblings():
    # Given an open port and three probes claiming it: one works, one raises, one stalls
    with ExitStack() as stack:
        tcp_listener(stack, "127.0.0.24", 80)
        scanner = Scanner(config("80", fingerprint=True, probe_budget=0.3), probes=[EvidenceProbe(), CrashingProbe(), StallingProbe()])
        # When the host is audited
        outcome = await scanner.run([target("127.0.0.24")], total=1)
    (host,) = outcome.hosts
    results = {probe.probe_id: probe for probe in host.probes}
    # Then the good probe's evidence is filed under its id on the port
    assert results["good"].status is ProbeStatus.COMPLETED
    assert host.ports[0].evidence["good"] == {"banner": "hello from 80"}
    assert host.ports[0].summary == "hello from 80"
    # And the crash and the stall are recorded as errors with their reasons
    assert (results["crashing"].status, results["crashing"].error_reason) == (ProbeStatus.ERROR, "bug")
    assert "parser bug" in results["crashing"].error_detail
    assert (results["stalling"].status, results["stalling"].error_reason) == (ProbeStatus.ERROR, "timeout")
    assert host.complete


class DelayedProbe(EvidenceProbe):
    """Claims every TCP port; answers after ``delay`` seconds with its own name."""

    def __init__(self, name: str, delay: float) -> None:
        self.id, self.delay = name, delay

    async def run(self, context) -> dict:
        await asyncio.sleep(self.delay)
        return {"banner": self.id}


async def test_a_port_summary_and_evidence_order_do_not_depend_on_which_probe_finished_first():
    reports = []
    for delays in ((0.2, 0.0), (0.0, 0.2)):
        # Given two probes claiming the same open port, finishing in one order, then the other
        with ExitStack() as stack:
            tcp_listener(stack, "127.0.0.25", 80)
            probes = [DelayedProbe("web", delays[0]), DelayedProbe("tls", delays[1])]
            outcome = await Scanner(config("80", fingerprint=True, probe_budget=2.0), probes=probes).run([target("127.0.0.25")], total=1)
        (observation,) = outcome.hosts[0].ports
        reports.append((observation.summary, list(observation.evidence)))
    # Then both runs read the same: summaries joined and evidence keyed in registry order
    assert reports[0] == reports[1] == ("web | tls", ["web", "tls"])


class SilenceProbe(EvidenceProbe):
    """Asks, hears nothing, says so as probes do: ProbeFailure(timeout)."""

    id = "asks"

    def claims(self, observation: PortObservation) -> bool:
        return True

    async def run(self, context) -> dict:
        raise ProbeFailure(ErrorReason.TIMEOUT, "no answer within 0.1 s")


async def test_silence_on_an_open_filtered_port_is_no_answer_and_on_an_open_port_an_error():
    # Given a bound-but-mute UDP port (open|filtered) and a listening TCP port, both met by silence
    with ExitStack() as stack:
        tcp_listener(stack, "127.0.0.26", 80)
        mute = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
        mute.bind(("127.0.0.26", 5353))
        outcome = await Scanner(config("80,5353/udp", fingerprint=True, udp_retries=0), probes=[SilenceProbe()]).run([target("127.0.0.26")], total=1)
    results = {(probe.port, probe.protocol): probe for probe in outcome.hosts[0].probes}
    # Then the UDP probe is no-answer (no error reason, the wait in the detail) and the TCP one an error
    udp, tcp = results[(5353, Protocol.UDP)], results[(80, Protocol.TCP)]
    assert (udp.status, udp.error_reason) == (ProbeStatus.NO_ANSWER, None)
    assert udp.error_detail == "no answer within 0.1 s; the port stays open|filtered"
    assert (tcp.status, tcp.error_reason) == (ProbeStatus.ERROR, "timeout")


class PortProbe(EvidenceProbe):
    """Claims one port; notes when it starts and ends in a shared log."""

    def __init__(self, name: str, port: int, log: list[str], *, delay: float = 0.0, after: frozenset[str] = frozenset()) -> None:
        self.id, self.port, self.log, self.delay = name, port, log, delay
        if after:
            self.after = after

    def claims(self, observation: PortObservation) -> bool:
        return observation.port == self.port

    async def run(self, context) -> dict:
        self.log.append(f"{self.id} starts")
        await asyncio.sleep(self.delay)
        self.log.append(f"{self.id} ends")
        return {"banner": self.id, "seen": {ref: sorted(evidence) for ref, evidence in context.host_evidence.items()}}


async def test_a_probe_declaring_after_waits_for_those_probes_only_and_reads_their_evidence():
    # Given a reader on 80 that declares after={"ssdp"}, the ssdp probe on 81, and a slow, unrelated probe on 82
    log: list[str] = []
    probes = [
        PortProbe("reader", 80, log, after=frozenset({"ssdp"})),
        PortProbe("ssdp", 81, log, delay=0.1),
        PortProbe("slow", 82, log, delay=1.0),
    ]
    with ExitStack() as stack:
        for port in (80, 81, 82):
            tcp_listener(stack, "127.0.0.27", port)
        outcome = await Scanner(config("80,81,82", fingerprint=True, probe_budget=5.0), probes=probes).run([target("127.0.0.27")], total=1)
    # Then the reader started after the ssdp probe ended, without waiting for the slow one
    assert log.index("ssdp ends") < log.index("reader starts") < log.index("slow ends")
    # And it saw the ssdp evidence of 81/tcp through context.host_evidence (the slow one was not in yet)
    reader = next(port for port in outcome.hosts[0].ports if port.port == 80).evidence["reader"]
    assert reader["seen"] == {"81/tcp": ["ssdp"]}


async def test_targets_are_pulled_lazily_so_a_huge_sweep_stays_bounded():
    # Given an endless supply of loopback targets, counted as they are pulled
    pulled = 0

    def endless():
        nonlocal pulled
        for number in itertools.count():
            pulled += 1
            yield target(str(ipaddress.ip_address("127.1.0.0") + number))

    scanner = Scanner(config("22", host_parallelism=4, discovery_batch=8))
    # When the sweep runs for a moment and is then cancelled (as Ctrl-C does)
    task = asyncio.ensure_future(scanner.run(endless(), total=10**6))
    await asyncio.sleep(0.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    outcome = scanner.snapshot()
    # Then only the hosts in flight plus one queue and one batch were ever pulled
    finished = len(outcome.hosts)
    assert finished > 0
    assert pulled <= finished + 4 + 4 * 2 + 8 + 8
    # And nothing found so far is lost
    assert all(o.state is PortState.CLOSED for host in outcome.hosts for o in host.ports if o.reason is not Reason.NOT_PROBED)


async def test_an_interrupted_host_keeps_its_decided_ports_and_marks_the_rest_not_probed():
    # Given a host with one fast closed port and many mute UDP ports
    with ExitStack() as stack:
        for port in (53, 1900, 5353):
            mute = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
            mute.bind(("127.0.0.25", port))
        scanner = Scanner(config("22,53/udp,1900/udp,5353/udp", per_host_connections=1, udp_retries=5, timing=TimingPolicy(initial_timeout=2.0, min_timeout=2.0, max_timeout=2.0)))
        task = asyncio.ensure_future(scanner.run([target("127.0.0.25")], total=1))
        await asyncio.sleep(0.3)
        # When the scan is interrupted
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    outcome = scanner.snapshot()
    # Then the host is reported incomplete, with 22/tcp decided and the rest not probed
    (host,) = outcome.hosts
    assert not host.complete
    states = by_port(host.ports)
    assert states["22/tcp"] == (PortState.CLOSED, Reason.RESET)
    assert {states[p] for p in ("53/udp", "1900/udp", "5353/udp")} == {(PortState.UNKNOWN, Reason.NOT_PROBED)}


async def test_discovery_none_reports_user_set_status_when_nothing_answers():
    # Given a target whose only probed port is mute
    with ExitStack() as stack:
        mute = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
        mute.bind(("127.0.0.26", 5353))
        outcome = await Scanner(config("5353/udp", udp_retries=0)).run([target("127.0.0.26")], total=1)
    (host,) = outcome.hosts
    assert (host.status, host.status_reason) == (HostStatus.UNKNOWN, "user-set")


async def test_ping_discovery_marks_a_live_loopback_host_up_and_reuses_the_ping_answers():
    # Given ping discovery with TCP pings on 443 and 80 (both closed on 127.0.0.27)
    outcome = await Scanner(config("80,443,22", discovery=DiscoveryMode.PING, ping_ports=(443, 80))).run([target("127.0.0.27")], total=1)
    (host,) = outcome.hosts
    # Then the host is up by echo reply (root) or by the RST of a TCP ping
    assert host.status is HostStatus.UP
    assert host.status_reason in {"echo-reply", "reset"}
    # And each port was probed exactly once: the ping answers count as port results
    assert {o.port: o.attempts for o in host.ports} == {22: 1, 80: 1, 443: 1}
    assert outcome.discovery["pinged"] == 1


def test_config_rejects_nonsense():
    with pytest.raises(ValueError):
        config("22", per_host_connections=0)
    with pytest.raises(ValueError):
        config("22", tcp_retries=-1)
