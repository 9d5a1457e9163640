"""datagram_retrying: several tries on one socket, so a late answer still counts."""

from __future__ import annotations

import asyncio

from porthole.net.udp import DatagramResult, datagram_retrying


class SlowResponder(asyncio.DatagramProtocol):
    """Answers only the FIRST datagram it receives, after ``delay`` seconds."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.received = 0

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.received += 1
        if self.received == 1:
            asyncio.get_running_loop().call_later(self.delay, self.transport.sendto, b"late answer", addr)


async def test_a_late_answer_to_the_first_try_is_taken_during_a_later_try():
    # Given a responder that answers the first request only after 250 ms
    loop = asyncio.get_running_loop()
    transport, responder = await loop.create_datagram_endpoint(lambda: SlowResponder(0.25), local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    try:
        # When we try three times 100 ms apart
        outcome, tries = await datagram_retrying("127.0.0.1", port, b"hello", tries=3, interval=0.1)
    finally:
        transport.close()
    # Then the late answer is the reply, received during the third try
    assert outcome is not None and outcome.result is DatagramResult.REPLY and outcome.reply == b"late answer"
    assert tries == 3 and responder.received == 3


async def test_silence_after_every_try_is_none_with_the_tries_used():
    loop = asyncio.get_running_loop()
    transport, responder = await loop.create_datagram_endpoint(lambda: SlowResponder(60), local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    paced = 0

    async def pace() -> None:
        nonlocal paced
        paced += 1

    try:
        outcome, tries = await datagram_retrying("127.0.0.1", port, b"hello", tries=2, interval=0.05, before_send=pace)
    finally:
        transport.close()
    assert (outcome, tries, paced, responder.received) == (None, 2, 2, 2)
