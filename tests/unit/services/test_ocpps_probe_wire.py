"""The OCPP-S probe against the lab's SOAP endpoint (plain and behind real TLS) and hostile peers."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web

from lab.certs import ensure_certificate
from lab.services import http as lab_http
from lab.services import ocpps as lab_ocpps
from lab.services import tls as lab_tls
from lab.services._common import ServiceContext
from porthole.model import PortObservation, PortState, Protocol, Reason, Severity
from porthole.services.base import ProbeContext, ProbeFailure, ProbeLimits
from porthole.services.ocpps import OcppsProbe
from porthole.targets import Target

FAST = ProbeLimits(first_byte=1.0, between_chunks=0.5)
PROBE = OcppsProbe()


def observation_for(port: int) -> PortObservation:
    return PortObservation(port=port, protocol=Protocol.TCP, state=PortState.OPEN, reason=Reason.SYN_ACK, service="ocpp-s")


def context_for(port: int) -> ProbeContext:
    return ProbeContext(target=Target(address=ipaddress.ip_address("127.0.0.1"), spec="127.0.0.1"), observation=observation_for(port), limits=FAST, version="0.1.0")


@pytest.fixture
def service_context(tmp_path: Path) -> ServiceContext:
    return ServiceContext(state_dir=tmp_path / "site" / "misconf", name="misconf")


@pytest.fixture
async def cleanup() -> AsyncIterator[list[Callable[[], Awaitable[None]]]]:
    closers: list[Callable[[], Awaitable[None]]] = []
    yield closers
    for close in reversed(closers):
        await close()


async def start_lab(module: object, options: object, service_context: ServiceContext, cleanup: list) -> int:
    running = await module.serve("127.0.0.1", [0], options, context=service_context)  # type: ignore[attr-defined]
    cleanup.append(running.close)
    return running.ports[0]


async def start_peer(behaviour: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]], cleanup: list) -> int:
    handlers: set[asyncio.Task[None]] = set()

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            await behaviour(reader, writer)
        except (ConnectionError, asyncio.CancelledError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            handlers.discard(task)

    server = await asyncio.start_server(on_connection, "127.0.0.1", 0)

    async def close() -> None:
        server.close()
        for task in list(handlers):
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await server.wait_closed()

    cleanup.append(close)
    return server.sockets[0].getsockname()[1]


async def plain_http_peer(reply: Callable[[bytes], bytes | None], cleanup: list, posts: list[bytes] | None = None) -> int:
    """A peer that closes on a ClientHello and answers the POST with ``reply(request)``."""

    async def behaviour(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = await reader.read(1)
        if first == b"\x16":
            return  # a TLS ClientHello: not for us, close
        head = first + await reader.readuntil(b"\r\n\r\n")
        length = int(re.search(rb"Content-Length: (\d+)", head).group(1))  # type: ignore[union-attr]
        request = head + await reader.readexactly(length)
        if posts is not None:
            posts.append(request)
        answer = reply(request)
        if answer is None:
            await asyncio.Event().wait()
        writer.write(answer)
        await writer.drain()

    return await start_peer(behaviour, cleanup)


def soap_response(status: str, body: bytes) -> bytes:
    return f"HTTP/1.1 {status}\r\nContent-Type: application/soap+xml\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body


# --- real servers -------------------------------------------------------------------------


async def test_lab_ocpps_endpoint_is_recognised_over_plain_http(service_context, cleanup) -> None:
    # Given the lab's OCPP-S 1.6 endpoint on plain HTTP
    port = await start_lab(lab_ocpps, lab_ocpps.Options(), service_context, cleanup)
    # When probed
    evidence = await PROBE.run(context_for(port))
    # Then the TLS sniff saw plain HTTP, and the Fault identifies OCPP-S 1.6
    assert (evidence["tls_sniff"], evidence["tls_detail"], evidence["transport"]) == ("not-tls", "WRONG_VERSION_NUMBER", "plain")
    assert re.fullmatch(r"porthole-probe-[0-9a-f]{8}", evidence["probe_identity"])
    assert (evidence["status"], evidence["recognised"]) == (400, True)
    assert evidence["soap"] == {
        "root": "Envelope",
        "soap_version": "1.2",
        "is_fault": True,
        "fault_code": "Sender",
        "fault_subcode": "IdentityMismatch",
        "fault_subcode_namespace": "urn://Ocpp/Cp/2015/10/",
        "fault_reason": "chargeBoxIdentity does not match",
        "ocpp_namespaces": ["urn://Ocpp/Cp/2015/10/"],
        "ocpp_version": "1.6",
    }
    (finding,) = PROBE.assess(evidence, observation_for(port))
    assert (finding.id, finding.severity, finding.setting) == ("ocpp-s-open", Severity.HIGH, "ASKI over OCPP-S: Off")
    assert "discontinued since firmware 5.32" in finding.detail
    assert PROBE.summarise(evidence) == "OCPP-S 1.6 SOAP (plain HTTP): Fault Sender/IdentityMismatch"


async def test_lab_ocpps_endpoint_behind_tls_is_posted_over_the_sniffing_connection(service_context, cleanup) -> None:
    # Given the same SOAP application served over TLS ("SSL mode as server") with a lab certificate
    paths = ensure_certificate(service_context.cert_dir, "misconf-ocpps", common_name="misconf")
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(paths.certificate, paths.private_key)
    runner = web.AppRunner(lab_ocpps.build_application(lab_ocpps.Options(ocpp_version=lab_ocpps.OcppVersion.OCPP_1_5), service_context))
    await runner.setup()
    cleanup.append(runner.cleanup)
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_context)
    await site.start()
    port = runner.addresses[-1][1]
    # When probed
    evidence = await PROBE.run(context_for(port))
    # Then the handshake completed, the POST went over it, and OCPP-S 1.5 answered
    assert (evidence["tls_sniff"], evidence["transport"], evidence["tls"]["version"]) == ("handshake-completed", "tls", "TLSv1.3")
    assert evidence["recognised"] is True and evidence["soap"]["ocpp_version"] == "1.5"
    (finding,) = PROBE.assess(evidence, observation_for(port))
    assert finding.severity is Severity.HIGH  # TLS alone does not lower it; a whitelist refusal would
    assert finding.evidence[0] == f"POST / on {port}/tcp over TLS: 400 Bad Request"


async def test_tls_port_that_refuses_the_hello_gets_no_post(service_context, cleanup) -> None:
    # Given a TLS 1.2 server that demands a client certificate
    options = lab_tls.Options(versions=(lab_tls.TlsVersion.TLS_1_2,), require_client_cert=True)
    port = await start_lab(lab_tls, options, service_context, cleanup)
    evidence = await PROBE.run(context_for(port))
    assert (evidence["tls_sniff"], evidence["transport"], evidence["status"], evidence["recognised"]) == ("handshake-refused", "tls", None, False)
    assert "ALERT" in evidence["tls_detail"]
    assert PROBE.assess(evidence, observation_for(port)) == []


async def test_web_ui_on_the_port_is_not_ocpp_s(service_context, cleanup) -> None:
    port = await start_lab(lab_http, lab_http.Options(), service_context, cleanup)
    evidence = await PROBE.run(context_for(port))
    assert (evidence["status"], evidence["recognised"], evidence["soap"]) == (405, False, None)
    assert evidence["document_error"].startswith("reply is not safe, well-formed XML")
    assert PROBE.assess(evidence, observation_for(port)) == []
    assert PROBE.summarise(evidence).startswith("HTTP 405 to a SOAP POST, not OCPP-S")


# --- the request on the wire ----------------------------------------------------------------


async def test_exactly_one_post_of_a_heartbeat_with_a_made_up_identity(cleanup) -> None:
    posts: list[bytes] = []
    port = await plain_http_peer(lambda request: soap_response("404 Not Found", b""), cleanup, posts)
    evidence = await PROBE.run(context_for(port))
    (post,) = posts
    head, _, body = post.partition(b"\r\n\r\n")
    assert head.startswith(b"POST / HTTP/1.1\r\n")
    assert b"Content-Type: application/soap+xml; charset=utf-8\r\n" in head
    assert b"<a:Action s:mustUnderstand=\"true\">/Heartbeat</a:Action>" in body
    assert f">{evidence['probe_identity']}</cp:chargeBoxIdentity>".encode() in body
    assert b"<s:Body/>" in body
    assert evidence["recognised"] is False and evidence["status"] == 404


# --- hostile peers ----------------------------------------------------------------------------


async def test_xml_bomb_reply_is_refused_unexpanded(cleanup) -> None:
    bomb = b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><s:Envelope xmlns:s="urn://Ocpp/Cp/2015/10/">&c;</s:Envelope>'
    port = await plain_http_peer(lambda request: soap_response("500 Internal Server Error", bomb), cleanup)
    evidence = await PROBE.run(context_for(port))
    assert evidence["recognised"] is False and evidence["soap"] is None
    assert "DTDForbidden" in evidence["document_error"]


async def test_ten_megabyte_reply_is_capped_and_not_parsed_as_ocpp(cleanup) -> None:
    huge = b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">' + b" " * (10 * 1024 * 1024)
    port = await plain_http_peer(lambda request: soap_response("200 OK", huge), cleanup)
    evidence = await PROBE.run(context_for(port))
    assert (evidence["body_end"], evidence["body_bytes"], evidence["recognised"]) == ("capped", 64 * 1024, False)
    assert evidence["document_error"].startswith("reply not read completely (capped)")


async def test_silence_after_the_post_is_evidence(cleanup) -> None:
    port = await plain_http_peer(lambda request: None, cleanup)
    evidence = await PROBE.run(context_for(port))
    assert (evidence["transport"], evidence["silence"], evidence["recognised"]) == ("plain", "silent", False)


async def test_garbage_answer_is_malformed(cleanup) -> None:
    port = await plain_http_peer(lambda request: b"\xde\xad\xbe\xef" * 100, cleanup)
    with pytest.raises(ProbeFailure, match="not an HTTP response") as failure:
        await PROBE.run(context_for(port))
    assert failure.value.reason == "malformed"


async def test_port_silent_on_a_client_hello_is_sniffed_as_plain(cleanup) -> None:
    # Given a plain server that waits for a request line (a ClientHello has no CRLF) and never answers it
    async def waits(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.Event().wait()

    port = await start_peer(waits, cleanup)
    probe_context = context_for(port)
    evidence = await PROBE.run(probe_context)
    assert evidence["tls_sniff"] == "not-tls" and evidence["tls_detail"].startswith("no TLS answer to a ClientHello within")
    assert evidence["silence"] == "silent"
