"""Certificates for the lab, made at run time with ``cryptography``.

One directory per site holds a lab CA and named leaf certificates::

    <cert_dir>/ca.key.pem  ca.cert.pem          the lab CA (EC P-256), made once
    <cert_dir>/<name>.key.pem                   leaf private key (mode 0600)
    <cert_dir>/<name>.cert.pem                  leaf certificate
    <cert_dir>/<name>.chain.pem                 leaf + CA (just the leaf when self-signed)
    <cert_dir>/<name>.json                      the parameters it was made with

Contract:

* ``ensure_certificate`` is idempotent: the same name returns the same files, so
  every service that names the certificate presents byte-identical material (the
  master's 443 and 444 must, for porthole's role inference). Asking for an existing
  name with *different* parameters is a ``LabError``: two site entries disagree.
* Several service processes start at once and may ask for the same name: creation
  holds an exclusive ``flock`` on ``<cert_dir>/.lock`` and every file is written to
  a temporary name and renamed into place, with the ``.json`` last, so a reader
  never sees half a certificate.
* Lab material only: weak keys (rsa1024) and expired validity exist on purpose.
  Nothing here is fit for a real deployment.
"""

from __future__ import annotations

import datetime
import fcntl
import ipaddress
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from porthole.errors import LabError

__all__ = [
    "CertificateKey",
    "CertPaths",
    "ensure_certificate",
    "subject_key_identifier",
    "load_certificate",
]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_ORGANISATION = "porthole lab"
_CA_COMMON_NAME = "porthole lab CA"


class CertificateKey(StrEnum):
    """Leaf key types (``cert_key`` option of the tls service)."""

    RSA2048 = "rsa2048"
    #: below Debian's default OpenSSL security level 2: servers need @SECLEVEL<=1
    RSA1024 = "rsa1024"
    EC256 = "ec256"


@dataclass(frozen=True, slots=True, kw_only=True)
class CertPaths:
    """Files of one leaf certificate and of the CA that trusts it."""

    certificate: Path
    private_key: Path
    #: what a server sends: leaf then CA (for self-signed, the leaf alone)
    chain: Path
    #: the lab CA certificate: trust anchor for client certificates and lab clients
    ca_certificate: Path


def ensure_certificate(
    cert_dir: Path,
    name: str,
    *,
    key: CertificateKey | str = CertificateKey.RSA2048,
    self_signed: bool = True,
    expired: bool = False,
    common_name: str,
    san_ips: Sequence[str] = (),
) -> CertPaths:
    """Return the leaf certificate ``name`` in ``cert_dir``, creating it (and the CA) if needed."""
    if not _NAME.fullmatch(name):
        raise LabError(f"certificate name {name!r} must be 1-64 characters of A-Z a-z 0-9 . _ - (no path separators)")
    try:
        key = CertificateKey(key)
    except ValueError:
        raise LabError(f"certificate key {key!r} is not one of {', '.join(k.value for k in CertificateKey)}") from None
    addresses = [_parse_ip(text) for text in san_ips]
    parameters = {
        "key": key.value,
        "self_signed": self_signed,
        "expired": expired,
        "common_name": common_name,
        "san_ips": [str(address) for address in addresses],
    }
    cert_dir.mkdir(parents=True, exist_ok=True)
    paths = _leaf_paths(cert_dir, name)
    with _exclusive_lock(cert_dir):
        ca_key, ca_certificate = _ensure_ca(cert_dir)
        recorded = cert_dir / f"{name}.json"
        if recorded.exists():
            existing = json.loads(recorded.read_text(encoding="utf-8"))
            if existing != parameters:
                raise LabError(
                    f"certificate {name!r} in {cert_dir} already exists with {existing}, "
                    f"but now asked for {parameters}; give the two services different `cert` names "
                    "or the same parameters"
                )
            return paths
        leaf_key = _generate_key(key)
        leaf = _build_leaf(
            leaf_key,
            common_name=common_name,
            addresses=addresses,
            expired=expired,
            issuer=None if self_signed else (ca_key, ca_certificate),
        )
        leaf_pem = leaf.public_bytes(serialization.Encoding.PEM)
        _write_atomically(paths.private_key, _private_pem(leaf_key), mode=0o600)
        _write_atomically(paths.certificate, leaf_pem)
        chain_pem = leaf_pem if self_signed else leaf_pem + ca_certificate.public_bytes(serialization.Encoding.PEM)
        _write_atomically(paths.chain, chain_pem)
        # written last: its presence means "complete"
        _write_atomically(recorded, json.dumps(parameters, indent=2, sort_keys=True).encode())
    return paths


