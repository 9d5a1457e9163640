"""TLS judgements: pure joins of the TLS evidence with the grading tables (docs/tls-grading.md).

* ``grade(evidence)`` → ``TlsGrade``: nmap ssl-enum-ciphers letter per accepted suite and
  for the port (the worst suite), the reasons, and Mozilla modern/intermediate compliance
  with the violations listed.
* ``assess(evidence, observation)`` → findings (ids documented in catalog/findings.toml),
  each carrying the facts it rests on and the table row that fired (``source``).
* ``summarise(evidence)`` → one line for the ports table.

Time: certificate validity is judged at ``evidence["observed_at"]`` (the probe's clock),
never at "now", so assessing a stored report is reproducible. No I/O here.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from porthole.findings import finding
from porthole.grading import tls as grading
from porthole.grading.tables import Row, Verdict
from porthole.model import Finding, PortObservation, Severity

__all__ = ["SuiteGrade", "MozillaVerdict", "TlsGrade", "grade", "assess", "summarise", "EXPIRY_WARNING_DAYS"]

#: a certificate expiring sooner than this is reported (low severity)
EXPIRY_WARNING_DAYS = 30

_SUITES_TABLE = "porthole/grading/tables/tls_cipher_suites.toml"
_VERSIONS_TABLE = "porthole/grading/tables/tls_versions.toml"
_KEYS_TABLE = "porthole/grading/tables/tls_keys.toml"
_SIGNATURES_TABLE = "porthole/grading/tables/tls_signatures.toml"
_POLICIES_TABLE = "porthole/grading/tables/tls_policies.toml"


@dataclass(frozen=True, slots=True, kw_only=True)
class SuiteGrade:
    version: str
    code: int
    name: str
    #: RSA-equivalent bits of the key exchange (min of certificate and ephemeral key)
    kex_strength: int | None
    cipher_strength: int
    score: float | None
    letter: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class MozillaVerdict:
    profile: str
    compliant: bool
    violations: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsGrade:
    #: nmap-style least-strength letter, or None when nothing was accepted
    letter: str | None
    reasons: tuple[str, ...]
    suites: tuple[SuiteGrade, ...]
    mozilla: tuple[MozillaVerdict, ...]


# --------------------------------------------------------------------------- grade


def grade(evidence: Mapping[str, Any]) -> TlsGrade:
    """nmap's letter and Mozilla compliance for one port's evidence."""
    scoring = grading.tls_policies().nmap
    leaf = _leaf(evidence)
    certificate_strength = _certificate_strength(leaf)
    ecdhe_bits = _ecdhe_bits(evidence)
    dh_bits = min(evidence.get("dh_prime_bits") or [0]) or None
    suites: list[SuiteGrade] = []
    for version in _accepted_versions(evidence):
        for entry in version["suites"]:
            row = grading.suite(entry["code"])
            if row is None:
                suites.append(SuiteGrade(version=version["version"], code=entry["code"], name=entry["name"], kex_strength=None, cipher_strength=0, score=None, letter=None))
                continue
            kex = _kex_strength(row, certificate_strength, ecdhe_bits=ecdhe_bits, dh_bits=dh_bits)
            cipher = row["strength_bits"]
            score = None if kex is None else grading.suite_score(kex, cipher, scoring)
            suites.append(
                SuiteGrade(
                    version=version["version"], code=row["code"], name=row["name"], kex_strength=kex, cipher_strength=cipher,
                    score=score, letter=None if score is None else grading.letter(score, scoring),
                )
            )
    reasons: list[str] = []
    letters = [suite.letter for suite in suites if suite.letter is not None]
    port_letter = grading.worst_letter(letters)
    if leaf is not None and port_letter is not None:
        if leaf.get("signature_hash") in scoring.capping_signature_hashes:
            reasons.append(f"certificate signed with {leaf['signature_hash'].upper()}: grade capped at F")
            port_letter = "F"
        if leaf.get("rsa_exponent") == 1:
            reasons.append("certificate RSA exponent 1: grade capped at F")
            port_letter = "F"
    worst = [suite for suite in suites if suite.letter is not None and suite.letter == grading.worst_letter(letters)]
    for suite in worst[:3]:
        reasons.append(
            f"{suite.version} {suite.name}: key exchange {suite.kex_strength} bits (RSA-equivalent), cipher {suite.cipher_strength} bits, score {suite.score:.3f} = {suite.letter}"
        )
    reasons.extend(_nmap_warnings(evidence))
    return TlsGrade(letter=port_letter, reasons=tuple(reasons), suites=tuple(suites), mozilla=tuple(_mozilla(evidence, name) for name in ("intermediate", "modern")))


def _accepted_versions(evidence: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [version for version in evidence.get("versions", ()) if version.get("accepted")]


def _leaf(evidence: Mapping[str, Any]) -> Mapping[str, Any] | None:
    certificates = evidence.get("certificates") or ()
    return certificates[0] if certificates else None


def _certificate_strength(leaf: Mapping[str, Any] | None) -> int | None:
    if leaf is None or leaf.get("key_bits") is None:
        return None
    kind = leaf["key_type"]
    if kind in ("ed25519", "ed448"):
        kind = "ec"
    return grading.rsa_equivalent_bits(kind, int(leaf["key_bits"]))


def _ecdhe_bits(evidence: Mapping[str, Any]) -> int | None:
    """The server's first (preferred) EC group size; finite-field groups are graded as DH."""
    for group in evidence.get("groups") or ():
        if group.get("bits") and not str(group["name"]).startswith("ffdhe"):
            return int(group["bits"])
    return None


