"""Prometheus text exposition of the last sweep, for node_exporter's textfile collector.

``render_metrics`` is pure (report JSON in, text out); ``write_metrics`` replaces the
file atomically so the collector never reads half a file.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from porthole.model import Severity
from porthole.report.output import write_atomic

__all__ = ["render_metrics", "write_metrics"]


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render_metrics(report: Mapping[str, Any], *, drift_changes: int | None = None) -> str:
    lines: list[str] = [
        "# HELP porthole_open_ports Open ports per host in the last sweep.",
        "# TYPE porthole_open_ports gauge",
    ]
    hosts = report.get("hosts", [])
    for host in hosts:
        count = sum(1 for port in host.get("ports", []) if port.get("state") == "open")
        lines.append(f'porthole_open_ports{{host="{_label(host["address"])}"}} {count}')
    lines += ["# HELP porthole_findings Findings in the last sweep by severity.", "# TYPE porthole_findings gauge"]
    for severity in Severity:
        count = sum(1 for host in hosts for finding in host.get("findings", []) if finding.get("severity") == severity.value)
        lines.append(f'porthole_findings{{severity="{severity.value}"}} {count}')
    finished = datetime.fromisoformat(str(report["finished_at"]).replace("Z", "+00:00"))
    lines += [
        "# HELP porthole_last_sweep_timestamp_seconds When the last sweep finished (Unix time).",
        "# TYPE porthole_last_sweep_timestamp_seconds gauge",
        f"porthole_last_sweep_timestamp_seconds {finished.timestamp():.3f}",
        "# HELP porthole_last_sweep_duration_seconds How long the last sweep took.",
        "# TYPE porthole_last_sweep_duration_seconds gauge",
        f"porthole_last_sweep_duration_seconds {float(report.get('duration_s', 0.0)):.3f}",
        "# HELP porthole_last_sweep_interrupted 1 when the last sweep was interrupted (partial).",
        "# TYPE porthole_last_sweep_interrupted gauge",
        f"porthole_last_sweep_interrupted {int(bool(report.get('interrupted')))}",
    ]
    if drift_changes is not None:
        lines += [
            "# HELP porthole_drift_changes Changes between the last sweep and the one before it.",
            "# TYPE porthole_drift_changes gauge",
            f"porthole_drift_changes {drift_changes}",
        ]
    return "\n".join(lines) + "\n"


def write_metrics(path: Path, text: str) -> None:
    write_atomic(path, text)
