"""ICMP echo (ping) over a raw socket, IPv4, root only.

    type 8 code 0 | checksum | identifier | sequence | payload "porthole"

The reply is matched on source address, identifier and sequence. The caller bounds
the wait with ``asyncio.timeout``.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct

from porthole.net._inet import internet_checksum

__all__ = ["icmp_echo"]


async def icmp_echo(address: str) -> float:
    """Send one echo request and return the RTT in seconds of the matching reply."""
    loop = asyncio.get_running_loop()
    identifier = random.getrandbits(16)
    sequence = 1
    body = struct.pack("!BBHHH", 8, 0, 0, identifier, sequence) + b"porthole"
    packet = body[:2] + struct.pack("!H", internet_checksum(body)) + body[4:]
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sock:
        sock.setblocking(False)
        started = loop.time()
        await loop.sock_sendto(sock, packet, (address, 0))
        while True:
            reply, (source, _) = await loop.sock_recvfrom(sock, 2048)
            header = (reply[0] & 0x0F) * 4
            if source != address or len(reply) < header + 8:
                continue
            kind, _code, _sum, reply_id, reply_seq = struct.unpack_from("!BBHHH", reply, header)
            if kind == 0 and reply_id == identifier and reply_seq == sequence:
                return loop.time() - started