def _kex_strength(row: Row, certificate: int | None, *, ecdhe_bits: int | None, dh_bits: int | None) -> int | None:
    kex, auth = row["kex"], row["auth"]
    if auth in ("anon", "NULL") or kex == "NULL":
        return 0
    if kex.endswith("_EXPORT"):
        return 512
    if kex in ("PSK", "SRP", "KRB5", "ECCPWD", "GOSTR341112_256", "DHE_PSK", "ECDHE_PSK"):
        return None  # no certificate key: nmap leaves these unscored
    ephemeral: int | None
    if kex in ("ECDHE", "ECDH", "ANY"):
        ephemeral = grading.rsa_equivalent_bits("ec", ecdhe_bits or 256)
    elif kex in ("DHE", "DH"):
        ephemeral = dh_bits
    else:  # RSA key transport, RSA_PSK: the certificate key is the key exchange
        ephemeral = None
    candidates = [value for value in (certificate, ephemeral) if value is not None]
    return min(candidates) if candidates else None


def _nmap_warnings(evidence: Mapping[str, Any]) -> list[str]:
    warnings: list[str] = []
    rows = [(version["version"], grading.suite(entry["code"])) for version in _accepted_versions(evidence) for entry in version["suites"]]
    rows = [(version, row) for version, row in rows if row is not None]
    if any(row["block_bits"] == 64 for _, row in rows):
        warnings.append("64-bit block cipher accepted: vulnerable to SWEET32")
    if any(row["cipher"] == "RC4" for _, row in rows):
        warnings.append("RC4 accepted: broken (RFC 7465)")
    if any(row["mac"] == "MD5" for _, row in rows):
        warnings.append("MD5 record MAC accepted")
    if any(version == "SSLv3" and row["mode"] == "CBC" for version, row in rows):
        warnings.append("CBC in SSLv3 accepted: POODLE")
    if any(row["export"] for _, row in rows):
        warnings.append("export-grade suites accepted")
    legacy = [row for version, row in rows if version != "TLSv1.3"]
    if legacy and not any(row["forward_secrecy"] for row in legacy):
        warnings.append("no suite with forward secrecy below TLS 1.3")
    return warnings


