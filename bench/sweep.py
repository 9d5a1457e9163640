"""Sweep benchmark: porthole against nmap on the same lab /24, in one run.

    python -m bench.sweep [--repeat 3] [--no-udp] [--no-capture]     (root; make bench)

    bench/site.toml ──lab.control.up──▶ namespaces (3 ms each way to the switch)
        │
        │  round r = 1..N, contender order reversed on every other round
        │    ip -n <ns> neigh flush all          every run starts with cold ARP caches
        │    capture child on the scanner's eth0 (AF_PACKET, kernel timestamps)
        │    ip netns exec ph-bench-scan <scanner> ... ──os.wait4──▶ wall time, peak RSS
        │    parse porthole JSON / nmap XML ──▶ open (host, port) set ──▶ recall vs site
        ▼
    table on stdout + bench/results/sweep-<UTC time>.json (and .md) ──lab.control.down──▶ gone

Two comparisons, each on the same port set for every contender:

* **TCP**: the catalogue's TCP ports. porthole connect and ``--syn`` against
  ``nmap -sT -T4`` (the baseline of every ratio) and ``nmap -sS -T4``.
* **UDP**: the catalogue's UDP ports. porthole against ``nmap -sU -T4`` (the UDP
  baseline); nmap -sT has no UDP, so the two are never mixed.

Ground truth is the site file: ``lab.site.expected_port_states`` of each controller.
Recall is |found ∩ truth| / |truth| over *open* ports; anything reported open that
the site does not serve is a false positive.

Contract:

* Measures, never asserts: a slow machine gives slower figures, not a failure. The
  exit status is non-zero only when a scanner fails to run or the lab cannot start.
* Traffic stays inside the lab: every scanner runs in the scanner namespace, whose
  only route is the on-link lab subnet, and targets only that subnet.
* The site comes down in ``finally`` (Ctrl-C included); only processes this module
  started are signalled, by PID (pidfd), never by name.
* Wall time is ``time.perf_counter`` around spawn → reap; peak RSS is the child's
  ``ru_maxrss`` from ``os.wait4``. ``ip netns exec`` execs the scanner in place (no
  fork), so the rusage is the scanner's own (the brief ``ip`` image before the exec
  is a few MB and counts only if it were larger).
* The packet capture is observation only (how many new connections per second and
  at once each tool put on one host); ``--no-capture`` turns it off.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import select
import shlex
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from enum import StrEnum
from pathlib import Path

from defusedxml import ElementTree

from porthole import __version__ as porthole_version
from porthole.catalog import default_catalog
from porthole.errors import LabError
from porthole.model import PortRef, Protocol

from lab import control, netns
from lab.site import HostMode, Site, expected_port_states

__all__ = ["Comparison", "Contender", "RunResult", "Traffic", "contenders_for", "ground_truth", "main"]

BENCH_DIRECTORY = Path(__file__).resolve().parent
REPOSITORY = BENCH_DIRECTORY.parent
SITE_FILE = BENCH_DIRECTORY / "site.toml"
RESULTS_DIRECTORY = BENCH_DIRECTORY / "results"
#: a scanner that runs longer than this is killed and the run counted as failed
RUN_TIME_LIMIT_SECONDS = 600.0
#: the capture keeps this much of each frame: Ethernet + IPv4 + TCP/UDP headers
_CAPTURE_SNAP_BYTES = 96
_ETH_P_ALL = 0x0003
#: linux/asm-generic/socket.h; the socket module does not export it
_SO_TIMESTAMPNS = 35
_PACKET_OUTGOING = 4


class Comparison(StrEnum):
    TCP = "tcp"
    UDP = "udp"


class OutputFormat(StrEnum):
    PORTHOLE_JSON = "porthole-json"
    NMAP_XML = "nmap-xml"


# A found or expected open port: (address, protocol, number)
Endpoint = tuple[str, str, int]


@dataclass(frozen=True, slots=True, kw_only=True)
class Contender:
    """One scanner invocation; ``argv`` holds ``{output}`` where the report file goes."""

    tool: str
    mode: str
    comparison: Comparison
    argv: tuple[str, ...]
    output_format: OutputFormat
    #: the contender every ratio of this comparison is taken against
    baseline: bool = False

    @property
    def label(self) -> str:
        return f"{self.tool} {self.mode}"

    def command(self, output: Path) -> list[str]:
        return [part.replace("{output}", str(output)) for part in self.argv]


@dataclass(frozen=True, slots=True, kw_only=True)
class Traffic:
    """What the capture on the scanner's interface saw during one run.

    Times are seconds from the scanner's spawn. ``peak_new_per_second`` counts new
    probes (distinct TCP 4-tuples' first SYN, or UDP datagrams) to one host in any
    sliding one-second window; ``peak_concurrent`` counts TCP 4-tuples alive at once
    to one answering host (first SYN to last segment). Silent ports are left out of
    the concurrency figure: a connect that times out leaves no packet marking its end.
    """

    frames: int
    arp_requests: int
    tcp_syn_segments: int
    tcp_connections: int
    udp_datagrams: int
    peak_new_per_second: int
    peak_concurrent: int | None
    #: the scanner's first ARP or IP packet
    first_frame_s: float | None
    #: the last ARP request for an empty address: the end of the discovery sweep
    last_arp_request_s: float | None
    first_probe_s: float | None
    #: host class (open / closed / filtered / empty) -> last probe sent to such a host
    last_probe_s: dict[str, float]


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult:
    contender: str
    comparison: Comparison
    round: int
    position: int
    started_at: str
    wall_s: float
    #: the duration the scanner itself reports (porthole duration_s, nmap runstats elapsed)
    reported_s: float | None
    peak_rss_kb: int
    exit_status: int
    recall: float
    true_positives: int
    false_positives: tuple[str, ...]
    missed: tuple[str, ...]
    #: share of (controller, port) pairs whose reported state matches the site file
    state_agreement: float
    hosts_up: int
    traffic: Traffic | None
    stderr_tail: str = ""


@dataclass(slots=True)
class _Paths:
    work: Path
    results: Path
    stamp: str
    runs: list[RunResult] = field(default_factory=list)


# --- contenders and truth -------------------------------------------------------------


def catalogue_ports(protocol: Protocol) -> list[int]:
    return sorted(ref.number for ref in default_catalog().ports if ref.protocol is protocol)


def contenders_for(
    site: Site, *, udp: bool, porthole_executable: str, nmap_executable: str, variants: Sequence[str] = ()
) -> list[Contender]:
    """The scanner invocations of one round, TCP comparison first.

    ``variants`` are extra porthole option strings (``"--min-timeout 0.03"``), each
    run as one more TCP contender: what-if figures for tuning the engine.
    """
    subnet = str(site.subnet)
    tcp = ",".join(str(number) for number in catalogue_ports(Protocol.TCP))
    porthole = (porthole_executable, "scan", subnet, "--scope", subnet, "--format", "json", "--output", "{output}", "--quiet")
    # -n: no reverse DNS (the namespace has no resolver and porthole does none);
    # -oX: the XML report, parsed rather than scraped from the terminal output.
    nmap = (nmap_executable, "-n", "-oX", "{output}")
    contenders = [
        Contender(tool="porthole", mode="connect", comparison=Comparison.TCP, argv=(*porthole, "--ports", tcp), output_format=OutputFormat.PORTHOLE_JSON),
        Contender(tool="porthole", mode="--syn", comparison=Comparison.TCP, argv=(*porthole, "--ports", tcp, "--syn"), output_format=OutputFormat.PORTHOLE_JSON),
        *(
            Contender(tool="porthole", mode=f"connect {variant}", comparison=Comparison.TCP, argv=(*porthole, "--ports", tcp, *shlex.split(variant)), output_format=OutputFormat.PORTHOLE_JSON)
            for variant in variants
        ),
        Contender(tool="nmap", mode="-sT -T4", comparison=Comparison.TCP, argv=(*nmap, "-sT", "-T4", "-p", f"T:{tcp}", subnet), output_format=OutputFormat.NMAP_XML, baseline=True),
        Contender(tool="nmap", mode="-sS -T4", comparison=Comparison.TCP, argv=(*nmap, "-sS", "-T4", "-p", f"T:{tcp}", subnet), output_format=OutputFormat.NMAP_XML),
    ]
    if udp:
        udp_ports = catalogue_ports(Protocol.UDP)
        porthole_udp = ",".join(f"{number}/udp" for number in udp_ports)
        nmap_udp = ",".join(str(number) for number in udp_ports)
        contenders += [
            Contender(tool="porthole", mode="udp", comparison=Comparison.UDP, argv=(*porthole, "--ports", porthole_udp), output_format=OutputFormat.PORTHOLE_JSON),
            Contender(tool="nmap", mode="-sU -T4", comparison=Comparison.UDP, argv=(*nmap, "-sU", "-T4", "-p", f"U:{nmap_udp}", subnet), output_format=OutputFormat.NMAP_XML, baseline=True),
        ]
    return contenders


def expected_states(site: Site, comparison: Comparison) -> dict[Endpoint, str]:
    """Every (controller, port) of the comparison with the state the site file implies."""
    protocol = Protocol(comparison.value)
    ports = [PortRef(protocol, number) for number in catalogue_ports(protocol)]
    states: dict[Endpoint, str] = {}
    for controller in site.controllers:
        for (port_protocol, number), state in expected_port_states(controller, ports).items():
            states[(str(controller.address), port_protocol.value, number)] = state.value
    return states


def ground_truth(site: Site, comparison: Comparison) -> frozenset[Endpoint]:
    """The open ports a perfect sweep of this comparison reports."""
    return frozenset(endpoint for endpoint, state in expected_states(site, comparison).items() if state == "open")


def host_classes(site: Site) -> dict[str, str]:
    """Controller address -> open / closed / filtered (every other address is empty)."""
    names = {HostMode.NORMAL: "open", HostMode.CLOSED: "closed", HostMode.FILTERED: "filtered"}
    return {str(controller.address): names[controller.host] for controller in site.controllers}


# --- report parsing -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Parsed:
    #: every (host, port) the scanner reported, with its state
    states: dict[Endpoint, str]
    hosts_up: int
    #: the scan's own duration as the tool reports it (no interpreter start-up or exit)
    elapsed_s: float | None = None


def parse_porthole_json(path: Path) -> _Parsed:
    report = json.loads(path.read_text(encoding="utf-8"))
    states: dict[Endpoint, str] = {}
    for host in report["hosts"]:
        for port in host["ports"]:
            states[(host["address"], port["protocol"], int(port["port"]))] = port["state"]
    hosts_up = sum(1 for host in report["hosts"] if host["status"] == "up")
    return _Parsed(states, hosts_up, float(report["duration_s"]))


def parse_nmap_xml(path: Path) -> _Parsed:
    root = ElementTree.parse(str(path)).getroot()
    states: dict[Endpoint, str] = {}
    hosts_up = 0
    for host in root.iter("host"):
        status = host.find("status")
        if status is not None and status.get("state") == "up":
            hosts_up += 1
        address = next((a.get("addr") for a in host.iter("address") if a.get("addrtype") == "ipv4"), None)
        if address is None:
            continue
        # With 18 ports or fewer nmap lists every port (it folds a state into
        # <extraports> only above 25), so each port has its own <port> element.
        for port in host.iter("port"):
            state = port.find("state")
            if state is not None:
                states[(address, port.get("protocol", ""), int(port.get("portid", "0")))] = state.get("state", "")
    finished = root.find("runstats/finished")
    elapsed = float(finished.get("elapsed", "nan")) if finished is not None else None
    return _Parsed(states, hosts_up, elapsed)


# --- one measured run ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Exit:
    wall_s: float
    peak_rss_kb: int
    exit_status: int
    spawned_ns: int


def run_measured(argv: Sequence[str], *, stdout: Path, stderr: Path, time_limit: float = RUN_TIME_LIMIT_SECONDS) -> _Exit:
    """Run ``argv`` to completion; wall time around spawn → reap, peak RSS from wait4."""
    with stdout.open("wb") as out, stderr.open("wb") as err:
        spawned_ns = time.time_ns()
        started = time.perf_counter()
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=REPOSITORY)
        # A pidfd names this process and no later one: the time-limit kill below can
        # never hit a recycled PID, even racing the reap.
        pidfd = os.pidfd_open(process.pid)
        try:
            try:
                ready, _, _ = select.select([pidfd], [], [], time_limit)
            except BaseException:
                # Ctrl-C (or any failure) here: the scanner must not outlive the bench
                # run, or it would be scanning a site that is being torn down.
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                os.wait4(process.pid, 0)
                process.returncode = -int(signal.SIGKILL)
                raise
            if not ready:
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            _, status, usage = os.wait4(process.pid, 0)
            wall = time.perf_counter() - started
        finally:
            os.close(pidfd)
    process.returncode = os.waitstatus_to_exitcode(status)  # already reaped: keep Popen from waiting again
    exit_status = process.returncode if ready else -int(signal.SIGKILL)
    return _Exit(wall_s=wall, peak_rss_kb=usage.ru_maxrss, exit_status=exit_status, spawned_ns=spawned_ns)


def flush_neighbour_caches(state: control.LabState) -> None:
    """Cold ARP caches before every run: no contender inherits the previous one's."""
    for namespace in state.namespaces:
        subprocess.run(["ip", "-n", namespace, "neigh", "flush", "all"], check=False, capture_output=True)


def measure(contender: Contender, *, site: Site, state: control.LabState, paths: _Paths, round_number: int, position: int, capture: bool) -> RunResult:
    name = f"r{round_number}-{contender.tool}-" + "".join(c if c.isalnum() else "_" for c in contender.mode).strip("_")
    output = paths.work / (name + (".json" if contender.output_format is OutputFormat.PORTHOLE_JSON else ".xml"))
    flush_neighbour_caches(state)
    started_at = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    argv = [*control.scanner_prefix(site), *contender.command(output)]
    recorder = _Capture(site, paths.work / f"{name}.frames.json") if capture else None
    if recorder is not None:
        recorder.start()
    try:
        finished = run_measured(argv, stdout=paths.work / f"{name}.stdout", stderr=paths.work / f"{name}.stderr")
    finally:
        frames = recorder.stop() if recorder is not None else None
    stderr_tail = (paths.work / f"{name}.stderr").read_text(errors="replace")[-800:]
    # porthole: 0 clean, 1 findings; nmap: 0. Anything else means the run failed.
    failed = finished.exit_status not in (0, 1) or not output.exists()
    parsed = _Parsed({}, 0) if failed else (parse_porthole_json(output) if contender.output_format is OutputFormat.PORTHOLE_JSON else parse_nmap_xml(output))
    truth = ground_truth(site, contender.comparison)
    expected = expected_states(site, contender.comparison)
    found = frozenset(endpoint for endpoint, state in parsed.states.items() if state == "open" and endpoint[1] == contender.comparison.value)
    agreeing = sum(1 for endpoint, state in expected.items() if parsed.states.get(endpoint) == state)
    traffic = summarise_traffic(frames, site, spawned_ns=finished.spawned_ns, comparison=contender.comparison) if frames is not None else None
    return RunResult(
        contender=contender.label,
        comparison=contender.comparison,
        round=round_number,
        position=position,
        started_at=started_at,
        wall_s=round(finished.wall_s, 4),
        reported_s=parsed.elapsed_s,
        peak_rss_kb=finished.peak_rss_kb,
        exit_status=finished.exit_status,
        recall=len(found & truth) / len(truth) if truth else 1.0,
        true_positives=len(found & truth),
        false_positives=tuple(sorted(_endpoint_text(e) for e in found - truth)),
        missed=tuple(sorted(_endpoint_text(e) for e in truth - found)),
        state_agreement=agreeing / len(expected) if expected else 1.0,
        hosts_up=parsed.hosts_up,
        traffic=traffic,
        stderr_tail=stderr_tail if failed else "",
    )


def _endpoint_text(endpoint: Endpoint) -> str:
    address, protocol, number = endpoint
    return f"{address} {number}/{protocol}"


# --- packet capture -------------------------------------------------------------------


class _Capture:
    """A capture child in the scanner namespace, for the duration of one run."""

    def __init__(self, site: Site, output: Path) -> None:
        self._argv = [*control.scanner_prefix(site), sys.executable, "-m", "bench.sweep", "--capture-child", "--capture-output", str(output)]
        self._output = output
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(self._argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, cwd=REPOSITORY)
        assert self._process.stdout is not None
        # The child prints one line once its socket is bound: no frame of the run is lost.
        line = self._process.stdout.readline()
        if line.strip() != b"ready":
            self._process.kill()
            self._process.wait()
            raise RuntimeError(f"the packet capture in the scanner namespace did not start (said {line!r})")

    def stop(self) -> list[tuple[int, int, bytes]]:
        process = self._process
        if process is None:
            return []
        self._process = None
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
        if not self._output.exists():
            return []
        records = json.loads(self._output.read_text(encoding="utf-8"))
        return [(int(stamp), int(packet_type), bytes.fromhex(data)) for stamp, packet_type, data in records]


def _capture_child(output: Path, interface: str = netns.HOST_INTERFACE) -> int:
    """Record (kernel timestamp ns, packet type, first bytes) of every frame until SIGTERM."""
    stopping = False

    def stop(_signal: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    records: list[tuple[int, int, str]] = []
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(_ETH_P_ALL)) as capture:
        capture.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
        capture.bind((interface, 0))
        capture.settimeout(0.05)
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        while True:
            try:
                data, ancillary, _flags, address = capture.recvmsg(_CAPTURE_SNAP_BYTES, socket.CMSG_SPACE(16))
            except TimeoutError:
                if stopping:
                    break
                continue
            except InterruptedError:
                continue
            stamp = time.time_ns()
            for level, kind, value in ancillary:
                if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS and len(value) >= 16:
                    seconds, nanoseconds = struct.unpack("qq", value[:16])
                    stamp = seconds * 1_000_000_000 + nanoseconds
            records.append((stamp, address[2], data.hex()))
    output.write_text(json.dumps(records), encoding="utf-8")
    return 0


@dataclass(frozen=True, slots=True)
class _Frame:
    stamp_ns: int
    outgoing: bool
    kind: str  # arp-request | tcp | udp | other
    source: str = ""
    destination: str = ""
    source_port: int = 0
    destination_port: int = 0
    tcp_flags: int = 0


def decode_frame(stamp_ns: int, packet_type: int, data: bytes) -> _Frame:
    outgoing = packet_type == _PACKET_OUTGOING
    if len(data) < 14:
        return _Frame(stamp_ns, outgoing, "other")
    ethertype = int.from_bytes(data[12:14], "big")
    if ethertype == 0x0806 and len(data) >= 42:
        opcode = int.from_bytes(data[20:22], "big")
        return _Frame(stamp_ns, outgoing, "arp-request" if opcode == 1 else "other", socket.inet_ntoa(data[28:32]), socket.inet_ntoa(data[38:42]))
    if ethertype != 0x0800 or len(data) < 34:
        return _Frame(stamp_ns, outgoing, "other")
    header_length = (data[14] & 0x0F) * 4
    protocol = data[23]
    source, destination = socket.inet_ntoa(data[26:30]), socket.inet_ntoa(data[30:34])
    transport = 14 + header_length
    if protocol == 6 and len(data) >= transport + 14:
        source_port, destination_port = struct.unpack("!HH", data[transport : transport + 4])
        return _Frame(stamp_ns, outgoing, "tcp", source, destination, source_port, destination_port, data[transport + 13])
    if protocol == 17 and len(data) >= transport + 8:
        source_port, destination_port = struct.unpack("!HH", data[transport : transport + 4])
        return _Frame(stamp_ns, outgoing, "udp", source, destination, source_port, destination_port)
    return _Frame(stamp_ns, outgoing, "other", source, destination)


_SYN, _ACK = 0x02, 0x10


def tcp_lifetimes(frames: Iterable[_Frame], scanner: str) -> dict[tuple[str, int, int], list[int]]:
    """(host, port, scanner port) -> [first SYN, last segment either way], in ns.

    A TCP probe is a 4-tuple: its first SYN starts it, its last segment either way ends it.
    """
    lifetimes: dict[tuple[str, int, int], list[int]] = {}
    for frame in frames:
        if frame.kind != "tcp":
            continue
        if frame.source == scanner:
            key = (frame.destination, frame.destination_port, frame.source_port)
            if frame.tcp_flags & _SYN and not frame.tcp_flags & _ACK:
                lifetimes.setdefault(key, [frame.stamp_ns, frame.stamp_ns])
        else:
            key = (frame.source, frame.source_port, frame.destination_port)
        if key in lifetimes:
            lifetimes[key][1] = frame.stamp_ns
    return lifetimes


def summarise_traffic(records: Iterable[tuple[int, int, bytes]], site: Site, *, spawned_ns: int, comparison: Comparison) -> Traffic:
    frames = [decode_frame(*record) for record in records]
    scanner = str(site.scanner)
    classes = host_classes(site)

    def seconds(stamp_ns: int) -> float:
        return round((stamp_ns - spawned_ns) / 1e9, 4)

    arp_requests = [f for f in frames if f.kind == "arp-request" and f.source == scanner]
    syns = [f for f in frames if f.kind == "tcp" and f.source == scanner and f.tcp_flags & _SYN and not f.tcp_flags & _ACK]
    datagrams = [f for f in frames if f.kind == "udp" and f.source == scanner]
    lifetimes = tcp_lifetimes(frames, scanner)
    starts_by_host: dict[str, list[int]] = defaultdict(list)
    if comparison is Comparison.TCP:
        for (host, _port, _source_port), (start, _end) in lifetimes.items():
            starts_by_host[host].append(start)
    else:
        for datagram in datagrams:
            starts_by_host[datagram.destination].append(datagram.stamp_ns)
    peak_concurrent: int | None = None
    if comparison is Comparison.TCP:
        intervals_by_host: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for (host, _port, _source_port), (start, end) in lifetimes.items():
            if classes.get(host) in ("open", "closed"):
                intervals_by_host[host].append((start, end))
        peak_concurrent = max((_peak_overlap(intervals) for intervals in intervals_by_host.values()), default=0)
    probes = [*syns, *datagrams]
    from_scanner = [f for f in frames if f.outgoing and f.source == scanner]
    first_probe_ns = min((p.stamp_ns for p in probes), default=None)
    # Only the discovery sweep asks for empty addresses; the kernel's own requests
    # (resolving a live host for connect()) go to hosts that answered.
    discovery_arp = [f.stamp_ns for f in arp_requests if f.destination not in classes]
    last_probe: dict[str, float] = {}
    for probe in probes:
        host_class = classes.get(probe.destination, "empty")
        last_probe[host_class] = max(last_probe.get(host_class, 0.0), seconds(probe.stamp_ns))
    return Traffic(
        frames=len(frames),
        arp_requests=len(arp_requests),
        tcp_syn_segments=len(syns),
        tcp_connections=len(lifetimes),
        udp_datagrams=len(datagrams),
        peak_new_per_second=max((_peak_in_window(starts, 1_000_000_000) for starts in starts_by_host.values()), default=0),
        peak_concurrent=peak_concurrent,
        # the scanner's first ARP or IP packet (kernel IPv6 chatter on the link is not the scanner's)
        first_frame_s=seconds(min(f.stamp_ns for f in from_scanner)) if from_scanner else None,
        last_arp_request_s=seconds(max(discovery_arp)) if discovery_arp else None,
        first_probe_s=seconds(first_probe_ns) if first_probe_ns is not None else None,
        last_probe_s=dict(sorted(last_probe.items())),
    )


def _peak_in_window(stamps: Sequence[int], window_ns: int) -> int:
    """Most stamps inside any half-open window [t, t + window)."""
    ordered = sorted(stamps)
    best = 0
    first = 0
    for last, stamp in enumerate(ordered):
        while stamp - ordered[first] >= window_ns:
            first += 1
        best = max(best, last - first + 1)
    return best


def _peak_overlap(intervals: Sequence[tuple[int, int]]) -> int:
    # An end sorts before a start at the same instant: back-to-back is not overlap.
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals], key=lambda event: (event[0], event[1]))
    current = best = 0
    for _, change in events:
        current += change
        best = max(best, current)
    return best


