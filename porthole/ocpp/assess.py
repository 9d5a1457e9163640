"""Pure judgements over ``OcppEvidence``: the enforced security profile and the findings.

No I/O and no clock: the same evidence always gives the same profile and findings, so
hand-made evidence is enough to test every rule. The vendor checklist settings each rule
points at (controller-security-settings-and-ports.txt, "Backend"):

=============================  ==================================================
``ocpp-plain-ws``              OCPP Backend URL: should start with wss://
``ocpp-no-auth``               (CSMS side) enforce security profile 2 or 3
``ocpp-basic-auth-over-plain`` Basic Auth password: avoid unless over wss://
``ocpp-weak-tls``              OCPP cipher strictness: only secure ciphers (TLS1.2+)
``ocpp-cert-not-validated``    SSL strictness (as client): Full validation
``ocpp-identity-hijack``       (CSMS side) duplicate-identity policy, profile 2/3
=============================  ==================================================
"""

from __future__ import annotations

from enum import StrEnum
from urllib.parse import urlsplit

from porthole.findings import finding
from porthole.model import Finding, Protocol, Severity
from porthole.ocpp.evidence import DuplicateOutcome, HandshakeOutcome, OcppEvidence

__all__ = ["SecurityProfile", "enforced_profile", "assess", "WEAK_TLS_VERSIONS", "WEAK_GRADES"]

#: OCPP 2.0.1 A00 requires TLS 1.2 or higher (1.6 tolerated 1.0/1.1 for legacy stations only)
WEAK_TLS_VERSIONS = frozenset({"SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1"})
#: nmap-style letters below which a suite counts as weak for a CSMS link
WEAK_GRADES = frozenset({"C", "D", "E", "F"})


class SecurityProfile(StrEnum):
    #: accepts a client that presents nothing
    NONE = "0"
    #: HTTP Basic demanded over plain ws://
    BASIC_PLAIN = "1"
    #: HTTP Basic demanded over wss://
    BASIC_TLS = "2"
    #: a TLS client certificate demanded
    CLIENT_CERTIFICATE = "3"
    UNKNOWN = "unknown"


def enforced_profile(evidence: OcppEvidence) -> SecurityProfile:
    """The weakest profile the CSMS was seen to accept (what an attacker needs, not what is configured)."""
    anonymous = evidence.anonymous
    if anonymous.outcome is HandshakeOutcome.ACCEPTED:
        return SecurityProfile.NONE
    if evidence.scheme == "ws":
        return SecurityProfile.BASIC_PLAIN if anonymous.http_status == 401 else SecurityProfile.UNKNOWN
    client_certificate_demanded = evidence.tls is not None and evidence.tls.client_certificate == "required"
    if client_certificate_demanded or (
        # TLS 1.3 servers refuse a missing certificate after the client's Finished, so the
        # anonymous attempt ends as a broken HTTP answer rather than a handshake failure
        evidence.client_certificate.outcome is HandshakeOutcome.ACCEPTED and anonymous.http_status is None
    ):
        return SecurityProfile.CLIENT_CERTIFICATE
    if anonymous.http_status == 401:
        return SecurityProfile.BASIC_TLS
    return SecurityProfile.UNKNOWN


def assess(evidence: OcppEvidence) -> list[Finding]:
    port = urlsplit(evidence.url).port or (443 if evidence.scheme == "wss" else 80)
    where = {"port": port, "protocol": Protocol.TCP}
    findings: list[Finding] = []
    profile = enforced_profile(evidence)
    if evidence.scheme == "ws":
        findings.append(finding("ocpp-plain-ws", detail=f"backend URL {evidence.url} is plain WebSocket: every OCPP message, and any Basic credential, crosses the network in clear text", evidence=["/scheme"], **where))
    if profile is SecurityProfile.NONE:
        findings.append(
            finding(
                "ocpp-no-auth", detail=f"the CSMS upgraded identity {evidence.identity!r} without any credential (security profile 0): anyone who knows a station identity can connect as that station",
                evidence=["/anonymous"], **where,
            )
        )
    if profile is SecurityProfile.BASIC_PLAIN:
        findings.append(
            finding(
                "ocpp-basic-auth-over-plain", detail=f"the CSMS demands HTTP {evidence.anonymous.challenge or 'Basic'} auth over ws:// (security profile 1): the station password travels base64-encoded in clear text (porthole did not send it)",
                evidence=["/anonymous"], **where,
            )
        )
    findings.extend(_tls_findings(evidence, where))
    findings.extend(_duplicate_findings(evidence, profile, where))
    return findings


def _tls_findings(evidence: OcppEvidence, where: dict) -> list[Finding]:
    tls = evidence.tls
    if tls is None:
        return []
    findings: list[Finding] = []
    old = sorted(set(tls.versions) & WEAK_TLS_VERSIONS)
    weak_grade = tls.grade in WEAK_GRADES
    if old or weak_grade:
        reasons = [f"accepts {', '.join(old)} (OCPP 2.0.1 requires TLS 1.2+)"] if old else []
        if weak_grade:
            reasons.append(f"weakest accepted suite grades {tls.grade}: {'; '.join(tls.grade_reasons[:2])}")
        findings.append(finding("ocpp-weak-tls", detail="; ".join(reasons), evidence=["/tls/versions", "/tls/grade"], **where))
    if tls.certificate_validated is False:
        findings.append(
            finding(
                "ocpp-cert-not-validated", detail=f"the CSMS certificate fails full validation against {tls.ca_source}: {tls.validation_error}. Controllers set to full validation cannot connect, which pushes operators to lower SSL strictness",
                evidence=["/tls/certificate_validated"], **where,
            )
        )
    return findings


def _duplicate_findings(evidence: OcppEvidence, profile: SecurityProfile, where: dict) -> list[Finding]:
    result = evidence.duplicate_identity
    if result is None or result.outcome not in (DuplicateOutcome.DROPS_FIRST, DuplicateOutcome.KEEPS_BOTH):
        return []
    routed = f"; CSMS requests arrived on the newcomer: {', '.join(result.calls_routed_to_newcomer)}" if result.calls_routed_to_newcomer else ""
    easy = " and the profile needs no secret, so a leaked identity is enough" if profile in (SecurityProfile.NONE, SecurityProfile.BASIC_PLAIN) else ""
    if result.outcome is DuplicateOutcome.DROPS_FIRST:
        detail = f"a second connection with identity {evidence.identity!r} was accepted and the first was dropped (last connection wins){routed}{easy}"
        severity = Severity.CRITICAL if easy else Severity.HIGH
    else:
        detail = f"a second connection with identity {evidence.identity!r} was accepted while the first stayed open (both kept){routed}{easy}"
        severity = Severity.HIGH if easy else Severity.MEDIUM
    return [finding("ocpp-identity-hijack", detail=detail, severity=severity, evidence=["/duplicate_identity"], **where)]
