"""The scan engine: owns concurrency, deadlines, limits and ordering.

    targets (lazy) ──batch──▶ discovery (ARP on-link, root) ──▶ bounded queue ──▶ host workers
                                                                                 │ per host:
                                                                                 │  ping (if not ARPed)
                                                                                 │  pass 1: every port once
                                                                                 │  pass 2: retry the silent ones
                                                                                 │  fingerprint probes (audit)
                                                                                 ▼
                                                                         HostResult (+ observer)

Invariants:

* Memory is bounded by ``host_parallelism``: targets are pulled lazily in discovery
  batches and handed to a fixed pool of workers through a bounded queue, so a /16
  never becomes 65 536 tasks.
* Every probe to a host passes its ``HostGate`` (per-host connections + pacing) and
  the global semaphore; every attempt has a deadline from the host's RTT estimator.
* One failing probe never cancels its siblings: exceptions become data
  (``Reason.ERROR``/``ProbeResult``); only ``CancelledError`` propagates.
* Interrupting ``run`` loses nothing: ``snapshot()`` returns finished hosts plus the
  ports already decided on hosts in progress (marked ``complete=False``).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import ssl
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Iterable, Iterator, Protocol as TypingProtocol, Sequence, runtime_checkable

from porthole import __version__
from porthole.catalog import CatalogPort
from porthole.codecs import CodecError
from porthole.engine.limits import HostGate
from porthole.engine.reach import Attempt, attempt_tcp, attempt_udp, silent_state
from porthole.engine.timing import RttEstimator, TimingPolicy
from porthole.errors import ErrorReason, ScanSetupError
from porthole.model import (
    SUMMARY_SEPARATOR,
    HostResult,
    HostStatus,
    PortObservation,
    PortRef,
    PortState,
    ProbeResult,
    ProbeStatus,
    Protocol,
    Reason,
    ScanError,
)
from porthole.net import arp, routes
from porthole.net.icmp import icmp_echo
from porthole.net.syn import SynProber
from porthole.services.base import ProbeContext, ProbeFailure
from porthole.targets import Target

__all__ = ["DiscoveryMode", "NullObserver", "ScanConfig", "ScanOutcome", "Scanner", "ScanObserver"]

log = logging.getLogger(__name__)

#: Silent ports needed before "this host drops everything" is believed over packet loss.
_DROP_EVIDENCE_PORTS = 4


class DiscoveryMode(StrEnum):
    #: ARP for on-link IPv4 targets when root, otherwise ICMP/TCP ping
    AUTO = "auto"
    ARP = "arp"
    PING = "ping"
    #: probe every address (``--no-discovery``)
    NONE = "none"


@runtime_checkable
class ScanObserver(TypingProtocol):
    """Progress callbacks; the engine never prints (``report.progress`` draws them)."""

    def on_scan_started(self, total_hosts: int, total_probes: int) -> None: ...
    def on_host_started(self, address: str) -> None: ...
    def on_port_done(self, address: str, observation: PortObservation) -> None: ...
    def on_host_done(self, result: HostResult) -> None: ...
    def on_scan_finished(self) -> None: ...


class NullObserver:
    """Ignores every event."""

    def on_scan_started(self, total_hosts: int, total_probes: int) -> None:
        pass

    def on_host_started(self, address: str) -> None:
        pass

    def on_port_done(self, address: str, observation: PortObservation) -> None:
        pass

    def on_host_done(self, result: HostResult) -> None:
        pass

    def on_scan_finished(self) -> None:
        pass


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanConfig:
    ports: tuple[CatalogPort, ...]
    timing: TimingPolicy = TimingPolicy()
    #: probes in flight across the whole sweep
    max_connections: int = 128
    #: probes in flight to one host (embedded controllers have few connection slots)
    per_host_connections: int = 2
    #: new connections or datagrams per second to one host
    per_host_rate: float = 40.0
    #: hosts scanned at once (also bounds memory)
    host_parallelism: int = 32
    tcp_retries: int = 1
    udp_retries: int = 1
    #: least time between two attempts at the same port (protocols.md §0: ≥ 250 ms)
    retry_spacing: float = 0.25
    discovery: DiscoveryMode = DiscoveryMode.AUTO
    #: how long ARP answers are awaited after the last request of a batch
    discovery_timeout: float = 0.5
    #: ARP requests per second on one segment during discovery (each is a broadcast
    #: every device on the VLAN must look at)
    arp_rate: float = 1000.0
    #: targets pulled, and ARPed, together
    discovery_batch: int = 256
    #: TCP ports used by the ping fallback (their answers also count as port results)
    ping_ports: tuple[int, ...] = (443, 80)
    syn: bool = False
    #: run the fingerprint probes on open ports (``audit``); ``scan`` leaves it off
    fingerprint: bool = False
    #: deadline for one fingerprint probe
    probe_budget: float = 10.0

    def __post_init__(self) -> None:
        for name in ("max_connections", "per_host_connections", "host_parallelism", "discovery_batch"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.per_host_rate <= 0:
            raise ValueError("per_host_rate must be positive")
        if self.arp_rate <= 0:
            raise ValueError("arp_rate must be positive")
        if self.tcp_retries < 0 or self.udp_retries < 0:
            raise ValueError("retries cannot be negative")
        if not self.ports:
            raise ValueError("no ports to scan")


@dataclass(slots=True, kw_only=True)
class ScanOutcome:
    hosts: list[HostResult]
    down: list[str]
    errors: list[ScanError]
    discovery: dict[str, Any]
    #: targets that were never started (the scan was interrupted first)
    not_scanned: int = 0


@dataclass(slots=True)
class _Liveness:
    status: HostStatus
    reason: str
    rtt_s: float | None = None


@dataclass(slots=True)
class _HostScan:
    """A host in progress: mutable until ``finish``."""

    target: Target
    liveness: _Liveness | None
    estimator: RttEstimator
    gate: HostGate
    observations: dict[PortRef, PortObservation] = field(default_factory=dict)
    probes: list[ProbeResult] = field(default_factory=list)
    first_answer: str | None = None


class Scanner:
    def __init__(self, config: ScanConfig, observer: ScanObserver | None = None, probes: Sequence[Any] = ()) -> None:
        self.config = config
        self.observer: ScanObserver = observer or NullObserver()
        self._probes = tuple(probes)
        #: registry position of each probe id: the order of a port's evidence and summaries
        self._probe_order = {probe.id: index for index, probe in enumerate(self._probes)}
        self._finished: list[HostResult] = []
        self._down: list[str] = []
        self._errors: list[ScanError] = []
        self._in_progress: dict[str, _HostScan] = {}
        self._started_count = 0
        self._total_targets = 0
        self._global = asyncio.Semaphore(config.max_connections)
        self._syn: SynProber | None = None
        self._routes: tuple[routes.OnLinkRoute, ...] = ()
        self._raw = False
        self._discovery_stats: dict[str, Any] = {"mode": config.discovery.value, "arp_requests": 0, "arp_replies": 0, "pinged": 0}

    # ---------------------------------------------------------------- public API
    async def run(self, targets: Iterable[Target], *, total: int | None = None) -> ScanOutcome:
        """Scan every target; returns when all are done (or raises CancelledError)."""
        self._total_targets = total if total is not None else (len(targets) if hasattr(targets, "__len__") else 0)  # type: ignore[arg-type]
        self._raw = arp.raw_sockets_available()
        if self.config.syn and not self._raw:
            raise ScanSetupError("--syn needs raw sockets: run as root (or with CAP_NET_RAW), or drop --syn to use TCP connect probes")
        if self.config.discovery is DiscoveryMode.ARP and not self._raw:
            raise ScanSetupError("ARP discovery needs raw sockets: run as root, or use --discovery ping")
        if self.config.discovery in (DiscoveryMode.AUTO, DiscoveryMode.ARP):
            self._routes = routes.on_link_routes()
        self.observer.on_scan_started(self._total_targets, self._total_targets * len(self.config.ports))
        try:
            if self.config.syn:
                async with SynProber() as syn:
                    self._syn = syn
                    await self._run_pool(targets)
            else:
                await self._run_pool(targets)
        finally:
            self._syn = None
        self.observer.on_scan_finished()
        return self.snapshot()

    def snapshot(self) -> ScanOutcome:
        """Everything found so far, including partial hosts (``complete=False``)."""
        partial = [self._finish(scan, complete=False) for scan in self._in_progress.values()]
        hosts = sorted([*self._finished, *partial], key=_address_key)
        return ScanOutcome(
            hosts=hosts,
            down=sorted(self._down, key=_address_key_str),
            errors=list(self._errors),
            discovery=dict(self._discovery_stats),
            not_scanned=max(0, self._total_targets - self._started_count),
        )

    # ---------------------------------------------------------------- pool
    async def _run_pool(self, targets: Iterable[Target]) -> None:
        queue: asyncio.Queue[tuple[Target, _Liveness | None] | None] = asyncio.Queue(maxsize=self.config.host_parallelism * 2)
        workers = self.config.host_parallelism
        async with asyncio.TaskGroup() as group:
            for _ in range(workers):
                group.create_task(self._worker(queue))
            for batch in _batched(iter(targets), self.config.discovery_batch):
                await self._discover_into(batch, queue)
            # One sentinel per worker: each finishes its last host, then returns.
            for _ in range(workers):
                await queue.put(None)

    async def _worker(self, queue: asyncio.Queue[tuple[Target, _Liveness | None] | None]) -> None:
        while True:
            item = await queue.get()
            if item is None:
                return
            target, liveness = item
            self._started_count += 1
            await self._scan_host_guarded(target, liveness)

    # ---------------------------------------------------------------- discovery
    async def _discover_into(self, batch: list[Target], queue: asyncio.Queue[tuple[Target, _Liveness | None] | None]) -> None:
        """Hand a batch's targets to the workers, ARPing the on-link IPv4 ones first.

        A host that answers ARP is queued the moment its reply arrives; targets that
        cannot be ARPed are queued at once and pinged by their worker; only the silent
        on-link addresses wait for the ARP window, and they are recorded down.
        """
        mode = self.config.discovery
        if mode is DiscoveryMode.NONE:
            for target in batch:
                await queue.put((target, _Liveness(HostStatus.UNKNOWN, "user-set")))
            return
        arp_groups: dict[routes.OnLinkRoute, list[Target]] = {}
        for target in batch:
            route = None
            if self._raw and mode is not DiscoveryMode.PING and target.address.version == 4:
                route = routes.on_link_interface(target.address, self._routes)
            if route is None or str(target.address) == route.source:
                if mode is DiscoveryMode.ARP:
                    self._errors.append(ScanError(scope=str(target.address), message="not on a directly attached IPv4 segment: ARP discovery impossible, host pinged instead"))
                await queue.put((target, None))
            else:
                arp_groups.setdefault(route, []).append(target)
        for route, group in arp_groups.items():
            by_address = {str(target.address): target for target in group}
            pending = dict(by_address)
            self._discovery_stats["arp_requests"] += len(by_address)
            try:
                async for address, rtt in arp.arp_sweep(list(by_address), route.interface, route.source, interval=1.0 / self.config.arp_rate, window=self.config.discovery_timeout):
                    self._discovery_stats["arp_replies"] += 1
                    await queue.put((pending.pop(address), _Liveness(HostStatus.UP, "arp-response", rtt)))
            except OSError as exc:  # no such interface, no permission: ping what is left, keep the evidence
                self._errors.append(ScanError(scope=f"arp:{route.interface}", message=f"ARP discovery failed ({exc.strerror or exc}); remaining hosts pinged instead"))
                for target in pending.values():
                    await queue.put((target, None))
                continue
            for address in pending:
                self._started_count += 1
                self._down.append(address)

    async def _ping(self, scan: _HostScan) -> _Liveness:
        """ICMP echo (root) and TCP connect pings; any answer means up."""
        self._discovery_stats["pinged"] += 1
        address = str(scan.target.address)
        answers: list[_Liveness] = []

        async def echo() -> None:
            async with scan.gate.slot():
                try:
                    async with asyncio.timeout(scan.estimator.timeout):
                        rtt = await icmp_echo(address)
                except (TimeoutError, OSError):
                    return
            scan.estimator.observe(rtt)
            answers.append(_Liveness(HostStatus.UP, "echo-reply", rtt))

        async def tcp_ping(port: int) -> None:
            entry = next((p for p in self.config.ports if p.protocol is Protocol.TCP and p.number == port), None)
            attempt = await self._attempt(scan, entry or CatalogPort(protocol=Protocol.TCP, number=port, service="unknown", purpose="ping"))
            if attempt is not None and attempt.reason in (Reason.SYN_ACK, Reason.RESET):
                answers.append(_Liveness(HostStatus.UP, attempt.reason.value, attempt.rtt_s))
                if entry is not None:
                    self._record(scan, entry, attempt, attempts=1)

        async with asyncio.TaskGroup() as group:
            if self._raw and scan.target.address.version == 4:
                group.create_task(echo())
            for port in self.config.ping_ports:
                group.create_task(tcp_ping(port))
        if answers:
            return answers[0]
        return _Liveness(HostStatus.DOWN, "no-response")

    # ---------------------------------------------------------------- one host
    async def _scan_host_guarded(self, target: Target, liveness: _Liveness | None) -> None:
        address = str(target.address)
        estimator = RttEstimator(self.config.timing)
        if liveness is not None and liveness.rtt_s is not None:
            estimator.observe(liveness.rtt_s)
        scan = _HostScan(
            target=target,
            liveness=liveness,
            estimator=estimator,
            gate=HostGate(connections=self.config.per_host_connections, rate=self.config.per_host_rate, global_limit=self._global),
        )
        self._in_progress[address] = scan
        self.observer.on_host_started(address)
        try:
            await self._scan_host(scan)
        except Exception as exc:  # an engine bug on one host must not end the sweep
            log.exception("scan of %s failed", address)
            self._errors.append(ScanError(scope=address, message=f"scan of this host failed: {type(exc).__name__}: {exc}"))
            result = self._finish(scan, complete=False)
        else:
            if scan.liveness is not None and scan.liveness.status is HostStatus.DOWN:
                self._down.append(address)
                del self._in_progress[address]
                return
            result = self._finish(scan, complete=True)
        del self._in_progress[address]
        self._finished.append(result)
        self.observer.on_host_done(result)

    async def _scan_host(self, scan: _HostScan) -> None:
        if scan.liveness is None:
            scan.liveness = await self._ping(scan)
            if scan.liveness.status is HostStatus.DOWN:
                return
        pending = [entry for entry in self.config.ports if entry.ref not in scan.observations]
        silent = await self._pass(scan, pending, attempt_number=1)
        retries = {Protocol.TCP: self.config.tcp_retries, Protocol.UDP: self.config.udp_retries}
        if self._drops_everything(scan, silent):
            # The host answered ARP but not one of its port probes: it drops, it does
            # not lose. If N probes had all been lost by chance we would expect to have
            # seen some answers; a retry pass would only double the time spent waiting
            # on a firewall (nmap's retransmission limit adapts the same way).
            for entry in silent:
                self._record(scan, entry, Attempt(silent_state(entry.protocol), Reason.TIMEOUT, None, "no probe to this host was answered: retries skipped"), attempts=1)
            silent = []
        for attempt_number in itertools.count(2):
            exhausted = [entry for entry in silent if retries[entry.protocol] < attempt_number - 1]
            for entry in exhausted:
                # Out of retries: silence decides the state.
                self._record(scan, entry, Attempt(silent_state(entry.protocol), Reason.TIMEOUT, None), attempts=attempt_number - 1)
            silent = [entry for entry in silent if entry not in exhausted]
            if not silent:
                break
            silent = await self._pass(scan, silent, attempt_number=attempt_number)
        if self.config.fingerprint and self._probes:
            await self._fingerprint(scan)

    @staticmethod
    def _drops_everything(scan: _HostScan, silent: list[CatalogPort]) -> bool:
        """ARP says the host is there, yet every port probe of the first pass went unanswered."""
        liveness = scan.liveness
        return (
            liveness is not None
            and liveness.reason == "arp-response"
            and scan.first_answer is None
            and len(silent) >= _DROP_EVIDENCE_PORTS
        )

    async def _pass(self, scan: _HostScan, entries: list[CatalogPort], *, attempt_number: int) -> list[CatalogPort]:
        """Try each port once; return the ones that stayed silent."""
        silent: list[CatalogPort] = []
        loop = asyncio.get_running_loop()
        pass_started = loop.time()

        async def one(entry: CatalogPort) -> None:
            if attempt_number > 1:
                # Space attempts at the same port (fragile stacks; protocols.md §0).
                wait = self.config.retry_spacing - (loop.time() - pass_started)
                if wait > 0:
                    await asyncio.sleep(wait)
            try:
                attempt = await self._attempt(scan, entry)
            except Exception as exc:  # a bug in one probe is data, not a crash
                log.exception("probe %s:%s failed", scan.target.address, entry.ref)
                attempt = Attempt(PortState.UNKNOWN, Reason.ERROR, None, f"probe failed: {type(exc).__name__}: {exc}")
            if attempt is None:
                silent.append(entry)
            else:
                self._record(scan, entry, attempt, attempts=attempt_number)

        async with asyncio.TaskGroup() as group:
            for entry in entries:
                group.create_task(one(entry))
        return sorted(silent, key=lambda e: e.ref)

    async def _attempt(self, scan: _HostScan, entry: CatalogPort) -> Attempt | None:
        address = str(scan.target.address)
        async with scan.gate.slot():
            timeout = scan.estimator.timeout
            if entry.protocol is Protocol.TCP:
                syn = self._syn if scan.target.address.version == 4 else None
                attempt = await attempt_tcp(address, entry.number, syn, timeout)
            else:
                attempt = await attempt_udp(address, entry, timeout)
        if attempt is not None and attempt.rtt_s is not None and attempt.reason is not Reason.ERROR:
            scan.estimator.observe(attempt.rtt_s)
        return attempt

    def _record(self, scan: _HostScan, entry: CatalogPort, attempt: Attempt, *, attempts: int) -> None:
        evidence: dict[str, Any] = {}
        if attempt.reply:
            evidence["reach"] = {"reply_bytes": len(attempt.reply), "reply_head_hex": attempt.reply[:64].hex()}
        observation = PortObservation(
            port=entry.number,
            protocol=entry.protocol,
            state=attempt.state,
            reason=attempt.reason,
            service=entry.service if entry.service != "unknown" else None,
            rtt_ms=round(attempt.rtt_s * 1000, 3) if attempt.rtt_s is not None else None,
            attempts=attempts,
            detail=attempt.detail,
            evidence=evidence,
        )
        scan.observations[entry.ref] = observation
        if scan.first_answer is None and attempt.reason in (Reason.SYN_ACK, Reason.RESET, Reason.REPLY, Reason.ICMP):
            scan.first_answer = attempt.reason.value
        self.observer.on_port_done(str(scan.target.address), observation)

    # ---------------------------------------------------------------- phase 2
    async def _fingerprint(self, scan: _HostScan) -> None:
        open_ports = [obs for obs in scan.observations.values() if obs.state in (PortState.OPEN, PortState.OPEN_FILTERED)]

        async def run_probe(probe: Any, observation: PortObservation, port: _PortProbes, host_evidence: dict[str, Any] | None = None) -> None:
            loop = asyncio.get_running_loop()
            started = loop.time()
            context = ProbeContext(target=scan.target, observation=observation, pace=scan.gate.pace, version=__version__, host_evidence=host_evidence or {})
            common = {"probe_id": probe.id, "port": observation.port, "protocol": observation.protocol}
            async with scan.gate.slot():
                try:
                    async with asyncio.timeout(self.config.probe_budget):
                        evidence = await probe.run(context)
                    result = ProbeResult(**common, status=ProbeStatus.COMPLETED, evidence=evidence, duration_ms=_ms(loop.time() - started))
                except TimeoutError:
                    detail = f"no complete answer within {self.config.probe_budget:g} s"
                    result = ProbeResult(**common, **_timed_out(observation, detail), duration_ms=_ms(loop.time() - started))
                except ProbeFailure as exc:
                    if exc.reason == ErrorReason.TIMEOUT.value:
                        outcome = _timed_out(observation, str(exc))
                    else:
                        outcome = {"status": ProbeStatus.ERROR, "error_reason": exc.reason, "error_detail": str(exc)}
                    result = ProbeResult(**common, **outcome, duration_ms=_ms(loop.time() - started))
                except Exception as exc:  # a probe bug is data, never a crash of the sweep
                    log.exception("probe %s on %s:%s failed", probe.id, scan.target.address, observation.ref)
                    result = ProbeResult(**common, status=ProbeStatus.ERROR, error_reason=_error_reason(exc), error_detail=f"{type(exc).__name__}: {exc}", duration_ms=_ms(loop.time() - started))
            scan.probes.append(result)
            if result.evidence is not None:
                current = scan.observations[observation.ref]
                port.summaries[probe.id] = _summarise(probe, result.evidence)
                evidence = self._in_registry_order({**current.evidence, probe.id: result.evidence})
                scan.observations[observation.ref] = replace(current, evidence=evidence, summary=self._port_summary(port))

        ports = {observation.ref: _PortProbes(base_summary=observation.summary) for observation in open_ports}
        #: probe id -> its tasks on this host, for the probes that wait for them (``after``)
        tasks_of: dict[str, list[asyncio.Task[None]]] = {}

        async def follow_up(observation: PortObservation, claimed: list[Any], tasks: list[asyncio.Task[None]]) -> None:
            # follow-ups decide from what the claiming probes found (the TLS probe on an
            # uncatalogued port that stayed silent on connect)
            if tasks:
                await asyncio.wait(tasks)
            current = scan.observations[observation.ref]
            port = ports[observation.ref]
            for probe in self._probes:
                if probe not in claimed and _follows_up(probe, current):
                    port.follow_ups.add(probe.id)
                    await run_probe(probe, current, port)

        async def after_dependencies(probe: Any, observation: PortObservation, waits_for: list[asyncio.Task[None]]) -> None:
            # ``after``: once the named probes have finished on every port of the host,
            # with all the evidence the host has by then
            if waits_for:
                await asyncio.wait(waits_for)
            host_evidence = {str(ref): dict(item.evidence) for ref, item in scan.observations.items() if item.evidence}
            await run_probe(probe, scan.observations[observation.ref], ports[observation.ref], host_evidence)

        async with asyncio.TaskGroup() as group:
            later: list[tuple[Any, PortObservation]] = []
            for observation in open_ports:
                claimed = [probe for probe in self._probes if probe.claims(observation)]
                tasks = []
                for probe in claimed:
                    if _runs_after_others(probe):
                        later.append((probe, observation))
                        continue
                    task = group.create_task(run_probe(probe, observation, ports[observation.ref]))
                    tasks_of.setdefault(probe.id, []).append(task)
                    tasks.append(task)
                group.create_task(follow_up(observation, claimed, tasks))
            for probe, observation in later:
                waits_for = [task for name in probe.after for task in tasks_of.get(name, ())]
                group.create_task(after_dependencies(probe, observation, waits_for))

    def _in_registry_order(self, evidence: dict[str, Any]) -> dict[str, Any]:
        """Evidence keys in a fixed order (engine keys such as ``reach`` first, then probes as
        registered), so a report does not depend on which probe finished first."""
        return dict(sorted(evidence.items(), key=lambda item: self._probe_order.get(item[0], -1)))

    def _port_summary(self, port: _PortProbes) -> str | None:
        """The port's one line: its probes' summaries in registry order, joined.

        Deterministic, whatever order the probes finished in (a summary that changed with
        timing would be "service changed" drift between two sweeps). A follow-up probe
        refines the probe it followed (TLS found behind a silent banner), so its summary
        replaces theirs.
        """
        first: list[str] = []
        later: list[str] = []
        for probe in self._probes:
            text = port.summaries.get(probe.id)
            if text:
                (later if probe.id in port.follow_ups else first).append(text)
        return SUMMARY_SEPARATOR.join(later or first) or port.base_summary

    # ---------------------------------------------------------------- results
    def _finish(self, scan: _HostScan, *, complete: bool) -> HostResult:
        observations = dict(scan.observations)
        for entry in self.config.ports:
            if entry.ref not in observations:
                observations[entry.ref] = PortObservation(
                    port=entry.number,
                    protocol=entry.protocol,
                    state=PortState.UNKNOWN,
                    reason=Reason.NOT_PROBED,
                    service=entry.service if entry.service != "unknown" else None,
                    attempts=0,
                    detail="scan interrupted before this port was probed" if not complete else "not probed",
                )
        liveness = scan.liveness or _Liveness(HostStatus.UNKNOWN, "not-probed")
        status, reason = liveness.status, liveness.reason
        if status is HostStatus.UNKNOWN and scan.first_answer is not None:
            status, reason = HostStatus.UP, scan.first_answer
        return HostResult(
            address=str(scan.target.address),
            hostname=scan.target.hostname,
            status=status,
            status_reason=reason,
            ports=tuple(sorted(observations.values(), key=lambda o: (o.protocol.value, o.port))),
            probes=tuple(sorted(scan.probes, key=lambda p: (p.protocol.value, p.port, p.probe_id))),
            srtt_ms=_ms(scan.estimator.srtt) if scan.estimator.srtt is not None else None,
            complete=complete,
        )


def _error_reason(exc: Exception) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return ErrorReason.CONNECTION_REFUSED.value
    if isinstance(exc, (ConnectionResetError, BrokenPipeError)):
        return ErrorReason.CONNECTION_RESET.value
    if isinstance(exc, ssl.SSLError):
        return ErrorReason.HANDSHAKE_FAILED.value
    if isinstance(exc, CodecError):
        return ErrorReason.MALFORMED.value
    return ErrorReason.BUG.value


@dataclass(slots=True)
class _PortProbes:
    """What the summary of one port needs across its probes."""

    base_summary: str | None
    follow_ups: set[str] = field(default_factory=set)
    #: each probe's one line, computed once when its evidence came in
    summaries: dict[str, str | None] = field(default_factory=dict)


def _timed_out(observation: PortObservation, detail: str) -> dict[str, Any]:
    """A probe's silence: an error on a port that answered before, ``no-answer`` on an
    open|filtered one, where silence is what the reach phase already saw."""
    if observation.state is PortState.OPEN_FILTERED:
        return {"status": ProbeStatus.NO_ANSWER, "error_reason": None, "error_detail": f"{detail}; the port stays open|filtered"}
    return {"status": ProbeStatus.ERROR, "error_reason": ErrorReason.TIMEOUT.value, "error_detail": detail}


def _runs_after_others(probe: Any) -> bool:
    return bool(getattr(probe, "after", None))


def _follows_up(probe: Any, observation: PortObservation) -> bool:
    """``probe.follows_up(observation)`` for probes that have one; a bug there is logged, not raised."""
    follows_up = getattr(probe, "follows_up", None)
    if follows_up is None:
        return False
    try:
        return bool(follows_up(observation))
    except Exception:
        log.exception("follows_up of probe %s failed", probe.id)
        return False


def _summarise(probe: Any, evidence: dict[str, Any]) -> str | None:
    try:
        return probe.summarise(evidence)
    except Exception:  # a summary is cosmetic; never lose the evidence over it
        log.exception("summary of probe %s failed", probe.id)
        return None


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def _batched(iterator: Iterator[Target], size: int) -> Iterator[list[Target]]:
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def _address_key(host: HostResult) -> tuple[int, int]:
    return _address_key_str(host.address)


def _address_key_str(address: str) -> tuple[int, int]:
    import ipaddress

    parsed = ipaddress.ip_address(address)
    return (parsed.version, int(parsed))
