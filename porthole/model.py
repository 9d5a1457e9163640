"""The report's data model: plain frozen dataclasses, no behaviour, no I/O.

Every layer speaks these types. The engine produces ``PortObservation`` and
``HostResult``; ``profiles`` turns observations into ``Deviation`` and ``Finding``;
``report`` serialises a ``Report`` with one generic encoder (``report.encode``), so
adding a field here needs no serialisation code, only a schema update
(``make schema`` checks it).

Vocabulary follows nmap where it exists (port states, reasons) so auditors read
porthole's output the way they read an nmap scan:

    TCP  open      reason syn-ack   the handshake completed
         closed    reason reset     the host answered with RST
         filtered  reason timeout   nothing came back (after retries)
         filtered  reason icmp      an ICMP unreachable (not port-unreachable) came back
    UDP  open      reason reply     the service answered our probe payload
         closed    reason icmp      ICMP port unreachable
         open|filtered reason timeout  silence: open but mute, or dropped
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = [
    "SUMMARY_SEPARATOR",
    "Protocol",
    "PortState",
    "Reason",
    "Severity",
    "HostStatus",
    "Expectation",
    "DeviationKind",
    "ProbeStatus",
    "PortRef",
    "PortObservation",
    "ProbeResult",
    "Finding",
    "Deviation",
    "ProfileRef",
    "RoleInference",
    "HostResult",
    "ScanError",
    "Report",
]


class Protocol(StrEnum):
    TCP = "tcp"
    UDP = "udp"


class PortState(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    FILTERED = "filtered"
    OPEN_FILTERED = "open|filtered"
    #: the port was never probed (host down, scan interrupted before it ran)
    UNKNOWN = "unknown"


class Reason(StrEnum):
    SYN_ACK = "syn-ack"
    RESET = "reset"
    ICMP = "icmp"
    REPLY = "reply"
    TIMEOUT = "timeout"
    #: a local error (e.g. no route, too many open files); detail says which
    ERROR = "error"
    #: the port was not probed; detail says why (host down, interrupted)
    NOT_PROBED = "not-probed"


class Severity(StrEnum):
    """Finding severity, ordered. ``--fail-on`` compares against this order."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_ORDER.index(self)


_SEVERITY_ORDER = (Severity.INFO, Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL)


class HostStatus(StrEnum):
    UP = "up"
    DOWN = "down"
    #: discovery was skipped (``--no-discovery``); the ports tell
    UNKNOWN = "unknown"


class Expectation(StrEnum):
    """What a role profile expects of one port."""

    OPEN = "open"
    CLOSED = "closed"
    OPTIONAL = "optional"


class DeviationKind(StrEnum):
    #: open, and the profile does not list the port at all (default expectation)
    UNEXPECTED_OPEN = "unexpected-open"
    #: the profile expects the port open and it is not
    EXPECTED_MISSING = "expected-missing"
    #: open, and the profile explicitly says this port must be closed
    FORBIDDEN_OPEN = "forbidden-open"


class ProbeStatus(StrEnum):
    COMPLETED = "completed"
    ERROR = "error"
    NOT_SCHEDULED = "not-scheduled"
    #: the probe's question met silence on a port that was already silent (open|filtered
    #: UDP): consistent with the port's state, not a failure of the probe
    NO_ANSWER = "no-answer"


@dataclass(frozen=True, slots=True, order=True)
class PortRef:
    """A transport-level port: ``PortRef(Protocol.TCP, 502)`` prints as ``502/tcp``."""

    protocol: Protocol
    number: int

    def __str__(self) -> str:
        return f"{self.number}/{self.protocol.value}"


#: joins the one-line summaries of the probes of one port (``PortObservation.summary``)
SUMMARY_SEPARATOR = " | "

@dataclass(frozen=True, slots=True, kw_only=True)
class PortObservation:
    """What the reachability phase saw on one port of one host."""

    port: int
    protocol: Protocol
    state: PortState
    reason: Reason
    #: catalogue service id (``modbus``, ``http``...) or ``None`` for an uncatalogued port
    service: str | None = None
    #: round-trip time of the answer that decided the state, in milliseconds
    rtt_ms: float | None = None
    #: probes sent (1 + retries used)
    attempts: int = 1
    #: free-text detail for ``error``/``icmp``/``not-probed`` reasons
    detail: str | None = None
    #: evidence gathered by the fingerprint probes for this port, keyed by probe id
    evidence: dict[str, Any] = field(default_factory=dict)
    #: one line naming what answers there (nmap's VERSION column), from the probes
    summary: str | None = None

    @property
    def ref(self) -> PortRef:
        return PortRef(self.protocol, self.port)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeResult:
    """One fingerprint probe's outcome. A failed probe is data, never an exception."""

    probe_id: str
    port: int
    protocol: Protocol
    status: ProbeStatus
    #: ``timeout``, ``connection-reset``, ``malformed``... (see ``errors.ErrorReason``)
    error_reason: str | None = None
    error_detail: str | None = None
    evidence: dict[str, Any] | None = None
    duration_ms: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """A judgement with the evidence it rests on and the setting that fixes it."""

    id: str
    severity: Severity
    title: str
    detail: str
    port: int | None = None
    protocol: Protocol | None = None
    #: the controller's hardening setting that fixes it (vendor name where known)
    setting: str | None = None
    recommendation: str | None = None
    #: facts the verdict rests on, as short human-readable lines
    evidence: tuple[str, ...] = ()
    #: what fired: a profile line (``profiles/master.toml#502/tcp``) or a table row
    source: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Deviation:
    """One difference between what a role profile expects and what was observed."""

    kind: DeviationKind
    port: int
    protocol: Protocol
    expected: Expectation
    observed: PortState
    #: why the profile expects what it does (the profile line's ``reason``)
    reason: str
    setting: str | None = None
    severity: Severity = Severity.MEDIUM


@dataclass(frozen=True, slots=True, kw_only=True)
class ProfileRef:
    id: str
    version: int
    role: str
    path: str
    sha256: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RoleInference:
    """Which role porthole assumed for a host, and why."""

    role: str | None
    #: ``declared`` (``--role master``), ``inferred`` (``--role auto``) or ``undetermined``
    method: str
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class HostResult:
    address: str
    hostname: str | None = None
    status: HostStatus = HostStatus.UNKNOWN
    #: how the status was decided: ``arp-response``, ``syn-ack``, ``reset``,
    #: ``echo-reply``, ``no-response``, ``open-port``, ``user-set``
    status_reason: str = "user-set"
    role: RoleInference | None = None
    profile: ProfileRef | None = None
    ports: tuple[PortObservation, ...] = ()
    probes: tuple[ProbeResult, ...] = ()
    findings: tuple[Finding, ...] = ()
    deviations: tuple[Deviation, ...] = ()
    #: smoothed round-trip time the adaptive timeouts settled on, in ms
    srtt_ms: float | None = None
    #: False when the scan was interrupted before this host was finished
    complete: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanError:
    """A problem that is not about one port: e.g. discovery could not run."""

    scope: str
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    schema_version: str
    tool: dict[str, str]
    command: str
    started_at: str
    finished_at: str
    duration_s: float
    interrupted: bool
    vantage: dict[str, Any]
    config: dict[str, Any]
    targets: dict[str, Any]
    hosts: tuple[HostResult, ...]
    summary: dict[str, Any]
    errors: tuple[ScanError, ...] = ()
