"""Full TCP connect probes with a clean close.

A connect probe opens a normal socket, lets the kernel do the three-way handshake and
closes with FIN (after draining anything the peer already sent, because closing a
socket with unread data makes Linux send RST instead of FIN, which some embedded
stacks handle badly). Deadlines come from the caller's ``asyncio.timeout``.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["ConnectResult", "ConnectOutcome", "connect_probe", "close_gently"]

# errno values that mean "an ICMP error came back" rather than silence
_UNREACHABLE = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EACCES, errno.EPERM}


class ConnectResult(StrEnum):
    CONNECTED = "connected"
    REFUSED = "refused"
    UNREACHABLE = "unreachable"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class ConnectOutcome:
    result: ConnectResult
    rtt_s: float
    detail: str | None = None


async def connect_probe(address: str, port: int) -> ConnectOutcome:
    """Connect to ``address:port`` and close again; the caller bounds the time."""
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    started = loop.time()
    try:
        await loop.sock_connect(sock, (address, port))
    except ConnectionRefusedError:
        return ConnectOutcome(ConnectResult.REFUSED, loop.time() - started)
    except OSError as exc:
        if exc.errno in _UNREACHABLE:
            return ConnectOutcome(ConnectResult.UNREACHABLE, loop.time() - started, exc.strerror)
        return ConnectOutcome(ConnectResult.ERROR, loop.time() - started, f"{exc.strerror or exc} (errno {exc.errno})")
    finally:
        # On success this runs after the return value is computed; the rtt excludes it.
        close_gently(sock)
    return ConnectOutcome(ConnectResult.CONNECTED, loop.time() - started)


def close_gently(sock: socket.socket) -> None:
    """Close with FIN, not RST: drain what already arrived, then close."""
    try:
        while sock.recv(4096, socket.MSG_DONTWAIT):
            pass
    except OSError:
        pass
    sock.close()
