"""The fragile embedded card: a Modbus/web card that hangs when scanned too hard.

Field reports describe controller cards whose TCP/IP stack stops answering under
a port scan and needs a power cycle. This emulator reproduces that so porthole's
per-target limits can be tested against something that really breaks:

* It serves small TCP services on its ports: 80 answers one HTTP request with a
  tiny 200 page; 502 answers every MBAP request with exception 01 (illegal
  function; function code | 0x80); any other port accepts, reads, and closes after
  ``read_timeout`` seconds or on EOF.
* It watches its own interface with a raw ``AF_PACKET`` socket and, for packets to
  or from its address, counts **new connection attempts** (TCP SYN without ACK to
  its address) in a sliding 1-second window, and **concurrent connections** (flows
  for which it sent a SYN-ACK and has not yet seen a FIN or RST in either
  direction). The counting is :class:`FlowTracker`, a pure class fed with parsed
  headers (:func:`parse_ethernet_frame`) and an injected clock.
* When concurrent > ``max_concurrent`` or attempts in a 1 s window > ``max_rate``,
  it **hangs**: it installs an nftables table in its own namespace that drops every
  inbound packet to its address (hook prerouting, priority raw), so it goes silent
  like a crashed stack: no RST, no SYN-ACK, no data.
* It recovers after ``hang_seconds`` (0 = never by itself) or on SIGHUP, like a
  reboot: the table is removed, open connections are closed and the counters of
  live flows start from zero (the maxima seen are kept).
* It writes ``<state-dir>/fragile.json`` atomically after each change (at most
  every 100 ms, and at once on a trip or a recovery)::

      {"hung": bool, "trip_reason": "concurrency" | "rate" | null,
       "max_concurrent_seen": int, "max_rate_seen": int, "connections_seen": int,
       "tripped_at": ISO-8601 UTC or null, "trips": int}

  ``connections_seen`` counts connection attempts (SYNs) to its address;
  ``trip_reason``/``tripped_at`` describe the latest trip (null until the first),
  so "hung false, trip_reason rate" reads "tripped on rate and has recovered".

Options (JSON keys of ``--options``):

==================  =================================================================
``interface``       interface to watch (required; the orchestrator passes it)
``address``         the card's address (default: the interface's first IPv4 address)
``max_concurrent``  default 4
``max_rate``        new connections per 1 s window, default 50
``hang_seconds``    default 30; 0 = hung until SIGHUP
``read_timeout``    seconds a connection may stay silent before it is closed, default 5
==================  =================================================================

Capture notes: on a veth or Ethernet interface AF_PACKET shows inbound packets
(PACKET_HOST) and the card's own outbound ones (PACKET_OUTGOING) once each. On
``lo`` every packet shows up twice, once outgoing and once incoming, so on a
loopback interface outgoing copies are skipped; there the client must also use
a different address than the card (127.0.0.2 → 127.0.0.1), or flows could not be
told apart by direction.

Must not: run outside a network namespace of its own. It changes the nftables
ruleset of the namespace it runs in, so it refuses to start unless that
namespace is one made with ``ip netns`` (listed in /run/netns), as every lab and
test namespace is. It needs root (CAP_NET_RAW, CAP_NET_ADMIN).
"""

from __future__ import annotations

import asyncio
import collections
import datetime
import ipaddress
import json
import logging
import os
import socket
import struct
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from lab.services._common import Running, ServiceContext, TcpListeners, run_service
from porthole.errors import LabError
from porthole.model import Protocol as Transport

__all__ = [
    "TripReason",
    "TcpSegment",
    "FlowTracker",
    "parse_ethernet_frame",
    "is_counted_capture",
    "Options",
    "serve",
    "main",
]

log = logging.getLogger("lab.services.fragile")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

TCP_FIN = 0x01
TCP_SYN = 0x02
TCP_RST = 0x04
TCP_ACK = 0x10

