"""TLS probe: what a port accepts (versions, suites, groups), its certificate, client-auth demands.

Shape (nmap ssl-enum-ciphers, protocols.md §10.3): per version, offer the candidate suites;
on a ServerHello record the chosen suite, remove it and offer the rest again; an alert, a
close or another version ends the version. Cost ≈ accepted suites + 1 per supported
version, one connection for an unsupported one.

* **One hello per round.** Every candidate suite of a version goes into one ClientHello
  (about 340 suites for TLS 1.2, padded past the 256-511 byte range that hangs stacks with
  the F5 bug). A server that refuses that long hello but answers a short one (wolfSSL caps
  the suite list at 150; old stacks the record at 255 bytes) is enumerated with hellos of
  at most ``MAX_SHORT_HELLO`` bytes instead, nmap's chunks, at one extra connection.
* **TLS 1.3 suites and groups together.** The hello carries an *empty* key_share, so the
  server answers with a HelloRetryRequest naming a suite and a group without any key
  exchange; each round removes both, so one connection finds a suite and a group. Suites
  and groups are independent in TLS 1.3, so the round that finds neither is settled by
  whichever list still finds something after it.
* **Server preference from the rounds themselves.** A server that picks a suite while one
  it accepts stood earlier in the offer does not follow the client; only when every pick
  is consistent with the client's order does one reversed-pair hello decide.

Facts gathered on the way, at no extra connection: the certificate chain and any
CertificateRequest (the TLS <= 1.2 flight is plaintext), ephemeral DH sizes and ECDHE
groups (ServerKeyExchange), compression (DEFLATE is offered with null), the TLS 1.3
downgrade sentinel in a TLS 1.2 ServerHello (RFC 8446 §4.1.3). Extra connections: the
ECDHE groups when TLS 1.3 is refused, one TLS_FALLBACK_SCSV hello when a version below
TLS 1.2 is accepted (RFC 7507), and one stdlib ``ssl`` handshake only when a client
certificate was requested (required or optional?) or when only TLS 1.3 answers (the
certificate is encrypted there). Every connection is plain TCP through
``context.open_stream()`` carrying one hand-built ClientHello (``porthole.codecs.tls``),
opened one after another (the engine holds this probe's one connection slot).

Must not: complete a key exchange, send application data, present a certificate, or
exceed the phase budget ``ENUMERATION_BUDGET`` (what was not offered by then is recorded
as incomplete, so the engine's deadline never discards the evidence gathered).
"""

from __future__ import annotations

import asyncio
import datetime
import secrets
import ssl
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from porthole.codecs import CodecError
from porthole.codecs.tls import (
    DEFAULT_GROUPS,
    NEED_DATA,
    Alert,
    AlertDescription,
    CertificateRequest,
    ChangeCipherSpec,
    CompressionMethod,
    EphemeralKeyExchange,
    HandshakeMessage,
    HandshakeType,
    NamedGroup,
    OpaqueRecord,
    ProtocolVersion,
    RecordReader,
    ServerHello,
    ServerKeyExchange,
    TLS_FALLBACK_SCSV,
    build_client_hello,
    parse_certificate,
    parse_certificate_request,
    parse_distinguished_name,
    parse_server_hello,
    parse_server_key_exchange,
    server_name_for,
)
from porthole.errors import ErrorReason
from porthole.grading import tls as grading
from porthole.model import Finding, PortObservation, Protocol
from porthole.jsonable import to_jsonable
from porthole.services.base import ProbeContext, ProbeFailure, close_stream
from porthole.services.tls.assess import assess, summarise
from porthole.services.tls.certificates import describe_chain
from porthole.services.tls.evidence import ClientCertificate, FallbackScsv, GroupEntry, SuiteEntry, TlsEvidence, VersionResult

__all__ = ["TlsProbe", "TlsEnumeration", "ENUMERATION_BUDGET", "MAX_SHORT_HELLO"]

#: seconds of enumeration before the probe stops offering and reports what it has
#: (inside the engine's 10 s probe budget, leaving room for the certificate handshake)
ENUMERATION_BUDGET = 7.0
#: wait for the first byte of later answers once the server has answered once
LATER_ANSWER_WAIT = 2.0
#: TLS 1.3 after a completed handshake: how long to wait for a certificate_required alert
CLIENT_CERTIFICATE_VERDICT_WAIT = 1.0
#: the short hellos for stacks that refuse a long one (nmap's get_chunk_size bound); SSLv3
#: hellos, which carry no extension to pad with, are always this short
MAX_SHORT_HELLO = 255
MINIMUM_CHUNK = 16
#: answers to the long first hello that show the server parsed it: anything else (a close,
#: silence, decode_error, record_overflow ...) earns one retry with a short hello
_PLAIN_REFUSALS = frozenset({AlertDescription.HANDSHAKE_FAILURE, AlertDescription.INSUFFICIENT_SECURITY, AlertDescription.PROTOCOL_VERSION})
#: silent hellos in a row after which the server is taken to have stopped answering
MAX_CONSECUTIVE_STALLS = 2

