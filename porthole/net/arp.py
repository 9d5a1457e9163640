"""ARP host discovery on a directly attached segment (scapy, root only).

One ARP request per address, paced (``interval``), answers collected for a bounded
window: an absent address then costs one ARP round for the whole sweep instead of a
connect timeout per port. scapy is imported lazily (it is slow to import and needs
root for raw sockets); its blocking ``srp`` runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import os
from typing import Sequence

__all__ = ["raw_sockets_available", "arp_sweep"]


def raw_sockets_available() -> bool:
    """True when this process may open packet sockets (root or CAP_NET_RAW)."""
    if os.geteuid() == 0:
        return True
    try:
        import socket

        socket.socket(socket.AF_PACKET, socket.SOCK_RAW).close()
        return True
    except (OSError, AttributeError):
        return False


def _arp_sweep_blocking(addresses: Sequence[str], interface: str, timeout: float, interval: float) -> dict[str, float]:
    from scapy.config import conf
    from scapy.layers.l2 import ARP, Ether
    from scapy.sendrecv import srp

    conf.verb = 0
    packets = [Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(pdst=address) for address in addresses]
    answered, _ = srp(packets, iface=interface, timeout=timeout, inter=interval, verbose=0)
    found: dict[str, float] = {}
    for sent, received in answered:
        found.setdefault(received.psrc, max(0.0, float(received.time) - float(sent.sent_time or sent.time)))
    return found


async def arp_sweep(addresses: Sequence[str], interface: str, *, timeout: float = 1.0, interval: float = 0.002) -> dict[str, float]:
    """Map each answering address to its ARP round-trip time in seconds."""
    if not addresses:
        return {}
    return await asyncio.to_thread(_arp_sweep_blocking, list(addresses), interface, timeout, interval)
