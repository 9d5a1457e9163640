"""A UDP responder loop that knows which local address each datagram reached.

SSDP must put its own address into ``LOCATION`` and SDP its own IPv6 address into
the answer, but a socket bound to 0.0.0.0 or :: cannot tell from ``getsockname``.
The kernel can: with ``IP_PKTINFO`` / ``IPV6_RECVPKTINFO`` every ``recvmsg`` carries
the datagram's destination address. asyncio's datagram transports drop ancillary
data, hence this small reader on ``loop.add_reader``.

Contract:

* The handler is a plain function ``Datagram -> list of reply payloads``; every
  reply goes back to the sender's address and port from the socket the request
  reached (so from port 1900 for SSDP, as UDA expects).
* A handler that raises is logged and the datagram dropped: garbage never stops
  the responder. Datagrams above ``maximum_size`` are dropped unread by the handler.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["Datagram", "DatagramHandler", "DatagramResponder"]

log = logging.getLogger("lab.services.udp")

# Linux values; Python 3.11's socket module lacks IP_PKTINFO
_IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)
_IN_PKTINFO = struct.Struct("@i4s4s")  # ifindex, spec_dst, addr (header destination)
_IN6_PKTINFO = struct.Struct("@16sI")  # addr, ifindex
_RECEIVE_BUFFER = 65535
_ANCILLARY_BUFFER = socket.CMSG_SPACE(_IN6_PKTINFO.size) + socket.CMSG_SPACE(_IN_PKTINFO.size)
# datagrams handled per readiness callback, so one flood cannot starve the loop
_BURST = 64


@dataclass(frozen=True, slots=True, kw_only=True)
class Datagram:
    payload: bytes
    #: the sender, as ``recvmsg`` returns it (2-tuple IPv4, 4-tuple IPv6)
    peer: tuple[object, ...]
    #: the address this datagram was sent to (IPv4-mapped IPv6 on a dual-stack socket)
    local_address: ipaddress.IPv4Address | ipaddress.IPv6Address | None
    local_port: int


DatagramHandler = Callable[[Datagram], Sequence[bytes]]


class DatagramResponder:
    """UDP sockets on one bind address and several ports, answering through ``handler``."""

    def __init__(self, handler: DatagramHandler, *, maximum_size: int = 8192) -> None:
        self._handler = handler
        self._maximum_size = maximum_size
        self._sockets: list[socket.socket] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def ports(self) -> list[int]:
        return [sock.getsockname()[1] for sock in self._sockets]

    async def open(self, bind: str, ports: Sequence[int]) -> None:
        self._loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ipaddress.ip_address(bind).version == 6 else socket.AF_INET
        for port in ports:
            sock = socket.socket(family, socket.SOCK_DGRAM)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
                else:
                    sock.setsockopt(socket.IPPROTO_IP, _IP_PKTINFO, 1)
                sock.setblocking(False)
                sock.bind((bind, port))
            except OSError:
                sock.close()
                self.close()
                raise
            self._sockets.append(sock)
            self._loop.add_reader(sock.fileno(), self._on_readable, sock)

    def close(self) -> None:
        for sock in self._sockets:
            if self._loop is not None and sock.fileno() >= 0:
                self._loop.remove_reader(sock.fileno())
            sock.close()
        self._sockets.clear()

    def _on_readable(self, sock: socket.socket) -> None:
        for _ in range(_BURST):
            try:
                payload, ancillary, _flags, peer = sock.recvmsg(_RECEIVE_BUFFER, _ANCILLARY_BUFFER)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                # e.g. an ICMP error queued from an earlier reply
                log.debug("receive error ignored: %s", exc)
                continue
            if len(payload) > self._maximum_size:
                log.debug("dropped a %d-byte datagram from %s (limit %d)", len(payload), peer, self._maximum_size)
                continue
            datagram = Datagram(
                payload=payload,
                peer=tuple(peer),
                local_address=_destination_address(ancillary),
                local_port=sock.getsockname()[1],
            )
            try:
                replies = self._handler(datagram)
            except Exception:
                log.exception("handler failed on a %d-byte datagram from %s; dropped", len(payload), peer)
                continue
            for reply in replies:
                try:
                    sock.sendto(reply, peer)
                except OSError as exc:
                    log.debug("reply to %s failed: %s", peer, exc)


def _destination_address(
    ancillary: list[tuple[int, int, bytes]],
) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    for level, kind, data in ancillary:
        if level == socket.IPPROTO_IP and kind == _IP_PKTINFO and len(data) >= _IN_PKTINFO.size:
            _ifindex, _spec_dst, destination = _IN_PKTINFO.unpack_from(data)
            return ipaddress.IPv4Address(destination)
        if level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO and len(data) >= _IN6_PKTINFO.size:
            destination, _ifindex = _IN6_PKTINFO.unpack_from(data)
            return ipaddress.IPv6Address(destination)
    return None