def _mozilla(evidence: Mapping[str, Any], name: str) -> MozillaVerdict:
    profile = grading.tls_policies().mozilla[name]
    violations: list[str] = []
    for version in _accepted_versions(evidence):
        if version["version"] not in profile.versions:
            violations.append(f"{version['version']} accepted")
        outside = [entry["name"] for entry in version["suites"] if entry["code"] not in profile.suites]
        if outside:
            violations.append(f"{version['version']} suites outside the profile: {', '.join(outside)}")
    # Mozilla lists the groups to configure; a server that also offers a *stronger* group
    # (X448, P-521, ffdhe >= 2048) is not weakened by it, so only weaker ones count here
    # (sslyze counts every group outside the list; docs/tls-grading.md says why not)
    weaker_groups = [group["name"] for group in evidence.get("groups") or () if group["code"] not in profile.groups and _weaker_than_profile(group, profile)]
    if weaker_groups:
        violations.append(f"groups weaker than the profile's: {', '.join(weaker_groups)}")
    leaf = _leaf(evidence)
    if leaf is not None:
        kind = leaf.get("key_type")
        if kind not in profile.certificate_keys:
            violations.append(f"certificate key type {kind} (profile: {', '.join(sorted(profile.certificate_keys))})")
        if kind == "rsa" and (leaf.get("key_bits") or 0) < profile.minimum_rsa_bits:
            violations.append(f"RSA key of {leaf.get('key_bits')} bits (profile: at least {profile.minimum_rsa_bits})")
    small_dh = [bits for bits in evidence.get("dh_prime_bits") or () if bits < profile.minimum_dh_bits]
    if small_dh:
        violations.append(f"DH group of {min(small_dh)} bits (profile: at least {profile.minimum_dh_bits})")
    if evidence.get("compression"):
        violations.append("TLS compression accepted")
    return MozillaVerdict(profile=name, compliant=not violations, violations=tuple(violations))


def _downgrade(evidence: Mapping[str, Any], where: Mapping[str, Any]) -> list[Finding]:
    """RFC 7507 TLS_FALLBACK_SCSV ignored, or a TLS 1.3 server without the RFC 8446 sentinel."""
    lines = []
    if evidence.get("fallback_scsv") == "ignored":
        lower = [version["version"] for version in _accepted_versions(evidence) if version["version"] not in ("TLSv1.3", "TLSv1.2")]
        lines.append(f"a {lower[0] if lower else 'lower-version'} ClientHello carrying TLS_FALLBACK_SCSV (0x5600) was answered with a ServerHello, not alert inappropriate_fallback (RFC 7507)")
    if evidence.get("downgrade_sentinel") is False:
        lines.append("the TLS 1.2 ServerHello of this TLS 1.3 server does not end its random with DOWNGRD\\x01 (RFC 8446 §4.1.3)")
    if not lines:
        return []
    return [
        finding(
            "tls-no-downgrade-protection",
            detail="A man in the middle can force clients of this port onto an older protocol version without the client noticing.",
            evidence=lines,
            source="RFC 7507; RFC 8446 §4.1.3",
            **where,
        )
    ]


def _weaker_than_profile(group: Mapping[str, Any], profile: grading.MozillaProfile) -> bool:
    bits = group.get("bits")
    if not bits:
        return True
    if str(group["name"]).startswith("ffdhe"):
        return int(bits) < profile.minimum_dh_bits
    return int(bits) < 256


# --------------------------------------------------------------------------- findings


