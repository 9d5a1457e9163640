"""Judgement on mDNS evidence (pure): ``eebus-auto-accept`` when a SHIP node announces register=true.

``register=true`` in SHIP's TXT record means the node accepts new SHIP partners
without a user action (SHIP §7.3.2; protocols.md §12: WARN). The SKI comparison
with the certificate on 4711 needs two ports' evidence and lives in
``porthole.services.eebus.assess.assess_ski_match`` (a host assessor).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from porthole.findings import finding
from porthole.model import Finding, PortObservation

__all__ = ["assess_mdns", "summarise_mdns"]


def assess_mdns(evidence: Mapping[str, Any], observation: PortObservation) -> list[Finding]:
    findings = []
    for instance in evidence.get("ship_instances") or ():
        if instance.get("register") is not True:
            continue
        lines = [f"mDNS {observation.port}/udp: _ship._tcp instance {instance.get('name')!r} TXT register={instance.get('register_raw')}"]
        if instance.get("port") is not None:
            lines.append(f"SHIP endpoint {instance.get('host')}:{instance.get('port')}{instance.get('path') or ''}")
        if instance.get("ski"):
            lines.append(f"advertised ski={instance.get('ski')}")
        findings.append(
            finding(
                "eebus-auto-accept",
                port=observation.port,
                protocol=observation.protocol,
                detail=f"The EEBUS node {instance.get('name')!r} announces that it accepts new SHIP partners automatically: any device on the network can pair with it without a user action.",
                evidence=lines,
            )
        )
    return findings


def summarise_mdns(evidence: Mapping[str, Any]) -> str | None:
    instances = evidence.get("ship_instances") or []
    types = evidence.get("service_types_total", 0)
    if instances:
        first = instances[0]
        device = " ".join(part for part in (first.get("brand"), first.get("model"), first.get("type")) if part)
        more = f" (+{evidence.get('ship_instances_total', len(instances)) - 1} more)" if evidence.get("ship_instances_total", 1) > 1 else ""
        return f"mDNS: EEBUS SHIP {first.get('name')}{' ' + device if device else ''}{more}; {types} service type(s)"
    return f"mDNS responder: {types} service type(s), no _ship._tcp"