#: versions probed, newest first
VERSIONS = (ProtocolVersion.TLS_1_3, ProtocolVersion.TLS_1_2, ProtocolVersion.TLS_1_1, ProtocolVersion.TLS_1_0, ProtocolVersion.SSL_3_0)
LEGACY_VERSIONS = VERSIONS[1:]
#: RFC 8446 §4.1.3: the last 8 bytes of a TLS 1.3 server's random when it negotiates TLS 1.2
DOWNGRADE_SENTINEL_TLS12 = b"DOWNGRD\x01"

#: groups tried for TLS 1.3 (HelloRetryRequest) and for TLS <= 1.2 ECDHE (ServerKeyExchange)
TLS13_GROUP_CANDIDATES = (
    NamedGroup.X25519, NamedGroup.SECP256R1, NamedGroup.SECP384R1, NamedGroup.SECP521R1, NamedGroup.X448,
    NamedGroup.X25519MLKEM768, NamedGroup.SECP256R1MLKEM768, NamedGroup.FFDHE2048, NamedGroup.FFDHE3072,
    NamedGroup.FFDHE4096, NamedGroup.FFDHE6144, NamedGroup.FFDHE8192,
)
ECDHE_GROUP_CANDIDATES = tuple(group for group in NamedGroup if group.value < 0x0100)


class _Outcome(StrEnum):
    SERVER_HELLO = "server-hello"
    ALERT = "alert"
    CLOSED = "closed"
    STALLED = "stalled"
    MALFORMED = "malformed"


@dataclass(slots=True)
class _Flight:
    """What one ClientHello brought back."""

    outcome: _Outcome = _Outcome.CLOSED
    server_hello: ServerHello | None = None
    alert: Alert | None = None
    certificates: tuple[bytes, ...] = ()
    key_exchange: ServerKeyExchange | None = None
    certificate_request: CertificateRequest | None = None
    detail: str = ""
    #: the first bytes received (is a malformed answer TLS at all?)
    head: bytes = b""

    def describe(self) -> str:
        if self.outcome is _Outcome.ALERT and self.alert is not None:
            return f"alert {self.alert.name}"
        if self.outcome is _Outcome.SERVER_HELLO and self.server_hello is not None:
            return f"negotiated {_version_label(self.server_hello.version)}"
        if self.outcome is _Outcome.CLOSED:
            return self.detail or "closed without alert"
        if self.outcome is _Outcome.STALLED:
            return self.detail or "no answer"
        return f"malformed: {self.detail}"


class TlsProbe:
    """The ``tls`` probe (see module docstring)."""

    id: ClassVar[str] = "tls"
    services: ClassVar[frozenset[str]] = frozenset({"https", "ocpp-dlm", "iso15118-v2g-tls", "ocpp-s", "eebus-ship"})

    def claims(self, observation: PortObservation) -> bool:
        return observation.protocol is Protocol.TCP and observation.service in self.services

    def follows_up(self, observation: PortObservation) -> bool:
        """An uncatalogued TCP port whose banner grab heard nothing (or a TLS record): one hello decides.

        A TLS server never speaks first, so a peer that volunteered a banner is left
        alone; a silent one gets one ClientHello, and the full enumeration if it answers
        with TLS (issue 4: "plus any open port where a handshake succeeds").
        """
        if observation.protocol is not Protocol.TCP or observation.service is not None:
            return False
        banner = observation.evidence.get("banner")
        if not isinstance(banner, dict):
            return False
        return banner.get("protocol") == "tls" or (banner.get("speaks_first") is False and banner.get("stopped") == "stalled")

    async def run(self, context: ProbeContext) -> dict[str, Any]:
        evidence = await TlsEnumeration(context, speculative=context.observation.service is None).run()
        return to_jsonable(evidence)

    def assess(self, evidence: dict[str, Any], observation: PortObservation) -> list[Finding]:
        return assess(evidence, observation)

    def summarise(self, evidence: dict[str, Any]) -> str | None:
        return summarise(evidence)


