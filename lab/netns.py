"""Network-namespace plumbing for the lab site: namespaces, bridge, veths, firewall, delay link.

The topology ``lab.control`` builds from these pieces (one namespace per host,
like a real site; every link is internal)::

      ph-<site>-scan            ph-<site>-sw                 ph-<site>-<controller>
     +--------------+        +------------------+          +----------------------+
     | eth0 scanner |--veth--| sw-scan          |          |                      |
     |  address/24  | (or a  |        br0       |--veth----| eth0 controller/24   |
     +--------------+  delay |  sw-<controller> |          | nft: filtered ports  |
                       link) +------------------+          +----------------------+

Contract:

* Everything is created *inside* project namespaces: veth pairs are created in
  the switch namespace with their peer placed straight into the host namespace
  (``ip -n SW link add ... peer ... netns HOST``), so no lab interface ever
  appears in the root namespace, and nothing is linked to a real interface.
* No default route is ever added: only the site subnet is on-link.
* These functions do what they are told; bookkeeping (what was created, what to
  delete) belongs to ``lab.control``.
* Failures are ``LabError`` carrying the command and its stderr.

The delay link (``python -m lab.netns delay-link``): the kernel in CI has no
netem, so a site-level ``link_delay_ms`` is made in user space. The process opens
one TAP device in the scan namespace and one in the switch namespace (it enters
each namespace with setns(2) before TUNSETIFF, so the devices are born there),
then copies Ethernet frames between them, each frame held back ``delay`` seconds,
order preserved. The TAPs vanish when the process exits.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import ctypes
import fcntl
import os
import signal
import struct
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from porthole.errors import LabError
from porthole.model import PortRef, Protocol

__all__ = [
    "NAMESPACE_PREFIX",
    "BRIDGE",
    "HOST_INTERFACE",
    "namespace_name",
    "switch_port_name",
    "list_namespaces",
    "namespace_exists",
    "create_namespace",
    "delete_namespace",
    "create_bridge",
    "connect_to_switch",
    "attach_to_bridge",
    "configure_host_interface",
    "set_sysctls",
    "firewall_ruleset",
    "apply_firewall",
    "default_routes",
    "listening_ports",
    "wait_for_link",
    "delay_link_command",
]

NAMESPACE_PREFIX = "ph-"
BRIDGE = "br0"
#: every host namespace has exactly one interface to the site, named like a real host's
HOST_INTERFACE = "eth0"
_COMMAND_TIMEOUT = 30


def namespace_name(site_name: str, host: str) -> str:
    """``ph-demo-master``; ``host`` is a controller name, ``scan`` or ``sw``."""
    return f"{NAMESPACE_PREFIX}{site_name}-{host}"


def switch_port_name(host: str) -> str:
    """The bridge port for ``host`` inside the switch namespace (<= 15 characters)."""
    name = f"sw-{host}"
    assert len(name) <= 15, name  # guaranteed by the site loader's name rules
    return name


def run(argv: Sequence[str], *, input_text: str | None = None) -> str:
    """Run a plumbing command; return stdout, raise ``LabError`` with stderr on failure."""
    try:
        completed = subprocess.run(
            list(argv), input=input_text, capture_output=True, text=True, timeout=_COMMAND_TIMEOUT, check=False
        )
    except FileNotFoundError:
        raise LabError(f"{argv[0]} is not installed (the lab needs iproute2 and nftables)") from None
    except subprocess.TimeoutExpired:
        raise LabError(f"{' '.join(argv)} did not finish within {_COMMAND_TIMEOUT} s") from None
    if completed.returncode != 0:
        raise LabError(f"{' '.join(argv)} failed: {completed.stderr.strip() or completed.stdout.strip()}")
    return completed.stdout


def list_namespaces() -> set[str]:
    """Names of every namespace ``ip netns`` knows about."""
    output = run(["ip", "netns", "list"])
    # lines look like "ph-demo-scan (id: 3)" or just "ph-demo-scan"
    return {line.split()[0] for line in output.splitlines() if line.strip()}


def namespace_exists(name: str) -> bool:
    return Path("/run/netns", name).exists()


def create_namespace(name: str) -> None:
    run(["ip", "netns", "add", name])
    run(["ip", "-n", name, "link", "set", "lo", "up"])


def delete_namespace(name: str) -> None:
    """Delete a namespace; a namespace that is already gone is not an error."""
    if not namespace_exists(name):
        return
    run(["ip", "netns", "delete", name])


def create_bridge(switch_namespace: str) -> None:
    # STP off: ports forward at once. Multicast snooping off: mDNS, SSDP and
    # SDP multicast reach every port as on a dumb switch.
    run(
        [
            "ip", "-n", switch_namespace, "link", "add", BRIDGE, "type", "bridge",
            "stp_state", "0", "forward_delay", "0", "mcast_snooping", "0",
        ]
    )
    run(["ip", "-n", switch_namespace, "link", "set", BRIDGE, "up"])


def connect_to_switch(switch_namespace: str, host_namespace: str, host: str) -> None:
    """A veth pair: ``sw-<host>`` on the bridge, ``eth0`` in the host namespace."""
    port = switch_port_name(host)
    run(
        [
            "ip", "-n", switch_namespace, "link", "add", port, "type", "veth",
            "peer", "name", HOST_INTERFACE, "netns", host_namespace,
        ]
    )
    attach_to_bridge(switch_namespace, port)


def attach_to_bridge(switch_namespace: str, port: str) -> None:
    run(["ip", "-n", switch_namespace, "link", "set", port, "master", BRIDGE, "up"])


def configure_host_interface(namespace: str, interface_address: str) -> None:
    """Address ``eth0`` (``198.18.0.10/24``) and bring it up; adds no route beyond on-link."""
    run(["ip", "-n", namespace, "addr", "add", interface_address, "dev", HOST_INTERFACE])
    run(["ip", "-n", namespace, "link", "set", HOST_INTERFACE, "up"])


def set_sysctls(namespace: str, values: Mapping[str, str]) -> None:
    """Set per-namespace sysctls (``net.*`` keys are per network namespace)."""
    run(["ip", "netns", "exec", namespace, "sysctl", "-q", "-w", *(f"{key}={value}" for key, value in values.items())])


def firewall_ruleset(*, filtered: Iterable[PortRef], drop_everything: bool) -> str:
    """The nftables ruleset of one controller namespace.

    A normal host drops only its listed ports, so the scanner sees silence there
    (``filtered``) and RST / ICMP everywhere else::

        table inet porthole_lab {
            chain input {
                type filter hook input priority filter; policy accept;
                tcp dport { 22, 502 } drop
                udp dport { 15118 } drop
            }
        }

    A ``host = "filtered"`` host drops every inbound IP packet (``policy drop``)
    except loopback. ARP is not in the ``inet`` family, so the host still answers
    ARP: it is present on the subnet, but every port is silent.
    """
    ports = sorted(set(filtered))
    lines = ["table inet porthole_lab {", "    chain input {"]
    if drop_everything:
        lines.append("        type filter hook input priority filter; policy drop;")
        lines.append('        iifname "lo" accept')
    else:
        lines.append("        type filter hook input priority filter; policy accept;")
        for protocol in (Protocol.TCP, Protocol.UDP):
            numbers = [str(port.number) for port in ports if port.protocol is protocol]
            if numbers:
                lines.append(f"        {protocol.value} dport {{ {', '.join(numbers)} }} drop")
    lines += ["    }", "}", ""]
    return "\n".join(lines)


def apply_firewall(namespace: str, ruleset: str) -> None:
    run(["ip", "netns", "exec", namespace, "nft", "-f", "-"], input_text=ruleset)


def default_routes(namespace: str) -> list[str]:
    """Default routes (IPv4 and IPv6) in ``namespace``; the lab keeps this empty."""
    routes = run(["ip", "-n", namespace, "-4", "route", "show", "default"]).splitlines()
    routes += run(["ip", "-n", namespace, "-6", "route", "show", "default"]).splitlines()
    return [route for route in routes if route.strip()]


def listening_ports(namespace: str) -> set[PortRef]:
    """Ports with a listening TCP or bound UDP socket in ``namespace``.

    Read from the kernel's socket table with ``ss``: no packet is sent, which
    matters for the fragile emulator (it counts connections).
    """
    ports: set[PortRef] = set()
    # `ss -N` enters the namespace itself; -H: no header, -l: listening/bound only,
    # -t -u: both transports, -n: numeric. The first column is then the Netid.
    output = run(["ss", "-N", namespace, "-Hltun"])
    for line in output.splitlines():
        columns = line.split()
        if len(columns) < 5 or columns[0] not in ("tcp", "udp"):
            continue
        # local address column: 0.0.0.0:80, [::]:22, 198.18.0.12:53, 0.0.0.0%eth0:5353, *:80
        _, _, port_text = columns[4].rpartition(":")
        if port_text.isdigit():
            ports.add(PortRef(Protocol(columns[0]), int(port_text)))
    return ports


def wait_for_link(namespace: str, name: str, *, timeout: float, alive: Callable[[], bool]) -> None:
    """Wait until interface ``name`` exists in ``namespace`` (the delay link creates it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        completed = subprocess.run(
            ["ip", "-n", namespace, "link", "show", name], capture_output=True, text=True, check=False
        )
        if completed.returncode == 0:
            return
        if not alive():
            raise LabError(f"the delay link exited before creating {name} in {namespace}")
        time.sleep(0.05)
    raise LabError(f"interface {name} did not appear in {namespace} within {timeout:.0f} s")


# --- the user-space delay link ------------------------------------------------------

_CLONE_NEWNET = 0x40000000
_TUNSETIFF = 0x400454CA
_IFF_TAP = 0x0002
_IFF_NO_PI = 0x1000
_MAXIMUM_FRAME = 65536


def delay_link_command(
    python: str, *, delay_ms: float, scan_namespace: str, switch_namespace: str, switch_port: str
) -> list[str]:
    """argv for the delay-link process (run in the root namespace; it enters both ends itself)."""
    return [
        python, "-m", "lab.netns", "delay-link",
        "--delay-ms", str(delay_ms),
        "--end", f"{scan_namespace}:{HOST_INTERFACE}",
        "--end", f"{switch_namespace}:{switch_port}",
    ]


def _setns(fd: int) -> None:
    setns = getattr(os, "setns", None)  # Python 3.12+
    if setns is not None:
        setns(fd, _CLONE_NEWNET)
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, _CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))