_ETH_P_ALL = 0x0003
_ETH_P_IP = 0x0800
_ETH_P_IPV6 = 0x86DD
_ETH_P_8021Q = 0x8100
_IPPROTO_TCP = 6
_ARPHRD_LOOPBACK = 772
_PACKET_OUTGOING = 4
_CAPTURE_BYTES = 256  # headers only: Ethernet + IPv6 + TCP fit easily
_STATE_WRITE_INTERVAL = 0.1
_NFT_TABLE = "porthole_fragile"
_MAXIMUM_REQUEST_HEAD = 4096


class TripReason(StrEnum):
    CONCURRENCY = "concurrency"
    RATE = "rate"


@dataclass(frozen=True, slots=True, kw_only=True)
class TcpSegment:
    """The TCP header fields the tracker needs."""

    source: IPAddress
    destination: IPAddress
    source_port: int
    destination_port: int
    flags: int


def parse_ethernet_frame(frame: bytes) -> TcpSegment | None:
    """A TCP segment from an Ethernet II frame (optionally 802.1Q-tagged), or None.

    IPv4 (any IHL, first fragments only) and IPv6 with TCP as the first next
    header; anything else, truncated or not TCP, is None.
    """
    if len(frame) < 14:
        return None
    ethertype = int.from_bytes(frame[12:14], "big")
    offset = 14
    if ethertype == _ETH_P_8021Q:
        if len(frame) < 18:
            return None
        ethertype = int.from_bytes(frame[16:18], "big")
        offset = 18
    packet = frame[offset:]
    if ethertype == _ETH_P_IP:
        if len(packet) < 20 or packet[0] >> 4 != 4:
            return None
        header_length = (packet[0] & 0x0F) * 4
        fragment_offset = int.from_bytes(packet[6:8], "big") & 0x1FFF
        if header_length < 20 or packet[9] != _IPPROTO_TCP or fragment_offset != 0:
            return None
        source: IPAddress = ipaddress.IPv4Address(packet[12:16])
        destination: IPAddress = ipaddress.IPv4Address(packet[16:20])
        segment = packet[header_length:]
    elif ethertype == _ETH_P_IPV6:
        if len(packet) < 40 or packet[0] >> 4 != 6 or packet[6] != _IPPROTO_TCP:
            return None
        source = ipaddress.IPv6Address(packet[8:24])
        destination = ipaddress.IPv6Address(packet[24:40])
        segment = packet[40:]
    else:
        return None
    if len(segment) < 14:
        return None
    source_port, destination_port = struct.unpack_from(">HH", segment)
    return TcpSegment(
        source=source,
        destination=destination,
        source_port=source_port,
        destination_port=destination_port,
        flags=segment[13],
    )


def is_counted_capture(hardware_type: int, packet_type: int) -> bool:
    """Whether a captured copy counts: on loopback only the incoming copy does."""
    return not (hardware_type == _ARPHRD_LOOPBACK and packet_type == _PACKET_OUTGOING)


