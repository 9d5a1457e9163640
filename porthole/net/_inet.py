"""Helpers shared by the raw-socket probes."""

from __future__ import annotations

import struct


def internet_checksum(data: bytes) -> int:
    """The 16-bit one's-complement checksum of RFC 1071 (IP, ICMP, TCP)."""
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF
