"""The few certificate facts SHIP identity rests on, read with ``cryptography``."""

from __future__ import annotations

import hashlib

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

from porthole.services.eebus.evidence import CertificateFacts

__all__ = ["certificate_facts"]


def certificate_facts(der: bytes) -> CertificateFacts:
    """Facts of one DER certificate; ``ValueError`` when ``cryptography`` cannot read it."""
    certificate = x509.load_der_x509_certificate(der)
    try:
        extension = certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        declared: str | None = extension.value.digest.hex()
    except x509.ExtensionNotFound:
        declared = None
    public_key = certificate.public_key()
    try:
        computed: str | None = x509.SubjectKeyIdentifier.from_public_key(public_key).digest.hex()  # type: ignore[arg-type]
    except (TypeError, ValueError):
        computed = None  # a key type without a method-1 identifier (e.g. X25519)
    return CertificateFacts(
        subject=certificate.subject.rfc4514_string(),
        issuer=certificate.issuer.rfc4514_string(),
        subject_key_identifier=declared,
        computed_key_identifier=computed,
        sha256_fingerprint=hashlib.sha256(der).hexdigest(),
        public_key=_describe_key(public_key),
    )


def _describe_key(key: object) -> str:
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"ec {key.curve.name}"
    if isinstance(key, rsa.RSAPublicKey):
        return f"rsa {key.key_size}"
    if isinstance(key, dsa.DSAPublicKey):
        return f"dsa {key.key_size}"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "ed25519"
    if isinstance(key, ed448.Ed448PublicKey):
        return "ed448"
    return type(key).__name__