def assess(evidence: Mapping[str, Any], observation: PortObservation) -> list[Finding]:
    """Findings for one TLS port (see catalog/findings.toml ``tls-*``)."""
    if not evidence.get("tls"):
        return []
    policy = grading.tls_policies().service(observation.service)
    where = {"port": observation.port, "protocol": observation.protocol}
    port_grade = grade(evidence)
    grade_line = f"grade {port_grade.letter} (nmap ssl-enum-ciphers scheme)" if port_grade.letter else "no suite accepted"
    findings: list[Finding] = []

    legacy = [(version, grading.version_row(_version_code(version["version"]))) for version in _accepted_versions(evidence)]
    legacy = [(version, row) for version, row in legacy if row is not None and row.verdict is Verdict.FAIL]
    if legacy:
        findings.append(
            finding(
                "tls-legacy-version",
                detail=f"The port accepts {', '.join(version['version'] for version, _ in legacy)}; {grade_line}.",
                evidence=[
                    f"{version['version']} accepted with {len(version['suites'])} suite(s): {_reason_text('tls_versions', row)}"
                    for version, row in legacy
                ],
                source=f"{_VERSIONS_TABLE}#{'+'.join(version['version'] for version, _ in legacy)}",
                **where,
            )
        )

    weak = _accepted_rows(evidence, lambda row: row.verdict is Verdict.FAIL)
    if weak:
        worst_reasons = {reason for _, row in weak for reason in row.reasons}
        severity = Severity.CRITICAL if worst_reasons & {"null-encryption", "anonymous", "export"} else None
        findings.append(
            finding(
                "tls-weak-cipher",
                detail=f"{len(weak)} broken cipher suite(s) accepted; {grade_line}.",
                evidence=[f"{version} {row['name']} ({row['code']:#06x}): {', '.join(row.reasons)}" for version, row in weak],
                source=_SUITES_TABLE + "#" + "+".join(format(row["code"], "#06x") for _, row in weak[:8]),
                severity=severity,
                **where,
            )
        )

    static = _accepted_rows(
        evidence,
        lambda row: not row["forward_secrecy"] and row["kex"] != "NULL" and row["code"] not in policy.static_key_exchange_allowed,
    )
    if static:
        legacy_rows = [row for _, row in _accepted_rows(evidence, lambda row: row["min_version"] != "TLSv1.3")]
        none_forward = legacy_rows and not any(row["forward_secrecy"] for row in legacy_rows)
        findings.append(
            finding(
                "tls-no-forward-secrecy",
                detail=(
                    "No accepted suite below TLS 1.3 has forward secrecy." if none_forward
                    else f"{len(static)} accepted suite(s) use a static key exchange."
                ),
                evidence=[f"{version} {row['name']} ({row['code']:#06x}): key exchange {row['kex']}" for version, row in static],
                source=f"{_SUITES_TABLE}#forward_secrecy",
                severity=Severity.HIGH if none_forward else None,
                **where,
            )
        )

    findings.extend(_weak_dh(evidence, where))

    if evidence.get("compression"):
        findings.append(
            finding(
                "tls-compression",
                detail=f"The server chose TLS compression ({', '.join(evidence['compression'])}) when offered.",
                evidence=[f"ServerHello compression method: {method}" for method in evidence["compression"]],
                source=f"{_POLICIES_TABLE}#mozilla",
                **where,
            )
        )

    findings.extend(_downgrade(evidence, where))

    findings.extend(_certificate_findings(evidence, policy, where))

    client = evidence.get("client_certificate")
    if policy.require_client_certificate and client in ("not-requested", "optional"):
        findings.append(
            finding(
                "tls-client-cert-not-required",
                detail=(
                    f"{observation.service} should authenticate its peers with client certificates; "
                    + ("the server asks for one but completes the handshake without it." if client == "optional" else "the server does not ask for one.")
                ),
                evidence=[f"client certificate: {client}", f"evidence from {evidence.get('handshakes')} handshake(s)"],
                source=f"{_POLICIES_TABLE}#service.{policy.service}",
                **where,
            )
        )
    return findings