class FlowTracker:
    """Counts connection attempts and live connections of one address; the clock is injected."""

    def __init__(
        self, *, address: IPAddress, max_concurrent: int, max_rate: int, window_seconds: float = 1.0
    ) -> None:
        self.address = address
        self.max_concurrent = max_concurrent
        self.max_rate = max_rate
        self.window_seconds = window_seconds
        #: (remote address, remote port, local port) of flows this address accepted
        self._flows: set[tuple[IPAddress, int, int]] = set()
        self._attempts: collections.deque[float] = collections.deque()
        self.max_concurrent_seen = 0
        self.max_rate_seen = 0
        self.connections_seen = 0

    @property
    def concurrent(self) -> int:
        return len(self._flows)

    @property
    def rate(self) -> int:
        """Attempts inside the window that ended at the last observed segment."""
        return len(self._attempts)

    def observe(self, segment: TcpSegment, now: float) -> TripReason | None:
        """Account for one segment; return why the card trips, if it does now."""
        syn, ack = bool(segment.flags & TCP_SYN), bool(segment.flags & TCP_ACK)
        inbound = segment.destination == self.address
        outbound = segment.source == self.address
        while self._attempts and self._attempts[0] <= now - self.window_seconds:
            self._attempts.popleft()
        if inbound and syn and not ack:
            self.connections_seen += 1
            self._attempts.append(now)
            self.max_rate_seen = max(self.max_rate_seen, len(self._attempts))
        if outbound and syn and ack:
            self._flows.add((segment.destination, segment.destination_port, segment.source_port))
            self.max_concurrent_seen = max(self.max_concurrent_seen, len(self._flows))
        if segment.flags & (TCP_FIN | TCP_RST):
            if outbound:
                self._flows.discard((segment.destination, segment.destination_port, segment.source_port))
            elif inbound:
                self._flows.discard((segment.source, segment.source_port, segment.destination_port))
        if len(self._flows) > self.max_concurrent:
            return TripReason.CONCURRENCY
        if len(self._attempts) > self.max_rate:
            return TripReason.RATE
        return None

    def reset(self) -> None:
        """Forget live flows and recent attempts (the card rebooted); keep the maxima."""
        self._flows.clear()
        self._attempts.clear()

    def clear_maxima(self) -> None:
        """Start a new observation period: the maxima describe traffic from now on."""
        self.max_concurrent_seen = 0
        self.max_rate_seen = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    interface: str
    address: str | None = None
    max_concurrent: int = 4
    max_rate: int = 50
    hang_seconds: float = 30.0
    read_timeout: float = 5.0

    def __post_init__(self) -> None:
        if self.address is not None:
            ipaddress.ip_address(self.address)
        if self.max_concurrent < 0 or self.max_rate < 0:
            raise ValueError("options 'max_concurrent' and 'max_rate' must not be negative")
        if self.hang_seconds < 0 or self.read_timeout <= 0:
            raise ValueError("option 'hang_seconds' must be >= 0 and 'read_timeout' > 0")


# --- the card's TCP services --------------------------------------------------------------


_PAGE = b"<html><head><title>Charge Controller</title></head><body>OK</body></html>\n"


async def _answer_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, read_timeout: float) -> None:
    async with asyncio.timeout(read_timeout):
        await reader.readuntil(b"\r\n\r\n")
    writer.write(
        b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n"
        + f"Content-Length: {len(_PAGE)}\r\n\r\n".encode()
        + _PAGE
    )
    await writer.drain()


async def _answer_modbus(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, read_timeout: float) -> None:
    # MBAP: transaction id, protocol id (0), length (unit id + PDU), unit id; then the PDU
    while True:
        async with asyncio.timeout(read_timeout):
            transaction, protocol, length, unit = struct.unpack(">HHHB", await reader.readexactly(7))
            if protocol != 0 or not 2 <= length <= 254:
                return
            function_code = (await reader.readexactly(length - 1))[0]
        writer.write(struct.pack(">HHHBBB", transaction, 0, 3, unit, (function_code | 0x80) & 0xFF, 0x01))
        await writer.drain()


async def _read_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, read_timeout: float) -> None:
    while True:
        async with asyncio.timeout(read_timeout):
            if not await reader.read(4096):
                return


# --- the hang ------------------------------------------------------------------------------


def _ensure_own_namespace() -> None:
    """Refuse to run unless this process is in a namespace made with ``ip netns``.

    A positive check (the namespace is one of ``/run/netns/*``, as every lab and
    test namespace is) rather than "not PID 1's namespace": in containers
    ``/proc/1/ns/net`` is often unreadable, and a wrong guess must not end with
    nftables rules on a real machine.
    """
    try:
        own = os.stat("/proc/self/ns/net")
    except OSError as exc:
        raise LabError(f"fragile: cannot identify this network namespace: {exc}") from None
    named = Path("/run/netns")
    for entry in named.iterdir() if named.is_dir() else ():
        try:
            candidate = entry.stat()
        except OSError:
            continue
        if (candidate.st_dev, candidate.st_ino) == (own.st_dev, own.st_ino):
            return
    raise LabError(
        "fragile: refusing to run outside a namespace made with `ip netns`: it installs nftables rules "
        "in the namespace it runs in; start it with `ip netns exec <lab namespace> ...`"
    )