@dataclass(slots=True)
class TlsEnumeration:
    """One port's enumeration; ``random_bytes`` and ``now`` are injectable for tests."""

    context: ProbeContext
    random_bytes: Callable[[int], bytes] = secrets.token_bytes
    now: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC)
    budget: float = ENUMERATION_BUDGET
    #: an uncatalogued port tried because it was silent: no answer means "not TLS", not a failure
    speculative: bool = False
    handshakes: int = 0
    notes: list[str] = field(default_factory=list)
    _started: float = 0.0
    _answered_once: bool = False
    _out_of_budget: bool = False
    #: the server refused the long hello: every offer is cut to MAX_SHORT_HELLO bytes
    _short_hellos: bool = False
    _chains: list[tuple[bytes, ...]] = field(default_factory=list)
    _certificate_request: CertificateRequest | None = None
    _groups_seen: dict[int, None] = field(default_factory=dict)
    _dh_bits: dict[int, None] = field(default_factory=dict)
    _compression: dict[str, None] = field(default_factory=dict)
    #: last 8 bytes of the random of the first TLS 1.2 ServerHello
    _tls12_random_tail: bytes | None = None
    #: the first-contact offer and its answer, reused as the TLS 1.2 enumeration's first round
    _first_flight: tuple[list[int], _Flight] | None = None
    _consecutive_stalls: int = 0

    @property
    def server_name(self) -> str | None:
        return server_name_for(self.context.target.hostname)

    async def run(self) -> TlsEvidence:
        loop = asyncio.get_running_loop()
        self._started = loop.time()
        observed_at = self.now().isoformat().replace("+00:00", "Z")
        target_name = self.context.target.hostname or self.context.address
        first = await self._first_contact()
        if first is not None:
            return TlsEvidence(
                tls=False, observed_at=observed_at, target_name=target_name, server_name_indication=self.server_name,
                handshakes=self.handshakes, notes=(first,),
            )
        tls13, tls13_groups = await self._enumerate_tls13()
        results = [tls13]
        for version in LEGACY_VERSIONS:
            results.append(await self._enumerate_version(version))
        groups, groups_source = await self._enumerate_groups(results, tls13_groups)
        fallback = await self._fallback_scsv(results)
        client_certificate, leaf_from_stdlib = await self._client_certificate(results)
        chain: tuple[bytes, ...] = self._chains[0] if self._chains else ()
        source = "tls-plaintext-flight" if chain else None
        if not chain and leaf_from_stdlib:
            chain, source = (leaf_from_stdlib,), "stdlib-handshake"
        if len(self._chains) > 1:
            self.notes.append(f"{len(self._chains)} different certificate chains were served (e.g. RSA and ECDSA); the first is described")
        authorities = ()
        if self._certificate_request is not None:
            authorities = tuple(_name_or_hex(der) for der in self._certificate_request.certificate_authorities)
        accepted = {result.version for result in results if result.accepted}
        sentinel = None
        if {ProtocolVersion.TLS_1_3.label, ProtocolVersion.TLS_1_2.label} <= accepted and self._tls12_random_tail is not None:
            sentinel = self._tls12_random_tail == DOWNGRADE_SENTINEL_TLS12
        return TlsEvidence(
            tls=True,
            observed_at=observed_at,
            target_name=target_name,
            server_name_indication=self.server_name,
            versions=tuple(results),
            groups=groups,
            groups_source=groups_source,
            dh_prime_bits=tuple(sorted(self._dh_bits)),
            compression=tuple(self._compression),
            certificates=describe_chain(chain, address=self.context.address, hostname=self.context.target.hostname),
            certificate_source=source,
            client_certificate=client_certificate,
            client_certificate_authorities=authorities,
            fallback_scsv=fallback,
            downgrade_sentinel=sentinel,
            short_hellos=self._short_hellos,
            handshakes=self.handshakes,
            complete=not self._out_of_budget and all(result.complete for result in results),
            notes=tuple(self.notes),
        )

    # ------------------------------------------------------------------ steps

    async def _first_contact(self) -> str | None:
        """One broad TLS 1.2 hello: does this port speak TLS at all? Returns why not, or None.

        Its answer is kept: the TLS 1.2 enumeration that follows starts from the same offer.
        A long hello answered with a close, an alert other than a plain refusal, or broken
        TLS records gets one retry with a short one; if that one is answered, every later
        offer is short too. Silence gets no retry (one wait, not two, on a silent port).
        """
        version = ProtocolVersion.TLS_1_2
        suites = _candidates(version)
        flight = await self._offer(version, suites)
        if _parsed_the_hello(flight):
            self._first_flight = (suites, flight)
            return None
        if self.speculative and flight.outcome is _Outcome.STALLED:
            return f"no answer to a TLS ClientHello within {self.context.limits.first_byte:g} s: the port does not speak TLS, or waits for something else"
        # a silent port stays silent: no second wait (the long hello is padded past the
        # 256-511 byte range that hangs F5-bug stacks, so silence is not that bug)
        retry_short = flight.outcome is not _Outcome.STALLED and (flight.outcome is not _Outcome.MALFORMED or _looks_like_tls(flight.head))
        if retry_short:
            short = suites[: self._short_chunk(version)]
            retry = await self._offer(version, short)
            if retry.outcome in (_Outcome.SERVER_HELLO, _Outcome.ALERT):
                self._short_hellos = True
                self.notes.append(
                    f"the server refused a ClientHello offering {len(suites)} suites ({flight.describe()}) and answered one of "
                    f"{len(short)}: every offer was cut to hellos of at most {MAX_SHORT_HELLO} bytes"
                )
                self._first_flight = (short, retry)
                return None
            flight = retry
        if flight.outcome is _Outcome.MALFORMED and not self._answered_once:
            return f"the port does not answer a ClientHello with TLS ({flight.detail})"
        if flight.outcome is _Outcome.STALLED and not self._answered_once:
            raise ProbeFailure(ErrorReason.TIMEOUT, f"no answer to a TLS ClientHello within {self.context.limits.first_byte:g} s")
        if flight.outcome is _Outcome.CLOSED and not self._answered_once:
            # a TLS 1.3-only stack may drop a TLS 1.2 hello without an alert: ask once in 1.3
            retry = await self._offer(ProtocolVersion.TLS_1_3, _candidates(ProtocolVersion.TLS_1_3))
            if not self._answered_once:
                return f"the port closed the connection without a TLS answer to TLS 1.2 and TLS 1.3 ClientHellos ({retry.describe()})"
        return None

    async def _enumerate_version(self, version: ProtocolVersion) -> VersionResult:
        """SSLv3 .. TLS 1.2: offer, remove the pick, offer again until refused (module docstring)."""
        candidates = _candidates(version)
        size = self._chunk_size(version)
        chunks = [candidates[index : index + size] for index in range(0, len(candidates), size)]
        accepted: list[int] = []
        rounds: list[tuple[list[int], int]] = []
        refusal: str | None = None
        complete = True
        for chunk in chunks:
            remaining = list(chunk)
            stop_version = False
            while remaining:
                if self._budget_spent():
                    complete = False
                    stop_version = True
                    break
                flight = await self._offer_or_reuse(version, remaining)
                hello = flight.server_hello
                if flight.outcome is _Outcome.SERVER_HELLO and hello is not None and hello.version == version:
                    if hello.cipher_suite not in remaining:
                        self.notes.append(f"{version.label}: server chose suite {hello.cipher_suite:#06x}, which was not offered")
                        refusal, stop_version = "chose a suite that was not offered", True
                        break
                    if version is ProtocolVersion.TLS_1_2 and self._tls12_random_tail is None:
                        self._tls12_random_tail = hello.random[-8:]
                    accepted.append(hello.cipher_suite)
                    rounds.append((list(remaining), hello.cipher_suite))
                    remaining.remove(hello.cipher_suite)
                    continue
                refusal = flight.describe()
                if _refuses_version(flight, version):
                    stop_version = True
                elif flight.outcome in (_Outcome.STALLED, _Outcome.MALFORMED):
                    self.notes.append(f"{version.label}: {refusal} (enumeration of this version stopped)")
                    complete, stop_version = False, True
                break
            if stop_version:
                break
        preference = await self._server_preference(version, accepted, rounds) if len(accepted) >= 2 else None
        return _version_result(version, accepted, preference, refusal, complete)

    async def _enumerate_tls13(self) -> tuple[VersionResult, list[int]]:
        """TLS 1.3 suites and groups in the same rounds (module docstring); returns the groups too.

        Each HelloRetryRequest names a suite and a group, both removed from the next offer.
        The round that finds nothing offered suites S and groups G: if a group of G is
        found afterwards (with suites known to work), S held no acceptable suite, since a
        TLS 1.3 server takes any of its suites with any of its groups; otherwise S is
        offered again with a group known to work.
        """
        version = ProtocolVersion.TLS_1_3
        suites_left, groups_left = _candidates(version), list(TLS13_GROUP_CANDIDATES)
        accepted: list[int] = []
        groups: list[int] = []
        rounds: list[tuple[list[int], int]] = []
        refusal: str | None = None
        complete = True
        unresolved: tuple[list[int], list[int]] | None = None

        async def round_(suites: list[int], offered_groups: list[int]) -> tuple[int, int | None] | None:
            nonlocal refusal, complete
            if self._budget_spent():
                complete = False
                return None
            flight = await self._offer(version, suites, groups=offered_groups)
            hello = flight.server_hello
            if flight.outcome is _Outcome.SERVER_HELLO and hello is not None and hello.version == version:
                if hello.cipher_suite not in suites:
                    self.notes.append(f"{version.label}: server chose suite {hello.cipher_suite:#06x}, which was not offered")
                    refusal, complete = "chose a suite that was not offered", False
                    return None
                group = hello.key_share_group
                if group is not None and group not in offered_groups:
                    self.notes.append(f"{version.label}: server asked for group {group:#06x}, which was not offered")
                    group = None
                rounds.append((list(suites), hello.cipher_suite))
                return hello.cipher_suite, group
            refusal = flight.describe()
            if flight.outcome in (_Outcome.STALLED, _Outcome.MALFORMED) and not _refuses_version(flight, version):
                self.notes.append(f"{version.label}: {refusal} (enumeration of this version stopped)")
                complete = False
            return None

        # rounds that shrink both lists
        while suites_left and groups_left:
            pick = await round_(suites_left, groups_left)
            if pick is None:
                if accepted and complete:
                    unresolved = (list(suites_left), list(groups_left))
                break
            suite, group = pick
            accepted.append(suite)
            suites_left.remove(suite)
            if group is not None:
                groups.append(group)
                groups_left.remove(group)
        # the rest of the groups, with suites known to work
        found_after: list[int] = []
        while accepted and complete and groups_left:
            pick = await round_(accepted, groups_left)
            if pick is None or pick[1] is None:
                break
            groups.append(pick[1])
            found_after.append(pick[1])
            groups_left.remove(pick[1])
        # the rest of the suites, unless a later group showed the refused round lacked a suite
        settled = unresolved is not None and any(group in unresolved[1] for group in found_after)
        if accepted and complete and suites_left and not settled and (unresolved is not None or not groups_left):
            while suites_left:
                pick = await round_(suites_left, groups[:1] or list(TLS13_GROUP_CANDIDATES))
                if pick is None:
                    break
                accepted.append(pick[0])
                suites_left.remove(pick[0])
        preference = await self._server_preference(version, accepted, rounds, groups=groups[:1]) if len(accepted) >= 2 else None
        return _version_result(version, accepted, preference, refusal, complete), groups

    async def _server_preference(
        self, version: ProtocolVersion, accepted: Sequence[int], rounds: Sequence[tuple[list[int], int]], *, groups: Sequence[int] = ()
    ) -> bool | None:
        """Does the server pick by its own order? (protocols.md §10.3)

        From the rounds first: a pick with an accepted suite standing before it in that
        offer does not follow the client's order. Otherwise the first two picks, offered
        reversed: a server that keeps its first pick orders by itself. If the two were
        never offered together (short hellos), both orders are needed: the same pick
        twice means server order.
        """
        known = set(accepted)
        for offered, pick in rounds:
            if any(suite in known for suite in offered[: offered.index(pick)]):
                return True
        first, second = accepted[0], accepted[1]
        together = any(pick == first and second in offered for offered, pick in rounds)
        offers = [[second, first]] if together else [[first, second], [second, first]]
        picks = []
        for offer in offers:
            if self._budget_spent():
                return None
            flight = await self._offer(version, offer, groups=groups or DEFAULT_GROUPS)
            hello = flight.server_hello
            if flight.outcome is not _Outcome.SERVER_HELLO or hello is None or hello.cipher_suite not in offer:
                return None
            picks.append(hello.cipher_suite)
        if len(offers) == 1:
            return picks[0] == first
        return picks[0] == picks[1]

    async def _enumerate_groups(self, results: Sequence[VersionResult], tls13_groups: Sequence[int]) -> tuple[tuple[GroupEntry, ...], str | None]:
        """TLS 1.3 groups came with its suites; without TLS 1.3, the ECDHE curves of the newest version."""
        if tls13_groups:
            return tuple(_group_entry(code) for code in tls13_groups), "tls1.3-hello-retry"
        chosen: list[int] = []
        source: str | None = None
        for result in results:
            if result.version == ProtocolVersion.TLS_1_3.label:
                continue
            ecdhe = [entry.code for entry in result.suites if _kex_layout(entry.code) is EphemeralKeyExchange.ECDHE]
            if not ecdhe:
                continue
            version = next(v for v in VERSIONS if v.label == result.version)
            source = "tls1.2-server-key-exchange" if version is ProtocolVersion.TLS_1_2 else f"{version.label.lower()}-server-key-exchange"
            remaining = list(ECDHE_GROUP_CANDIDATES)
            while remaining and not self._budget_spent():
                flight = await self._offer(version, ecdhe, groups=remaining)
                exchange = flight.key_exchange
                if exchange is None or exchange.group is None or exchange.group not in remaining:
                    break
                chosen.append(exchange.group)
                remaining.remove(exchange.group)
            break
        if not chosen and self._groups_seen:
            chosen, source = list(self._groups_seen), "tls1.2-server-key-exchange"
        return tuple(_group_entry(code) for code in chosen), source

    async def _fallback_scsv(self, results: Sequence[VersionResult]) -> FallbackScsv | None:
        """RFC 7507: a hello for a lower accepted version, with TLS_FALLBACK_SCSV, must be refused.

        Tested when a version below TLS 1.2 is accepted beside a newer one: that is where a
        forced fallback lands on a weaker protocol (TLS 1.3 servers show the RFC 8446
        downgrade sentinel for free instead, see ``downgrade_sentinel``).
        """
        accepted = [result for result in results if result.accepted and result.version != ProtocolVersion.TLS_1_3.label]
        if len(accepted) < 2 or self._budget_spent():
            return None
        lower = accepted[1]
        version = next(v for v in VERSIONS if v.label == lower.version)
        flight = await self._offer(version, [*(entry.code for entry in lower.suites), TLS_FALLBACK_SCSV])
        if flight.outcome is _Outcome.ALERT and flight.alert is not None and flight.alert.description == AlertDescription.INAPPROPRIATE_FALLBACK:
            return FallbackScsv.HONOURED
        hello = flight.server_hello
        if flight.outcome is _Outcome.SERVER_HELLO and hello is not None and hello.version == version:
            return FallbackScsv.IGNORED
        self.notes.append(f"TLS_FALLBACK_SCSV with {version.label}: {flight.describe()} (no verdict)")
        return FallbackScsv.UNCLEAR

    async def _client_certificate(self, results: Sequence[VersionResult]) -> tuple[ClientCertificate, bytes | None]:
        accepted = {result.version for result in results if result.accepted}
        legacy_accepted = accepted - {ProtocolVersion.TLS_1_3.label}
        if self._certificate_request is None and legacy_accepted:
            return ClientCertificate.NOT_REQUESTED, None
        if not accepted:
            return ClientCertificate.UNKNOWN, None
        # requested (required or optional?), or a TLS 1.3-only server whose flight is encrypted
        cap_at_tls12 = ProtocolVersion.TLS_1_2.label in accepted
        return await self._stdlib_handshake(cap_at_tls12=cap_at_tls12, requested=self._certificate_request is not None)

    async def _stdlib_handshake(self, *, cap_at_tls12: bool, requested: bool) -> tuple[ClientCertificate, bytes | None]:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1
            if cap_at_tls12:
                # the refusal then comes inside the handshake, not after it
                context.maximum_version = ssl.TLSVersion.TLSv1_2
        context.set_ciphers("ALL:@SECLEVEL=0")
        self.handshakes += 1
        try:
            reader, writer = await self.context.wait(
                self.context.open_stream(tls=context, server_hostname=self.server_name), self.context.limits.first_byte
            )
        except ssl.SSLError as exc:
            if requested and _is_client_certificate_refusal(exc):
                return ClientCertificate.REQUIRED, None
            self.notes.append(f"the local OpenSSL could not complete a handshake: {exc}")
            return ClientCertificate.UNKNOWN, None
        except (TimeoutError, OSError) as exc:
            self.notes.append(f"certificate handshake failed: {type(exc).__name__}: {exc}")
            return ClientCertificate.UNKNOWN, None
        try:
            ssl_object = writer.get_extra_info("ssl_object")
            leaf = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
            if ssl_object is not None and ssl_object.version() == "TLSv1.3":
                # TLS 1.3 refuses a missing client certificate after the client's Finished
                try:
                    data = await self.context.wait(reader.read(1), CLIENT_CERTIFICATE_VERDICT_WAIT)
                except ssl.SSLError as exc:
                    return (ClientCertificate.REQUIRED if _is_client_certificate_refusal(exc) else ClientCertificate.UNKNOWN), leaf
                except TimeoutError:
                    data = b"still open"
                except OSError:
                    return ClientCertificate.UNKNOWN, leaf
                if not data:
                    self.notes.append("TLS 1.3: the server closed right after the handshake without an alert")
                    return ClientCertificate.UNKNOWN, leaf
                return (ClientCertificate.OPTIONAL if requested else ClientCertificate.NOT_REQUESTED), leaf
            return (ClientCertificate.OPTIONAL if requested else ClientCertificate.NOT_REQUESTED), leaf
        finally:
            await close_stream(writer)

    # ------------------------------------------------------------------ one hello

    async def _offer_or_reuse(self, version: ProtocolVersion, suites: Sequence[int]) -> _Flight:
        first = self._first_flight
        if first is not None and version is ProtocolVersion.TLS_1_2 and list(first[0]) == list(suites):
            self._first_flight = None
            return first[1]
        return await self._offer(version, suites)

    async def _offer(self, version: ProtocolVersion, suites: Sequence[int], *, groups: Sequence[int] = DEFAULT_GROUPS) -> _Flight:
        legacy = version is not ProtocolVersion.TLS_1_3
        hello = build_client_hello(
            version=version,
            cipher_suites=suites,
            random=self.random_bytes(32),
            # TLS 1.3 middlebox compatibility (RFC 8446 §D.4) wants a 32-byte legacy session id
            session_id=b"" if legacy else self.random_bytes(32),
            server_name=self.server_name,
            groups=groups,
            compression_methods=(CompressionMethod.DEFLATE, CompressionMethod.NULL) if legacy else (CompressionMethod.NULL,),
            record_version=ProtocolVersion.SSL_3_0 if version is ProtocolVersion.SSL_3_0 else ProtocolVersion.TLS_1_0,
            pad=True,
        )
        self.handshakes += 1
        try:
            reader, writer = await self.context.open_stream()
        except OSError as exc:
            if not self._answered_once:
                raise
            return _Flight(outcome=_Outcome.CLOSED, detail=f"connection failed: {type(exc).__name__}")
        try:
            writer.write(hello)
            await writer.drain()
            flight = await self._read_flight(reader, version)
        except (ConnectionResetError, BrokenPipeError):
            flight = _Flight(outcome=_Outcome.CLOSED, detail="connection reset")
        finally:
            await close_stream(writer)
        if flight.outcome in (_Outcome.SERVER_HELLO, _Outcome.ALERT):
            self._answered_once = True
            self._collect(flight)
        self._consecutive_stalls = self._consecutive_stalls + 1 if flight.outcome is _Outcome.STALLED else 0
        return flight

    async def _read_flight(self, reader: asyncio.StreamReader, version: ProtocolVersion) -> _Flight:
        limits = self.context.limits
        records = RecordReader()
        flight = _Flight()
        wait = min(LATER_ANSWER_WAIT, limits.first_byte) if self._answered_once else limits.first_byte
        received = 0
        while True:
            try:
                async with asyncio.timeout(wait):
                    chunk = await reader.read(16 * 1024)
            except TimeoutError:
                flight.outcome = _Outcome.SERVER_HELLO if flight.server_hello is not None else _Outcome.STALLED
                flight.detail = "no answer" if received == 0 else f"stalled after {received} bytes"
                return flight
            except ConnectionResetError:
                chunk = b""
                flight.detail = "connection reset"
            if not chunk:
                if flight.server_hello is not None:
                    flight.outcome = _Outcome.SERVER_HELLO
                elif records.buffered:
                    flight.outcome, flight.detail = _Outcome.MALFORMED, f"connection closed inside a record ({records.buffered} bytes pending)"
                else:
                    flight.outcome = _Outcome.CLOSED
                    flight.detail = flight.detail or "closed without alert"
                return flight
            if received < 5:
                flight.head = (flight.head + chunk)[:5]
            received += len(chunk)
            if received > limits.max_read:
                flight.outcome, flight.detail = _Outcome.MALFORMED, f"more than {limits.max_read} bytes without completing the server flight"
                return flight
            records.feed(chunk)
            try:
                while (event := records.next_event()) is not NEED_DATA:
                    if _take(flight, event, version):
                        return flight
            except CodecError as exc:
                flight.outcome, flight.detail = _Outcome.MALFORMED, str(exc)
                flight.server_hello = None
                return flight
            wait = limits.between_chunks

    def _collect(self, flight: _Flight) -> None:
        hello = flight.server_hello
        if flight.certificates and flight.certificates not in self._chains and len(self._chains) < 3:
            self._chains.append(flight.certificates)
        if flight.certificate_request is not None and self._certificate_request is None:
            self._certificate_request = flight.certificate_request
        if flight.key_exchange is not None:
            if flight.key_exchange.group is not None:
                self._groups_seen.setdefault(flight.key_exchange.group, None)
            if flight.key_exchange.dh_prime_bits is not None:
                self._dh_bits.setdefault(flight.key_exchange.dh_prime_bits, None)
        if hello is not None and hello.compression_method != CompressionMethod.NULL:
            try:
                name = CompressionMethod(hello.compression_method).name
            except ValueError:
                name = f"method-{hello.compression_method}"
            self._compression.setdefault(name, None)

    def _budget_spent(self) -> bool:
        """True once the phase budget is used up or the server stopped answering (2 silent hellos)."""
        if self._out_of_budget:
            return True
        if self._consecutive_stalls >= MAX_CONSECUTIVE_STALLS:
            self._out_of_budget = True
            self.notes.append(f"the server stopped answering ({self._consecutive_stalls} hellos in a row without a reply); results are partial")
        elif asyncio.get_running_loop().time() - self._started >= self.budget:
            self._out_of_budget = True
            self.notes.append(f"enumeration stopped after {self.budget:g} s (phase budget); results are partial")
        return self._out_of_budget

    def _chunk_size(self, version: ProtocolVersion) -> int:
        """Suites per hello: all of them, unless the server refused the long hello (or SSLv3)."""
        if self._short_hellos or version is ProtocolVersion.SSL_3_0:
            return self._short_chunk(version)
        return len(_candidates(version))

    def _short_chunk(self, version: ProtocolVersion) -> int:
        """How many suites fit a hello of at most MAX_SHORT_HELLO bytes (never fewer than MINIMUM_CHUNK)."""
        base = len(
            build_client_hello(
                version=version, cipher_suites=[0], random=bytes(32), session_id=bytes(0 if version is not ProtocolVersion.TLS_1_3 else 32),
                server_name=self.server_name, compression_methods=(1, 0) if version is not ProtocolVersion.TLS_1_3 else (0,),
            )
        ) - 2
        return max(MINIMUM_CHUNK, (MAX_SHORT_HELLO - base) // 2)


# ---------------------------------------------------------------------- helpers


def _take(flight: _Flight, event: Any, version: ProtocolVersion) -> bool:
    """Fold one record-layer event into ``flight``; True when the flight says enough."""
    if isinstance(event, Alert):
        if flight.server_hello is None:
            flight.outcome, flight.alert = _Outcome.ALERT, event
        return True
    if isinstance(event, (ChangeCipherSpec, OpaqueRecord)):
        if flight.server_hello is None:
            flight.outcome, flight.detail = _Outcome.MALFORMED, f"{type(event).__name__} before any ServerHello"
        return True
    assert isinstance(event, HandshakeMessage)
    if flight.server_hello is None:
        if event.msg_type == HandshakeType.HELLO_REQUEST:
            return False
        if event.msg_type != HandshakeType.SERVER_HELLO:
            flight.outcome, flight.detail = _Outcome.MALFORMED, f"handshake message type {event.msg_type} before the ServerHello"
            return True
        hello = parse_server_hello(event.body)
        flight.server_hello, flight.outcome = hello, _Outcome.SERVER_HELLO
        # TLS 1.3 and HelloRetryRequest: the rest is encrypted or a second round; a
        # downgraded answer already says the version is refused
        return hello.version == ProtocolVersion.TLS_1_3 or hello.is_hello_retry_request or hello.version != version
    hello = flight.server_hello
    if event.msg_type == HandshakeType.CERTIFICATE:
        flight.certificates = parse_certificate(event.body)
    elif event.msg_type == HandshakeType.SERVER_KEY_EXCHANGE:
        layout = _kex_layout(hello.cipher_suite)
        if layout is not None:
            flight.key_exchange = parse_server_key_exchange(event.body, layout)
    elif event.msg_type == HandshakeType.CERTIFICATE_REQUEST:
        flight.certificate_request = parse_certificate_request(event.body, hello.version)
    elif event.msg_type == HandshakeType.SERVER_HELLO_DONE:
        return True
    return False


def _parsed_the_hello(flight: _Flight) -> bool:
    """A ServerHello, or a refusal that shows the server read the offer (not a parse failure)."""
    if flight.outcome is _Outcome.SERVER_HELLO:
        return True
    return flight.outcome is _Outcome.ALERT and flight.alert is not None and flight.alert.description in _PLAIN_REFUSALS


def _looks_like_tls(head: bytes) -> bool:
    """A TLS record header: content type 20-23, major version 3."""
    return len(head) >= 2 and 20 <= head[0] <= 23 and head[1] == 3


def _version_result(version: ProtocolVersion, accepted: Sequence[int], preference: bool | None, refusal: str | None, complete: bool) -> VersionResult:
    return VersionResult(
        version=version.label,
        accepted=bool(accepted),
        suites=tuple(SuiteEntry(code=code, name=_suite_name(code)) for code in accepted),
        server_preference=preference,
        refusal=None if accepted and refusal in (None, "alert handshake_failure", "alert insufficient_security") else refusal,
        complete=complete,
    )


def _refuses_version(flight: _Flight, version: ProtocolVersion) -> bool:
    if flight.outcome is _Outcome.ALERT and flight.alert is not None:
        return flight.alert.description == AlertDescription.PROTOCOL_VERSION
    hello = flight.server_hello
    return flight.outcome is _Outcome.SERVER_HELLO and hello is not None and hello.version != version


def _candidates(version: ProtocolVersion) -> list[int]:
    """Every IANA suite defined for ``version``; ok verdicts first so common suites come early."""
    rows = grading.cipher_suites().rows
    if version is ProtocolVersion.TLS_1_3:
        allowed = {"TLSv1.3"}
    elif version is ProtocolVersion.TLS_1_2:
        allowed = {"SSLv3", "TLSv1.2"}
    else:
        allowed = {"SSLv3"}
    chosen = [row for row in rows if row["min_version"] in allowed]
    order = {"ok": 0, "warn": 1, "fail": 2}
    return [row["code"] for row in sorted(chosen, key=lambda row: (order[row.verdict.value], row["code"]))]


def _kex_layout(code: int) -> EphemeralKeyExchange | None:
    row = grading.suite(code)
    if row is None:
        return None
    kex, auth = row["kex"], row["auth"]
    if kex in ("DHE", "DHE_EXPORT") or (kex in ("DH", "DH_EXPORT") and auth == "anon"):
        return EphemeralKeyExchange.DHE
    if kex == "ECDHE" or (kex == "ECDH" and auth == "anon"):
        return EphemeralKeyExchange.ECDHE
    return None


def _suite_name(code: int) -> str:
    row = grading.suite(code)
    return row["name"] if row is not None else f"unassigned-{code:#06x}"


def _group_entry(code: int) -> GroupEntry:
    try:
        group = NamedGroup(code)
    except ValueError:
        return GroupEntry(code=code, name=f"unknown-{code:#06x}", bits=None)
    return GroupEntry(code=code, name=group.name.lower(), bits=group.bits)


def _version_label(code: int) -> str:
    try:
        return ProtocolVersion(code).label
    except ValueError:
        return f"version {code:#06x}"


def _name_or_hex(der: bytes) -> str:
    try:
        return parse_distinguished_name(der)
    except CodecError:
        return "#" + der.hex()


def _is_client_certificate_refusal(exc: ssl.SSLError) -> bool:
    text = f"{getattr(exc, 'reason', '')} {exc}".upper()
    return any(marker in text for marker in ("CERTIFICATE_REQUIRED", "HANDSHAKE_FAILURE", "BAD_CERTIFICATE", "PEER_DID_NOT_RETURN"))
