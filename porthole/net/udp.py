"""One-datagram UDP probes over a connected socket.

On a connected UDP socket Linux reports an ICMP port-unreachable for our datagram as
``ConnectionRefusedError``: that is how a closed UDP port is told apart from a silent
one. Other ICMP unreachables surface as EHOSTUNREACH/ENETUNREACH. Deadlines come from
the caller's ``asyncio.timeout``.

Why not asyncio-dgram here: asyncio-dgram 3.0 queues an ICMP error and raises it only
on the *next* ``send``/``recv`` call, so a ``recv`` already waiting never learns the
port is closed and the probe would wait out its whole timeout. A tiny protocol that
resolves one future on either event is the thinner transport. (asyncio-dgram remains
the tool for the bound, unconnected sockets of multicast discovery.)
"""

from __future__ import annotations

import asyncio
import errno
import socket
from dataclasses import dataclass
from enum import StrEnum
from typing import Awaitable, Callable

__all__ = ["DatagramResult", "DatagramOutcome", "datagram_probe", "datagram_retrying", "MAX_DATAGRAM"]

MAX_DATAGRAM = 65535
_UNREACHABLE = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EACCES, errno.EPERM}


class DatagramResult(StrEnum):
    REPLY = "reply"
    PORT_UNREACHABLE = "port-unreachable"
    UNREACHABLE = "unreachable"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class DatagramOutcome:
    result: DatagramResult
    rtt_s: float
    reply: bytes = b""
    detail: str | None = None


class _FirstAnswer(asyncio.DatagramProtocol):
    """Resolves ``answer`` with the first accepted datagram or the first socket error."""

    def __init__(self, accept: Callable[[bytes], bool]) -> None:
        self.answer: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._accept = accept

    def datagram_received(self, data: bytes, addr: object) -> None:
        if not self.answer.done() and self._accept(data):
            self.answer.set_result(data[:MAX_DATAGRAM])

    def error_received(self, exc: Exception) -> None:
        if not self.answer.done():
            self.answer.set_exception(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.answer.done():
            self.answer.set_exception(exc or ConnectionError("socket closed"))


async def datagram_probe(address: str, port: int, payload: bytes, *, accept: Callable[[bytes], bool] = lambda _: True) -> DatagramOutcome:
    """Send ``payload`` once and wait for a reply that ``accept`` recognises.

    Datagrams that ``accept`` rejects (stray or malformed) are ignored and the wait goes
    on until the caller's timeout ends it.
    """
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    started = loop.time()
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.setblocking(False)
    try:
        sock.connect((address, port))
        transport, protocol = await loop.create_datagram_endpoint(lambda: _FirstAnswer(accept), sock=sock)
    except OSError as exc:
        sock.close()
        return DatagramOutcome(DatagramResult.ERROR, 0.0, detail=f"{exc.strerror or exc}")
    try:
        # Sent on the socket itself: asyncio's transport silently drops empty datagrams,
        # and an empty datagram is the right probe for an unknown UDP port (as nmap's).
        sock.send(payload)
        started = loop.time()
        reply = await protocol.answer
        return DatagramOutcome(DatagramResult.REPLY, loop.time() - started, reply)
    except ConnectionRefusedError:
        return DatagramOutcome(DatagramResult.PORT_UNREACHABLE, loop.time() - started)
    except OSError as exc:
        if exc.errno in _UNREACHABLE:
            return DatagramOutcome(DatagramResult.UNREACHABLE, loop.time() - started, detail=exc.strerror)
        return DatagramOutcome(DatagramResult.ERROR, loop.time() - started, detail=f"{exc.strerror or exc} (errno {exc.errno})")
    finally:
        transport.close()


async def datagram_retrying(
    address: str,
    port: int,
    payload: bytes,
    *,
    tries: int,
    interval: float,
    before_send: Callable[[], Awaitable[None]] | None = None,
    accept: Callable[[bytes], bool] = lambda _: True,
) -> tuple[DatagramOutcome | None, int]:
    """Send ``payload`` up to ``tries`` times, ``interval`` apart, on ONE socket.

    Returns ``(outcome, tries used)``; ``outcome`` is ``None`` when every try went
    unanswered. Because the socket stays open, a late answer to an earlier try still
    counts (a loaded device or path does not turn a reply into silence).
    """
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.setblocking(False)
    try:
        sock.connect((address, port))
        transport, protocol = await loop.create_datagram_endpoint(lambda: _FirstAnswer(accept), sock=sock)
    except OSError as exc:
        sock.close()
        return DatagramOutcome(DatagramResult.ERROR, 0.0, detail=f"{exc.strerror or exc}"), 0
    started = loop.time()
    try:
        for attempt in range(1, tries + 1):
            if before_send is not None:
                await before_send()
            if attempt == 1:
                started = loop.time()
            try:
                sock.send(payload)
                async with asyncio.timeout(interval):
                    reply = await asyncio.shield(protocol.answer)
                return DatagramOutcome(DatagramResult.REPLY, loop.time() - started, reply), attempt
            except TimeoutError:
                continue
            except ConnectionRefusedError:
                return DatagramOutcome(DatagramResult.PORT_UNREACHABLE, loop.time() - started), attempt
            except OSError as exc:
                result = DatagramResult.UNREACHABLE if exc.errno in _UNREACHABLE else DatagramResult.ERROR
                return DatagramOutcome(result, loop.time() - started, detail=exc.strerror), attempt
        return None, tries
    finally:
        transport.close()