# --- the whole run --------------------------------------------------------------------


def rounds(contenders: Sequence[Contender], repeat: int) -> Iterator[tuple[int, list[Contender]]]:
    """Round r runs every contender once; odd rounds reverse the order (warm-up and drift even out)."""
    for index in range(repeat):
        order = list(contenders) if index % 2 == 0 else list(reversed(contenders))
        yield index + 1, order


@dataclass(frozen=True, slots=True, kw_only=True)
class Summary:
    contender: str
    comparison: Comparison
    baseline: bool
    runs: int
    failed_runs: int
    median_s: float
    min_s: float
    max_s: float
    #: median of the duration the tool reports itself: wall time minus start-up and exit
    median_reported_s: float | None
    time_ratio: float | None
    median_rss_mb: float
    rss_ratio: float | None
    min_recall: float
    max_false_positives: int
    min_state_agreement: float
    hosts_up: int
    missed: tuple[str, ...]
    peak_new_per_second: int | None
    peak_concurrent: int | None
    median_arp_requests: float | None
    median_tcp_connections: float | None
    median_udp_datagrams: float | None


def summarise(contenders: Sequence[Contender], runs: Sequence[RunResult]) -> list[Summary]:
    by_label: dict[str, list[RunResult]] = defaultdict(list)
    for run in runs:
        by_label[run.contender].append(run)
    medians = {label: statistics.median(r.wall_s for r in results) for label, results in by_label.items()}
    rss = {label: statistics.median(r.peak_rss_kb for r in results) for label, results in by_label.items()}
    baselines = {c.comparison: c.label for c in contenders if c.baseline}
    summaries = []
    for contender in contenders:
        results = by_label.get(contender.label, [])
        if not results:
            continue
        baseline = baselines.get(contender.comparison)
        traffic = [r.traffic for r in results if r.traffic is not None]
        summaries.append(
            Summary(
                contender=contender.label,
                comparison=contender.comparison,
                baseline=contender.baseline,
                runs=len(results),
                failed_runs=sum(1 for r in results if r.exit_status not in (0, 1)),
                median_s=round(medians[contender.label], 3),
                min_s=round(min(r.wall_s for r in results), 3),
                max_s=round(max(r.wall_s for r in results), 3),
                median_reported_s=_median_present(r.reported_s for r in results),
                time_ratio=round(medians[contender.label] / medians[baseline], 3) if baseline in medians else None,
                median_rss_mb=round(rss[contender.label] / 1024, 1),
                rss_ratio=round(rss[contender.label] / rss[baseline], 2) if baseline in rss else None,
                min_recall=min(r.recall for r in results),
                max_false_positives=max(len(r.false_positives) for r in results),
                min_state_agreement=min(r.state_agreement for r in results),
                hosts_up=max(r.hosts_up for r in results),
                missed=tuple(sorted({m for r in results for m in r.missed})),
                peak_new_per_second=max((t.peak_new_per_second for t in traffic), default=None),
                peak_concurrent=max((t.peak_concurrent for t in traffic if t.peak_concurrent is not None), default=None),
                median_arp_requests=statistics.median(t.arp_requests for t in traffic) if traffic else None,
                median_tcp_connections=statistics.median(t.tcp_connections for t in traffic) if traffic else None,
                median_udp_datagrams=statistics.median(t.udp_datagrams for t in traffic) if traffic else None,
            )
        )
    return summaries


