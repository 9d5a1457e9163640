"""mDNS / DNS-SD (5353/udp): what the controller announces, EEBUS SHIP above all.

Legacy-unicast DNS queries (RFC 6762 §6.7) from an ephemeral port straight to the
target's 5353, each one datagram on a connected UDP socket, paced by the engine:

1. ``_services._dns-sd._udp.local. PTR``: the service types announced;
2. ``_ship._tcp.local. PTR``: the SHIP instances (responders usually add the SRV,
   TXT and address records to this answer, RFC 6763 §12.1);
3. only for an instance whose SRV or TXT did not come along: ``<instance> SRV`` and
   ``<instance> TXT`` (at most ``MAX_SHIP_INSTANCES`` instances).

Replies are matched by id and question (``dns.is_reply_to``): anything else arriving
on the socket is ignored and counted. A reply that matches but does not parse
(compression loop, truncated records) ends the probe as ``malformed``.

Must not: send multicast, register or announce anything, or ask about names other
than DNS-SD's for the target itself.
"""

from __future__ import annotations

import random
from typing import Any, ClassVar

from porthole.codecs import CodecError, dns, mdns
from porthole.errors import ErrorReason
from porthole.model import Finding, PortObservation, PortState, Protocol
from porthole.net.udp import DatagramResult, datagram_probe
from porthole.jsonable import to_jsonable
from porthole.services.base import ProbeContext, ProbeFailure
from porthole.services.mdns import assess
from porthole.services.mdns.evidence import MdnsEvidence, ShipInstance

__all__ = ["MdnsProbe", "QUERY_WAIT_SECONDS", "MAX_SHIP_INSTANCES", "MAX_SERVICE_TYPES"]

#: wait for one legacy-unicast answer (a responder may delay shared answers 20-120 ms, §6)
QUERY_WAIT_SECONDS = 1.5
MAX_SHIP_INSTANCES = 4
MAX_SERVICE_TYPES = 32


class MdnsProbe:
    id: ClassVar[str] = "mdns"

    def claims(self, observation: PortObservation) -> bool:
        return (
            observation.service == "mdns"
            and observation.protocol is Protocol.UDP
            and observation.state in (PortState.OPEN, PortState.OPEN_FILTERED)
        )

    async def run(self, context: ProbeContext) -> dict[str, Any]:
        return to_jsonable(await self.gather(context))  # type: ignore[return-value]

    async def gather(self, context: ProbeContext) -> MdnsEvidence:
        session = _QuerySession(context)
        services = await session.ask(mdns.SERVICES_ENUMERATION, dns.QTYPE_PTR)
        ship = await session.ask(mdns.SHIP_SERVICE, dns.QTYPE_PTR)
        if services is None and ship is None:
            raise ProbeFailure(ErrorReason.TIMEOUT, session.silence_detail())
        answered = [message for message in (services, ship) if message is not None]
        service_types = mdns.ptr_targets(answered, mdns.SERVICES_ENUMERATION)
        instance_names = mdns.ptr_targets(answered, mdns.SHIP_SERVICE)
        instances = []
        for name in instance_names[:MAX_SHIP_INSTANCES]:
            instances.append(await self._instance(session, answered, name))
        return MdnsEvidence(
            queries_sent=session.queries_sent,
            service_types=service_types[:MAX_SERVICE_TYPES],
            service_types_total=len(service_types),
            ship_instances=tuple(instances),
            ship_instances_total=len(instance_names),
            unanswered=tuple(session.unanswered),
        )

    async def _instance(self, session: "_QuerySession", answered: list[dns.DnsMessage], name: str) -> ShipInstance:
        # Only ask for what the PTR answer did not already carry (fewest packets).
        if mdns.srv_of(answered, name) is None and not session.gave_up:
            reply = await session.ask(name, dns.QTYPE_SRV, follow_up=True)
            if reply is not None:
                answered.append(reply)
        if mdns.txt_of(answered, name) is None and not session.gave_up:
            reply = await session.ask(name, dns.QTYPE_TXT, follow_up=True)
            if reply is not None:
                answered.append(reply)
        srv = mdns.srv_of(answered, name)
        strings = mdns.txt_of(answered, name)
        txt = mdns.ship_txt(mdns.parse_txt(strings or ()))
        return ShipInstance(
            name=name,
            host=srv.target if srv else None,
            port=srv.port if srv else None,
            addresses=mdns.addresses_of(answered, srv.target) if srv else (),
            txtvers=txt.txtvers,
            id=txt.id,
            path=txt.path,
            ski=txt.ski,
            ski_valid=txt.ski_valid,
            register=txt.register,
            register_raw=txt.register_raw,
            brand=txt.brand,
            model=txt.model,
            type=txt.type,
            serial=txt.serial,
            cat=txt.cat,
            other_txt=txt.other,
            txt_missing=strings is None,
        )

    def assess(self, evidence: dict[str, Any], observation: PortObservation) -> list[Finding]:
        return assess.assess_mdns(evidence, observation)

    def summarise(self, evidence: dict[str, Any]) -> str | None:
        return assess.summarise_mdns(evidence)


class _QuerySession:
    """One query at a time to the target's mDNS port, with what went unanswered."""

    def __init__(self, context: ProbeContext) -> None:
        self._context = context
        self.queries_sent = 0
        self.ignored_datagrams = 0
        self.unanswered: list[str] = []
        #: a follow-up went unanswered: ask no more (the engine's budget is shared)
        self.gave_up = False

    async def ask(self, name: str, qtype: int, *, follow_up: bool = False) -> dns.DnsMessage | None:
        question = f"{name} {dns.type_name(qtype)}"
        try:
            query = mdns.build_legacy_query(random.getrandbits(16), name, qtype)
        except CodecError as exc:  # a name from a reply that cannot be asked about again
            raise ProbeFailure(ErrorReason.MALFORMED, f"announced name cannot be queried: {exc}") from None

        def accept(reply: bytes) -> bool:
            if dns.is_reply_to(query, reply):
                return True
            self.ignored_datagrams += 1
            return False

        await self._context.pace()
        self.queries_sent += 1
        try:
            outcome = await self._context.wait(datagram_probe(self._context.address, self._context.port, query, accept=accept), QUERY_WAIT_SECONDS)
        except TimeoutError:
            self.unanswered.append(question)
            self.gave_up = self.gave_up or follow_up
            return None
        if outcome.result is DatagramResult.PORT_UNREACHABLE:
            raise ProbeFailure(ErrorReason.CONNECTION_REFUSED, "ICMP port unreachable: no mDNS responder on this port")
        if outcome.result is not DatagramResult.REPLY:
            raise ProbeFailure(ErrorReason.CONNECTION_REFUSED, f"mDNS query could not be delivered: {outcome.detail or outcome.result.value}")
        try:
            return dns.parse_message(outcome.reply)
        except CodecError as exc:
            raise ProbeFailure(ErrorReason.MALFORMED, f"reply to {question} ({len(outcome.reply)} bytes) does not parse: {exc}") from None

    def silence_detail(self) -> str:
        detail = f"no legacy-unicast mDNS answer to {self.queries_sent} DNS-SD queries within {QUERY_WAIT_SECONDS:g} s each"
        if self.ignored_datagrams:
            detail += f"; {self.ignored_datagrams} datagrams that were not a reply to the query were ignored"
        return detail
