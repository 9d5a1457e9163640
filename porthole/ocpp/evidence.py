"""What an OCPP-J backend (CSMS) link audit observed: facts only, no judgements.

Every value here is something a handshake or a TLS exchange showed; ``assess`` turns
them into findings. Must not hold secrets: the Basic-auth password and the client key
never enter these dataclasses (an attempt records only *which kind* of credential it
presented), so a report built from them cannot leak them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "SUBPROTOCOLS",
    "Presented",
    "HandshakeOutcome",
    "HandshakeAttempt",
    "SubprotocolResult",
    "TlsLinkFacts",
    "DuplicateOutcome",
    "DuplicateIdentityResult",
    "OcppEvidence",
]

#: the OCPP-J subprotocols porthole asks about (IANA WebSocket subprotocol registry)
SUBPROTOCOLS: tuple[str, ...] = ("ocpp1.6", "ocpp2.0.1", "ocpp2.1")


class Presented(StrEnum):
    """The credential an attempt carried (never the credential itself)."""

    NOTHING = "nothing"
    BASIC = "basic"
    CLIENT_CERTIFICATE = "client-certificate"


class HandshakeOutcome(StrEnum):
    #: 101 Switching Protocols: the CSMS accepted this client
    ACCEPTED = "accepted"
    #: an HTTP status other than 101 (401 and 404 are the documented refusals)
    HTTP_REFUSED = "http-refused"
    #: the TLS handshake failed (e.g. a client certificate was required and not sent)
    TLS_FAILED = "tls-failed"
    #: 101, but the answer broke RFC 6455 or named a subprotocol that was not offered
    PROTOCOL_ERROR = "protocol-error"
    #: the TCP connection was refused or reset
    CONNECTION_FAILED = "connection-failed"
    #: no complete answer within the step budget
    TIMEOUT = "timeout"
    #: not attempted (e.g. Basic auth is never sent over ws://)
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True, kw_only=True)
class HandshakeAttempt:
    presented: Presented
    offered: tuple[str, ...]
    outcome: HandshakeOutcome
    http_status: int | None = None
    #: auth scheme named by a 401's WWW-Authenticate header ("Basic"), if any
    challenge: str | None = None
    #: the subprotocol the CSMS selected; None when it selected none
    subprotocol: str | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SubprotocolResult:
    subprotocol: str
    accepted: bool
    #: what happened when it was offered alone
    attempt: HandshakeAttempt


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsLinkFacts:
    #: accepted protocol versions ("TLSv1.2", ...), from porthole's ClientHello enumeration
    versions: tuple[str, ...]
    #: accepted suites as "TLSv1.2 TLS_ECDHE_..." strings
    suites: tuple[str, ...]
    #: nmap-style least-strength letter for the accepted suites (None: nothing accepted)
    grade: str | None
    grade_reasons: tuple[str, ...] = ()
    #: the stdlib verified the chain and host name against the given CA (or the system store)
    certificate_validated: bool | None = None
    validation_error: str | None = None
    #: "required", "optional", "not-requested" or "unknown" (from the TLS probe)
    client_certificate: str = "unknown"
    ca_source: str = "system trust store"
    notes: tuple[str, ...] = ()


class DuplicateOutcome(StrEnum):
    #: the second connection was refused or closed; the first kept working
    REJECTS_NEWCOMER = "rejects-newcomer"
    #: the second connection was accepted and the first was closed or went silent
    DROPS_FIRST = "drops-first"
    #: both connections stayed open and answered
    KEEPS_BOTH = "keeps-both"
    #: the first connection could not be established or the CSMS answered nothing usable
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True, slots=True, kw_only=True)
class DuplicateIdentityResult:
    outcome: DuplicateOutcome
    subprotocol: str | None
    first_answered_after: bool | None
    second_accepted: bool
    #: actions of CSMS-initiated CALLs that arrived on the newcomer's socket
    calls_routed_to_newcomer: tuple[str, ...] = ()
    #: what was sent, in order ("first: BootNotification", ...): the audit trail
    sent: tuple[str, ...] = ()
    detail: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OcppEvidence:
    #: the backend URL as given (never with credentials in it)
    url: str
    scheme: str
    identity: str
    anonymous: HandshakeAttempt
    basic: HandshakeAttempt
    client_certificate: HandshakeAttempt
    subprotocols: tuple[SubprotocolResult, ...] = ()
    tls: TlsLinkFacts | None = None
    duplicate_identity: DuplicateIdentityResult | None = None
    notes: tuple[str, ...] = ()
