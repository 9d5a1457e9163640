"""Pure judgements of the OCPP link audit over hand-made evidence, and the CLI's input checks."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from porthole.cli import app
from porthole.errors import UsageError
from porthole.ocpp import LinkSettings, SecurityProfile, assess, connection_url, enforced_profile
from porthole.ocpp.evidence import HandshakeAttempt, HandshakeOutcome, OcppEvidence, Presented, TlsLinkFacts


def _attempt(outcome: HandshakeOutcome, **facts: object) -> HandshakeAttempt:
    return HandshakeAttempt(presented=Presented.NOTHING, offered=("ocpp1.6",), outcome=outcome, **facts)  # type: ignore[arg-type]


def _evidence(*, scheme: str, anonymous: HandshakeAttempt, tls: TlsLinkFacts | None = None) -> OcppEvidence:
    skipped = _attempt(HandshakeOutcome.SKIPPED)
    return OcppEvidence(url=f"{scheme}://csms.example:8443/ocpp", scheme=scheme, identity="AUDIT-1", anonymous=anonymous, basic=skipped, client_certificate=skipped, tls=tls)


def test_wss_csms_that_accepts_tls10_and_an_unvalidated_certificate_gets_both_tls_findings() -> None:
    # Given a wss CSMS demanding Basic, serving TLS 1.0 and a certificate that fails validation
    tls = TlsLinkFacts(versions=("TLSv1.2", "TLSv1.0"), suites=(), grade="A", certificate_validated=False, validation_error="self-signed certificate")
    evidence = _evidence(scheme="wss", anonymous=_attempt(HandshakeOutcome.HTTP_REFUSED, http_status=401, challenge="Basic"), tls=tls)
    # When assessed
    findings = {item.id: item for item in assess(evidence)}
    # Then profile 2 is reported with exactly the weak-TLS and validation findings, each naming its checklist setting
    assert enforced_profile(evidence) is SecurityProfile.BASIC_TLS
    assert set(findings) == {"ocpp-weak-tls", "ocpp-cert-not-validated"}
    assert "TLSv1.0" in findings["ocpp-weak-tls"].detail
    assert findings["ocpp-weak-tls"].setting == "OCPP cipher strictness: only secure ciphers (TLS1.2+)"
    assert findings["ocpp-cert-not-validated"].setting == "SSL strictness (as client): Full validation"
    assert findings["ocpp-weak-tls"].port == 8443


def test_plain_ws_csms_answering_404_is_flagged_plain_but_its_profile_stays_unknown() -> None:
    # Given a ws:// CSMS that does not know the audit identity
    evidence = _evidence(scheme="ws", anonymous=_attempt(HandshakeOutcome.HTTP_REFUSED, http_status=404))
    # When assessed, Then only the scheme is judged: a 404 says nothing about credentials
    assert enforced_profile(evidence) is SecurityProfile.UNKNOWN
    assert [item.id for item in assess(evidence)] == ["ocpp-plain-ws"]
    assert assess(evidence)[0].setting == "OCPP Backend URL: should start with wss://"


def test_identity_is_percent_encoded_onto_the_backend_url() -> None:
    # Given an identity with a space and a slash, Then it becomes one path segment
    assert connection_url("wss://csms.example/ocpp/", "CP 1/a") == "wss://csms.example/ocpp/CP%201%2Fa"


@pytest.mark.parametrize(
    ("url", "identity", "message"),
    [
        ("https://csms.example/ocpp", "CP1", "must start with ws:// or wss://"),
        ("wss://user:secret@csms.example/ocpp", "CP1", "no credentials in the URL"),
        ("wss://csms.example/ocpp", "CP:1", "without ':'"),
        ("wss://csms.example/ocpp", "C" * 49, "1-48 characters"),
    ],
)
def test_bad_inputs_are_usage_errors_that_say_how_to_fix_them(url: str, identity: str, message: str) -> None:
    # Given a malformed URL or identity, When settings are built, Then a UsageError names the fix
    with pytest.raises(UsageError, match=message):
        LinkSettings(url=url, identity=identity)


def test_settings_repr_never_shows_the_password() -> None:
    # Given settings holding a password, Then their repr (tracebacks, debug logs) does not
    assert "hunter2-hunter2-hunter2" not in repr(LinkSettings(url="wss://csms.example/ocpp", identity="CP1", password="hunter2-hunter2-hunter2"))


def test_cli_rejects_a_non_websocket_url_with_exit_code_2() -> None:
    # Given an http:// URL, When `porthole ocpp` runs, Then it exits 2 with the reason on stderr
    result = CliRunner().invoke(app, ["ocpp", "http://csms.example/ocpp", "--identity", "CP1"])
    assert result.exit_code == 2
    assert "must start with ws:// or wss://" in result.output
