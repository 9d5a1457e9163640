"""What the EEBUS SHIP port (4711/tcp) showed in one TLS 1.2 handshake without a client certificate.

Facts only: the verdicts (``eebus-no-client-auth``, ``eebus-ski-mismatch``) are made
in ``assess.py`` from these fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["HandshakeOutcome", "CertificateFacts", "EebusEvidence"]


class HandshakeOutcome(StrEnum):
    #: the handshake finished although porthole sent no certificate
    COMPLETED = "completed"
    #: the server sent a CertificateRequest, then ended the handshake after our empty
    #: Certificate (fatal alert, or a close without one)
    REFUSED_WITHOUT_CLIENT_CERTIFICATE = "refused-without-client-certificate"
    #: the handshake failed for another reason (no shared suite, protocol version...)
    FAILED = "failed"
    #: the server stopped answering mid-handshake
    STALLED = "stalled"


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateFacts:
    """The server's leaf certificate, as SHIP peers identify it."""

    subject: str
    issuer: str
    #: the SubjectKeyIdentifier extension, 40 lower-case hex digits; None when absent
    subject_key_identifier: str | None
    #: RFC 5280 §4.2.1.2 method 1 (SHA-1 of the public key bits), for comparison
    computed_key_identifier: str | None
    sha256_fingerprint: str
    public_key: str


@dataclass(frozen=True, slots=True, kw_only=True)
class EebusEvidence:
    offered_version: str
    offered_cipher_suites: tuple[str, ...]
    handshake: HandshakeOutcome
    #: handshake message names of the server's plaintext flight, in order
    server_flight: tuple[str, ...]
    #: the server's flight carried a CertificateRequest
    certificate_requested: bool
    #: True: the server refused to go on without a certificate; False: the handshake
    #: completed without one; None: the handshake ended before that was decided
    client_certificate_required: bool | None
    #: how the server ended the handshake when it refused (alert or close)
    rejection: str | None = None
    negotiated_version: str | None = None
    negotiated_cipher_suite: str | None = None
    #: the local TLS library's error when the handshake did not complete
    error: str | None = None
    certificate: CertificateFacts | None = None
    #: why the certificate could not be read, when the server sent one
    certificate_error: str | None = None
