"""porthole.net.routes: on-link routes read from the real ``ip -json route`` output.

The kernel state is made in a throw-away network namespace (root): a veth pair
whose both ends stay inside it, one end holding 198.18.77.1/24 (RFC 2544 lab space),
no default route. (A veth, not the dummy device the idea calls for: the kernels we
run on, CI's included, may lack the dummy driver, and the lab needs veth anyway.) ``on_link_routes`` reads the routing table of the namespace it runs in, so
the check runs in a small Python subprocess under ``ip netns exec``.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from porthole.net.routes import OnLinkRoute, on_link_interface

INTERFACE = "tr-v0"
PEER = "tr-v1"
CHECK = """
import ipaddress, json
from porthole.net.routes import on_link_interface, on_link_routes
routes = on_link_routes()
print(json.dumps({
    "routes": [[str(r.network), r.interface, r.source] for r in routes],
    "inside": getattr(on_link_interface(ipaddress.ip_address("198.18.77.5"), routes), "interface", None),
    "outside": getattr(on_link_interface(ipaddress.ip_address("198.19.0.1"), routes), "interface", None),
}))
"""


def run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True, timeout=10)


@pytest.fixture(scope="module")
def namespace() -> Iterator[str]:
    name = f"tr-{os.getpid()}"
    run("ip", "netns", "add", name)
    try:
        run("ip", "-n", name, "link", "add", INTERFACE, "type", "veth", "peer", "name", PEER)
        run("ip", "-n", name, "addr", "add", "198.18.77.1/24", "dev", INTERFACE)
        for interface in (INTERFACE, PEER):  # both ends up, as on a live segment (else the route is "linkdown")
            run("ip", "-n", name, "link", "set", interface, "up")
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False, capture_output=True, timeout=10)


@pytest.fixture(scope="module")
def observed(namespace: str) -> dict[str, object]:
    completed = subprocess.run(
        ["ip", "netns", "exec", namespace, sys.executable, "-c", CHECK],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return json.loads(completed.stdout)


def test_the_connected_subnet_is_the_only_on_link_route(observed: dict[str, object]) -> None:
    # Given a namespace whose only address is 198.18.77.1/24
    # Then the kernel's connected route is read as on-link, with its preferred source
    assert observed["routes"] == [["198.18.77.0/24", INTERFACE, "198.18.77.1"]]


def test_an_address_in_the_subnet_is_on_link_on_that_interface(observed: dict[str, object]) -> None:
    assert observed["inside"] == INTERFACE


def test_an_address_outside_every_route_is_not_on_link(observed: dict[str, object]) -> None:
    assert observed["outside"] is None


# on_link_interface itself is pure: table-driven over hand-made routes, longest prefix
# first as on_link_routes returns them.
ROUTES = (
    OnLinkRoute(ipaddress.ip_network("198.18.77.128/25"), "narrow0", None),
    OnLinkRoute(ipaddress.ip_network("198.18.77.0/24"), "wide0", "198.18.77.1"),
    OnLinkRoute(ipaddress.ip_network("fd00::/64"), "v6net0", None),
)


@pytest.mark.parametrize(
    ("address", "interface"),
    [
        ("198.18.77.200", "narrow0"),  # the most specific route wins
        ("198.18.77.5", "wide0"),
        ("198.18.78.1", None),
        ("fd00::1", "v6net0"),
        ("fd01::1", None),
    ],
)
def test_on_link_interface_picks_the_first_matching_route(address: str, interface: str | None) -> None:
    route = on_link_interface(ipaddress.ip_address(address), ROUTES)
    assert (route.interface if route else None) == interface
