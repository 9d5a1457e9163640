"""TLS judgements on hand-built evidence: the clock is the evidence's, grades follow the tables."""

from __future__ import annotations

from typing import Any

import pytest

from porthole.model import PortObservation, PortState, Protocol, Reason, Severity
from porthole.services.tls.assess import assess, grade, summarise

OBSERVED = "2026-06-01T12:00:00Z"


def certificate(**overrides: Any) -> dict[str, Any]:
    base = {
        "position": 0, "sha256": "ab" * 32, "subject": "CN=charger,O=Depot", "issuer": "CN=Depot CA", "serial": "1",
        "not_before": "2025-01-01T00:00:00Z", "not_after": "2027-01-01T00:00:00Z", "key_type": "rsa", "key_bits": 2048,
        "rsa_exponent": 65537, "curve": None, "signature_algorithm": "sha256WithRSAEncryption", "signature_hash": "sha256",
        "self_signed": False, "is_ca": False, "san_dns": ["charger"], "san_ips": [], "subject_key_identifier": None,
        "names_target": False, "issued_by_next": None,
    }
    return {**base, **overrides}


def evidence(*, versions: dict[str, list[tuple[int, str]]], certificates: list[dict] | None = None, **overrides: Any) -> dict[str, Any]:
    base = {
        "tls": True, "observed_at": OBSERVED, "target_name": "198.18.0.12", "server_name_indication": None,
        "versions": [
            {"version": name, "accepted": bool(suites), "suites": [{"code": code, "name": suite_name} for code, suite_name in suites], "server_preference": None, "refusal": None, "complete": True}
            for name, suites in versions.items()
        ],
        "groups": [{"code": 29, "name": "x25519", "bits": 256}], "groups_source": "tls1.3-hello-retry", "dh_prime_bits": [], "compression": [],
        "certificates": certificates if certificates is not None else [certificate()], "certificate_source": "tls-plaintext-flight",
        "client_certificate": "not-requested", "client_certificate_authorities": [], "handshakes": 12, "complete": True, "notes": [],
    }
    return {**base, **overrides}


