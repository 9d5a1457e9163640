"""ISO 15118 SECC Discovery Protocol (15118/udp): one SDP request asking for no TLS.

One 10-byte SDP request (security 0x10 "no TLS", transport 0x00 TCP) to the target,
at most 3 tries 250 ms apart (SwitchEV's EV-side timing, protocols.md §0 and §9.2),
each paced by the engine. The answer's security byte is the SECC's decision: 0x00
means TLS is enforced, 0x10 means unencrypted V2G is accepted.

The target's own address is used, IPv4 or IPv6: real SECCs listen on IPv6 (usually
only on the PLC link, so silence from the LAN is normal and ends as a ``timeout``
failure, not a finding); the probe is the same for both families.

Must not: send more than 3 requests, open the advertised V2G port, or speak V2G
(an SDP request can make the SECC open its TCP listener and wait for an EV; never
probe while a vehicle is connected, protocols.md §0).
"""

from __future__ import annotations

from typing import Any, ClassVar

from porthole.codecs import CodecError, v2gtp
from porthole.errors import ErrorReason
from porthole.model import Finding, PortObservation, PortState, Protocol
from porthole.net.udp import DatagramResult, datagram_retrying
from porthole.jsonable import to_jsonable
from porthole.services.base import ProbeContext, ProbeFailure
from porthole.services.sdp import assess
from porthole.services.sdp.evidence import DYNAMIC_PORTS, SdpEvidence

__all__ = ["SdpProbe", "MAX_TRIES", "TRY_WAIT_SECONDS"]

MAX_TRIES = 3
TRY_WAIT_SECONDS = 0.25

_SECURITY_NAMES = {v2gtp.SECURITY_TLS: "tls", v2gtp.SECURITY_NO_TLS: "no-tls"}
_TRANSPORT_NAMES = {v2gtp.TRANSPORT_TCP: "tcp", v2gtp.TRANSPORT_UDP: "udp"}


class SdpProbe:
    id: ClassVar[str] = "sdp"

    def claims(self, observation: PortObservation) -> bool:
        return (
            observation.service == "iso15118-sdp"
            and observation.protocol is Protocol.UDP
            and observation.state in (PortState.OPEN, PortState.OPEN_FILTERED)
        )

    async def run(self, context: ProbeContext) -> dict[str, Any]:
        return to_jsonable(await self.gather(context))  # type: ignore[return-value]

    async def gather(self, context: ProbeContext) -> SdpEvidence:
        request = v2gtp.build_sdp_request(v2gtp.SECURITY_NO_TLS, v2gtp.TRANSPORT_TCP)
        # One socket for every try: a late answer to the first request still counts.
        outcome, attempt = await datagram_retrying(context.address, context.port, request, tries=MAX_TRIES, interval=TRY_WAIT_SECONDS, before_send=context.pace)
        if outcome is None:
            raise ProbeFailure(ErrorReason.TIMEOUT, f"no SDP response to {MAX_TRIES} requests {TRY_WAIT_SECONDS * 1000:.0f} ms apart (SECCs often answer on the PLC link only)")
        match outcome.result:
            case DatagramResult.REPLY:
                return evidence_from_reply(outcome.reply, attempts=attempt)
            case DatagramResult.PORT_UNREACHABLE:
                raise ProbeFailure(ErrorReason.CONNECTION_REFUSED, "ICMP port unreachable: no SDP responder on this port")
            case _:
                raise ProbeFailure(ErrorReason.CONNECTION_REFUSED, f"SDP request could not be delivered: {outcome.detail or outcome.result.value}")

    def assess(self, evidence: dict[str, Any], observation: PortObservation) -> list[Finding]:
        return assess.assess_sdp(evidence, observation)

    def summarise(self, evidence: dict[str, Any]) -> str | None:
        return assess.summarise_sdp(evidence)


def evidence_from_reply(reply: bytes, *, attempts: int) -> SdpEvidence:
    """Evidence from the SECC's datagram; ``ProbeFailure(malformed)`` when it is not an SDP response."""
    try:
        response = v2gtp.parse_sdp_response(reply)
    except CodecError as exc:
        raise ProbeFailure(ErrorReason.MALFORMED, f"{len(reply)}-byte reply is not an SDP response: {exc}; first bytes {reply[:12].hex(' ')}") from None
    return SdpEvidence(
        requested_security="no-tls",
        requested_transport="tcp",
        attempts=attempts,
        secc_address=str(response.secc_address),
        secc_port=response.port,
        security=_SECURITY_NAMES.get(response.security, f"0x{response.security:02x}"),
        transport=_TRANSPORT_NAMES.get(response.transport, f"0x{response.transport:02x}"),
        secc_port_in_dynamic_range=response.port in DYNAMIC_PORTS,
    )
