"""Pure judgement of SSDP evidence (the JSON form ``SsdpProbe.run`` returned).

``upnp-open`` when the target answered an M-SEARCH with an SSDP 200 response: it
tells anyone on the network what it is and where its description lives, without
authentication. Sharpened to high when what it advertises is a SEMP gateway
(protocols.md §12: "SSDP advertises the SEMP Gateway URN" means SEMP is on).
"""

from __future__ import annotations

from typing import Any

from porthole.findings import finding
from porthole.model import Finding, PortObservation, Severity

__all__ = ["assess", "summarise"]

_DEVICE_FIELDS = (
    ("deviceType", "device_type"),
    ("friendlyName", "friendly_name"),
    ("manufacturer", "manufacturer"),
    ("modelName", "model_name"),
    ("serialNumber", "serial_number"),
    ("UDN", "udn"),
)


def assess(evidence: dict[str, Any], observation: PortObservation) -> list[Finding]:
    answered = [reply for reply in evidence.get("replies", []) if reply.get("status") == 200]
    if not answered:
        return []
    searches = " then ".join(evidence.get("searches", []))
    lines = [f"M-SEARCH {searches} to port {observation.port}/udp drew {len(answered)} SSDP 200 response(s)"]
    for label, key in (("SERVER", "server"), ("LOCATION", "location"), ("ST", "st")):
        for value in dict.fromkeys(reply[key] for reply in answered if reply.get(key)):
            lines.append(f"{label}: {value}")
    for check in evidence.get("locations", []):
        if check.get("note"):
            lines.append(f"{check['url']}: {check['note']}")
    device = _device(evidence)
    if device is not None:
        described = ", ".join(f"{label} {device[key]}" for label, key in _DEVICE_FIELDS if device.get(key))
        lines.append(f"description: {described}")
        semp = device.get("semp_service")
        if semp:
            lines.append(f"X_SEMPSERVICE: server {semp.get('server')}, basePath {semp.get('base_path')}")
    elif evidence.get("description"):
        fetch = evidence["description"]
        lines.append(f"description {fetch['url']}: {fetch['outcome']}" + (f" ({fetch['detail']})" if fetch.get("detail") else ""))
    gateway = bool(evidence.get("semp_gateway"))
    return [
        finding(
            "upnp-open",
            port=observation.port,
            protocol=observation.protocol,
            severity=Severity.HIGH if gateway else None,
            detail=(
                "UPnP/SSDP discovery answers without authentication"
                + (" and advertises a SEMP gateway: the SEMP interface is on" if gateway else "")
            ),
            evidence=lines,
        )
    ]


def summarise(evidence: dict[str, Any]) -> str | None:
    replies = evidence.get("replies") or []
    if not replies:
        return None
    server = next((reply["server"] for reply in replies if reply.get("server")), None)
    device = _device(evidence)
    parts = [f"SSDP {server}" if server else "SSDP (no SERVER header)"]
    if device is not None:
        who = " ".join(value for value in (device.get("manufacturer"), device.get("model_name")) if value)
        if who:
            parts.append(who)
    if evidence.get("semp_gateway"):
        parts.append("SEMP gateway")
    return "; ".join(parts)


def _device(evidence: dict[str, Any]) -> dict[str, Any] | None:
    fetch = evidence.get("description") or {}
    return fetch.get("device")
