"""Factories for the report-layer tests: a realistic report with every field populated.

Three hosts cover every port state, every reason, every probe status, findings of
several severities (one host-level), all three deviation kinds, an inferred and a
declared role, a down host and an unfinished host of an interrupted scan.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime

from porthole.model import (
    Deviation,
    DeviationKind,
    Expectation,
    Finding,
    HostResult,
    HostStatus,
    PortObservation,
    PortState,
    ProbeResult,
    ProbeStatus,
    ProfileRef,
    Protocol,
    Reason,
    Report,
    RoleInference,
    ScanError,
    Severity,
)
from porthole.report import new_report

TCP, UDP = Protocol.TCP, Protocol.UDP


@dataclass(frozen=True, slots=True, kw_only=True)
class BannerEvidence:
    """Stands in for a service's Evidence dataclass: raw bytes, an address, text."""

    identification: str
    raw: bytes
    peer: ipaddress.IPv4Address


def port(number: int, protocol: Protocol, state: PortState, reason: Reason, **extra: object) -> PortObservation:
    return PortObservation(port=number, protocol=protocol, state=state, reason=reason, **extra)


def master_host() -> HostResult:
    ssh_evidence = BannerEvidence(
        identification="SSH-2.0-dropbear_2022.83",
        raw=b"SSH-2.0-dropbear_2022.83\r\n",
        peer=ipaddress.IPv4Address("198.18.0.10"),
    )
    return HostResult(
        address="198.18.0.10",
        hostname="master.lab",
        status=HostStatus.UP,
        status_reason="syn-ack",
        role=RoleInference(role="master", method="declared", evidence=("--role master",)),
        profile=ProfileRef(id="master", version=3, role="master", path="profiles/master.toml", sha256="ab" * 32),
        ports=(
            port(22, TCP, PortState.OPEN, Reason.SYN_ACK, service="ssh", rtt_ms=1.25, evidence={"ssh-banner": ssh_evidence}),
            port(80, TCP, PortState.OPEN, Reason.SYN_ACK, service="http", rtt_ms=0.9),
            port(23, TCP, PortState.CLOSED, Reason.RESET, service="ssh", rtt_ms=0.4),
            port(24, TCP, PortState.CLOSED, Reason.RESET, service="ssh", rtt_ms=0.5),
            port(8090, TCP, PortState.CLOSED, Reason.RESET, service="ocpp-s", rtt_ms=0.5),
            port(502, TCP, PortState.FILTERED, Reason.TIMEOUT, service="modbus", attempts=2),
            port(1600, TCP, PortState.FILTERED, Reason.ICMP, service="ocpp", detail="host-prohibited"),
            port(53, UDP, PortState.OPEN, Reason.REPLY, service="dns", rtt_ms=2.0),
            port(1900, UDP, PortState.OPEN_FILTERED, Reason.TIMEOUT, service="ssdp", attempts=2),
            port(5353, UDP, PortState.CLOSED, Reason.ICMP, service="mdns", detail="port-unreachable"),
        ),
        probes=(
            ProbeResult(
                probe_id="ssh-banner",
                port=22,
                protocol=TCP,
                status=ProbeStatus.COMPLETED,
                evidence={"identification": "SSH-2.0-dropbear_2022.83"},
                duration_ms=12.5,
            ),
            ProbeResult(
                probe_id="http-head",
                port=80,
                protocol=TCP,
                status=ProbeStatus.ERROR,
                error_reason="connection-reset",
                error_detail="peer reset after request line",
                duration_ms=3.0,
            ),
            ProbeResult(probe_id="modbus-device-id", port=502, protocol=TCP, status=ProbeStatus.NOT_SCHEDULED),
        ),
        findings=(
            Finding(
                id="profile-forbidden-open",
                severity=Severity.HIGH,
                title="SSH reachable although the master profile forbids it",
                detail="22/tcp answered with a SYN-ACK; profile master v3 says it must be closed.",
                port=22,
                protocol=TCP,
                setting="SSH access: Off",
                recommendation="Switch SSH access off unless a service technician needs it.",
                evidence=("22/tcp open (syn-ack, 1.2 ms)", "banner SSH-2.0-dropbear_2022.83"),
                source="profiles/master.toml#22/tcp",
            ),
            Finding(
                id="profile-udp-ambiguous",
                severity=Severity.INFO,
                title="SSDP port silent: open or filtered",
                detail="1900/udp did not answer an M-SEARCH; UDP silence cannot tell open from filtered.",
                port=1900,
                protocol=UDP,
                source="profiles/master.toml#1900/udp",
            ),
            Finding(
                id="role-mismatch",
                severity=Severity.MEDIUM,
                title="Forwarder pattern looks like a slave",
                detail="445 presents the same certificate as 443.",
            ),
        ),
        deviations=(
            Deviation(
                kind=DeviationKind.FORBIDDEN_OPEN,
                port=22,
                protocol=TCP,
                expected=Expectation.CLOSED,
                observed=PortState.OPEN,
                reason="SSH is off by default on production firmware",
                setting="SSH access: Off",
                severity=Severity.HIGH,
            ),
            Deviation(
                kind=DeviationKind.EXPECTED_MISSING,
                port=1600,
                protocol=TCP,
                expected=Expectation.OPEN,
                observed=PortState.FILTERED,
                reason="slaves connect to the master's OCPP port",
            ),
            Deviation(
                kind=DeviationKind.UNEXPECTED_OPEN,
                port=53,
                protocol=UDP,
                expected=Expectation.CLOSED,
                observed=PortState.OPEN,
                reason="not listed in the profile (default: closed)",
                setting="WAN Router: Off",
                severity=Severity.LOW,
            ),
        ),
        srtt_ms=1.1,
        complete=True,
    )


