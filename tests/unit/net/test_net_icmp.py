"""porthole.net.icmp: one echo request to loopback over a raw socket (root)."""

from __future__ import annotations

import asyncio

from porthole.net.icmp import icmp_echo

DEADLINE_S = 2.0


async def test_icmp_echo_to_loopback_returns_a_positive_round_trip_time() -> None:
    # Given the loopback address, which the kernel answers itself
    # When one echo request is sent under the caller's deadline
    async with asyncio.timeout(DEADLINE_S):
        rtt = await icmp_echo("127.0.0.1")
    # Then the matching reply (not our own request, also seen on lo) yields a measured,
    # positive interval inside the deadline
    assert isinstance(rtt, float)
    assert 0 < rtt < DEADLINE_S


async def test_concurrent_echoes_all_complete() -> None:
    # Every raw ICMP socket sees every reply; each must pick out its own and return
    async with asyncio.timeout(DEADLINE_S):
        rtts = await asyncio.gather(*(icmp_echo("127.0.0.1") for _ in range(3)))
    assert all(0 < rtt < DEADLINE_S for rtt in rtts)
