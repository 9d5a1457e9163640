"""The HTTP probe against real servers on loopback and against hostile peers.

Real servers: the lab's web UI (aiohttp.web), its stdlib-ssl TLS server and its
TCP forwarder, started in-process on 127.0.0.1:0. Hostile peers are small asyncio
servers in this file. Phase waits are shortened through ``ProbeLimits`` so stalls
cost fractions of a second; nothing here asserts a duration.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web

from lab.services import forward as lab_forward
from lab.services import http as lab_http
from lab.services import tls as lab_tls
from lab.services._common import Running, ServiceContext, serve_web_application
from porthole.model import PortObservation, PortState, Protocol, Reason
from porthole.services.base import ProbeContext, ProbeFailure, ProbeLimits
from porthole.services.http import HttpProbe
from porthole.targets import Target

FAST = ProbeLimits(first_byte=1.0, between_chunks=0.5)
PROBE = HttpProbe()


def context_for(port: int, service: str = "http", limits: ProbeLimits = FAST) -> ProbeContext:
    observation = PortObservation(port=port, protocol=Protocol.TCP, state=PortState.OPEN, reason=Reason.SYN_ACK, service=service)
    return ProbeContext(target=Target(address=ipaddress.ip_address("127.0.0.1"), spec="127.0.0.1"), observation=observation, limits=limits, version="0.1.0")


def finding_ids(evidence: dict, port: int) -> list[str]:
    observation = PortObservation(port=port, protocol=Protocol.TCP, state=PortState.OPEN, reason=Reason.SYN_ACK, service="http")
    return [finding.id for finding in PROBE.assess(evidence, observation)]


@pytest.fixture
async def lab(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[int]]]:
    """Start a lab service module (``serve(bind, ports, options, context=...)``); returns its port."""
    started: list[Running] = []
    service_context = ServiceContext(state_dir=tmp_path / "site" / "master", name="master")

    async def start(module: object, options: object) -> int:
        running = await module.serve("127.0.0.1", [0], options, context=service_context)  # type: ignore[attr-defined]
        started.append(running)
        return running.ports[0]

    yield start
    for running in started:
        await running.close()


@pytest.fixture
async def peer() -> AsyncIterator[Callable[[Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]], Awaitable[int]]]:
    """Start a one-behaviour TCP peer; every connection's handler is cancelled at teardown."""
    servers: list[asyncio.Server] = []
    handlers: set[asyncio.Task[None]] = set()

    async def start(behaviour: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]) -> int:
        async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            handlers.add(task)
            try:
                await behaviour(reader, writer)
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                writer.close()
                handlers.discard(task)

        server = await asyncio.start_server(on_connection, "127.0.0.1", 0)
        servers.append(server)
        return server.sockets[0].getsockname()[1]

    yield start
    for server in servers:
        server.close()
    for task in list(handlers):
        task.cancel()
    await asyncio.gather(*handlers, return_exceptions=True)
    for server in servers:
        await server.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")


# --- real servers -------------------------------------------------------------------------


async def test_redirecting_ui_is_recorded_and_the_redirect_not_followed(lab) -> None:
    # Given the hardened UI: every path answers 301 to https://
    port = await lab(lab_http, lab_http.Options(redirect_to_https=True))
    # When probed
    evidence = await PROBE.run(context_for(port))
    # Then the redirect is evidence, not followed, and /legacy/ is not asked (a redirect says nothing about it)
    root = evidence["root"]
    assert (root["status"], root["location"], root["redirects_to_https"]) == (301, "https://127.0.0.1/", True)
    assert root["server"].startswith("Python/3.11 aiohttp/")
    assert evidence["legacy"] is None and evidence["silence"] is None
    assert finding_ids(evidence, port) == []


async def test_plain_login_form_gives_no_redirect_and_plain_login(lab) -> None:
    # Given the misconfigured UI: a password form on plain HTTP
    port = await lab(lab_http, lab_http.Options(login=lab_http.Login.FORM))
    evidence = await PROBE.run(context_for(port))
    root = evidence["root"]
    # Then title, the password input and the absent legacy UI are facts
    assert (root["status"], root["title"], root["password_form"], root["basic_challenge"]) == (200, "Charge Controller - Login", True, False)
    assert evidence["legacy"]["verdict"] == "absent" and evidence["legacy"]["page"]["status"] == 404
    assert finding_ids(evidence, port) == ["http-no-redirect", "http-plain-login"]
    assert PROBE.summarise(evidence).startswith("HTTP 200 'Charge Controller - Login'")


async def test_basic_challenge_on_plain_http_is_a_plain_login(lab) -> None:
    port = await lab(lab_http, lab_http.Options(login=lab_http.Login.BASIC))
    evidence = await PROBE.run(context_for(port))
    root = evidence["root"]
    assert (root["status"], root["www_authenticate"], root["basic_challenge"]) == (401, ['Basic realm="Charge Controller"'], True)
    assert finding_ids(evidence, port) == ["http-no-redirect", "http-plain-login"]


