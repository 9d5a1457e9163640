"""Pure judgement of SEMP evidence (the JSON form ``SempProbe.run`` returned).

``semp-open`` when a ``Device2EM`` document answered a plain GET: SEMP has no
authentication and no TLS, so whoever reads it can also POST ``DeviceControl``
(protocols.md §7.3, §12: "SEMP interface" Off). Nothing else is judged here: an
8888 that answers HTTP without SEMP is described by ``summarise``, not flagged.
"""

from __future__ import annotations

from typing import Any

from porthole.findings import finding
from porthole.model import Finding, PortObservation

__all__ = ["assess", "summarise"]


def assess(evidence: dict[str, Any], observation: PortObservation) -> list[Finding]:
    if not evidence.get("recognised"):
        return []
    lines = [f"GET {evidence.get('url')} answered HTTP 200 with a Device2EM document ({evidence.get('namespace') or 'no namespace'}), no authentication asked"]
    for info in evidence.get("device_info", []):
        lines.append(
            "DeviceInfo: "
            + ", ".join(
                f"{label} {info[key]}"
                for label, key in (
                    ("DeviceId", "device_id"),
                    ("DeviceName", "device_name"),
                    ("DeviceType", "device_type"),
                    ("DeviceVendor", "device_vendor"),
                    ("DeviceSerial", "device_serial"),
                )
                if info.get(key) is not None
            )
        )
    for status in evidence.get("device_status", []):
        lines.append(f"DeviceStatus: DeviceId {status.get('device_id')}, Status {status.get('status')}, EMSignalsAccepted {status.get('em_signals_accepted')}")
    return [
        finding(
            "semp-open",
            port=observation.port,
            protocol=observation.protocol,
            detail=(
                f"SEMP answers without authentication at {evidence.get('base_path')} on port {observation.port}: "
                "anyone who reaches it reads the device data and can POST DeviceControl commands that switch or throttle charging"
            ),
            evidence=lines,
        )
    ]


def summarise(evidence: dict[str, Any]) -> str | None:
    if evidence.get("recognised"):
        infos = evidence.get("device_info") or [{}]
        first = infos[0]
        who = " ".join(part for part in (first.get("device_vendor"), first.get("device_name")) if part)
        kind = f" ({first['device_type']})" if first.get("device_type") else ""
        more = f" +{len(infos) - 1} devices" if len(infos) > 1 else ""
        return f"SEMP Device2EM at {evidence.get('base_path')}: {who or 'unnamed device'}{kind}{more}"
    attempts = evidence.get("attempts") or []
    if not attempts:
        return None
    tried = ", ".join(f"{a['path']} {a.get('status') or a['outcome']}" for a in attempts)
    server = next((a["server"] for a in attempts if a.get("server")), None)
    return f"HTTP{f' ({server})' if server else ''}, no SEMP document ({tried})"
