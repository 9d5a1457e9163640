"""The I/O half of the OCPP-J backend (CSMS) link audit: handshakes, TLS facts, duplicate test.

The charge controller is the WebSocket *client* of its CSMS (protocols.md §5.1), so
porthole plays that client against a backend URL the auditor names, under an identity
the auditor provisioned for the audit. Each step is one short connection:

    anonymous handshake      no Authorization, no client certificate (profile 0 test)
    Basic handshake          wss:// only, and only once the server certificate validated
    client-cert handshake    wss:// only, when --client-cert/--client-key were given
    one handshake per subprotocol (ocpp1.6, ocpp2.0.1, ocpp2.1), offered alone
    TLS facts                porthole's ClientHello enumeration + one stdlib validation
    duplicate identity       opt-in (--duplicate-identity-test), see ``_duplicate_identity``

Must not: send a CALL in the default audit (handshakes close right after 101); send
anything but BootNotification and Heartbeat in the opt-in duplicate test; send Basic
credentials over ws:// or to a server whose certificate did not validate; write the
password or key anywhere (websockets' own logger, which prints request headers at
DEBUG, is replaced by a silenced one). Each step runs under ``step_budget`` seconds, so a
CSMS that never answers costs one budget per step, never a hang.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import itertools
import json
import logging
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import websockets
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from porthole.errors import UsageError
from porthole.model import PortObservation, PortState, Protocol, Reason
from porthole.ocpp.evidence import (
    SUBPROTOCOLS,
    DuplicateIdentityResult,
    DuplicateOutcome,
    HandshakeAttempt,
    HandshakeOutcome,
    OcppEvidence,
    Presented,
    SubprotocolResult,
    TlsLinkFacts,
)
from porthole.services.base import ProbeContext
from porthole.services.tls.assess import grade
from porthole.services.tls.probe import TlsEnumeration
from porthole.jsonable import to_jsonable
from porthole.targets import Target

__all__ = ["LinkSettings", "connection_url", "probe_link", "MAX_IDENTITY_LENGTH"]

#: OCPP 2.0.1 identifierString limit for the charging-station identity
MAX_IDENTITY_LENGTH = 48
#: largest WebSocket message accepted from the CSMS (OCPP-J frames are small JSON)
MAX_FRAME = 64 * 1024

# websockets logs every request header (Authorization included) at DEBUG: give it a
# logger that never emits, so the password cannot reach any handler.
_WIRE_LOGGER = logging.getLogger("porthole.ocpp.wire")
_WIRE_LOGGER.disabled = True
_WIRE_LOGGER.propagate = False

_CALL, _CALLRESULT, _CALLERROR = 2, 3, 4


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkSettings:
    url: str
    identity: str
    password: str | None = field(default=None, repr=False)
    client_certificate: Path | None = None
    client_key: Path | None = field(default=None, repr=False)
    ca_file: Path | None = None
    step_budget: float = 5.0
    duplicate_identity_test: bool = False
    tls_enumeration: bool = True

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("ws", "wss"):
            raise UsageError(f"backend URL {self.url!r} must start with ws:// or wss:// (the OCPP-J endpoint, without the identity)")
        if not parts.hostname:
            raise UsageError(f"backend URL {self.url!r} has no host name")
        if parts.username or parts.password:
            raise UsageError("put no credentials in the URL: give the password with --password-env or PORTHOLE_OCPP_PASSWORD")
        if not self.identity or len(self.identity) > MAX_IDENTITY_LENGTH or ":" in self.identity:
            raise UsageError(f"identity must be 1-{MAX_IDENTITY_LENGTH} characters without ':' (OCPP identifierString; ':' breaks Basic auth)")
        if (self.client_certificate is None) != (self.client_key is None):
            raise UsageError("give both --client-cert and --client-key, or neither")
        if self.step_budget <= 0:
            raise UsageError("--timeout must be a positive number of seconds")

    @property
    def scheme(self) -> str:
        return urlsplit(self.url).scheme

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        parts = urlsplit(self.url)
        return parts.port or (443 if parts.scheme == "wss" else 80)


def connection_url(url: str, identity: str) -> str:
    """Backend URL + "/" + percent-encoded identity (OCPP-J 1.6 §3.1.1)."""
    return f"{url.rstrip('/')}/{quote(identity, safe='')}"


# --------------------------------------------------------------------------- TLS contexts


def _unverified_context(settings: LinkSettings, *, with_certificate: bool) -> ssl.SSLContext:
    # Handshake probes must reach a CSMS whatever its certificate; whether it validates is
    # measured separately, and no secret travels on these connections.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if with_certificate and settings.client_certificate and settings.client_key:
        context.load_cert_chain(settings.client_certificate, settings.client_key)
    return context


def _verified_context(settings: LinkSettings) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)
    if settings.client_certificate and settings.client_key:
        context.load_cert_chain(settings.client_certificate, settings.client_key)
    return context


# --------------------------------------------------------------------------- handshakes


async def _open(settings: LinkSettings, *, offered: Sequence[str], presented: Presented, context: ssl.SSLContext | None) -> ClientConnection:
    headers: dict[str, str] = {}
    if presented is Presented.BASIC and settings.password is not None:
        token = base64.b64encode(f"{settings.identity}:{settings.password}".encode()).decode("ascii")
        headers["Authorization"] = f"Basic {token}"
    return await connect(
        connection_url(settings.url, settings.identity),
        subprotocols=list(offered),  # type: ignore[arg-type]
        additional_headers=headers,
        user_agent_header="porthole-ocpp-link-audit",
        proxy=None,
        compression=None,
        open_timeout=None,
        ping_interval=None,
        close_timeout=1,
        max_size=MAX_FRAME,
        logger=_WIRE_LOGGER,
        ssl=context,
    )


async def _handshake(settings: LinkSettings, *, offered: Sequence[str], presented: Presented, context: ssl.SSLContext | None) -> tuple[HandshakeAttempt, ClientConnection | None]:
    """One upgrade attempt; on success the open connection is handed back to the caller."""
    try:
        async with asyncio.timeout(settings.step_budget):
            connection = await _open(settings, offered=offered, presented=presented, context=context)
    except TimeoutError:
        return _attempt(presented, offered, HandshakeOutcome.TIMEOUT, detail=f"no complete answer within {settings.step_budget:g} s"), None
    except InvalidStatus as exc:
        response = exc.response
        challenge = response.headers.get("WWW-Authenticate")
        return _attempt(
            presented, offered, HandshakeOutcome.HTTP_REFUSED, http_status=response.status_code,
            challenge=challenge.split()[0] if challenge else None, detail=f"HTTP {response.status_code} {response.reason_phrase}".strip(),
        ), None
    except InvalidHandshake as exc:
        tls_error = _tls_cause(exc)
        if tls_error is not None:
            return _attempt(presented, offered, HandshakeOutcome.TLS_FAILED, detail=_tls_text(tls_error)), None
        return _attempt(presented, offered, HandshakeOutcome.PROTOCOL_ERROR, detail=f"{type(exc).__name__}: {exc}"), None
    except ssl.SSLError as exc:
        return _attempt(presented, offered, HandshakeOutcome.TLS_FAILED, detail=_tls_text(exc)), None
    except (OSError, EOFError, ConnectionClosed) as exc:
        return _attempt(presented, offered, HandshakeOutcome.CONNECTION_FAILED, detail=f"{type(exc).__name__}: {exc}"), None
    return _attempt(presented, offered, HandshakeOutcome.ACCEPTED, http_status=101, subprotocol=connection.subprotocol), connection


def _attempt(presented: Presented, offered: Sequence[str], outcome: HandshakeOutcome, **facts: Any) -> HandshakeAttempt:
    return HandshakeAttempt(presented=presented, offered=tuple(offered), outcome=outcome, **facts)


def _tls_cause(exc: BaseException) -> ssl.SSLError | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _tls_text(exc: ssl.SSLError) -> str:
    return f"TLS: {getattr(exc, 'reason', None) or exc}"


async def _handshake_and_close(settings: LinkSettings, **how: Any) -> HandshakeAttempt:
    attempt, connection = await _handshake(settings, **how)
    if connection is not None:
        await _close(connection, settings)
    return attempt


async def _close(connection: ClientConnection, settings: LinkSettings) -> None:
    try:
        async with asyncio.timeout(settings.step_budget):
            await connection.close()
    except (TimeoutError, OSError, ConnectionClosed):
        pass


# --------------------------------------------------------------------------- TLS facts


async def _tls_facts(settings: LinkSettings) -> TlsLinkFacts:
    notes: list[str] = []
    versions: tuple[str, ...] = ()
    suites: tuple[str, ...] = ()
    letter: str | None = None
    reasons: tuple[str, ...] = ()
    client_certificate = "unknown"
    if settings.tls_enumeration:
        evidence = await _enumerate_tls(settings)
        if evidence is None:
            notes.append("TLS enumeration could not run (host name did not resolve)")
        else:
            accepted = [version for version in evidence["versions"] if version["accepted"]]
            versions = tuple(version["version"] for version in accepted)
            suites = tuple(f"{version['version']} {suite['name']}" for version in accepted for suite in version["suites"])
            graded = grade(evidence)
            letter, reasons = graded.letter, graded.reasons
            client_certificate = str(evidence.get("client_certificate", "unknown"))
            notes.extend(evidence.get("notes", ()))
    validated, error, negotiated = await _validate(settings)
    if negotiated and not versions:
        versions = (negotiated,)
    return TlsLinkFacts(
        versions=versions, suites=suites, grade=letter, grade_reasons=reasons, certificate_validated=validated,
        validation_error=error, client_certificate=client_certificate,
        ca_source=str(settings.ca_file) if settings.ca_file else "system trust store", notes=tuple(notes),
    )


async def _enumerate_tls(settings: LinkSettings) -> dict[str, Any] | None:
    try:
        address = ipaddress.ip_address(settings.host)
        hostname = None
    except ValueError:
        infos = await asyncio.get_running_loop().getaddrinfo(settings.host, settings.port, type=1)
        if not infos:
            return None
        address, hostname = ipaddress.ip_address(infos[0][4][0]), settings.host
    context = ProbeContext(
        target=Target(address=address, hostname=hostname, spec=settings.url),
        observation=PortObservation(port=settings.port, protocol=Protocol.TCP, state=PortState.OPEN, reason=Reason.SYN_ACK, service="ocpp-csms"),
    )
    # the enumeration keeps its own phase budget and reports what it had by then
    return to_jsonable(await TlsEnumeration(context).run())  # type: ignore[return-value]


async def _validate(settings: LinkSettings) -> tuple[bool | None, str | None, str | None]:
    """Full validation as a controller set to "SSL strictness: full" would do it."""
    try:
        async with asyncio.timeout(settings.step_budget):
            _, writer = await asyncio.open_connection(settings.host, settings.port, ssl=_verified_context(settings), server_hostname=settings.host)
    except ssl.SSLCertVerificationError as exc:
        return False, exc.verify_message or str(exc), None
    except ssl.SSLError as exc:
        # the chain was checked before any later alert (e.g. certificate required)
        return True, None, None
    except (TimeoutError, OSError) as exc:
        return None, f"validation handshake failed: {type(exc).__name__}: {exc}", None
    ssl_object = writer.get_extra_info("ssl_object")
    negotiated = ssl_object.version() if ssl_object is not None else None
    writer.close()
    try:
        await writer.wait_closed()
    except (OSError, ssl.SSLError):
        pass
    return True, None, negotiated


# --------------------------------------------------------------------------- duplicate identity

_ids = (f"porthole-{number}" for number in itertools.count(1))


def _boot_notification(subprotocol: str | None) -> tuple[str, dict[str, Any]]:
    if subprotocol == "ocpp1.6":
        return "BootNotification", {"chargePointVendor": "porthole", "chargePointModel": "link-audit"}
    return "BootNotification", {"chargingStation": {"vendorName": "porthole", "model": "link-audit"}, "reason": "PowerUp"}


async def _call(connection: ClientConnection, action: str, payload: dict[str, Any], settings: LinkSettings, routed: list[str]) -> bool:
    """Send one CALL and wait for its answer; CSMS-initiated CALLs seen meanwhile are noted, never answered."""
    message_id = next(_ids)
    try:
        async with asyncio.timeout(settings.step_budget):
            await connection.send(json.dumps([_CALL, message_id, action, payload]))
            while True:
                frame = await connection.recv()
                try:
                    message = json.loads(frame)
                except (TypeError, ValueError):
                    continue  # garbage frames are not an answer
                if not isinstance(message, list) or len(message) < 3:
                    continue
                if message[0] == _CALL and isinstance(message[2], str):
                    routed.append(message[2][:64])
                elif message[0] in (_CALLRESULT, _CALLERROR) and message[1] == message_id:
                    return message[0] == _CALLRESULT
    except (TimeoutError, ConnectionClosed, OSError):
        return False


async def _duplicate_identity(settings: LinkSettings, *, presented: Presented, subprotocol: str | None, context: ssl.SSLContext | None) -> DuplicateIdentityResult:
    """Hold a first connection, open a second with the same identity, watch what the CSMS does."""
    offered = [subprotocol] if subprotocol else list(SUBPROTOCOLS)
    sent: list[str] = []
    routed: list[str] = []
    first_attempt, first = await _handshake(settings, offered=offered, presented=presented, context=context)
    if first is None:
        return DuplicateIdentityResult(outcome=DuplicateOutcome.INCONCLUSIVE, subprotocol=subprotocol, first_answered_after=None, second_accepted=False, detail=f"first connection failed: {first_attempt.detail or first_attempt.outcome}")
    second: ClientConnection | None = None
    try:
        action, payload = _boot_notification(first.subprotocol)
        sent.append(f"first: {action}")
        if not await _call(first, action, payload, settings, []):
            return DuplicateIdentityResult(outcome=DuplicateOutcome.INCONCLUSIVE, subprotocol=first.subprotocol, first_answered_after=None, second_accepted=False, sent=tuple(sent), detail="the CSMS did not answer the first connection's BootNotification")
        second_attempt, second = await _handshake(settings, offered=offered, presented=presented, context=context)
        second_accepted = False
        if second is not None:
            sent.append(f"second: {action}")
            second_accepted = await _call(second, action, payload, settings, routed)
        sent.append("first: Heartbeat")
        first_alive = await _call(first, "Heartbeat", {}, settings, [])
    finally:
        await _close(first, settings)
        if second is not None:
            await _close(second, settings)
    if second_accepted and not first_alive:
        outcome = DuplicateOutcome.DROPS_FIRST
    elif second_accepted:
        outcome = DuplicateOutcome.KEEPS_BOTH
    elif first_alive:
        outcome = DuplicateOutcome.REJECTS_NEWCOMER
    else:
        outcome = DuplicateOutcome.INCONCLUSIVE
    detail = None if second is not None else f"second connection: {second_attempt.detail or second_attempt.outcome}"
    return DuplicateIdentityResult(
        outcome=outcome, subprotocol=first.subprotocol, first_answered_after=first_alive, second_accepted=second_accepted,
        calls_routed_to_newcomer=tuple(routed), sent=tuple(sent), detail=detail,
    )


# --------------------------------------------------------------------------- the audit


async def probe_link(settings: LinkSettings) -> OcppEvidence:
    """Run every step against one backend URL and return what was observed."""
    secure = settings.scheme == "wss"
    notes: list[str] = []
    plain = _unverified_context(settings, with_certificate=False) if secure else None
    tls = await _tls_facts(settings) if secure else None
    anonymous = await _handshake_and_close(settings, offered=SUBPROTOCOLS, presented=Presented.NOTHING, context=plain)

    if settings.password is None:
        basic = _attempt(Presented.BASIC, SUBPROTOCOLS, HandshakeOutcome.SKIPPED, detail="no password given")
    elif not secure:
        basic = _attempt(Presented.BASIC, SUBPROTOCOLS, HandshakeOutcome.SKIPPED, detail="never sent over ws:// (it would travel in clear text)")
    elif tls is None or not tls.certificate_validated:
        basic = _attempt(Presented.BASIC, SUBPROTOCOLS, HandshakeOutcome.SKIPPED, detail="not sent: the server certificate did not validate")
    else:
        basic = await _handshake_and_close(settings, offered=SUBPROTOCOLS, presented=Presented.BASIC, context=_verified_context(settings))

    if settings.client_certificate is None:
        certificate = _attempt(Presented.CLIENT_CERTIFICATE, SUBPROTOCOLS, HandshakeOutcome.SKIPPED, detail="no client certificate given")
    elif not secure:
        certificate = _attempt(Presented.CLIENT_CERTIFICATE, SUBPROTOCOLS, HandshakeOutcome.SKIPPED, detail="client certificates need wss://")
    else:
        certificate = await _handshake_and_close(settings, offered=SUBPROTOCOLS, presented=Presented.CLIENT_CERTIFICATE, context=_unverified_context(settings, with_certificate=True))

    # ask about subprotocols with whatever got us in (else anonymously: a refusal is still a fact)
    presented, context = Presented.NOTHING, plain
    if basic.outcome is HandshakeOutcome.ACCEPTED:
        presented, context = Presented.BASIC, _verified_context(settings)
    elif certificate.outcome is HandshakeOutcome.ACCEPTED:
        presented, context = Presented.CLIENT_CERTIFICATE, _unverified_context(settings, with_certificate=True)
    subprotocols = []
    for name in SUBPROTOCOLS:
        attempt = await _handshake_and_close(settings, offered=(name,), presented=presented, context=context)
        subprotocols.append(SubprotocolResult(subprotocol=name, accepted=attempt.outcome is HandshakeOutcome.ACCEPTED and attempt.subprotocol == name, attempt=attempt))

    duplicate = None
    if settings.duplicate_identity_test:
        chosen = next((result.subprotocol for result in subprotocols if result.accepted), None)
        duplicate = await _duplicate_identity(settings, presented=presented, subprotocol=chosen, context=context)
    return OcppEvidence(
        url=settings.url, scheme=settings.scheme, identity=settings.identity, anonymous=anonymous, basic=basic,
        client_certificate=certificate, subprotocols=tuple(subprotocols), tls=tls, duplicate_identity=duplicate, notes=tuple(notes),
    )