async def test_dashboard_ui_is_told_from_its_markup(lab) -> None:
    port = await lab(lab_http, lab_http.Options())
    evidence = await PROBE.run(context_for(port))
    assert (evidence["root"]["ui"], evidence["root"]["ui_markers"]) == ("dashboard", ["dashboard-2.0", "dashboard-title"])
    assert evidence["legacy"]["verdict"] == "absent"
    assert finding_ids(evidence, port) == ["http-no-redirect"]


async def test_legacy_ui_on_root_is_found_without_a_second_request(lab) -> None:
    port = await lab(lab_http, lab_http.Options(ui=lab_http.UserInterface.LEGACY))
    evidence = await PROBE.run(context_for(port))
    assert (evidence["root"]["ui"], evidence["root"]["title"]) == ("legacy", "Charge Controller Configuration")
    assert evidence["legacy"] is None
    assert finding_ids(evidence, port) == ["http-no-redirect", "http-legacy-ui"]


async def test_https_page_records_tls_session_and_missing_hsts(lab) -> None:
    # Given the lab's TLS server (OpenSSL via stdlib ssl) answering GET, without HSTS
    port = await lab(lab_tls, lab_tls.Options(http=True))
    evidence = await PROBE.run(context_for(port, service="https"))
    # Then the page came over TLS 1.3 and the missing header is the only finding
    assert evidence["scheme"] == "https"
    assert evidence["tls"]["version"] == "TLSv1.3" and evidence["tls"]["cipher"].startswith("TLS_")
    assert (evidence["root"]["status"], evidence["root"]["title"], evidence["root"]["hsts"]) == (200, "Charge Controller", None)
    assert finding_ids(evidence, port) == ["https-no-hsts"]


async def test_https_with_hsts_gives_no_finding(lab) -> None:
    port = await lab(lab_tls, lab_tls.Options(http=True, hsts=True))
    evidence = await PROBE.run(context_for(port, service="https"))
    assert evidence["root"]["hsts"] == "max-age=31536000"
    # the catch-all page at /legacy/ equals / and so proves nothing
    assert evidence["legacy"]["verdict"] == "inconclusive"
    assert finding_ids(evidence, port) == []


async def test_old_tls_server_still_yields_its_page(lab) -> None:
    # Given the misconfigured unit's TLS: 1.0-1.2, AES128-SHA only, RSA-1024
    options = lab_tls.Options(versions=(lab_tls.TlsVersion.TLS_1_0, lab_tls.TlsVersion.TLS_1_1, lab_tls.TlsVersion.TLS_1_2), ciphers="AES128-SHA:@SECLEVEL=0", cert_key=lab_tls.CertificateKey.RSA1024, expired=True, http=True)
    port = await lab(lab_tls, options)
    evidence = await PROBE.run(context_for(port, service="https"))
    # Then the evidence context got through and names what it negotiated
    assert evidence["tls"] == {"version": "TLSv1.2", "cipher": "AES128-SHA"}
    assert evidence["root"]["title"] == "Charge Controller"


async def test_forwarder_without_its_peer_is_evidence_not_an_error(lab) -> None:
    # Given the lab forwarder pointing at a port where nothing listens
    port = await lab(lab_forward, lab_forward.Options(to_address="127.0.0.1", port=1, connect_timeout=0.5))
    evidence = await PROBE.run(context_for(port))
    assert (evidence["silence"], evidence["root"]) == ("closed", None)
    assert finding_ids(evidence, port) == []
    assert "forwarder without its peer" in PROBE.summarise(evidence)


async def test_legacy_path_behind_basic_auth_is_reachable_and_a_plain_login(tmp_path: Path) -> None:
    # Given a dashboard on / and the legacy UI under /legacy/ behind Basic auth
    application = web.Application()

    async def root(request: web.Request) -> web.Response:
        return web.Response(text="<html><head><title>Dashboard</title></head><body data-ui='2.0'></body></html>", content_type="text/html")

    async def legacy(request: web.Request) -> web.Response:
        raise web.HTTPUnauthorized(headers={"WWW-Authenticate": 'Basic realm="legacy"'})

    application.router.add_get("/", root)
    application.router.add_get("/legacy/", legacy)
    running = await serve_web_application(application, "127.0.0.1", [0], logger=logging.getLogger("test"))
    try:
        evidence = await PROBE.run(context_for(running.ports[0]))
    finally:
        await running.close()
    # Then /legacy/ is reachable and its Basic challenge counts as a login over plain HTTP
    assert evidence["legacy"]["verdict"] == "reachable"
    assert evidence["legacy"]["page"]["basic_challenge"] is True
    assert finding_ids(evidence, running.ports[0]) == ["http-no-redirect", "http-plain-login", "http-legacy-ui"]


