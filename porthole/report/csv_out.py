"""A report as CSV: one row per host and port check, then one row per finding.

The ``kind`` column says which (``port`` or ``finding``); the columns are fixed and
listed in ``COLUMNS`` (a new column is only ever appended), so spreadsheets and
scripts can rely on them. Cells a spreadsheet would run as a formula (device strings
are attacker-controlled) get a leading apostrophe, as OWASP recommends for CSV export.

Pure: report in, CSV text out.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping

from porthole.model import Finding, HostResult, Report
from porthole.profiles import Profile
from porthole.report.checks import host_checks

__all__ = ["COLUMNS", "render_csv"]

COLUMNS = (
    "kind",
    "host",
    "hostname",
    "role",
    "profile",
    "port",
    "protocol",
    "service",
    "expected",
    "state",
    "reason",
    "deviation",
    "severity",
    "finding_id",
    "title",
    "detail",
    "source",
)

_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def render_csv(report: Report, *, profiles: Mapping[str, Profile] | None = None) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for host in report.hosts:
        for check in host_checks(host, profiles):
            observation = check.observation
            writer.writerow(
                _safe(
                    {
                        **_host_cells(host),
                        "kind": "port",
                        "port": check.ref.number,
                        "protocol": check.ref.protocol.value,
                        "service": observation.service if observation and observation.service else "",
                        "expected": check.expected.value if check.expected else "",
                        "state": check.state.value,
                        "reason": check.reason.value,
                        "deviation": check.deviation.kind.value if check.deviation else "",
                        "severity": max((finding.severity for finding in check.findings), key=lambda item: item.rank).value if check.findings else "",
                    }
                )
            )
    for host in report.hosts:
        for finding in host.findings:
            writer.writerow(_safe({**_host_cells(host), **_finding_cells(finding)}))
    return buffer.getvalue()


def _host_cells(host: HostResult) -> dict[str, object]:
    return {
        "host": host.address,
        "hostname": host.hostname or "",
        "role": host.role.role or "" if host.role else "",
        "profile": f"{host.profile.id} v{host.profile.version}" if host.profile else "",
    }


def _finding_cells(finding: Finding) -> dict[str, object]:
    return {
        "kind": "finding",
        "port": finding.port if finding.port is not None else "",
        "protocol": finding.protocol.value if finding.protocol else "",
        "severity": finding.severity.value,
        "finding_id": finding.id,
        "title": finding.title,
        "detail": finding.detail,
        "source": finding.source or "",
    }


def _safe(row: dict[str, object]) -> dict[str, object]:
    return {key: f"'{value}" if isinstance(value, str) and value.startswith(_FORMULA_PREFIXES) else value for key, value in row.items()}