def _interface_address(interface: str) -> IPAddress:
    try:
        completed = subprocess.run(
            ["ip", "-j", "addr", "show", "dev", interface], capture_output=True, text=True, timeout=5, check=True
        )
        entries = [entry for item in json.loads(completed.stdout) for entry in item.get("addr_info", [])]
    except (OSError, subprocess.SubprocessError, json.JSONDecodeError) as exc:
        raise LabError(f"fragile: cannot read the addresses of interface {interface!r}: {exc}") from None
    addresses = sorted(
        (ipaddress.ip_address(entry["local"]) for entry in entries if entry.get("scope") != "link"),
        key=lambda address: address.version,
    )
    if not addresses:
        raise LabError(f"fragile: interface {interface!r} has no address; pass option 'address'")
    return addresses[0]


async def _run_nft(arguments: list[str], script: str | None = None) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        "nft", *arguments,
        stdin=asyncio.subprocess.PIPE if script is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _stdout, stderr = await process.communicate(script.encode() if script is not None else None)
    return process.returncode or 0, stderr.decode(errors="replace").strip()


class _Silencer:
    """The nftables table that makes the card go silent."""

    def __init__(self, address: IPAddress) -> None:
        family = "ip" if address.version == 4 else "ip6"
        self._ruleset = (
            f"table inet {_NFT_TABLE} {{\n"
            "  chain prerouting {\n"
            "    type filter hook prerouting priority raw; policy accept;\n"
            f"    {family} daddr {address} drop\n"
            "  }\n"
            "}\n"
        )

    async def install(self) -> None:
        status, error = await _run_nft(["-f", "-"], self._ruleset)
        if status != 0:
            log.error("could not install the hang rule: %s", error)

    async def remove(self) -> None:
        # absent table (never installed, or a clean start) is fine
        await _run_nft(["delete", "table", "inet", _NFT_TABLE])


