"""Assemble a ``Report`` the one correct way: schema version, tool block and summary filled in.

Whoever finishes a scan (the engine or the CLI) calls ``new_report``; nothing else
should construct ``model.Report`` directly, so ``schema_version`` always comes from
``schema.SCHEMA_VERSION`` and ``summary`` always agrees with ``hosts``.

Pure: no clock reads, no I/O. Timestamps and the duration are arguments because the
caller owns the clocks (wall clock for timestamps, ``loop.time()`` for durations).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from porthole import __version__
from porthole.model import HostResult, HostStatus, PortState, ProbeStatus, Report, ScanError, Severity
from porthole.report.encode import format_timestamp
from porthole.report.schema import SCHEMA_VERSION

__all__ = ["new_report", "summarise"]


def summarise(hosts: Iterable[HostResult], *, down: int = 0) -> dict[str, Any]:
    """Counts over ``hosts`` in the shape of the schema's ``Summary`` definition.

    Every state and severity is present (with 0) so consumers can index without
    guarding, and the key order is the enum order, which keeps the JSON stable.
    ``down`` counts targets that discovery found absent: they are listed in
    ``targets.down``, not in ``hosts``, so a /16 sweep does not carry 65 000 empty hosts.
    """
    hosts = tuple(hosts)
    ports_by_state = {state.value: 0 for state in PortState}
    findings_by_severity = {severity.value: 0 for severity in Severity}
    deviations = 0
    probe_errors = 0
    for host in hosts:
        for observation in host.ports:
            ports_by_state[observation.state.value] += 1
        for finding in host.findings:
            findings_by_severity[finding.severity.value] += 1
        deviations += len(host.deviations)
        probe_errors += sum(1 for probe in host.probes if probe.status is ProbeStatus.ERROR)
    return {
        "hosts_total": len(hosts) + down,
        "hosts_up": sum(1 for host in hosts if host.status is HostStatus.UP),
        "hosts_down": down + sum(1 for host in hosts if host.status is HostStatus.DOWN),
        "hosts_unknown": sum(1 for host in hosts if host.status is HostStatus.UNKNOWN),
        "hosts_incomplete": sum(1 for host in hosts if not host.complete),
        "ports_by_state": ports_by_state,
        "findings_by_severity": findings_by_severity,
        "deviations": deviations,
        "probe_errors": probe_errors,
    }


def new_report(
    *,
    command: str,
    started_at: datetime,
    finished_at: datetime,
    duration_s: float,
    hosts: Sequence[HostResult],
    interrupted: bool = False,
    vantage: Mapping[str, Any] | None = None,
    config: Mapping[str, Any] | None = None,
    targets: Mapping[str, Any] | None = None,
    errors: Sequence[ScanError] = (),
    down_count: int = 0,
) -> Report:
    """Build a ``Report`` stamped with the current ``SCHEMA_VERSION`` and a fresh summary.

    ``started_at``/``finished_at`` must be timezone-aware (``datetime.now(UTC)``);
    ``duration_s`` comes from a monotonic clock, not from subtracting the two.
    """
    return Report(
        schema_version=SCHEMA_VERSION,
        tool={"name": "porthole", "version": __version__},
        command=command,
        started_at=format_timestamp(started_at),
        finished_at=format_timestamp(finished_at),
        duration_s=duration_s,
        interrupted=interrupted,
        vantage=dict(vantage or {}),
        config=dict(config or {}),
        targets=dict(targets or {}),
        hosts=tuple(hosts),
        summary=summarise(hosts, down=down_count),
        errors=tuple(errors),
    )