STRONG = {"TLSv1.3": [(0x1301, "TLS_AES_128_GCM_SHA256")], "TLSv1.2": [(0xC02F, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")]}


def observation(service: str = "https", port: int = 443) -> PortObservation:
    return PortObservation(port=port, protocol=Protocol.TCP, state=PortState.OPEN, reason=Reason.SYN_ACK, service=service)


def ids(found: list) -> set[str]:
    return {item.id for item in found}


def test_strong_configuration_has_no_finding_and_grade_a_mozilla_intermediate() -> None:
    facts = evidence(versions=STRONG)
    assert assess(facts, observation()) == []
    result = grade(facts)
    assert result.letter == "A"
    assert {verdict.profile: verdict.compliant for verdict in result.mozilla} == {"intermediate": True, "modern": False}
    assert summarise(facts) == "TLSv1.3, TLSv1.2; 2 suites; grade A; Mozilla intermediate; CN=charger,O=Depot RSA-2048"


@pytest.mark.parametrize(
    ("not_before", "not_after", "title", "severity", "fine_at"),
    [
        ("2025-01-01T00:00:00Z", "2026-05-01T00:00:00Z", "TLS certificate expired", Severity.MEDIUM, "2026-01-01T00:00:00Z"),
        ("2026-07-01T00:00:00Z", "2028-01-01T00:00:00Z", "Certificate not yet valid", Severity.MEDIUM, "2027-01-01T00:00:00Z"),
        ("2025-01-01T00:00:00Z", "2026-06-20T00:00:00Z", "Certificate expires within 30 days", Severity.LOW, "2026-01-01T00:00:00Z"),
    ],
)
def test_validity_is_judged_at_the_time_of_observation(not_before: str, not_after: str, title: str, severity: Severity, fine_at: str) -> None:
    # Given a certificate observed on 2026-06-01
    facts = evidence(versions=STRONG, certificates=[certificate(not_before=not_before, not_after=not_after)])
    # Then its validity is judged at that moment, not at the time assess runs
    (found,) = assess(facts, observation())
    assert (found.id, found.title, found.severity) == ("tls-expired-cert", title, severity)
    # And the same certificate observed when it was comfortably valid raises nothing
    assert assess({**facts, "observed_at": fine_at}, observation()) == []


def test_sha1_and_md5_signatures_are_weak_and_cap_the_grade_at_f() -> None:
    facts = evidence(versions=STRONG, certificates=[certificate(signature_hash="sha1", signature_algorithm="sha1WithRSAEncryption")])
    (found,) = assess(facts, observation())
    assert found.id == "tls-weak-signature" and found.severity is Severity.MEDIUM
    assert grade(facts).letter == "F" and "certificate signed with SHA1: grade capped at F" in grade(facts).reasons
    md5 = evidence(versions=STRONG, certificates=[certificate(signature_hash="md5")])
    assert assess(md5, observation())[0].severity is Severity.HIGH


def test_a_sha1_self_signed_root_at_the_end_of_the_chain_is_not_a_weak_signature() -> None:
    root = certificate(position=1, subject="CN=Old Root", issuer="CN=Old Root", signature_hash="sha1", self_signed=True, is_ca=True)
    assert assess(evidence(versions=STRONG, certificates=[certificate(issued_by_next=True), root]), observation()) == []


@pytest.mark.parametrize(
    ("key_type", "bits", "severity"),
    [("rsa", 1024, Severity.MEDIUM), ("rsa", 512, Severity.HIGH), ("ec", 192, Severity.MEDIUM), ("dsa", 1024, Severity.MEDIUM)],
)
def test_weak_certificate_keys(key_type: str, bits: int, severity: Severity) -> None:
    (found,) = assess(evidence(versions=STRONG, certificates=[certificate(key_type=key_type, key_bits=bits)]), observation())
    assert (found.id, found.severity) == ("tls-weak-key", severity)


def test_weak_ephemeral_dh_is_a_finding_with_the_table_row_as_source() -> None:
    facts = evidence(versions={"TLSv1.2": [(0x009E, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256")]}, dh_prime_bits=[1024], groups=[])
    (found,) = assess(facts, observation())
    assert found.id == "tls-weak-dh" and found.source.endswith("tls_keys.toml#dhe<2048")
    assert grade(facts).letter == "A"  # nmap: 1024-bit DH scores 0.8 with AES-128, still A


def test_self_signed_is_info_on_the_web_ui_and_expected_on_ship() -> None:
    facts = evidence(versions=STRONG, certificates=[certificate(self_signed=True, issuer="CN=charger,O=Depot")])
    (found,) = assess(facts, observation())
    assert (found.id, found.severity) == ("tls-self-signed-cert", Severity.INFO)
    assert ids(assess({**facts, "client_certificate": "required"}, observation("eebus-ship", 4711))) == set()


def test_ports_that_must_authenticate_peers_without_client_certificates() -> None:
    for client in ("not-requested", "optional"):
        (found,) = assess(evidence(versions=STRONG, client_certificate=client), observation("ocpp-dlm", 1600))
        assert (found.id, found.severity) == ("tls-client-cert-not-required", Severity.LOW)
    assert assess(evidence(versions=STRONG, client_certificate="required"), observation("ocpp-dlm", 1600)) == []
    # the web UI is not expected to demand client certificates
    assert assess(evidence(versions=STRONG, client_certificate="not-requested"), observation()) == []


def test_ship_client_authentication_is_left_to_the_eebus_probe() -> None:
    # SHIP's missing client certificate is eebus-no-client-auth (the eebus probe), not a second finding
    facts = evidence(versions=STRONG, client_certificate="not-requested", certificates=[certificate(self_signed=True, issuer="CN=charger,O=Depot")])
    assert ids(assess(facts, observation("eebus-ship", 4711))) == set()


def test_iso15118_static_ecdh_suite_is_allowed_on_15120_only() -> None:
    facts = evidence(versions={"TLSv1.2": [(0xC025, "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA256"), (0xC023, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256")]},
                     certificates=[certificate(key_type="ec", key_bits=256, rsa_exponent=None)])
    assert ids(assess(facts, observation("iso15118-v2g-tls", 15120))) == set()
    assert ids(assess(facts, observation())) == {"tls-no-forward-secrecy"}


def test_legacy_versions_and_broken_suites() -> None:
    facts = evidence(versions={"TLSv1.0": [(0x000A, "TLS_RSA_WITH_3DES_EDE_CBC_SHA")], "TLSv1.2": [(0x0018, "TLS_DH_anon_WITH_RC4_128_MD5")]})
    found = {item.id: item for item in assess(facts, observation())}
    assert set(found) == {"tls-legacy-version", "tls-weak-cipher", "tls-no-forward-secrecy"}
    assert found["tls-weak-cipher"].severity is Severity.CRITICAL  # anonymous
    assert found["tls-no-forward-secrecy"].severity is Severity.HIGH  # no suite with forward secrecy at all
    assert found["tls-legacy-version"].evidence == ("TLSv1.0 accepted with 1 suite(s): TLS 1.0 is deprecated by RFC 8996 (BEAST-era CBC, SHA-1/MD5 handshake signatures)",)
    result = grade(facts)
    assert result.letter == "F"  # anonymous key exchange scores 0 outright
    assert "64-bit block cipher accepted: vulnerable to SWEET32" in result.reasons


def test_not_tls_evidence_has_no_findings_and_no_summary() -> None:
    facts = {"tls": False, "observed_at": OBSERVED, "target_name": "x", "notes": ["not TLS"]}
    assert assess(facts, observation("ocpp-s", 8090)) == [] and summarise(facts) is None