class _FragileCard:
    def __init__(self, options: Options, address: IPAddress, state_file: Path, listeners: TcpListeners) -> None:
        self._options = options
        self._state_file = state_file
        self._listeners = listeners
        self._tracker = FlowTracker(
            address=address, max_concurrent=options.max_concurrent, max_rate=options.max_rate
        )
        self._silencer = _Silencer(address)
        self._firewall_lock = asyncio.Lock()
        self._loop = asyncio.get_running_loop()
        self._capture: socket.socket | None = None
        self._hung = False
        self._trip_reason: TripReason | None = None
        self._tripped_at: str | None = None
        self._trips = 0
        self._last_write = float("-inf")
        self._pending_write: asyncio.TimerHandle | None = None
        self._recovery: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self._silencer.remove()
        capture = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(_ETH_P_ALL))
        try:
            capture.bind((self._options.interface, 0))
            capture.setblocking(False)
        except OSError as exc:
            capture.close()
            raise LabError(f"fragile: cannot capture on interface {self._options.interface!r}: {exc}") from None
        self._capture = capture
        self._loop.add_reader(capture.fileno(), self._on_packets)
        self._write_state_now()

    async def close(self) -> None:
        if self._capture is not None:
            self._loop.remove_reader(self._capture.fileno())
            self._capture.close()
            self._capture = None
        for handle in (self._pending_write, self._recovery):
            if handle is not None:
                handle.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        async with self._firewall_lock:
            await self._silencer.remove()

    def _on_packets(self) -> None:
        assert self._capture is not None
        for _ in range(256):
            try:
                frame, (_interface, _protocol, packet_type, hardware_type, _hardware) = self._capture.recvfrom(
                    _CAPTURE_BYTES
                )
            except (BlockingIOError, InterruptedError):
                return
            if self._hung or not is_counted_capture(hardware_type, packet_type):
                continue
            segment = parse_ethernet_frame(frame)
            if segment is None:
                continue
            reason = self._tracker.observe(segment, self._loop.time())
            if reason is not None:
                self._trip(reason)
            else:
                self._schedule_state_write()

    def _trip(self, reason: TripReason) -> None:
        self._hung = True
        self._trip_reason = reason
        self._tripped_at = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
        self._trips += 1
        log.warning(
            "tripped on %s (concurrent %d, rate %d/s): going silent",
            reason.value, self._tracker.concurrent, self._tracker.rate,
        )
        self._write_state_now()
        self._spawn(self._install_silence())
        if self._options.hang_seconds > 0:
            self._recovery = self._loop.call_later(self._options.hang_seconds, self._spawn_recovery)

    async def _install_silence(self) -> None:
        async with self._firewall_lock:
            if self._hung:
                await self._silencer.install()

    def _spawn_recovery(self) -> None:
        self._recovery = None
        self._spawn(self.recover())

    def _spawn(self, coroutine: object) -> None:
        task = asyncio.ensure_future(coroutine)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def recover(self) -> None:
        """Come back like after a reboot; a no-op when not hung."""
        if not self._hung:
            log.info("recover requested while up: nothing to do")
            return
        if self._recovery is not None:
            self._recovery.cancel()
            self._recovery = None
        async with self._firewall_lock:
            await self._silencer.remove()
        await self._listeners.drop_connections()
        self._tracker.reset()
        self._hung = False
        log.warning("recovered")
        self._write_state_now()

    async def power_cycle(self) -> None:
        """SIGHUP: recover if hung and start a fresh observation period (maxima to 0).

        ``trips`` and the last trip's reason and time are kept: they are the operator's
        tally of what happened to the card, as a field log would be.
        """
        await self.recover()
        self._tracker.clear_maxima()
        self._write_state_now()

    # state file

    def _schedule_state_write(self) -> None:
        if self._pending_write is not None:
            return
        delay = max(0.0, self._last_write + _STATE_WRITE_INTERVAL - self._loop.time())
        self._pending_write = self._loop.call_later(delay, self._write_state_now)

    def _write_state_now(self) -> None:
        if self._pending_write is not None:
            self._pending_write.cancel()
            self._pending_write = None
        self._last_write = self._loop.time()
        state = {
            "hung": self._hung,
            "trip_reason": self._trip_reason.value if self._trip_reason else None,
            "max_concurrent_seen": self._tracker.max_concurrent_seen,
            "max_rate_seen": self._tracker.max_rate_seen,
            "connections_seen": self._tracker.connections_seen,
            "tripped_at": self._tripped_at,
            "trips": self._trips,
        }
        temporary = self._state_file.with_name(f".{self._state_file.name}.tmp")
        temporary.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
        os.replace(temporary, self._state_file)


async def serve(bind: str, ports: Sequence[int], options: Options, *, context: ServiceContext) -> Running:
    """Serve the card's TCP ports and watch ``options.interface``; needs its own namespace."""
    _ensure_own_namespace()
    address = ipaddress.ip_address(options.address) if options.address else _interface_address(options.interface)
    behaviours = {80: _answer_http, 502: _answer_modbus}

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        local_port = writer.get_extra_info("sockname")[1]
        behaviour = behaviours.get(local_port, _read_then_close)
        await behaviour(reader, writer, options.read_timeout)

    listeners = TcpListeners(on_connection, logger=log)
    await listeners.start(bind, ports, limit=_MAXIMUM_REQUEST_HEAD)
    context.state_dir.mkdir(parents=True, exist_ok=True)
    card = _FragileCard(options, address, context.state_dir / "fragile.json", listeners)
    try:
        await card.start()
    except BaseException:
        await listeners.close()
        raise

    async def close() -> None:
        await card.close()
        await listeners.close()

    return Running(ports=listeners.ports, close=close, hangup=card.power_cycle)


def main(argv: list[str] | None = None) -> int:
    return run_service(argv, kind="fragile", transport=Transport.TCP, options_type=Options, serve=serve)


if __name__ == "__main__":
    raise SystemExit(main())
