"""Which targets sit on a directly attached segment (so ARP can tell if they exist).

Reads the kernel's main routing table once with ``ip -json route show`` (iproute2);
a route with no gateway is on-link. No packets are sent.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess
from dataclasses import dataclass

__all__ = ["OnLinkRoute", "on_link_routes", "on_link_interface"]


@dataclass(frozen=True, slots=True)
class OnLinkRoute:
    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    interface: str
    source: str | None


def on_link_routes() -> tuple[OnLinkRoute, ...]:
    """The on-link (gateway-less) IPv4 routes of the main table; empty if unknown."""
    ip = shutil.which("ip")
    if ip is None:
        return ()
    try:
        out = subprocess.run([ip, "-json", "-4", "route", "show", "table", "main"], capture_output=True, text=True, timeout=5, check=True).stdout
        routes = json.loads(out or "[]")
    except (OSError, subprocess.SubprocessError, ValueError):
        return ()
    found = []
    for route in routes:
        if "gateway" in route or route.get("type", "unicast") != "unicast" or "dev" not in route:
            continue
        destination = route.get("dst", "")
        if destination == "default":
            continue
        try:
            network = ipaddress.ip_network(destination, strict=False)
        except ValueError:
            continue
        found.append(OnLinkRoute(network, route["dev"], route.get("prefsrc")))
    # Longest prefix first, like the kernel's lookup.
    return tuple(sorted(found, key=lambda r: r.network.prefixlen, reverse=True))


def on_link_interface(address: ipaddress.IPv4Address | ipaddress.IPv6Address, routes: tuple[OnLinkRoute, ...]) -> OnLinkRoute | None:
    for route in routes:
        if address.version == route.network.version and address in route.network:
            return route
    return None
