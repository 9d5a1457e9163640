"""The OCPP link audit against the lab CSMS emulators on loopback (real ocpp + websockets servers)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from lab.services._csms import IDENTITY, PASSWORD, CsmsMode, HostileBehaviour, client_certificate, start_csms, start_hostile_csms
from porthole.ocpp import DuplicateOutcome, HandshakeOutcome, LinkSettings, SecurityProfile, assess, enforced_profile, probe_link, render_json, render_text


@pytest.fixture(scope="module")
def cert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("csms-certs")


async def _audit(mode: CsmsMode, cert_dir: Path, *, duplicate: bool = True):
    certificate, key, ca = client_certificate(cert_dir)
    async with await start_csms(mode, cert_dir=cert_dir) as csms:
        settings = LinkSettings(
            url=csms.url, identity=IDENTITY, password=PASSWORD, client_certificate=certificate, client_key=key,
            ca_file=csms.ca_file or ca, step_budget=3, duplicate_identity_test=duplicate,
        )
        evidence = await probe_link(settings)
    return evidence, enforced_profile(evidence), {item.id for item in assess(evidence)}


@pytest.mark.parametrize(
    ("mode", "profile", "finding_ids"),
    [
        (CsmsMode.HARDENED_BASIC, SecurityProfile.BASIC_TLS, set()),
        (CsmsMode.HARDENED_CERT, SecurityProfile.CLIENT_CERTIFICATE, set()),
        (CsmsMode.WEAK_OPEN, SecurityProfile.NONE, {"ocpp-plain-ws", "ocpp-no-auth"}),
        (CsmsMode.WEAK_BASIC, SecurityProfile.BASIC_PLAIN, {"ocpp-plain-ws", "ocpp-basic-auth-over-plain"}),
        (CsmsMode.WEAK_TLS, SecurityProfile.BASIC_TLS, {"ocpp-weak-tls", "ocpp-cert-not-validated"}),
        (CsmsMode.HIJACKABLE, SecurityProfile.NONE, {"ocpp-plain-ws", "ocpp-no-auth", "ocpp-identity-hijack"}),
        (CsmsMode.KEEPS_BOTH, SecurityProfile.NONE, {"ocpp-plain-ws", "ocpp-no-auth", "ocpp-identity-hijack"}),
    ],
)
async def test_each_lab_csms_posture_yields_exactly_its_profile_and_findings(mode: CsmsMode, profile: SecurityProfile, finding_ids: set[str], cert_dir: Path) -> None:
    # Given a lab CSMS in one posture, When the link is audited with the duplicate test on
    evidence, observed_profile, observed_ids = await _audit(mode, cert_dir)
    # Then the enforced profile and the finding set are exactly the posture's
    assert observed_profile is profile
    assert observed_ids == finding_ids


async def test_hardened_csms_rejects_the_newcomer_and_accepts_both_ocpp_subprotocols(cert_dir: Path) -> None:
    # Given the profile-2 CSMS, When audited with valid credentials
    evidence, _, _ = await _audit(CsmsMode.HARDENED_BASIC, cert_dir)
    # Then Basic over validated TLS got in, 1.6 and 2.0.1 are accepted, 2.1 is not, duplicates are refused
    assert evidence.basic.outcome is HandshakeOutcome.ACCEPTED
    assert evidence.anonymous.http_status == 401 and evidence.anonymous.challenge == "Basic"
    assert {result.subprotocol: result.accepted for result in evidence.subprotocols} == {"ocpp1.6": True, "ocpp2.0.1": True, "ocpp2.1": False}
    assert evidence.tls is not None and evidence.tls.certificate_validated is True
    assert evidence.duplicate_identity is not None and evidence.duplicate_identity.outcome is DuplicateOutcome.REJECTS_NEWCOMER


async def test_hijackable_csms_drops_the_first_and_routes_its_requests_to_the_newcomer(cert_dir: Path) -> None:
    # Given a CSMS where the last connection wins, When the duplicate test runs
    evidence, _, _ = await _audit(CsmsMode.HIJACKABLE, cert_dir)
    duplicate = evidence.duplicate_identity
    # Then the first connection is gone and the CSMS's GetConfiguration reached porthole's second socket
    assert duplicate is not None and duplicate.outcome is DuplicateOutcome.DROPS_FIRST
    assert duplicate.calls_routed_to_newcomer == ("GetConfiguration",)
    # And only BootNotification and Heartbeat were ever sent
    assert {entry.split(": ")[1] for entry in duplicate.sent} <= {"BootNotification", "Heartbeat"}
    hijack = next(item for item in assess(evidence) if item.id == "ocpp-identity-hijack")
    assert hijack.severity.value == "critical"


async def test_duplicate_identity_test_is_off_by_default(cert_dir: Path) -> None:
    # Given the hijackable CSMS, When audited without the opt-in flag
    evidence, _, finding_ids = await _audit(CsmsMode.HIJACKABLE, cert_dir, duplicate=False)
    # Then no second connection was made and no hijack finding is claimed
    assert evidence.duplicate_identity is None
    assert "ocpp-identity-hijack" not in finding_ids


async def test_basic_password_is_never_sent_over_plain_ws(cert_dir: Path) -> None:
    # Given a profile-1 CSMS on ws://, When audited with a password available
    evidence, _, _ = await _audit(CsmsMode.WEAK_BASIC, cert_dir)
    # Then the Basic attempt was skipped, not made
    assert evidence.basic.outcome is HandshakeOutcome.SKIPPED
    assert "ws://" in (evidence.basic.detail or "")


@pytest.mark.parametrize("mode", [CsmsMode.HARDENED_BASIC, CsmsMode.WEAK_TLS, CsmsMode.HIJACKABLE])
async def test_password_appears_in_neither_report_nor_logs(mode: CsmsMode, cert_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    # Given every logger at DEBUG, When a credentialed audit runs
    caplog.set_level(logging.DEBUG)
    evidence, profile, _ = await _audit(mode, cert_dir)
    findings = assess(evidence)
    # Then neither the JSON report, the text report nor any log record holds the password (plain or base64)
    import base64

    encoded = base64.b64encode(f"{IDENTITY}:{PASSWORD}".encode()).decode()
    outputs = [json.dumps(render_json(evidence, profile, findings)), "\n".join(render_text(evidence, profile, findings)), caplog.text, repr(evidence)]
    for output in outputs:
        assert PASSWORD not in output
        assert encoded not in output


@pytest.mark.parametrize(
    ("behaviour", "outcome"),
    [
        (HostileBehaviour.NO_UPGRADE, HandshakeOutcome.HTTP_REFUSED),
        (HostileBehaviour.WRONG_SUBPROTOCOL, HandshakeOutcome.PROTOCOL_ERROR),
        (HostileBehaviour.GARBAGE, HandshakeOutcome.TIMEOUT),
        (HostileBehaviour.SILENT, HandshakeOutcome.TIMEOUT),
        (HostileBehaviour.HUGE_FRAME, HandshakeOutcome.ACCEPTED),
    ],
)
async def test_hostile_endpoints_give_a_clear_result_and_never_hang(behaviour: HostileBehaviour, outcome: HandshakeOutcome) -> None:
    # Given a broken "CSMS", When audited with the duplicate test and a short step budget
    async with await start_hostile_csms(behaviour) as hostile:
        evidence = await probe_link(LinkSettings(url=hostile.url, identity=IDENTITY, step_budget=0.5, duplicate_identity_test=True))
    # Then the anonymous attempt names what went wrong and the duplicate test is inconclusive, not a hang
    assert evidence.anonymous.outcome is outcome
    assert evidence.anonymous.outcome is HandshakeOutcome.ACCEPTED or evidence.anonymous.detail
    assert evidence.duplicate_identity is not None and evidence.duplicate_identity.outcome is DuplicateOutcome.INCONCLUSIVE
    assert not any(result.accepted for result in evidence.subprotocols if behaviour is not HostileBehaviour.HUGE_FRAME)
