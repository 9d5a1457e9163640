"""The ISO 15118 SDP probe against the lab's SECC responder (IPv4 and IPv6 loopback) and hostile peers."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from lab.services._common import Running, ServiceContext
from lab.services.sdp import Options, SecurityMode, serve
from porthole.model import PortObservation, PortState, Protocol, Reason
from porthole.services.base import ProbeContext, ProbeFailure
from porthole.services.sdp import SdpProbe
from porthole.services.sdp.probe import MAX_TRIES
from porthole.targets import Target


def observation(port: int, state: PortState = PortState.OPEN) -> PortObservation:
    return PortObservation(port=port, protocol=Protocol.UDP, state=state, reason=Reason.REPLY, service="iso15118-sdp")


class CountingPace:
    """The engine's pacing hook, counting the datagrams it lets through."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self) -> None:
        self.calls += 1


def probe_context(address: str, port: int, pace: CountingPace | None = None) -> ProbeContext:
    target = Target(address=ipaddress.ip_address(address), spec=address)
    return ProbeContext(target=target, observation=observation(port), pace=pace or CountingPace())


@pytest.fixture
async def secc(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[int]]]:
    started: list[Running] = []
    context = ServiceContext(state_dir=tmp_path / "site" / "cc", name="cc")

    async def start(bind: str = "127.0.0.1", **options: object) -> int:
        running = await serve(bind, [0], Options(**options), context=context)  # type: ignore[arg-type]
        started.append(running)
        return running.ports[0]

    yield start
    for running in started:
        await running.close()


@pytest.fixture
async def udp_peer() -> AsyncIterator[Callable[[Callable[[bytes], list[bytes]]], Awaitable[int]]]:
    transports: list[asyncio.DatagramTransport] = []
    received: list[bytes] = []

    class Peer(asyncio.DatagramProtocol):
        def __init__(self, answer: Callable[[bytes], list[bytes]]) -> None:
            self.answer = answer

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport

        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            received.append(data)
            for reply in self.answer(data):
                self.transport.sendto(reply, addr)  # type: ignore[attr-defined]

    async def start(answer: Callable[[bytes], list[bytes]]) -> int:
        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(lambda: Peer(answer), local_addr=("127.0.0.1", 0))
        transports.append(transport)
        return transport.get_extra_info("sockname")[1]

    start.received = received  # type: ignore[attr-defined]
    yield start
    for transport in transports:
        transport.close()


async def test_no_tls_secc_over_ipv4_is_recorded_and_raises_iso15118_no_tls(secc) -> None:
    # Given the lab SECC answering "no TLS" on port 15119 (the vendor's port)
    port = await secc("127.0.0.1", security=SecurityMode.NO_TLS, tcp_port=15119)
    pace = CountingPace()
    # When porthole asks once for no TLS
    evidence = await SdpProbe().run(probe_context("127.0.0.1", port, pace))
    # Then the SECC's answer is evidence, and one paced datagram sufficed
    assert evidence == {
        "requested_security": "no-tls",
        "requested_transport": "tcp",
        "attempts": 1,
        "secc_address": "::ffff:7f00:1",
        "secc_port": 15119,
        "security": "no-tls",
        "transport": "tcp",
        "secc_port_in_dynamic_range": False,
    }
    assert pace.calls == 1
    (finding,) = SdpProbe().assess(evidence, observation(port))
    assert (finding.id, finding.port, finding.protocol) == ("iso15118-no-tls", port, Protocol.UDP)
    assert finding.evidence == (
        "SDP request asked for security 0x10 (no TLS); the SECC answered 0x10 (no TLS)",
        "advertised V2G endpoint [::ffff:7f00:1]:15119 over tcp",
        "advertised port 15119 is outside ISO 15118-2's dynamic range 49152-65535",
    )
    assert SdpProbe().summarise(evidence) == "ISO 15118 SDP: SECC [::ffff:7f00:1]:15119, no TLS"


async def test_tls_enforcing_secc_over_ipv6_raises_nothing(secc) -> None:
    # Given an SECC on IPv6 that enforces TLS and advertises a dynamic port
    port = await secc("::1", security=SecurityMode.TLS, tcp_port=50000)
    evidence = await SdpProbe().run(probe_context("::1", port))
    assert (evidence["secc_address"], evidence["secc_port"], evidence["security"]) == ("::1", 50000, "tls")
    assert evidence["secc_port_in_dynamic_range"] is True
    assert SdpProbe().assess(evidence, observation(port)) == []


async def test_reply_with_wrong_length_is_malformed(udp_peer) -> None:
    # Given a peer answering with a V2GTP header that announces 20 bytes but sends 19
    port = await udp_peer(lambda _: [bytes.fromhex("01fe9001 00000014") + bytes(19)])
    with pytest.raises(ProbeFailure) as failure:
        await SdpProbe().run(probe_context("127.0.0.1", port))
    assert failure.value.reason == "malformed"
    assert "27-byte reply is not an SDP response" in str(failure.value) and "01 fe 90 01" in str(failure.value)


async def test_garbage_reply_is_malformed(udp_peer) -> None:
    port = await udp_peer(lambda _: [b"\xff" * 2000])
    with pytest.raises(ProbeFailure) as failure:
        await SdpProbe().run(probe_context("127.0.0.1", port))
    assert failure.value.reason == "malformed"


async def test_silent_secc_gets_three_requests_then_timeout(udp_peer) -> None:
    # Given a peer that reads but never answers (an SECC bound to the PLC link only)
    port = await udp_peer(lambda _: [])
    pace = CountingPace()
    with pytest.raises(ProbeFailure) as failure:
        await SdpProbe().run(probe_context("127.0.0.1", port, pace))
    # Then exactly three identical requests were sent, each paced
    assert failure.value.reason == "timeout"
    assert pace.calls == MAX_TRIES == 3
    assert udp_peer.received == [bytes.fromhex("01fe9000000000021000")] * 3


async def test_closed_port_is_refused_after_one_request() -> None:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    transport.close()
    with pytest.raises(ProbeFailure) as failure:
        await SdpProbe().run(probe_context("127.0.0.1", port))
    assert failure.value.reason == "connection-refused"


def test_unknown_security_code_is_kept_raw_and_not_judged() -> None:
    from porthole.services.sdp.probe import evidence_from_reply

    evidence = evidence_from_reply(bytes.fromhex("01fe9001 00000014") + bytes(16) + bytes.fromhex("d431 42 00"), attempts=2)
    assert (evidence.security, evidence.secc_port, evidence.attempts) == ("0x42", 54321, 2)
    assert SdpProbe().assess({"security": evidence.security}, observation(15118)) == []


def test_probe_claims_sdp_open_or_silent_only() -> None:
    probe = SdpProbe()
    assert probe.claims(observation(15118)) and probe.claims(observation(15118, PortState.OPEN_FILTERED))
    assert not probe.claims(observation(15118, PortState.CLOSED))