# --- the request on the wire ----------------------------------------------------------------


async def test_request_is_one_get_with_porthole_headers_and_no_redirect_followed(peer) -> None:
    requests: list[bytes] = []

    async def redirect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        requests.append(await read_request(reader))
        writer.write(b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1/elsewhere\r\nSet-Cookie: sid=SECRET; HttpOnly; SameSite=Lax\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()

    port = await peer(redirect)
    evidence = await PROBE.run(context_for(port))
    # Then exactly one request went out, with the documented header set, and the Location was not followed
    assert requests == [f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: porthole/0.1.0\r\nAccept: */*\r\nConnection: close\r\n\r\n".encode()]
    assert evidence["root"]["redirects_to_https"] is False
    # and the cookie's flags are kept, never its value
    assert evidence["root"]["cookies"] == [{"name": "sid", "secure": False, "http_only": True, "same_site": "Lax"}]
    assert "SECRET" not in repr(evidence)
    assert finding_ids(evidence, port) == ["http-no-redirect"]


# --- hostile peers ----------------------------------------------------------------------------


async def test_endless_header_ends_as_too_large(peer) -> None:
    async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\n")
        for index in range(1_000_000):
            writer.write(b"X-Pad-%d: %s\r\n" % (index, b"a" * 200))
            await writer.drain()

    port = await peer(endless)
    with pytest.raises(ProbeFailure, match="header block larger than 16384 bytes") as failure:
        await PROBE.run(context_for(port))
    assert failure.value.reason == "too-large"


async def test_ten_megabyte_page_is_read_only_up_to_the_cap(peer) -> None:
    async def huge(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10485760\r\n\r\n<html><head><title>Big</title></head>")
        for _ in range(160):
            writer.write(b"x" * 65536)
            await writer.drain()

    port = await peer(huge)
    evidence = await PROBE.run(context_for(port))
    root = evidence["root"]
    assert (root["title"], root["body_end"], root["body_bytes"]) == ("Big", "capped", FAST.max_read)


async def test_garbage_status_line_is_malformed(peer) -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"\x00\xffGARBAGE\r\n\r\n")
        await writer.drain()

    port = await peer(garbage)
    with pytest.raises(ProbeFailure, match="not an HTTP response") as failure:
        await PROBE.run(context_for(port))
    assert failure.value.reason == "malformed"


async def test_stall_after_the_status_line_is_a_timeout_naming_it(peer) -> None:
    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\n")
        await writer.drain()
        await asyncio.Event().wait()

    port = await peer(stall)
    with pytest.raises(ProbeFailure, match=r"stalled inside its head after 17 bytes \(it began 'HTTP/1.1 200 OK'\)") as failure:
        await PROBE.run(context_for(port))
    assert failure.value.reason == "timeout"


async def test_stall_inside_the_body_keeps_the_head_as_evidence(peer) -> None:
    async def stall_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n<title>Half</title>")
        await writer.drain()
        await asyncio.Event().wait()

    port = await peer(stall_body)
    evidence = await PROBE.run(context_for(port))
    assert (evidence["root"]["title"], evidence["root"]["body_end"]) == ("Half", "stalled")
    # the head was complete (a page, not the legacy UI), so /legacy/ is asked once too
    assert evidence["legacy"]["page"]["body_end"] == "stalled"


async def test_silent_port_is_evidence(peer) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.Event().wait()

    port = await peer(silent)
    evidence = await PROBE.run(context_for(port))
    assert (evidence["silence"], evidence["root"]) == ("silent", None)


async def test_tls_garbage_on_an_https_port_is_a_handshake_failure(peer) -> None:
    async def not_tls(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        await writer.drain()

    port = await peer(not_tls)
    with pytest.raises(ProbeFailure) as failure:
        await PROBE.run(context_for(port, service="https"))
    assert failure.value.reason == "handshake-failed"
    assert "WRONG_VERSION_NUMBER" in str(failure.value) or "record" in str(failure.value).lower()


def test_probe_claims_the_catalogue_web_ports_only() -> None:
    def observation(service: str | None) -> PortObservation:
        return PortObservation(port=80, protocol=Protocol.TCP, state=PortState.OPEN, reason=Reason.SYN_ACK, service=service)

    assert [PROBE.claims(observation(service)) for service in ("http", "https", "semp", "ocpp-s", None)] == [True, True, False, False, False]



async def test_https_forwarder_without_its_peer_is_evidence_not_an_error(lab) -> None:
    # Given 444/445's forwarder with its peer controller absent: it closes during the handshake
    port = await lab(lab_forward, lab_forward.Options(to_address="127.0.0.1", port=1, connect_timeout=0.5))
    evidence = await PROBE.run(context_for(port, service="https"))
    assert (evidence["scheme"], evidence["silence"], evidence["tls"], evidence["root"]) == ("https", "closed", None, None)
    assert finding_ids(evidence, port) == []