def _median_present(values: Iterable[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return round(statistics.median(present), 3) if present else None


def markdown_table(summaries: Sequence[Summary]) -> str:
    header = (
        "| ports | scanner | median s (min-max) | in-tool s | time vs baseline | open recall | false pos. | states right "
        "| hosts up | peak RSS MB | RSS vs baseline | new probes/s/host | conns at once/host |"
    )
    lines = [header, _separator(header)]
    for s in summaries:
        marker = " (baseline)" if s.baseline else ""
        lines.append(
            f"| {s.comparison.value} | {s.contender}{marker} | {s.median_s:.2f} ({s.min_s:.2f}-{s.max_s:.2f}) "
            f"| {_optional_seconds(s.median_reported_s)} "
            f"| {_ratio(s.time_ratio)} | {s.min_recall:.0%} | {s.max_false_positives} | {s.min_state_agreement:.0%} "
            f"| {s.hosts_up} | {s.median_rss_mb:.1f} | {_ratio(s.rss_ratio)} "
            f"| {_optional(s.peak_new_per_second)} | {_optional(s.peak_concurrent)} |"
        )
    return "\n".join(lines)


def timeline_table(runs: Sequence[RunResult]) -> str:
    """Median phase times per contender, from the capture (seconds after spawn)."""
    header = "| scanner | first packet out | last ARP to an empty address | first probe | last probe: open hosts | closed | filtered | exit (wall) | ARP requests | TCP conns | UDP datagrams |"
    lines = [header, _separator(header)]
    by_label: dict[str, list[RunResult]] = defaultdict(list)
    for run in runs:
        if run.traffic is not None:
            by_label[run.contender].append(run)
    for label, results in by_label.items():
        traffics = [r.traffic for r in results if r.traffic is not None]

        def median_of(values: Iterable[float | None], digits: int = 2) -> str:
            present = [v for v in values if v is not None]
            return f"{statistics.median(present):.{digits}f}" if present else "-"

        lines.append(
            f"| {label} | {median_of(t.first_frame_s for t in traffics)} | {median_of(t.last_arp_request_s for t in traffics)} "
            f"| {median_of(t.first_probe_s for t in traffics)} | "
            + " | ".join(median_of(t.last_probe_s.get(kind) for t in traffics) for kind in ("open", "closed", "filtered"))
            + f" | {median_of(r.wall_s for r in results)} | {median_of((t.arp_requests for t in traffics), 0)} "
            f"| {median_of((t.tcp_connections for t in traffics), 0)} | {median_of((t.udp_datagrams for t in traffics), 0)} |"
        )
    return "\n".join(lines)


def _separator(header: str) -> str:
    return "|" + "|".join("---" for _ in range(header.count("|") - 1)) + "|"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _optional_seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _optional(value: int | None) -> str:
    return "-" if value is None else str(value)


def machine_info(nmap_executable: str) -> dict[str, object]:
    cpu_model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_kb = 0
    try:
        memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        pass
    nmap_version = subprocess.run([nmap_executable, "--version"], capture_output=True, text=True, check=False).stdout.splitlines()
    revision = subprocess.run(["git", "-C", str(REPOSITORY), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False).stdout.strip()
    changed = subprocess.run(["git", "-C", str(REPOSITORY), "status", "--porcelain"], capture_output=True, text=True, check=False).stdout.splitlines()
    return {
        # the tree that was measured: a benchmark without its revision cannot be compared
        "git_revision": revision or "unknown",
        "git_uncommitted_paths": len(changed),
        "hostname": platform.node(),
        "platform": platform.platform(),
        "kernel": platform.release(),
        "cpu_model": cpu_model,
        "cpus": os.cpu_count(),
        "memory_mb": memory_kb // 1024,
        "python": platform.python_version(),
        "porthole": porthole_version,
        "nmap": nmap_version[0] if nmap_version else "unknown",
        "load_average_at_start": os.getloadavg(),
    }


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sweep", description="Sweep the bench lab /24 with porthole and nmap; print time, memory and recall ratios (root).")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; every contender runs once per round (default 3)")
    parser.add_argument("--site", type=Path, default=SITE_FILE, help="site file (default: bench/site.toml)")
    parser.add_argument("--results", type=Path, default=RESULTS_DIRECTORY, help="where the JSON and markdown results go")
    parser.add_argument("--no-udp", action="store_true", help="skip the UDP comparison (porthole vs nmap -sU)")
    parser.add_argument("--no-capture", action="store_true", help="do not capture packets (no per-host rate and concurrency figures)")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="OPTIONS",
        help="also run porthole connect with these extra options, e.g. --variant '--min-timeout 0.03' (repeatable)",
    )
    parser.add_argument("--capture-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--capture-output", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.capture_child:
        return _capture_child(arguments.capture_output)
    if arguments.repeat < 1:
        parser.error("--repeat must be at least 1")
    if os.geteuid() != 0:
        parser.error("needs root: it builds network namespaces and runs nmap -sS/-sU (sudo make bench)")
    nmap_executable = shutil.which("nmap")
    if nmap_executable is None:
        parser.error("nmap is not installed (apt-get install nmap)")
    porthole_executable = str(Path(sys.executable).with_name("porthole"))
    if not Path(porthole_executable).exists():
        parser.error(f"{porthole_executable} not found: install porthole into this interpreter's environment (make venv)")

    site = control.load_site(arguments.site)
    contenders = contenders_for(site, udp=not arguments.no_udp, porthole_executable=porthole_executable, nmap_executable=nmap_executable, variants=arguments.variant)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    arguments.results.mkdir(parents=True, exist_ok=True)
    # Scanner reports and captures go to tmpfs while the runs go on, so a disk
    # stall (porthole fsyncs its report; the VM's disk is shared) is not measured
    # as scan time; they are copied next to the results at the end.
    scratch_root = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
    paths = _Paths(work=Path(tempfile.mkdtemp(prefix="porthole-bench-", dir=scratch_root)), results=arguments.results, stamp=stamp)
    kept = arguments.results / f"sweep-{stamp}"
    machine = machine_info(nmap_executable)
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    cpus = os.cpu_count() or 1
    if os.getloadavg()[0] > cpus / 2:
        # porthole (Python: start-up is CPU-bound imports) suffers more from a busy
        # machine than nmap does, so a loaded machine skews the ratio against it.
        _say(f"bench: warning: load average {os.getloadavg()[0]:.1f} on {cpus} CPUs; figures will be noisy and skewed against porthole")
    _say(f"bench: bringing up site {site.name!r} ({site.subnet}, {len(site.controllers)} hosts, {site.link_delay_ms:g} ms link delay)")
    lab_started = time.perf_counter()
    try:
        # Outside the try/finally below: a site that is already up belongs to
        # someone else and must not be taken down; a failed up cleans up itself.
        state = control.up(arguments.site)
    except LabError as error:
        shutil.rmtree(paths.work, ignore_errors=True)
        _say(f"bench: lab error: {error}")
        return 1
    try:
        _say(f"bench: site up in {time.perf_counter() - lab_started:.1f} s; {arguments.repeat} round(s) of {len(contenders)} runs")
        for round_number, order in rounds(contenders, arguments.repeat):
            for position, contender in enumerate(order, start=1):
                run = measure(contender, site=site, state=state, paths=paths, round_number=round_number, position=position, capture=not arguments.no_capture)
                paths.runs.append(run)
                note = f" FAILED (exit {run.exit_status}): {run.stderr_tail.strip()[-200:]}" if run.exit_status not in (0, 1) else ""
                _say(
                    f"  round {round_number} {contender.comparison.value} {contender.label:<18} {run.wall_s:6.2f} s "
                    f"{run.peak_rss_kb / 1024:6.1f} MB  recall {run.recall:.0%}  false+ {len(run.false_positives)}{note}"
                )
    finally:
        try:
            control.down(site.name)
        finally:
            shutil.copytree(paths.work, kept)
            shutil.rmtree(paths.work, ignore_errors=True)
    finished_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    machine["load_average_at_end"] = os.getloadavg()

    summaries = summarise(contenders, paths.runs)
    table = markdown_table(summaries)
    timeline = timeline_table(paths.runs) if not arguments.no_capture else ""
    truth = {comparison.value: sorted(_endpoint_text(e) for e in ground_truth(site, comparison)) for comparison in {c.comparison for c in contenders}}
    results = {
        "benchmark": "sweep",
        "started_at": started_at,
        "finished_at": finished_at,
        "machine": machine,
        "site": {"file": str(arguments.site), "name": site.name, "subnet": str(site.subnet), "link_delay_ms": site.link_delay_ms, "hosts": host_classes(site)},
        "repeat": arguments.repeat,
        "ground_truth_open": truth,
        "contenders": [{"label": c.label, "comparison": c.comparison.value, "baseline": c.baseline, "argv": list(c.argv)} for c in contenders],
        "summary": [asdict(s) for s in summaries],
        "runs": [asdict(r) for r in paths.runs],
    }
    json_path = paths.results / f"sweep-{stamp}.json"
    json_path.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    markdown = (
        f"Sweep of {site.subnet} ({site.link_delay_ms:g} ms each way), {arguments.repeat} round(s), {started_at}, "
        f"porthole {machine['porthole']} at {machine['git_revision']} ({machine['git_uncommitted_paths']} uncommitted paths), "
        f"{machine['nmap']}, {machine['cpus']} CPUs, load average {machine['load_average_at_start'][0]:.1f} at start "
        f"and {machine['load_average_at_end'][0]:.1f} at end\n\n{table}\n"
    )
    if timeline:
        markdown += f"\nMedian timeline (seconds after spawn, from the capture):\n\n{timeline}\n"
    (paths.results / f"sweep-{stamp}.md").write_text(markdown, encoding="utf-8")
    _say("")
    _say(markdown)
    _say(f"bench: results in {json_path} (raw reports and captures in {kept})")
    missed = [s for s in summaries if s.missed]
    for summary in missed:
        _say(f"  {summary.contender} missed: {', '.join(summary.missed)}")
    return 0 if not any(s.failed_runs for s in summaries) else 1


if __name__ == "__main__":
    sys.exit(main())
