"""EEBUS SHIP (4711/tcp): one TLS 1.2 handshake without a client certificate.

SHIP runs over mutually authenticated TLS (SHIP §9.1; ship-go's server uses
``RequireAnyClientCert``). The probe does exactly one TLS 1.2 handshake with the
stdlib ``ssl`` module, offering the ECDHE-ECDSA suites SHIP uses (0xC023 first),
verifying nothing and sending no certificate, and records:

* how the handshake ended (``HandshakeOutcome``);
* whether the server's flight held a CertificateRequest, and whether it refused to
  go on after our empty Certificate;
* the server certificate: subject, SubjectKeyIdentifier, SHA-256 fingerprint.

How "the server demands a client certificate" is told apart, for TLS 1.2 (where the
server's flight before its ChangeCipherSpec is plaintext, so the bytes it sent are
parsed whatever ``ssl`` reports):

1. the flight holds CertificateRequest (13) and ServerHelloDone (14), so the server
   asked, and our client answered with an empty Certificate message; and
2. the server then ended the handshake instead of sending ChangeCipherSpec: with a
   fatal plaintext alert of the certificate family (OpenSSL 3 sends
   handshake_failure (40) for "peer did not return a certificate" in TLS 1.2;
   bad_certificate, certificate_unknown, access_denied and TLS 1.3's
   certificate_required are accepted too), or by closing/resetting the connection
   without an alert (stacks that "just close"). Our side sees these as
   ``SSLError: sslv3 alert handshake failure`` or ``SSLEOFError``; the alert is read
   from the bytes, not from that message.

A CertificateRequest followed by a completed handshake means the server asks for a
certificate but does not require one (OpenSSL ``CERT_OPTIONAL``): not mutual TLS.

Must not: send a certificate, application data or a WebSocket upgrade (the SHIP
hello phase could surface as a pairing request on the controller, protocols.md
§8.2), or keep the connection after the handshake.
"""

from __future__ import annotations

import ssl
from typing import Any, ClassVar

from porthole.codecs import CodecError
from porthole.codecs import tls_flight
from porthole.errors import ErrorReason
from porthole.model import Finding, PortObservation, PortState, Protocol
from porthole.jsonable import to_jsonable
from porthole.services.base import ProbeContext, ProbeFailure, close_stream
from porthole.services.eebus import assess
from porthole.services.eebus._certificate import certificate_facts
from porthole.services.eebus._handshake import HandshakeEnd, HandshakeTranscript, client_handshake
from porthole.services.eebus.evidence import CertificateFacts, EebusEvidence, HandshakeOutcome

__all__ = ["EebusProbe", "OFFERED_SUITES", "classify_handshake", "build_tls_context"]