def _weak_dh(evidence: Mapping[str, Any], where: Mapping[str, Any]) -> list[Finding]:
    hits: list[tuple[str, Row]] = []
    for bits in evidence.get("dh_prime_bits") or ():
        rows = grading.key_rows("dhe", int(bits))
        if rows:
            hits.append((f"ephemeral DH group of {bits} bits", rows[0]))
    for group in evidence.get("groups") or ():
        if group.get("bits") and not str(group["name"]).startswith("ffdhe"):
            rows = grading.key_rows("ecdhe", int(group["bits"]))
            if rows:
                hits.append((f"ephemeral EC group {group['name']} ({group['bits']} bits)", rows[0]))
        elif group.get("bits"):
            rows = grading.key_rows("dhe", int(group["bits"]))
            if rows:
                hits.append((f"ephemeral DH group {group['name']}", rows[0]))
    if not hits:
        return []
    severity = Severity.HIGH if any(row.verdict is Verdict.FAIL for _, row in hits) else None
    return [
        finding(
            "tls-weak-dh",
            detail=f"The server uses ephemeral key exchange below 112-bit security: {', '.join(text for text, _ in hits)}.",
            evidence=[f"{text}: {_reason_text('tls_keys', row)}" for text, row in hits],
            source=_KEYS_TABLE + "#" + "+".join(f"{row['kind']}<{row['below_bits']}" for _, row in hits),
            severity=severity,
            **where,
        )
    ]


def _certificate_findings(evidence: Mapping[str, Any], policy: grading.ServicePolicy, where: Mapping[str, Any]) -> list[Finding]:
    certificates = list(evidence.get("certificates") or ())
    if not certificates:
        return []
    findings: list[Finding] = []
    leaf = certificates[0]
    described = f"{leaf['subject']} (SHA-256 {leaf['sha256'][:16]}…)"
    if leaf.get("self_signed") and not policy.self_signed_expected:
        findings.append(
            finding(
                "tls-self-signed-cert",
                detail=f"The certificate is self-signed: clients can only trust it by pinning. {described}",
                evidence=[f"subject = issuer = {leaf['subject']}", "signature verifies with the certificate's own key"],
                source="porthole/catalog/findings.toml#tls-self-signed-cert",
                **where,
            )
        )
    observed = _parse_time(evidence.get("observed_at"))
    if observed is not None:
        for certificate in certificates:
            findings.extend(_validity(certificate, observed, where))
    if leaf.get("key_bits") is not None and leaf.get("key_type") in ("rsa", "dsa", "ec"):
        rows = grading.key_rows(leaf["key_type"], int(leaf["key_bits"]))
        if rows or leaf.get("rsa_exponent") == 1:
            lines = [f"{leaf['key_type'].upper()} {leaf['key_bits']} bits: {_reason_text('tls_keys', row)}" for row in rows[:1]]
            if leaf.get("rsa_exponent") == 1:
                lines.append("RSA public exponent 1: the 'encryption' is the identity")
            # factorable today: an RSA modulus below 1024 bits (the strictest rsa row), or e = 1
            below_1024 = any(row["kind"] == "rsa" and row["below_bits"] <= 1024 for row in rows) or leaf.get("rsa_exponent") == 1
            findings.append(
                finding(
                    "tls-weak-key",
                    detail=f"The certificate key is too weak: {leaf['key_type'].upper()} {leaf['key_bits']} bits. {described}",
                    evidence=lines,
                    source=f"{_KEYS_TABLE}#{rows[0]['kind']}<{rows[0]['below_bits']}" if rows else f"{_KEYS_TABLE}",
                    severity=Severity.HIGH if below_1024 else None,
                    **where,
                )
            )
    weak_signatures = []
    for certificate in certificates:
        trust_anchor = certificate["position"] > 0 and certificate.get("self_signed") and certificate.get("is_ca")
        row = grading.signature_row(str(certificate.get("signature_hash")))
        if row is not None and row.verdict is Verdict.FAIL and not trust_anchor:
            weak_signatures.append((certificate, row))
    if weak_signatures:
        hashes = {certificate["signature_hash"] for certificate, _ in weak_signatures}
        findings.append(
            finding(
                "tls-weak-signature",
                detail=f"Certificate signature with {', '.join(sorted(h.upper() for h in hashes))}.",
                evidence=[f"#{c['position']} {c['subject']}: {c['signature_algorithm']} — {_reason_text('tls_signatures', row)}" for c, row in weak_signatures],
                source=f"{_SIGNATURES_TABLE}#{'+'.join(sorted(hashes))}",
                severity=Severity.HIGH if hashes & {"md5", "md2"} else None,
                **where,
            )
        )
    return findings


