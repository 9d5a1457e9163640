"""lab.services.tls: a real OpenSSL server, checked with an independent stdlib ssl client.

Includes the Debian 12 / OpenSSL 3 question: does a TLS 1.0 handshake really
succeed once the server sets minimum_version and @SECLEVEL=0? (It does.)
"""

from __future__ import annotations

import asyncio
import datetime
import ssl
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from lab.certs import CertificateKey, ensure_certificate
from lab.services._common import Running, ServiceContext
from lab.services.tls import Options, TlsVersion, serve

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    STDLIB = {
        "1.0": ssl.TLSVersion.TLSv1,
        "1.1": ssl.TLSVersion.TLSv1_1,
        "1.2": ssl.TLSVersion.TLSv1_2,
        "1.3": ssl.TLSVersion.TLSv1_3,
    }


def client_context(
    *, only: str | None = None, trust: Path | None = None, certificate: tuple[Path, Path] | None = None
) -> ssl.SSLContext:
    """A stdlib client that accepts anything (or only ``trust``), optionally pinned to one version."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    if trust is None:
        context.verify_mode = ssl.CERT_NONE
    else:
        context.load_verify_locations(cafile=trust)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if only is not None:
            context.minimum_version = context.maximum_version = STDLIB[only]
    # the client side needs the same level as the server to offer SHA-1 era suites
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    if certificate is not None:
        context.load_cert_chain(*certificate)
    return context


async def handshake(port: int, context: ssl.SSLContext) -> tuple[ssl.SSLObject, asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    ssl_object = writer.get_extra_info("ssl_object")
    return ssl_object, reader, writer


async def close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    try:
        await writer.wait_closed()
    except (OSError, ssl.SSLError):
        pass


@pytest.fixture
def context(tmp_path: Path) -> ServiceContext:
    return ServiceContext(state_dir=tmp_path / "site" / "master", name="master")


@pytest.fixture
async def start(context: ServiceContext) -> AsyncIterator[Callable[..., Awaitable[Running]]]:
    started: list[Running] = []

    async def starter(service_context: ServiceContext = context, **options: object) -> Running:
        running = await serve("127.0.0.1", [0], Options(**options), context=service_context)  # type: ignore[arg-type]
        started.append(running)
        return running

    yield starter
    for running in started:
        await running.close()


async def test_default_server_negotiates_tls_1_3_with_a_self_signed_certificate_named_after_the_controller(start) -> None:
    # Given a TLS service with default options
    running = await start()
    # When a stdlib client connects
    ssl_object, _reader, writer = await handshake(running.ports[0], client_context())
    # Then TLS 1.3 is negotiated and the certificate is self-signed with CN = controller name
    certificate = x509.load_der_x509_certificate(ssl_object.getpeercert(binary_form=True))
    assert ssl_object.version() == "TLSv1.3"
    common_name = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    assert common_name == "master"
    assert certificate.issuer == certificate.subject
    assert isinstance(certificate.public_key(), rsa.RSAPublicKey)
    assert certificate.public_key().key_size == 2048
    await close(writer)


async def test_tls_1_0_only_server_completes_a_real_tls_1_0_handshake(start) -> None:
    # Given a server that offers TLS 1.0 only (the module adds @SECLEVEL=0)
    running = await start(versions=(TlsVersion.TLS_1_0,))
    # When a stdlib client pinned to TLS 1.0 connects
    ssl_object, _reader, writer = await handshake(running.ports[0], client_context(only="1.0"))
    # Then OpenSSL 3 really negotiates TLS 1.0
    assert ssl_object.version() == "TLSv1"
    await close(writer)


async def test_tls_1_1_handshake_succeeds_when_1_1_is_offered(start) -> None:
    # Given a server offering 1.1 and 1.2
    running = await start(versions=(TlsVersion.TLS_1_1, TlsVersion.TLS_1_2))
    # When a 1.1-only client connects
    ssl_object, _reader, writer = await handshake(running.ports[0], client_context(only="1.1"))
    # Then TLS 1.1 is negotiated
    assert ssl_object.version() == "TLSv1.1"
    await close(writer)


async def test_server_without_tls_1_0_refuses_a_tls_1_0_client(start) -> None:
    # Given the default server (1.2 and 1.3)
    running = await start()
    # When a 1.0-only client connects
    with pytest.raises(ssl.SSLError) as failure:
        await handshake(running.ports[0], client_context(only="1.0"))
    # Then the server answers with a fatal protocol_version alert (not a bare reset)
    assert failure.value.reason == "TLSV1_ALERT_PROTOCOL_VERSION"


async def test_a_gap_in_versions_refuses_the_missing_version_and_accepts_its_neighbours(start) -> None:
    # Given a server configured for 1.0 and 1.2 but not 1.1
    running = await start(versions=(TlsVersion.TLS_1_0, TlsVersion.TLS_1_2))
    # When clients pinned to 1.1, 1.0 and 1.2 connect
    # Then 1.1 fails and both neighbours succeed
    with pytest.raises(ssl.SSLError):
        await handshake(running.ports[0], client_context(only="1.1"))
    for version, expected in (("1.0", "TLSv1"), ("1.2", "TLSv1.2")):
        ssl_object, _reader, writer = await handshake(running.ports[0], client_context(only=version))
        assert ssl_object.version() == expected
        await close(writer)


async def test_cipher_string_restricts_tls_1_2_suites(start) -> None:
    # Given a TLS 1.2 server limited to one suite
    running = await start(versions=(TlsVersion.TLS_1_2,), ciphers="ECDHE-RSA-AES128-GCM-SHA256")
    # When a client connects
    ssl_object, _reader, writer = await handshake(running.ports[0], client_context())
    # Then that suite is the one negotiated
    assert ssl_object.cipher()[0] == "ECDHE-RSA-AES128-GCM-SHA256"
    await close(writer)


async def test_services_naming_the_same_cert_present_identical_certificates(start, context: ServiceContext) -> None:
    # Given two services of the site (master 443 and master 444) naming one certificate,
    # and a third service of another controller of the same site naming it too
    first = await start(cert="master-web")
    second = await start(cert="master-web")
    slave_context = ServiceContext(state_dir=context.state_dir.parent / "slave", name="slave")
    third = await start(slave_context, cert="master-web", common_name="master")
    other = await start(slave_context)
    # When a client fetches each certificate
    presented = []
    for running in (first, second, third, other):
        ssl_object, _reader, writer = await handshake(running.ports[0], client_context())
        presented.append(ssl_object.getpeercert(binary_form=True))
        await close(writer)
    # Then the three "master-web" certificates are byte-identical and the slave's own differs
    assert presented[0] == presented[1] == presented[2]
    assert presented[3] != presented[0]


async def test_ca_signed_certificate_verifies_against_the_lab_ca(start, context: ServiceContext) -> None:
    # Given a service whose certificate is signed by the lab CA
    running = await start(self_signed=False, cert="signed")
    # When a verifying client trusts only the lab CA
    trust = context.cert_dir / "ca.cert.pem"
    ssl_object, _reader, writer = await handshake(running.ports[0], client_context(trust=trust))
    # Then verification succeeds
    assert ssl_object.getpeercert() != {}
    await close(writer)


async def test_self_signed_certificate_fails_verification_against_the_lab_ca(start, context: ServiceContext) -> None:
    # Given a self-signed service
    running = await start(self_signed=True, cert="own")
    # When a verifying client trusts only the lab CA, Then the handshake fails verification
    with pytest.raises(ssl.SSLCertVerificationError):
        await handshake(running.ports[0], client_context(trust=context.cert_dir / "ca.cert.pem"))


async def test_expired_certificate_has_a_validity_in_the_past(start) -> None:
    # Given a service with an expired certificate
    running = await start(expired=True, cert="old")
    # When a client fetches it
    ssl_object, _reader, writer = await handshake(running.ports[0], client_context())
    certificate = x509.load_der_x509_certificate(ssl_object.getpeercert(binary_form=True))
    # Then notAfter lies in the past
    assert certificate.not_valid_after_utc < datetime.datetime.now(datetime.timezone.utc)
    await close(writer)


@pytest.mark.parametrize(("key", "expected_type", "size"), [("rsa1024", rsa.RSAPublicKey, 1024), ("ec256", ec.EllipticCurvePublicKey, 256)])
async def test_cert_key_option_selects_the_key_type(start, key: str, expected_type: type, size: int) -> None:
    # Given a service with a non-default key (rsa1024 loads only thanks to the automatic @SECLEVEL=0)
    running = await start(cert_key=CertificateKey(key), cert=f"key-{key}")
    # When a client fetches the certificate
    ssl_object, _reader, writer = await handshake(running.ports[0], client_context())
    public_key = x509.load_der_x509_certificate(ssl_object.getpeercert(binary_form=True)).public_key()
    # Then it carries that key
    assert isinstance(public_key, expected_type)
    assert public_key.key_size == size
    await close(writer)


async def test_required_client_certificate_rejects_a_client_without_one(start) -> None:
    # Given a TLS 1.2 service that requires client certificates
    running = await start(require_client_cert=True, versions=(TlsVersion.TLS_1_2,))
    # When a client without a certificate connects
    with pytest.raises(ssl.SSLError) as failure:
        await handshake(running.ports[0], client_context())
    # Then the server ends the handshake with a handshake_failure alert
    assert failure.value.reason == "SSLV3_ALERT_HANDSHAKE_FAILURE"


async def test_tls_1_3_client_without_certificate_gets_certificate_required_alert(start) -> None:
    # Given a TLS 1.3 service that requires client certificates
    running = await start(require_client_cert=True)
    # When a client without a certificate completes its side of the handshake and reads
    _ssl_object, reader, writer = await handshake(running.ports[0], client_context())
    # Then the server's certificate_required alert arrives (TLS 1.3 checks after the client's Finished)
    with pytest.raises(ssl.SSLError) as failure:
        await reader.read(1)
    assert failure.value.reason == "TLSV13_ALERT_CERTIFICATE_REQUIRED"
    await close(writer)


async def test_required_client_certificate_accepts_a_lab_ca_signed_client(start, context: ServiceContext) -> None:
    # Given a service that requires client certificates, and a client certificate from the lab CA
    running = await start(require_client_cert=True, http=True)
    client = ensure_certificate(
        context.cert_dir, "client", key="ec256", self_signed=False, expired=False, common_name="porthole-client"
    )
    # When the client presents it and sends a GET
    _ssl_object, reader, writer = await handshake(
        running.ports[0], client_context(certificate=(client.certificate, client.private_key))
    )
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    # Then the request is answered (TLS 1.3 checks the client certificate after the handshake)
    assert (await reader.readline()).startswith(b"HTTP/1.1 200")
    await close(writer)


async def test_http_option_answers_one_get_with_a_small_page(start) -> None:
    # Given a service with http and hsts
    running = await start(http=True, hsts=True)
    # When a client sends one GET
    _ssl_object, reader, writer = await handshake(running.ports[0], client_context())
    writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    response = await reader.read()
    # Then a 200 with a title and Strict-Transport-Security comes back and the server closes
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert b"Strict-Transport-Security: max-age=31536000" in head
    assert b"<title>Charge Controller</title>" in body
    await close(writer)


async def test_without_http_the_server_stays_silent_and_closes_on_client_eof(start) -> None:
    # Given a TLS-only service (http false)
    running = await start()
    _ssl_object, reader, writer = await handshake(running.ports[0], client_context())
    # When the client sends bytes, the server answers nothing
    writer.write(b"hello\n")
    await writer.drain()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):
            await reader.read(1)
    # Then after the client half-closes (TLS close_notify + FIN) the server closes too
    writer.close()
    await writer.wait_closed()


async def test_unknown_option_is_rejected_naming_the_key() -> None:
    # Given an options object with a typo, When it is parsed, Then the error names the key
    from lab.services._common import options_from_mapping
    from porthole.errors import LabError

    with pytest.raises(LabError, match="'version'"):
        options_from_mapping(Options, {"version": ["1.2"]}, kind="tls")