def unfinished_slave_host() -> HostResult:
    return HostResult(
        address="198.18.0.11",
        hostname=None,
        status=HostStatus.UP,
        status_reason="reset",
        role=RoleInference(
            role="slave",
            method="inferred",
            evidence=("445/tcp presents the certificate of 443/tcp", "444/tcp presents another certificate"),
        ),
        profile=ProfileRef(id="slave", version=2, role="slave", path="profiles/slave.toml", sha256="cd" * 32),
        ports=(
            port(443, TCP, PortState.OPEN, Reason.SYN_ACK, service="https", rtt_ms=3.5),
            port(22, TCP, PortState.CLOSED, Reason.RESET, service="ssh", rtt_ms=0.3),
            port(4711, TCP, PortState.UNKNOWN, Reason.ERROR, service="ship", detail="too many open files"),
            port(15118, UDP, PortState.UNKNOWN, Reason.NOT_PROBED, service="iso15118-sdp", attempts=0, detail="interrupted"),
        ),
        probes=(
            ProbeResult(
                probe_id="tls-versions",
                port=443,
                protocol=TCP,
                status=ProbeStatus.ERROR,
                error_reason="timeout",
                error_detail="no ServerHello within 5 s",
                duration_ms=5000.0,
            ),
        ),
        complete=False,
        srtt_ms=3.0,
    )


def down_host() -> HostResult:
    return HostResult(
        address="198.18.0.99",
        status=HostStatus.DOWN,
        status_reason="no-response",
        ports=(port(502, TCP, PortState.UNKNOWN, Reason.NOT_PROBED, attempts=0, detail="host down"),),
    )


def realistic_report(*, interrupted: bool = True) -> Report:
    return new_report(
        command="porthole scan 198.18.0.10-11 198.18.0.99 --profile master --format json",
        started_at=datetime(2026, 1, 10, 9, 30, 0, 250000, tzinfo=UTC),
        finished_at=datetime(2026, 1, 10, 9, 30, 41, tzinfo=UTC),
        duration_s=40.75,
        hosts=(master_host(), unfinished_slave_host(), down_host()),
        interrupted=interrupted,
        vantage={"source_address": "198.18.0.1", "interface": "veth-audit", "hostname": "auditor"},
        config={"connect_timeout_s": 2.5, "retries": 1, "per_target_connections": 2},
        targets={"given": ["198.18.0.10-11", "198.18.0.99"], "expanded": 3},
        errors=(ScanError(scope="discovery", message="ARP discovery needs CAP_NET_RAW; used TCP ping instead"),),
    )

