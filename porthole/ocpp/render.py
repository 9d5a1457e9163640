"""Console lines and the JSON document for one OCPP link audit (pure, no I/O).

Must not print anything the evidence does not hold; the evidence holds no secrets, so
neither can the output.
"""

from __future__ import annotations

from typing import Any

from porthole.jsonable import to_jsonable
from porthole.model import Finding
from porthole.ocpp.assess import SecurityProfile
from porthole.ocpp.evidence import OcppEvidence

__all__ = ["render_text", "render_json"]


def render_json(evidence: OcppEvidence, profile: SecurityProfile, findings: list[Finding]) -> dict[str, Any]:
    return {"evidence": to_jsonable(evidence), "security_profile": profile.value, "findings": to_jsonable(findings)}


def render_text(evidence: OcppEvidence, profile: SecurityProfile, findings: list[Finding]) -> list[str]:
    lines = [f"OCPP backend {evidence.url}  identity {evidence.identity}", f"  security profile enforced: {profile.value}"]
    for label, attempt in (("no credentials", evidence.anonymous), ("Basic auth", evidence.basic), ("client certificate", evidence.client_certificate)):
        lines.append(f"  {label:<19} {attempt.outcome.value}{f' ({attempt.detail})' if attempt.detail else ''}")
    accepted = [result.subprotocol for result in evidence.subprotocols if result.accepted]
    lines.append(f"  subprotocols accepted: {', '.join(accepted) or 'none'}")
    if evidence.tls is not None:
        tls = evidence.tls
        validated = {True: "validates", False: f"does NOT validate ({tls.validation_error})", None: f"unknown ({tls.validation_error})"}[tls.certificate_validated]
        lines.append(f"  TLS: {', '.join(tls.versions) or 'no version accepted'}; grade {tls.grade or '-'}; certificate {validated} against {tls.ca_source}")
    if evidence.duplicate_identity is not None:
        duplicate = evidence.duplicate_identity
        routed = f"; CSMS requests reached the newcomer: {', '.join(duplicate.calls_routed_to_newcomer)}" if duplicate.calls_routed_to_newcomer else ""
        lines.append(f"  duplicate identity: {duplicate.outcome.value}{routed}{f' ({duplicate.detail})' if duplicate.detail else ''}")
    lines.append(f"  findings: {len(findings)}")
    for item in findings:
        lines.append(f"  [{item.severity.value}] {item.id}: {item.detail}")
        lines.append(f"      setting: {item.setting}")
    return lines