#: (OpenSSL name, IANA name): SHIP §9.1 requires 0xC023 and allows 0xC02B; the other
#: ECDHE-ECDSA suites widen the chance of a handshake with a stack that differs.
OFFERED_SUITES: tuple[tuple[str, str, int], ...] = (
    ("ECDHE-ECDSA-AES128-SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", 0xC023),
    ("ECDHE-ECDSA-AES128-GCM-SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", 0xC02B),
    ("ECDHE-ECDSA-AES256-GCM-SHA384", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", 0xC02C),
    ("ECDHE-ECDSA-AES256-SHA384", "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384", 0xC024),
    ("ECDHE-ECDSA-CHACHA20-POLY1305", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", 0xCCA9),
)
_IANA_BY_CODE = {code: iana for _, iana, code in OFFERED_SUITES}

#: fatal alerts that, after our empty Certificate, mean "no certificate, no entry"
CERTIFICATE_REJECTION_ALERTS = frozenset({40, 42, 46, 49, 116})

_HANDSHAKE_NAMES = {
    0: "hello_request",
    2: "server_hello",
    4: "new_session_ticket",
    11: "certificate",
    12: "server_key_exchange",
    13: "certificate_request",
    14: "server_hello_done",
    22: "certificate_status",
}


def build_tls_context() -> ssl.SSLContext:
    """TLS 1.2 only, the ECDHE-ECDSA suites, no verification, no client certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    # Verification would only end the handshake early on a self-signed SHIP
    # certificate (which SHIP uses by design); the probe records, it does not trust.
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(":".join(name for name, _, _ in OFFERED_SUITES))
    return context


def classify_handshake(transcript: HandshakeTranscript, flight: tls_flight.TlsServerFlight) -> tuple[HandshakeOutcome, str | None]:
    """The outcome and, for a refusal, how the server refused (see the module docstring)."""
    if transcript.end is HandshakeEnd.COMPLETED:
        return HandshakeOutcome.COMPLETED, None
    asked = flight.certificate_requested and tls_flight.HANDSHAKE_SERVER_HELLO_DONE in flight.handshake_types
    if asked and not flight.change_cipher_spec:
        alert = flight.alert
        if alert is not None and alert.fatal and alert.description in CERTIFICATE_REJECTION_ALERTS:
            return HandshakeOutcome.REFUSED_WITHOUT_CLIENT_CERTIFICATE, f"fatal alert {alert.name} ({alert.description}) after our empty Certificate"
        if alert is None and transcript.end in (HandshakeEnd.EOF, HandshakeEnd.RESET):
            how = "closed" if transcript.end is HandshakeEnd.EOF else "reset"
            return HandshakeOutcome.REFUSED_WITHOUT_CLIENT_CERTIFICATE, f"connection {how} without an alert after our empty Certificate"
    if transcript.end is HandshakeEnd.STALLED:
        return HandshakeOutcome.STALLED, None
    return HandshakeOutcome.FAILED, None


class EebusProbe:
    id: ClassVar[str] = "eebus"

    def claims(self, observation: PortObservation) -> bool:
        return observation.service == "eebus-ship" and observation.protocol is Protocol.TCP and observation.state is PortState.OPEN

    async def run(self, context: ProbeContext) -> dict[str, Any]:
        return to_jsonable(await self.gather(context))  # type: ignore[return-value]

    async def gather(self, context: ProbeContext) -> EebusEvidence:
        reader, writer = await context.open_stream()
        try:
            transcript = await client_handshake(
                reader,
                writer,
                build_tls_context(),
                limit=context.limits.max_read,
                first_byte=context.limits.first_byte,
                between_chunks=context.limits.between_chunks,
            )
        finally:
            await close_stream(writer)
        return evidence_from(transcript, limit=context.limits.max_read)

    def assess(self, evidence: dict[str, Any], observation: PortObservation) -> list[Finding]:
        return assess.assess_eebus(evidence, observation)

    def summarise(self, evidence: dict[str, Any]) -> str | None:
        return assess.summarise_eebus(evidence)


def evidence_from(transcript: HandshakeTranscript, *, limit: int) -> EebusEvidence:
    """Evidence from one handshake transcript; ``ProbeFailure`` when it is not TLS at all."""
    if transcript.end is HandshakeEnd.LIMIT:
        raise ProbeFailure(ErrorReason.TOO_LARGE, f"the server sent more than {limit} bytes without finishing its TLS handshake flight")
    try:
        flight = tls_flight.parse_server_flight(transcript.server_bytes)
    except CodecError as exc:
        head = transcript.server_bytes[:16].hex(" ")
        if _looks_like_tls(transcript.server_bytes):
            raise ProbeFailure(ErrorReason.MALFORMED, f"malformed TLS flight: {exc}; first bytes {head}") from None
        raise ProbeFailure(ErrorReason.UNRECOGNISED, f"not TLS: {exc}; first bytes {head}") from None
    if not flight.handshake_types and flight.alert is None:
        # Nothing TLS came back: say what did.
        if transcript.end is HandshakeEnd.STALLED:
            raise ProbeFailure(ErrorReason.TIMEOUT, "no TLS record in answer to the ClientHello")
        if not transcript.server_bytes:
            raise ProbeFailure(ErrorReason.CONNECTION_RESET, f"the server ended the connection ({transcript.end.value}) without answering the ClientHello")
        raise ProbeFailure(ErrorReason.UNRECOGNISED, f"no complete TLS record in {len(transcript.server_bytes)} bytes: {transcript.server_bytes[:16].hex(' ')}")
    outcome, rejection = classify_handshake(transcript, flight)
    certificate: CertificateFacts | None = None
    certificate_error: str | None = None
    if flight.certificates:
        try:
            certificate = certificate_facts(flight.certificates[0])
        except (ValueError, TypeError) as exc:
            certificate_error = f"unreadable certificate: {exc}"
    required = {HandshakeOutcome.COMPLETED: False, HandshakeOutcome.REFUSED_WITHOUT_CLIENT_CERTIFICATE: True}.get(outcome)
    return EebusEvidence(
        offered_version="TLSv1.2",
        offered_cipher_suites=tuple(iana for _, iana, _ in OFFERED_SUITES),
        handshake=outcome,
        server_flight=tuple(_HANDSHAKE_NAMES.get(code, f"type_{code}") for code in flight.handshake_types),
        certificate_requested=flight.certificate_requested,
        client_certificate_required=required,
        rejection=rejection,
        negotiated_version=transcript.version or _version_name(flight.server_version),
        negotiated_cipher_suite=_suite_name(flight.cipher_suite),
        error=None if outcome is HandshakeOutcome.COMPLETED else _failure_text(transcript, flight),
        certificate=certificate,
        certificate_error=certificate_error,
    )


def _looks_like_tls(data: bytes) -> bool:
    """A first record header that says handshake or alert, TLS major version 3."""
    return len(data) >= 3 and data[0] in (tls_flight.CONTENT_HANDSHAKE, tls_flight.CONTENT_ALERT) and data[1] == 0x03


def _failure_text(transcript: HandshakeTranscript, flight: tls_flight.TlsServerFlight) -> str:
    parts = [transcript.end.value]
    if flight.alert is not None:
        parts.append(f"alert {flight.alert.name} ({flight.alert.description})")
    if transcript.error:
        parts.append(transcript.error)
    return ": ".join(parts)


def _suite_name(code: int | None) -> str | None:
    if code is None:
        return None
    return _IANA_BY_CODE.get(code, f"0x{code:04x}")


def _version_name(code: int | None) -> str | None:
    if code is None:
        return None
    return {0x0301: "TLSv1", 0x0302: "TLSv1.1", 0x0303: "TLSv1.2"}.get(code, f"0x{code:04x}")
