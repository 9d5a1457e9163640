"""Certificate facts from DER bytes, with ``cryptography`` (no I/O, no clock, no trust store).

``describe_chain(ders, address=..., hostname=...)`` returns one ``CertificateFacts`` per
certificate as the server sent it. It states facts (names, dates, key, signature hash,
self-signed, whether it names the target, chain order); judging them (expired, weak) is
``assess``'s job. A certificate ``cryptography`` cannot parse becomes a fact too (key
type "unknown"), never an exception: a hostile device chooses its certificate bytes.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.x509.oid import NameOID

from porthole.services.tls.evidence import CertificateFacts

__all__ = ["describe_chain", "describe_certificate"]


def describe_chain(ders: Sequence[bytes], *, address: str, hostname: str | None) -> tuple[CertificateFacts, ...]:
    parsed: list[x509.Certificate | None] = []
    for der in ders:
        try:
            parsed.append(x509.load_der_x509_certificate(der))
        except ValueError:
            parsed.append(None)
    facts = []
    for position, (der, certificate) in enumerate(zip(ders, parsed, strict=True)):
        following = parsed[position + 1] if position + 1 < len(parsed) else None
        facts.append(describe_certificate(der, certificate, position=position, next_certificate=following, address=address, hostname=hostname))
    return tuple(facts)


def describe_certificate(
    der: bytes,
    certificate: x509.Certificate | None,
    *,
    position: int,
    next_certificate: x509.Certificate | None,
    address: str,
    hostname: str | None,
) -> CertificateFacts:
    fingerprint = hashlib.sha256(der).hexdigest()
    if certificate is None:
        return CertificateFacts(
            position=position, sha256=fingerprint, subject="(unparsable certificate)", issuer="", serial="",
            not_before="", not_after="", key_type="unknown", key_bits=None, rsa_exponent=None, curve=None,
            signature_algorithm="unknown", signature_hash="unknown", self_signed=False, is_ca=False,
            san_dns=(), san_ips=(), subject_key_identifier=None, names_target=False, issued_by_next=None,
        )
    key_type, key_bits, exponent, curve = _key_facts(certificate)
    san_dns, san_ips = _alternative_names(certificate)
    return CertificateFacts(
        position=position,
        sha256=fingerprint,
        subject=certificate.subject.rfc4514_string(),
        issuer=certificate.issuer.rfc4514_string(),
        serial=format(certificate.serial_number, "x"),
        not_before=certificate.not_valid_before_utc.isoformat().replace("+00:00", "Z"),
        not_after=certificate.not_valid_after_utc.isoformat().replace("+00:00", "Z"),
        key_type=key_type,
        key_bits=key_bits,
        rsa_exponent=exponent,
        curve=curve,
        signature_algorithm=_signature_algorithm_name(certificate),
        signature_hash=_signature_hash(certificate),
        self_signed=_self_signed(certificate),
        is_ca=_is_ca(certificate),
        san_dns=san_dns,
        san_ips=san_ips,
        subject_key_identifier=_subject_key_identifier(certificate),
        names_target=_names_target(certificate, san_dns, san_ips, address=address, hostname=hostname),
        issued_by_next=None if next_certificate is None else certificate.issuer == next_certificate.subject,
    )


def _key_facts(certificate: x509.Certificate) -> tuple[str, int | None, int | None, str | None]:
    try:
        key = certificate.public_key()
    except (ValueError, UnsupportedAlgorithm):
        return "unknown", None, None, None
    if isinstance(key, rsa.RSAPublicKey):
        return "rsa", key.key_size, key.public_numbers().e, None
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "ec", key.curve.key_size, None, key.curve.name
    if isinstance(key, dsa.DSAPublicKey):
        return "dsa", key.key_size, None, None
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "ed25519", 256, None, None
    if isinstance(key, ed448.Ed448PublicKey):
        return "ed448", 456, None, None
    return "unknown", None, None, None


def _signature_algorithm_name(certificate: x509.Certificate) -> str:
    oid = certificate.signature_algorithm_oid
    return oid._name if getattr(oid, "_name", "Unknown OID") != "Unknown OID" else oid.dotted_string


def _signature_hash(certificate: x509.Certificate) -> str:
    try:
        algorithm = certificate.signature_hash_algorithm
    except UnsupportedAlgorithm:
        # MD2/MD4 and exotic hashes: name them from the OID's name where possible
        name = _signature_algorithm_name(certificate).lower()
        for candidate in ("md2", "md4", "md5", "sha1"):
            if candidate in name:
                return candidate
        return "unknown"
    if algorithm is None:  # Ed25519 / Ed448 sign the message itself
        return "intrinsic"
    return algorithm.name.replace("-", "")


def _self_signed(certificate: x509.Certificate) -> bool:
    if certificate.issuer != certificate.subject:
        return False
    try:
        key = certificate.public_key()
        if isinstance(key, rsa.RSAPublicKey):
            assert certificate.signature_hash_algorithm is not None
            key.verify(certificate.signature, certificate.tbs_certificate_bytes, padding.PKCS1v15(), certificate.signature_hash_algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            assert certificate.signature_hash_algorithm is not None
            key.verify(certificate.signature, certificate.tbs_certificate_bytes, ec.ECDSA(certificate.signature_hash_algorithm))
        elif isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
            key.verify(certificate.signature, certificate.tbs_certificate_bytes)
        elif isinstance(key, dsa.DSAPublicKey):
            assert certificate.signature_hash_algorithm is not None
            key.verify(certificate.signature, certificate.tbs_certificate_bytes, certificate.signature_hash_algorithm)
        else:
            return True  # same name, key type we cannot verify with: take the names' word
    except InvalidSignature:
        return False
    except (ValueError, TypeError, AssertionError, UnsupportedAlgorithm):
        # RSA-PSS parameters, MD5 refused by the backend...: subject == issuer is the fact we have
        return True
    return True


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        return bool(certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except (x509.ExtensionNotFound, ValueError):
        return False


def _alternative_names(certificate: x509.Certificate) -> tuple[tuple[str, ...], tuple[str, ...]]:
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):
        return (), ()
    dns = tuple(names.get_values_for_type(x509.DNSName))
    ips = tuple(str(address) for address in names.get_values_for_type(x509.IPAddress))
    return dns, ips


def _subject_key_identifier(certificate: x509.Certificate) -> str | None:
    try:
        return certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest.hex()
    except (x509.ExtensionNotFound, ValueError):
        return None


def _names_target(certificate: x509.Certificate, san_dns: Sequence[str], san_ips: Sequence[str], *, address: str, hostname: str | None) -> bool:
    try:
        target_address = ipaddress.ip_address(address)
    except ValueError:
        target_address = None
    if target_address is not None and any(ipaddress.ip_address(ip) == target_address for ip in san_ips):
        return True
    if not hostname:
        return False
    wanted = hostname.rstrip(".").lower()
    names = list(san_dns)
    if not names:  # RFC 6125 §6.4.4: the CN only counts when there is no DNS SAN
        names = [str(attribute.value) for attribute in certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    return any(_dns_match(pattern.lower(), wanted) for pattern in names)


def _dns_match(pattern: str, name: str) -> bool:
    pattern = pattern.rstrip(".")
    if pattern.startswith("*.") and "." in name:
        return name.split(".", 1)[1] == pattern[2:]
    return pattern == name
