"""The EEBUS probe against real TLS servers on loopback, and against hostile peers.

The servers are the lab's OpenSSL server (``lab.services.tls``) with the certificate
parameters SHIP uses (self-signed P-256), plus small asyncio peers for the
behaviours OpenSSL cannot be told to show (closing without an alert, garbage,
stalls, floods).
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import ssl
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from lab.certs import CertificateKey, ensure_certificate, load_certificate, subject_key_identifier
from lab.services._common import ServiceContext
from lab.services.tls import Options, TlsConnection, build_server_context, serve
from porthole.model import PortObservation, PortState, Protocol, Reason
from porthole.services.base import ProbeContext, ProbeFailure, ProbeLimits
from porthole.services.eebus import EebusProbe
from porthole.targets import Target

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def observation(port: int) -> PortObservation:
    return PortObservation(port=port, protocol=Protocol.TCP, state=PortState.OPEN, reason=Reason.SYN_ACK, service="eebus-ship")


def probe_context(port: int, limits: ProbeLimits | None = None) -> ProbeContext:
    target = Target(address=ipaddress.ip_address("127.0.0.1"), spec="127.0.0.1")
    return ProbeContext(target=target, observation=observation(port), limits=limits or ProbeLimits())


@pytest.fixture
def service_context(tmp_path: Path) -> ServiceContext:
    return ServiceContext(state_dir=tmp_path / "site" / "cc", name="cc")


async def lab_tls(service_context: ServiceContext, **options: object) -> tuple[int, object]:
    running = await serve("127.0.0.1", [0], Options(**options), context=service_context)  # type: ignore[arg-type]
    return running.ports[0], running


@pytest.fixture
async def peer() -> AsyncIterator[Callable[[Handler], Awaitable[int]]]:
    """Start a hostile TCP peer on 127.0.0.1; returns its port."""
    servers: list[asyncio.Server] = []

    async def start(handler: Handler) -> int:
        async def guarded(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                await handler(reader, writer)
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(guarded, "127.0.0.1", 0)
        servers.append(server)
        return server.sockets[0].getsockname()[1]

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


def ship_certificate(service_context: ServiceContext):
    paths = ensure_certificate(service_context.cert_dir, "ship", key=CertificateKey.EC256, self_signed=True, common_name="cc")
    return load_certificate(paths.certificate)


async def test_server_requiring_client_certificates_is_recorded_as_refusing_us_with_its_certificate(service_context: ServiceContext) -> None:
    # Given SHIP's TLS server as it should be: client certificates required, P-256 self-signed
    port, running = await lab_tls(service_context, require_client_cert=True, cert="ship", cert_key="ec256")
    try:
        # When porthole probes it without a certificate
        evidence = await EebusProbe().run(probe_context(port))
    finally:
        await running.close()
    # Then the refusal, how it was signalled and the served certificate are recorded
    certificate = ship_certificate(service_context)
    der = certificate.public_bytes(serialization.Encoding.DER)
    assert evidence["handshake"] == "refused-without-client-certificate"
    assert evidence["certificate_requested"] is True
    assert evidence["client_certificate_required"] is True
    assert evidence["rejection"] == "fatal alert handshake_failure (40) after our empty Certificate"
    assert evidence["server_flight"] == ["server_hello", "certificate", "server_key_exchange", "certificate_request", "server_hello_done"]
    assert evidence["certificate"]["subject_key_identifier"] == subject_key_identifier(certificate).hex()
    assert evidence["certificate"]["computed_key_identifier"] == subject_key_identifier(certificate).hex()
    assert evidence["certificate"]["sha256_fingerprint"] == hashlib.sha256(der).hexdigest()
    assert evidence["certificate"]["subject"] == "CN=cc,O=porthole lab"
    assert evidence["certificate"]["public_key"] == "ec secp256r1"
    assert evidence["negotiated_version"] == "TLSv1.2"
    assert evidence["negotiated_cipher_suite"].startswith("TLS_ECDHE_ECDSA_WITH_")
    # and no finding follows from it
    assert EebusProbe().assess(evidence, observation(port)) == []
    assert EebusProbe().summarise(evidence) == f"EEBUS SHIP TLS, client certificate required, SKI {subject_key_identifier(certificate).hex()}"


async def test_server_without_client_certificate_requirement_completes_and_raises_no_client_auth(service_context: ServiceContext) -> None:
    # Given a TLS server on 4711 that never asks for a client certificate
    port, running = await lab_tls(service_context, cert="ship", cert_key="ec256")
    try:
        evidence = await EebusProbe().run(probe_context(port))
    finally:
        await running.close()
    # Then the handshake completed without our certificate
    assert evidence["handshake"] == "completed"
    assert evidence["certificate_requested"] is False
    assert evidence["client_certificate_required"] is False
    assert evidence["error"] is None
    assert evidence["certificate"]["subject_key_identifier"] == subject_key_identifier(ship_certificate(service_context)).hex()
    # and the finding names the facts it rests on
    (finding,) = EebusProbe().assess(evidence, observation(port))
    assert finding.id == "eebus-no-client-auth" and finding.port == port and finding.protocol is Protocol.TCP
    assert finding.evidence[1] == "no CertificateRequest in the server's flight"


async def test_server_that_asks_for_but_does_not_require_a_certificate_still_raises_no_client_auth(service_context: ServiceContext, peer) -> None:
    # Given an OpenSSL server with CERT_OPTIONAL: it sends CertificateRequest, then accepts no certificate
    server_context = build_server_context(Options(cert="ship", cert_key="ec256"), service_context)  # type: ignore[arg-type]
    server_context.verify_mode = ssl.CERT_OPTIONAL
    server_context.load_verify_locations(cafile=ensure_certificate(service_context.cert_dir, "ship", key="ec256", common_name="cc").ca_certificate)

    async def optional(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = TlsConnection(reader, writer, server_context)
        await connection.handshake()
        await connection.read()

    port = await peer(optional)
    evidence = await EebusProbe().run(probe_context(port))
    # Then the request is seen, yet the handshake completed: asked, not required
    assert (evidence["handshake"], evidence["certificate_requested"], evidence["client_certificate_required"]) == ("completed", True, False)
    (finding,) = EebusProbe().assess(evidence, observation(port))
    assert finding.evidence[1] == "CertificateRequest sent, but the handshake went on without a certificate (asked, not required)"


async def test_server_that_closes_without_an_alert_after_our_empty_certificate_counts_as_refusing(service_context: ServiceContext, peer) -> None:
    # Given an OpenSSL server requiring a certificate whose stack drops the alert and just closes
    server_context = build_server_context(Options(require_client_cert=True, cert="ship", cert_key="ec256"), service_context)  # type: ignore[arg-type]

    async def silent_refusal(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = server_context.wrap_bio(incoming, outgoing, server_side=True)
        while True:
            try:
                tls.do_handshake()
                return
            except ssl.SSLWantReadError:
                writer.write(outgoing.read())
                await writer.drain()
                data = await reader.read(16384)
                if not data:
                    return
                incoming.write(data)
            except ssl.SSLError:
                return  # the alert stays in ``outgoing``: close without it

    port = await peer(silent_refusal)
    evidence = await EebusProbe().run(probe_context(port))
    assert evidence["handshake"] == "refused-without-client-certificate"
    assert evidence["rejection"] == "connection closed without an alert after our empty Certificate"
    assert evidence["certificate"] is not None


async def test_rsa_only_server_refuses_the_ship_suites_and_that_is_recorded_not_judged(service_context: ServiceContext) -> None:
    # Given a TLS server with an RSA certificate (no ECDHE-ECDSA suite possible)
    port, running = await lab_tls(service_context, cert="web", cert_key="rsa2048")
    try:
        evidence = await EebusProbe().run(probe_context(port))
    finally:
        await running.close()
    # Then the handshake failed before any certificate, and nothing is concluded
    assert evidence["handshake"] == "failed"
    assert evidence["server_flight"] == [] and evidence["certificate"] is None
    assert evidence["client_certificate_required"] is None
    assert evidence["error"].startswith("tls-error: alert handshake_failure (40)")
    assert EebusProbe().assess(evidence, observation(port)) == []


async def test_plain_text_service_on_the_port_is_unrecognised(peer) -> None:
    async def http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()

    port = await peer(http)
    with pytest.raises(ProbeFailure) as failure:
        await EebusProbe().run(probe_context(port))
    assert failure.value.reason == "unrecognised"
    assert "not TLS" in str(failure.value) and "48 54 54 50" in str(failure.value)


# TLS 1.2, empty session id, 0xC023, no compression, renegotiation_info (OpenSSL 3
# clients refuse a server without it)
_HELLO_BODY = b"\x03\x03" + bytes(32) + b"\x00" + b"\xc0\x23" + b"\x00" + b"\x00\x05" + b"\xff\x01\x00\x01\x00"
SERVER_HELLO = bytes([2]) + len(_HELLO_BODY).to_bytes(3, "big") + _HELLO_BODY


def tls_record(fragment: bytes) -> bytes:
    return struct.pack("!BHH", 22, 0x0303, len(fragment)) + fragment


async def test_certificate_flight_larger_than_the_read_limit_ends_as_too_large(peer) -> None:
    # Given a peer whose Certificate message (100 000 bytes, which OpenSSL would still
    # accept) is larger than porthole's read limit
    async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(4096)
        writer.write(tls_record(SERVER_HELLO) + tls_record(b"\x0b" + (100_000).to_bytes(3, "big")))
        for _ in range(7):
            writer.write(tls_record(bytes(16384)))
        await writer.drain()
        await asyncio.sleep(30)

    port = await peer(flood)
    with pytest.raises(ProbeFailure) as failure:
        await EebusProbe().run(probe_context(port, ProbeLimits(max_read=64 * 1024)))
    assert failure.value.reason == "too-large", str(failure.value)


async def test_ten_megabyte_handshake_message_is_malformed_without_reading_it(peer) -> None:
    # Given a peer that announces a 16 MB Certificate message and starts sending 10 MB
    async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(4096)
        writer.write(tls_record(SERVER_HELLO) + tls_record(b"\x0b\xff\xff\xff"))
        for _ in range(640):
            writer.write(tls_record(bytes(16384)))
            await writer.drain()

    port = await peer(flood)
    with pytest.raises(ProbeFailure) as failure:
        await EebusProbe().run(probe_context(port, ProbeLimits(max_read=64 * 1024)))
    # Then the oversized message is named; at most the read limit was read
    assert failure.value.reason == "malformed", str(failure.value)
    assert "16777215 bytes exceeds" in str(failure.value)


async def test_peer_that_never_answers_the_client_hello_times_out(peer) -> None:
    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    port = await peer(stall)
    with pytest.raises(ProbeFailure) as failure:
        await EebusProbe().run(probe_context(port, ProbeLimits(first_byte=0.2, between_chunks=0.2)))
    assert failure.value.reason == "timeout"


async def test_peer_that_stalls_after_its_certificate_is_recorded_as_stalled_with_the_certificate(service_context: ServiceContext, peer) -> None:
    # Given a real server's flight relayed only up to (and not including) ServerHelloDone
    server_context = build_server_context(Options(cert="ship", cert_key="ec256"), service_context)  # type: ignore[arg-type]

    async def half(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = server_context.wrap_bio(incoming, outgoing, server_side=True)
        incoming.write(await reader.read(16384))
        try:
            tls.do_handshake()
        except ssl.SSLWantReadError:
            pass
        flight = outgoing.read()
        writer.write(flight[:-9])  # ServerHelloDone is the last 9 bytes (5 record + 4 message)
        await writer.drain()
        await asyncio.sleep(30)

    port = await peer(half)
    evidence = await EebusProbe().run(probe_context(port, ProbeLimits(first_byte=0.5, between_chunks=0.5)))
    assert evidence["handshake"] == "stalled"
    assert evidence["server_flight"] == ["server_hello", "certificate", "server_key_exchange"]
    assert evidence["certificate"]["public_key"] == "ec secp256r1"
    assert evidence["client_certificate_required"] is None


async def test_peer_that_closes_at_once_is_a_connection_failure(peer) -> None:
    async def close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        return

    port = await peer(close)
    with pytest.raises(ProbeFailure) as failure:
        await EebusProbe().run(probe_context(port))
    assert failure.value.reason == "connection-reset"


def test_probe_claims_only_the_open_ship_port() -> None:
    probe = EebusProbe()
    assert probe.claims(observation(4711))
    assert not probe.claims(PortObservation(port=4711, protocol=Protocol.TCP, state=PortState.FILTERED, reason=Reason.TIMEOUT, service="eebus-ship"))
    assert not probe.claims(PortObservation(port=443, protocol=Protocol.TCP, state=PortState.OPEN, reason=Reason.SYN_ACK, service="https"))
