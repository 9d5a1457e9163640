"""lab.certs: idempotent, race-free lab certificates."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
from cryptography import x509

from lab.certs import CertificateKey, ensure_certificate, load_certificate, subject_key_identifier
from porthole.errors import LabError


def make(cert_dir: Path, name: str = "web", **overrides: object) -> object:
    parameters: dict[str, object] = {
        "key": CertificateKey.EC256, "self_signed": False, "expired": False,
        "common_name": "master", "san_ips": ["198.18.0.10"],
    }
    parameters.update(overrides)
    return ensure_certificate(cert_dir, name, **parameters)  # type: ignore[arg-type]


def test_same_name_returns_the_same_files_and_bytes(tmp_path: Path) -> None:
    # Given a certificate made once
    first = make(tmp_path)
    before = first.certificate.read_bytes()  # type: ignore[attr-defined]
    # When it is asked for again with the same parameters
    second = make(tmp_path)
    # Then the same files come back untouched
    assert second == first
    assert second.certificate.read_bytes() == before  # type: ignore[attr-defined]


def test_ca_signed_leaf_chains_to_the_lab_ca(tmp_path: Path) -> None:
    # Given a CA-signed leaf
    paths = make(tmp_path)
    leaf = load_certificate(paths.certificate)  # type: ignore[attr-defined]
    authority = load_certificate(paths.ca_certificate)  # type: ignore[attr-defined]
    # Then its issuer is the CA, the CA's signature verifies, and the chain file holds both
    assert leaf.issuer == authority.subject
    leaf.verify_directly_issued_by(authority)
    assert paths.chain.read_bytes().count(b"BEGIN CERTIFICATE") == 2  # type: ignore[attr-defined]
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(address) for address in san.get_values_for_type(x509.IPAddress)] == ["198.18.0.10"]


def test_same_name_with_different_parameters_is_an_error(tmp_path: Path) -> None:
    make(tmp_path)
    with pytest.raises(LabError, match="already exists"):
        make(tmp_path, key=CertificateKey.RSA2048)


def test_names_with_path_separators_are_refused(tmp_path: Path) -> None:
    with pytest.raises(LabError, match="certificate name"):
        make(tmp_path, name="../escape")


def test_subject_key_identifier_is_the_sha1_of_the_public_key(tmp_path: Path) -> None:
    certificate = load_certificate(make(tmp_path).certificate)  # type: ignore[attr-defined]
    expected = x509.SubjectKeyIdentifier.from_public_key(certificate.public_key()).digest
    assert subject_key_identifier(certificate) == expected
    assert len(expected) == 20


def _make_in_process(cert_dir: str) -> bytes:
    return make(Path(cert_dir), name="shared").certificate.read_bytes()  # type: ignore[attr-defined]


def test_concurrent_processes_agree_on_one_ca_and_one_certificate(tmp_path: Path) -> None:
    # Given several service processes starting at once and naming the same certificate
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        results = pool.map(_make_in_process, [str(tmp_path)] * 4)
    # Then every one of them got the very same certificate, issued by the one CA
    assert len(set(results)) == 1
    leaf = x509.load_pem_x509_certificate(results[0])
    leaf.verify_directly_issued_by(load_certificate(tmp_path / "ca.cert.pem"))
    assert not list(tmp_path.glob(".*.tmp"))
