"""The plain V2G (15119/tcp) probe: evidence from the reachability phase, no traffic, no finding."""

from __future__ import annotations

import ipaddress

from porthole.model import PortObservation, PortState, Protocol, Reason
from porthole.services.base import ProbeContext
from porthole.services.v2g import V2gProbe
from porthole.targets import Target


async def refuse_to_pace() -> None:
    raise AssertionError("the plain V2G probe must not open a connection or send a datagram")


async def test_open_plain_v2g_port_is_recorded_without_sending_anything() -> None:
    # Given 15119/tcp found open by the reachability phase, and a pace hook that fails if used
    observation = PortObservation(port=15119, protocol=Protocol.TCP, state=PortState.OPEN, reason=Reason.SYN_ACK, service="iso15118-v2g")
    context = ProbeContext(target=Target(address=ipaddress.ip_address("127.0.0.1"), spec="127.0.0.1"), observation=observation, pace=refuse_to_pace)
    # When the probe runs
    evidence = await V2gProbe().run(context)
    # Then it records the open plain V2G listener from the connect that found it
    assert evidence == {"plain_v2g_port_open": True, "established_by": "syn-ack", "messages_sent": 0}
    assert V2gProbe().summarise(evidence) == "ISO 15118 V2G without TLS (TCP listener; not spoken to)"
    # and leaves the verdict to the role profile (15119 expected closed) and the SDP probe
    assert V2gProbe().assess(evidence, observation) == []


def test_probe_claims_only_open_15119() -> None:
    probe = V2gProbe()
    assert probe.claims(PortObservation(port=15119, protocol=Protocol.TCP, state=PortState.OPEN, reason=Reason.SYN_ACK, service="iso15118-v2g"))
    assert not probe.claims(PortObservation(port=15119, protocol=Protocol.TCP, state=PortState.CLOSED, reason=Reason.RESET, service="iso15118-v2g"))
    assert not probe.claims(PortObservation(port=15120, protocol=Protocol.TCP, state=PortState.OPEN, reason=Reason.SYN_ACK, service="iso15118-v2g-tls"))