def _validity(certificate: Mapping[str, Any], observed: datetime.datetime, where: Mapping[str, Any]) -> list[Finding]:
    not_before, not_after = _parse_time(certificate.get("not_before")), _parse_time(certificate.get("not_after"))
    if not_before is None or not_after is None:
        return []
    label = "The certificate" if certificate["position"] == 0 else f"Chain certificate #{certificate['position']}"
    lines = [f"#{certificate['position']} {certificate['subject']}", f"valid {certificate['not_before']} .. {certificate['not_after']}", f"observed {observed.isoformat().replace('+00:00', 'Z')}"]
    if not_after < observed:
        days = (observed - not_after).days
        return [finding("tls-expired-cert", detail=f"{label} expired {days} day(s) before the scan.", evidence=lines, **where)]
    if not_before > observed:
        return [finding("tls-expired-cert", detail=f"{label} is not valid yet (valid from {certificate['not_before']}).", evidence=lines, title="Certificate not yet valid", **where)]
    if not_after - observed < datetime.timedelta(days=EXPIRY_WARNING_DAYS):
        days = (not_after - observed).days
        return [
            finding(
                "tls-expired-cert", detail=f"{label} expires in {days} day(s).", evidence=lines,
                title=f"Certificate expires within {EXPIRY_WARNING_DAYS} days", severity=Severity.LOW, **where,
            )
        ]
    return []


def _accepted_rows(evidence: Mapping[str, Any], keep: Any) -> list[tuple[str, Row]]:
    hits = []
    for version in _accepted_versions(evidence):
        for entry in version["suites"]:
            row = grading.suite(entry["code"])
            if row is not None and keep(row):
                hits.append((version["version"], row))
    return hits


def _reason_text(table: str, row: Row) -> str:
    reasons = grading.load_table(table).reasons
    return "; ".join(reasons[reason].text for reason in row.reasons) or row.verdict.value


def _version_code(label: str) -> int:
    return {"SSLv3": 0x0300, "TLSv1.0": 0x0301, "TLSv1.1": 0x0302, "TLSv1.2": 0x0303, "TLSv1.3": 0x0304}.get(label, 0)


def _parse_time(text: Any) -> datetime.datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        value = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=datetime.UTC)


# --------------------------------------------------------------------------- summary


def summarise(evidence: Mapping[str, Any]) -> str | None:
    """``TLSv1.2, TLSv1.3; 5 suites; grade A; Mozilla intermediate; CN=master-web RSA-2048``."""
    if not evidence.get("tls"):
        return None
    versions = _accepted_versions(evidence)
    if not versions:
        return "TLS: no version accepted"
    port_grade = grade(evidence)
    suites = sum(len(version["suites"]) for version in versions)
    parts = [", ".join(version["version"] for version in versions), f"{suites} suites"]
    if port_grade.letter:
        parts.append(f"grade {port_grade.letter}")
    compliant = [verdict.profile for verdict in port_grade.mozilla if verdict.compliant]
    parts.append(f"Mozilla {compliant[-1]}" if compliant else "Mozilla: none")
    leaf = _leaf(evidence)
    if leaf is not None:
        key = f"{str(leaf['key_type']).upper()}-{leaf['key_bits']}" if leaf.get("key_bits") else str(leaf["key_type"])
        parts.append(f"{leaf['subject']} {key}" + (" self-signed" if leaf.get("self_signed") else ""))
    if evidence.get("client_certificate") in ("required", "optional"):
        parts.append(f"client cert {evidence['client_certificate']}")
    return "; ".join(parts)