def _open_tap_in_namespace(namespace: str, name: str) -> int:
    """Create TAP ``name`` inside ``namespace``; return its file descriptor.

    A TUN/TAP device is created in the network namespace of the process that
    issues TUNSETIFF, so the process briefly enters ``namespace`` and comes back.
    """
    original = os.open("/proc/self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{namespace}", os.O_RDONLY)
    try:
        _setns(target)
        try:
            tap = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
            request = struct.pack("16sH22x", name.encode(), _IFF_TAP | _IFF_NO_PI)
            fcntl.ioctl(tap, _TUNSETIFF, request)
        finally:
            _setns(original)
    finally:
        os.close(target)
        os.close(original)
    return tap


class _DelayedDirection:
    """Frames from one TAP to the other, each released ``delay`` seconds after it arrived.

    A FIFO plus one timer for its head (rather than one ``call_later`` per frame)
    keeps frames in order even when their due times tie.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, source: int, destination: int, delay: float) -> None:
        self._loop = loop
        self._source = source
        self._destination = destination
        self._delay = delay
        self._queue: collections.deque[tuple[float, bytes]] = collections.deque()
        self._timer: asyncio.TimerHandle | None = None
        loop.add_reader(source, self._on_readable)

    def _on_readable(self) -> None:
        now = self._loop.time()
        while True:
            try:
                frame = os.read(self._source, _MAXIMUM_FRAME)
            except BlockingIOError:
                break
            if not frame:
                break
            self._queue.append((now + self._delay, frame))
        self._schedule()

    def _schedule(self) -> None:
        if self._timer is None and self._queue:
            self._timer = self._loop.call_at(self._queue[0][0], self._release)

    def _release(self) -> None:
        self._timer = None
        now = self._loop.time()
        while self._queue and self._queue[0][0] <= now:
            _, frame = self._queue.popleft()
            try:
                os.write(self._destination, frame)
            except OSError:
                # a full or downed TAP drops the frame, as a real link would
                pass
        self._schedule()


async def _run_delay_link(delay: float, ends: list[tuple[str, str]]) -> None:
    (first_namespace, first_name), (second_namespace, second_name) = ends
    first = _open_tap_in_namespace(first_namespace, first_name)
    second = _open_tap_in_namespace(second_namespace, second_name)
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, stopped.set)
    _DelayedDirection(loop, first, second, delay)
    _DelayedDirection(loop, second, first, delay)
    await stopped.wait()


def _main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lab.netns", description="lab plumbing helpers")
    commands = parser.add_subparsers(dest="command", required=True)
    delay = commands.add_parser("delay-link", help="copy frames between two TAPs with a one-way delay")
    delay.add_argument("--delay-ms", type=float, required=True)
    delay.add_argument("--end", action="append", required=True, help="NAMESPACE:TAPNAME (give exactly two)")
    arguments = parser.parse_args(argv)
    if len(arguments.end) != 2:
        parser.error("delay-link needs exactly two --end NAMESPACE:TAPNAME")
    ends = [tuple(end.split(":", 1)) for end in arguments.end]
    asyncio.run(_run_delay_link(arguments.delay_ms / 1000.0, ends))  # type: ignore[arg-type]


if __name__ == "__main__":
    _main()