def load_certificate(path: Path) -> x509.Certificate:
    """The first certificate of a PEM file."""
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise LabError(f"cannot read certificate {path}: {exc}") from None


def subject_key_identifier(certificate: x509.Certificate) -> bytes:
    """The 20-byte SKI: the extension if present, else RFC 5280 §4.2.1.2 method 1.

    This is what SHIP advertises as ``ski`` in its mDNS TXT record.
    """
    try:
        return certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return x509.SubjectKeyIdentifier.from_public_key(certificate.public_key()).digest


# --- internals ---------------------------------------------------------------------------


def _leaf_paths(cert_dir: Path, name: str) -> CertPaths:
    return CertPaths(
        certificate=cert_dir / f"{name}.cert.pem",
        private_key=cert_dir / f"{name}.key.pem",
        chain=cert_dir / f"{name}.chain.pem",
        ca_certificate=cert_dir / "ca.cert.pem",
    )


class _exclusive_lock:
    """``flock`` on ``<cert_dir>/.lock``: one creator at a time across processes."""

    def __init__(self, cert_dir: Path) -> None:
        self._path = cert_dir / ".lock"
        self._descriptor = -1

    def __enter__(self) -> None:
        self._descriptor = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self._descriptor, fcntl.LOCK_EX)

    def __exit__(self, *exc_info: object) -> None:
        fcntl.flock(self._descriptor, fcntl.LOCK_UN)
        os.close(self._descriptor)


def _ensure_ca(cert_dir: Path) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key_path = cert_dir / "ca.key.pem"
    certificate_path = cert_dir / "ca.cert.pem"
    if key_path.exists() and certificate_path.exists():
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return key, load_certificate(certificate_path)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _ORGANISATION),
            x509.NameAttribute(NameOID.COMMON_NAME, _CA_COMMON_NAME),
        ]
    )
    now = _now()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_atomically(key_path, _private_pem(key), mode=0o600)
    _write_atomically(certificate_path, certificate.public_bytes(serialization.Encoding.PEM))
    return key, certificate


def _generate_key(key: CertificateKey) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    if key is CertificateKey.EC256:
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=1024 if key is CertificateKey.RSA1024 else 2048)


def _build_leaf(
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    *,
    common_name: str,
    addresses: list[ipaddress.IPv4Address | ipaddress.IPv6Address],
    expired: bool,
    issuer: tuple[CertificateIssuerPrivateKeyTypes, x509.Certificate] | None,
) -> x509.Certificate:
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _ORGANISATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    now = _now()
    if expired:
        not_before, not_after = now - datetime.timedelta(days=400), now - datetime.timedelta(days=30)
    else:
        not_before, not_after = now - datetime.timedelta(days=1), now + datetime.timedelta(days=825)
    alternative_names: list[x509.GeneralName] = [x509.IPAddress(address) for address in addresses]
    if re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?", common_name):
        alternative_names.append(x509.DNSName(common_name))
    is_rsa = isinstance(key, rsa.RSAPrivateKey)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=is_rsa, data_encipherment=False,
                key_agreement=not is_rsa, key_cert_sign=False, crl_sign=False, encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        # SHIP peers identify each other by this value (mDNS `ski`)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if alternative_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(alternative_names), critical=False)
    if issuer is None:
        return builder.issuer_name(subject).sign(key, hashes.SHA256())
    issuer_key, issuer_certificate = issuer
    return (
        builder.issuer_name(issuer_certificate.subject)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_certificate.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
        .sign(issuer_key, hashes.SHA256())
    )


def _private_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write_atomically(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)


def _parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise LabError(f"san_ips entry {text!r} is not an IP address") from None


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)
