"""Lab OCPP-J backends (CSMS) for ``porthole ocpp``: the real ``ocpp`` package on ``websockets``.

Each mode is a CSMS posture from protocols.md §5.2/§5.3 that the link audit must tell
apart, served on a loopback port (127.0.0.x, port 0):

================  ========  =============================  =======================
mode              scheme    charge point must present      second connection, same identity
================  ========  =============================  =======================
hardened-basic    wss://    HTTP Basic (profile 2)         refused (HTTP 409)
hardened-cert     wss://    client certificate (profile 3) refused (HTTP 409)
weak-open         ws://     nothing (profile 0)            refused (HTTP 409)
weak-basic        ws://     HTTP Basic (profile 1)         refused (HTTP 409)
weak-tls          wss://    HTTP Basic; TLS 1.0+, self-signed certificate   refused
hijackable        ws://     nothing (profile 0)            accepted; the first is closed and
                                                           the CSMS's next request
                                                           (GetConfiguration) goes to the newcomer
keeps-both        ws://     nothing (profile 0)            accepted; both stay open
================  ========  =============================  =======================

Only the identity the CSMS was given is known (others get 404, as OCPP-J §3.1.1 advises);
an offer without ``ocpp1.6``/``ocpp2.0.1`` is upgraded without a subprotocol and closed at
once (RFC 6455 §4.2.2, as OCPP-J requires). ``start_hostile_csms`` serves the broken
answers a link audit must survive (no upgrade, wrong subprotocol, garbage, a huge frame,
silence) with a bare asyncio server, since no correct library would produce them.

Must not: listen anywhere but the loopback address it is given, or act on any request
beyond answering BootNotification and Heartbeat.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import logging
import ssl
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from http import HTTPStatus
from pathlib import Path
from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v16.enums import Action as Action16
from ocpp.v16.enums import RegistrationStatus
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from ocpp.v201.enums import Action as Action201
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from lab.certs import ensure_certificate

__all__ = ["CsmsMode", "RunningCsms", "start_csms", "HostileBehaviour", "start_hostile_csms", "IDENTITY", "PASSWORD", "client_certificate"]

logger = logging.getLogger("lab.csms")
# websockets logs request headers (Authorization included) at DEBUG: the lab CSMS must not
# be the place a test password leaks from, so its wire logger never emits
_wire_logger = logging.getLogger("lab.csms.wire")
_wire_logger.disabled = True
_wire_logger.propagate = False

IDENTITY = "PORTHOLE-LAB-CP1"
#: OCPP 2.0.1 BasicAuthPassword: 16-40 characters
PASSWORD = "lab-secret-0123456789-xyz"
_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class CsmsMode(StrEnum):
    HARDENED_BASIC = "hardened-basic"
    HARDENED_CERT = "hardened-cert"
    WEAK_OPEN = "weak-open"
    WEAK_BASIC = "weak-basic"
    WEAK_TLS = "weak-tls"
    HIJACKABLE = "hijackable"
    KEEPS_BOTH = "keeps-both"


@dataclass(frozen=True, slots=True)
class _Posture:
    tls: str  # "none", "strong", "weak"
    basic: bool
    client_certificate: bool
    duplicates: str  # "reject", "last-wins", "keep-both"


_POSTURES = {
    CsmsMode.HARDENED_BASIC: _Posture("strong", True, False, "reject"),
    CsmsMode.HARDENED_CERT: _Posture("strong", False, True, "reject"),
    CsmsMode.WEAK_OPEN: _Posture("none", False, False, "reject"),
    CsmsMode.WEAK_BASIC: _Posture("none", True, False, "reject"),
    CsmsMode.WEAK_TLS: _Posture("weak", True, False, "reject"),
    CsmsMode.HIJACKABLE: _Posture("none", False, False, "last-wins"),
    CsmsMode.KEEPS_BOTH: _Posture("none", False, False, "keep-both"),
}


def client_certificate(cert_dir: Path) -> tuple[Path, Path, Path]:
    """(certificate, key, CA) of the lab charge point, signed by the lab CA."""
    paths = ensure_certificate(cert_dir, "csms-charge-point", self_signed=False, common_name=IDENTITY)
    return paths.certificate, paths.private_key, paths.ca_certificate


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat()


class _Station16(ChargePoint16):
    @on(Action16.boot_notification)
    async def on_boot(self, **_: Any) -> result16.BootNotification:
        return result16.BootNotification(current_time=_now(), interval=300, status=RegistrationStatus.accepted)

    @on(Action16.heartbeat)
    async def on_heartbeat(self, **_: Any) -> result16.Heartbeat:
        return result16.Heartbeat(current_time=_now())


class _Station201(ChargePoint201):
    @on(Action201.boot_notification)
    async def on_boot(self, **_: Any) -> result201.BootNotification:
        return result201.BootNotification(current_time=_now(), interval=300, status="Accepted")

    @on(Action201.heartbeat)
    async def on_heartbeat(self, **_: Any) -> result201.Heartbeat:
        return result201.Heartbeat(current_time=_now())


@dataclass(slots=True)
class RunningCsms:
    """A started lab CSMS; ``url`` is the backend URL without the identity."""

    mode: CsmsMode
    url: str
    ca_file: Path | None
    server: Server
    active: dict[str, ServerConnection] = field(default_factory=dict)
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    async def close(self) -> None:
        self.server.close()
        await self.server.wait_closed()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def __aenter__(self) -> RunningCsms:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


async def start_csms(mode: CsmsMode | str, *, cert_dir: Path, host: str = "127.0.0.1", subprotocols: Sequence[str] = ("ocpp1.6", "ocpp2.0.1")) -> RunningCsms:
    mode = CsmsMode(mode)
    posture = _POSTURES[mode]
    context: ssl.SSLContext | None = None
    ca_file: Path | None = None
    if posture.tls != "none":
        paths = ensure_certificate(cert_dir, f"csms-{posture.tls}", self_signed=posture.tls == "weak", common_name="csms.lab", san_ips=[host])
        ca_file = paths.ca_certificate
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(paths.chain, paths.private_key)
        if posture.tls == "weak":
            # a legacy backend: TLS 1.0 and the old suites (OpenSSL needs security level 0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                context.minimum_version = ssl.TLSVersion.TLSv1
            context.maximum_version = ssl.TLSVersion.TLSv1_2
            context.set_ciphers("ALL:@SECLEVEL=0")
        else:
            context.minimum_version = ssl.TLSVersion.TLSv1_2
        if posture.client_certificate:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(cafile=ca_file)
    state: dict[str, ServerConnection] = {}
    tasks: set[asyncio.Task[Any]] = set()
    expected_authorization = "Basic " + base64.b64encode(f"{IDENTITY}:{PASSWORD}".encode()).decode()

    def process_request(connection: ServerConnection, request: Request) -> Response | None:
        if request.path.rstrip("/") != f"/ocpp/{IDENTITY}":
            return connection.respond(HTTPStatus.NOT_FOUND, "unknown charge point\n")
        if posture.basic and request.headers.get("Authorization") != expected_authorization:
            response = connection.respond(HTTPStatus.UNAUTHORIZED, "credentials required\n")
            response.headers["WWW-Authenticate"] = 'Basic realm="ocpp"'
            return response
        if posture.duplicates == "reject" and IDENTITY in state:
            return connection.respond(HTTPStatus.CONFLICT, "charge point already connected\n")
        return None

    def select_subprotocol(connection: ServerConnection, offered: Sequence[str]) -> str | None:
        # no match: finish the handshake without a subprotocol, then close (OCPP-J §3.1.2)
        return next((name for name in offered if name in subprotocols), None)

    async def handler(connection: ServerConnection) -> None:
        if connection.subprotocol is None:
            await connection.close(1002, "no supported OCPP subprotocol")
            return
        displaced = state.get(IDENTITY)
        if displaced is not None and posture.duplicates == "last-wins":
            await displaced.close(1000, "replaced by a newer connection")
        state[IDENTITY] = connection
        station: ChargePoint16 | ChargePoint201
        if connection.subprotocol == "ocpp1.6":
            station = _Station16(IDENTITY, connection, response_timeout=2)
            request: Any = call16.GetConfiguration()
        else:
            station = _Station201(IDENTITY, connection, response_timeout=2)
            request = call201.GetBaseReport(request_id=1, report_base="ConfigurationInventory")
        if displaced is not None and posture.duplicates == "last-wins":
            # the hijack: the CSMS's next request to "the station" reaches the newcomer
            task = asyncio.create_task(_ask(station, request))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        try:
            await station.start()
        except ConnectionClosed:
            pass
        finally:
            if state.get(IDENTITY) is connection:
                del state[IDENTITY]

    server = await serve(
        handler, host, 0, ssl=context, process_request=process_request, select_subprotocol=select_subprotocol,
        subprotocols=list(subprotocols), compression=None, ping_interval=None, logger=_wire_logger,  # type: ignore[arg-type]
    )
    port = server.sockets[0].getsockname()[1]
    scheme = "wss" if context is not None else "ws"
    return RunningCsms(mode=mode, url=f"{scheme}://{host}:{port}/ocpp", ca_file=ca_file, server=server, active=state, tasks=tasks)


async def _ask(station: ChargePoint16 | ChargePoint201, request: Any) -> None:
    try:
        await station.call(request)
    except (asyncio.TimeoutError, ConnectionClosed):
        pass  # the newcomer (porthole) never answers CSMS requests


# --------------------------------------------------------------------------- hostile


class HostileBehaviour(StrEnum):
    NO_UPGRADE = "no-upgrade"
    WRONG_SUBPROTOCOL = "wrong-subprotocol"
    GARBAGE = "garbage"
    HUGE_FRAME = "huge-frame"
    SILENT = "silent"


@dataclass(slots=True)
class RunningHostile:
    url: str
    server: asyncio.Server
    writers: set[asyncio.StreamWriter] = field(default_factory=set)
    closing: asyncio.Event = field(default_factory=asyncio.Event)

    async def close(self) -> None:
        self.closing.set()
        self.server.close()
        for writer in self.writers:
            writer.close()
        await self.server.wait_closed()

    async def __aenter__(self) -> RunningHostile:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


async def start_hostile_csms(behaviour: HostileBehaviour | str, *, host: str = "127.0.0.1") -> RunningHostile:
    behaviour = HostileBehaviour(behaviour)
    writers: set[asyncio.StreamWriter] = set()
    closing = asyncio.Event()

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.add(writer)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            if behaviour is HostileBehaviour.SILENT:
                await closing.wait()  # hold the connection open, answer nothing
                return
            if behaviour is HostileBehaviour.NO_UPGRADE:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 12\r\n\r\n<html></html")
            elif behaviour is HostileBehaviour.GARBAGE:
                writer.write(bytes(range(256)) * 4)
            else:
                key = next(line.split(b":", 1)[1].strip() for line in head.split(b"\r\n") if line.lower().startswith(b"sec-websocket-key:"))
                accept = base64.b64encode(hashlib.sha1(key + _GUID.encode()).digest())
                protocol = b"Sec-WebSocket-Protocol: mqtt\r\n" if behaviour is HostileBehaviour.WRONG_SUBPROTOCOL else b"Sec-WebSocket-Protocol: ocpp1.6\r\n"
                writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n" + protocol + b"\r\n")
                if behaviour is HostileBehaviour.HUGE_FRAME:
                    # a text frame announcing 2^40 bytes (64-bit length), then some of them
                    writer.write(b"\x81\x7f" + (1 << 40).to_bytes(8, "big") + b"[" * 65536)
            await writer.drain()
            await closing.wait()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, StopIteration):
            pass
        finally:
            writers.discard(writer)
            writer.close()

    server = await asyncio.start_server(on_connection, host, 0)
    port = server.sockets[0].getsockname()[1]
    return RunningHostile(url=f"ws://{host}:{port}/ocpp", server=server, writers=writers, closing=closing)
