"""Judgement on SDP evidence (pure): ``iso15118-no-tls`` when the SECC accepts no TLS.

The request asked for no TLS; an answer of "no-tls" is the SECC agreeing to
unencrypted V2G (an SECC that enforces TLS answers "tls" whatever was asked). An
advertised port outside ISO 15118-2's dynamic range is reported as a fact in the
finding's evidence, not as a finding of its own: the vendor documents 15119/15120.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from porthole.findings import finding
from porthole.model import Finding, PortObservation

__all__ = ["assess_sdp", "summarise_sdp"]


def _endpoint(evidence: Mapping[str, Any]) -> str:
    return f"[{evidence.get('secc_address')}]:{evidence.get('secc_port')}"


def assess_sdp(evidence: Mapping[str, Any], observation: PortObservation) -> list[Finding]:
    if evidence.get("security") != "no-tls":
        return []
    lines = [
        "SDP request asked for security 0x10 (no TLS); the SECC answered 0x10 (no TLS)",
        f"advertised V2G endpoint {_endpoint(evidence)} over {evidence.get('transport')}",
    ]
    if evidence.get("secc_port_in_dynamic_range") is False:
        lines.append(f"advertised port {evidence.get('secc_port')} is outside ISO 15118-2's dynamic range 49152-65535")
    return [
        finding(
            "iso15118-no-tls",
            port=observation.port,
            protocol=observation.protocol,
            detail="The ISO 15118 SECC accepts unencrypted V2G communication: a vehicle (or anything on this network) can run a charging session without TLS.",
            evidence=lines,
        )
    ]


def summarise_sdp(evidence: Mapping[str, Any]) -> str | None:
    security = {"tls": "TLS", "no-tls": "no TLS"}.get(evidence.get("security", ""), f"security {evidence.get('security')}")
    return f"ISO 15118 SDP: SECC {_endpoint(evidence)}, {security}"
