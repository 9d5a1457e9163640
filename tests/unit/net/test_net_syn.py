"""porthole.net.syn: the SYN segment checked by scapy, and half-open probes on loopback.

Loopback does not verify TCP checksums (the kernel marks lo traffic as already
checked), so the live SynProber tests cannot catch a wrong checksum; the scapy oracle
tests are what pin it. The live tests need root for raw sockets, which the unit suite
runs with (brief: CI is root).
"""

from __future__ import annotations

import asyncio
import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP, in4_chksum
from scapy.utils import checksum as scapy_checksum

from porthole.net._inet import internet_checksum
from porthole.net.syn import SynProber, SynResult, build_syn

CHECKSUM_OFFSET = 16

# (source, destination, source port, destination port, sequence)
SEGMENTS = [
    ("127.0.0.1", "127.0.0.1", 40000, 80, 0),
    ("198.18.1.2", "198.18.1.10", 20001, 502, 0x12345678),
    ("198.18.1.2", "198.18.1.10", 65535, 65535, 0xFFFFFFFF),
    ("198.19.255.1", "198.18.255.254", 1, 1, 1),  # checksum arithmetic only: nothing is sent
    ("0.0.0.0", "255.255.255.255", 0, 0, 0),
]


def scapy_expected_checksum(source: str, destination: str, segment: bytes) -> int:
    """scapy's own pseudo-header checksum of ``segment`` with its checksum field zeroed."""
    zeroed = segment[:CHECKSUM_OFFSET] + b"\x00\x00" + segment[CHECKSUM_OFFSET + 2 :]
    return in4_chksum(socket.IPPROTO_TCP, IP(src=source, dst=destination), zeroed)


@pytest.mark.parametrize(("source", "destination", "source_port", "destination_port", "sequence"), SEGMENTS)
def test_build_syn_checksum_matches_scapy(source: str, destination: str, source_port: int, destination_port: int, sequence: int) -> None:
    # Given a SYN we built / When scapy computes the checksum over the same pseudo-header
    segment = build_syn(source, destination, source_port, destination_port, sequence)
    # Then both agree, and the whole segment with its pseudo-header sums to zero (RFC 1071)
    assert TCP(segment).chksum == scapy_expected_checksum(source, destination, segment)
    pseudo = socket.inet_aton(source) + socket.inet_aton(destination) + bytes([0, socket.IPPROTO_TCP]) + len(segment).to_bytes(2, "big")
    assert internet_checksum(pseudo + segment) == 0


@pytest.mark.parametrize(("source", "destination", "source_port", "destination_port", "sequence"), SEGMENTS)
def test_build_syn_is_a_bare_syn_with_an_mss_option(source: str, destination: str, source_port: int, destination_port: int, sequence: int) -> None:
    # Given our segment dissected by scapy
    segment = TCP(build_syn(source, destination, source_port, destination_port, sequence))
    # Then: SYN only, our ports and sequence, no ACK number, one MSS option, nothing after it
    assert str(segment.flags) == "S"
    assert (segment.sport, segment.dport, segment.seq, segment.ack) == (source_port, destination_port, sequence, 0)
    assert segment.dataofs == 6  # 20-byte header + 4-byte MSS option
    assert segment.options == [("MSS", 1460)]
    assert segment.window == 64240 and segment.urgptr == 0
    assert bytes(segment.payload) == b""


@settings(max_examples=200, deadline=None)
@given(
    source=st.ip_addresses(v=4).map(str),
    destination=st.ip_addresses(v=4).map(str),
    source_port=st.integers(0, 65535),
    destination_port=st.integers(0, 65535),
    sequence=st.integers(0, 2**32 - 1),
)
def test_build_syn_checksum_matches_scapy_for_any_addresses_and_ports(source: str, destination: str, source_port: int, destination_port: int, sequence: int) -> None:
    segment = build_syn(source, destination, source_port, destination_port, sequence)
    assert TCP(segment).chksum == scapy_expected_checksum(source, destination, segment)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_internet_checksum_matches_scapy_including_odd_lengths(data: bytes) -> None:
    assert internet_checksum(data) == scapy_checksum(data)


# --- live half-open probes on loopback ------------------------------------------------


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_syn_probe_of_a_listener_gets_syn_ack() -> None:
    # Given a listening socket on loopback
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        # When a SYN is sent to it
        async with SynProber() as prober, asyncio.timeout(5):
            outcome = await prober.probe("127.0.0.1", port)
        # Then it answers SYN+ACK ...
        assert outcome.result is SynResult.SYN_ACK
        assert outcome.rtt_s >= 0
        # ... and no connection ever reached the application (our kernel's RST undid it)
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):
            listener.accept()


async def test_syn_probe_of_a_closed_port_gets_reset() -> None:
    async with SynProber() as prober, asyncio.timeout(5):
        outcome = await prober.probe("127.0.0.1", closed_port())
    assert outcome.result is SynResult.RESET


async def test_concurrent_syn_probes_are_matched_to_their_own_ports() -> None:
    # Given two listeners and two closed ports probed at once through one prober
    with socket.create_server(("127.0.0.1", 0)) as first, socket.create_server(("127.0.0.1", 0)) as second:
        ports = {first.getsockname()[1]: SynResult.SYN_ACK, second.getsockname()[1]: SynResult.SYN_ACK}
        ports |= {closed_port(): SynResult.RESET for _ in range(2)}
        async with SynProber() as prober, asyncio.timeout(5):
            outcomes = await asyncio.gather(*(prober.probe("127.0.0.1", port) for port in ports))
    # Then every answer is attributed to the port it came from
    assert [outcome.result for outcome in outcomes] == list(ports.values())


async def test_syn_probe_refuses_ipv6() -> None:
    async with SynProber() as prober:
        with pytest.raises(ValueError, match="IPv4 only"):
            await prober.probe("::1", 22)
