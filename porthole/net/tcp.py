"""Full TCP connect probes with a clean close.

A connect probe opens a normal socket, lets the kernel do the three-way handshake and
closes with FIN in both directions: half-close, drain whatever the peer sends (a
banner), wait briefly for its FIN, then close. Closing a socket with unread data makes
Linux send RST instead, which some embedded stacks handle badly. Deadlines come from
the caller's ``asyncio.timeout``.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["ConnectResult", "ConnectOutcome", "open_probe", "close_cleanly", "connect_probe", "close_gently"]

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


async def open_probe(address: str, port: int) -> tuple[ConnectOutcome, socket.socket | None]:
    """Connect to ``address:port``; on success the open socket is returned with the outcome.

    The caller bounds the connect with its timeout and then closes the socket with
    ``close_cleanly`` *outside* that deadline (a linger is not a connect failure).
    """
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    started = loop.time()
    try:
        await loop.sock_connect(sock, (address, port))
    except ConnectionRefusedError:
        sock.close()
        return ConnectOutcome(ConnectResult.REFUSED, loop.time() - started), None
    except OSError as exc:
        sock.close()
        if exc.errno in _UNREACHABLE:
            return ConnectOutcome(ConnectResult.UNREACHABLE, loop.time() - started, exc.strerror), None
        return ConnectOutcome(ConnectResult.ERROR, loop.time() - started, f"{exc.strerror or exc} (errno {exc.errno})"), None
    except BaseException:  # cancelled by the caller's deadline: never leak the socket
        sock.close()
        raise
    return ConnectOutcome(ConnectResult.CONNECTED, loop.time() - started), sock


async def close_cleanly(sock: socket.socket, linger: float) -> None:
    """Send FIN, then read and discard until the peer closes too or ``linger`` runs out.

    Closing while the peer's data (an SSH banner, say) is still arriving makes Linux
    answer that data with RST; half-closing first and draining until the peer's own
    FIN ends the connection with FIN in both directions, the way a well-behaved
    client does. A peer that keeps the connection open past ``linger`` gets our close.
    """
    loop = asyncio.get_running_loop()
    try:
        sock.shutdown(socket.SHUT_WR)
        async with asyncio.timeout(linger):
            while await loop.sock_recv(sock, 4096):
                pass
    except (TimeoutError, OSError):
        pass
    finally:
        close_gently(sock)


async def connect_probe(address: str, port: int, *, linger: float = 0.25) -> ConnectOutcome:
    """Connect and close cleanly; the caller bounds the connect (and the linger) in time."""
    outcome, sock = await open_probe(address, port)
    if sock is not None:
        await close_cleanly(sock, linger)
    return outcome


def close_gently(sock: socket.socket) -> None:
    """Close with FIN, not RST: drain what already arrived, then close."""
    try:
        while sock.recv(4096, socket.MSG_DONTWAIT):
            pass
    except OSError:
        pass
    sock.close()
