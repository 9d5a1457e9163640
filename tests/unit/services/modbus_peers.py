"""Scripted Modbus TCP peers on loopback for the Modbus probe tests: well-behaved, odd and hostile.

A ``ModbusPeer`` accepts connections, reads one request ADU per connection, records
it, and lets a behaviour decide what goes back (a reply PDU, raw bytes, a close, a
stall). It also records anything a client sends after its first request on the same
connection, so tests can assert "one request per connection".
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import struct
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from porthole.model import PortObservation, PortState, Protocol, Reason
from porthole.services.base import ProbeContext, ProbeLimits
from porthole.targets import Target

__all__ = ["Request", "ModbusPeer", "SendThenClose", "modbus_peer", "probe_context", "reply", "raw", "close", "stall", "frame"]


@dataclass(frozen=True, slots=True)
class Request:
    transaction_id: int
    unit_id: int
    pdu: bytes
    raw: bytes

    @property
    def function_code(self) -> int:
        return self.pdu[0]


@dataclass(frozen=True, slots=True)
class SendThenClose:
    """Send these bytes and close the connection at once (a reply cut short)."""

    data: bytes


#: what a behaviour returns: bytes to send (then wait for the client to close),
#: ``SendThenClose``, ``None`` to close at once, or ``STALL`` to keep the
#: connection open and silent until the client leaves
Behaviour = Callable[[Request, int], "bytes | SendThenClose | None | object"]
STALL = object()


def frame(transaction_id: int, unit_id: int, pdu: bytes, *, protocol_id: int = 0, length: int | None = None) -> bytes:
    return struct.pack("!HHHB", transaction_id, protocol_id, 1 + len(pdu) if length is None else length, unit_id) + pdu


def reply(pdu_for: Callable[[Request], bytes]) -> Behaviour:
    """Answer each request with a well-formed frame echoing its transaction and unit id."""
    return lambda request, _index: frame(request.transaction_id, request.unit_id, pdu_for(request))


def raw(data_for: Callable[[Request], bytes]) -> Behaviour:
    return lambda request, _index: data_for(request)


def close() -> Behaviour:
    return lambda _request, _index: None


def stall() -> Behaviour:
    return lambda _request, _index: STALL


@dataclass
class ModbusPeer:
    behaviour: Behaviour
    #: sent before the stall, for "part of a frame then silence"
    stall_prefix: Callable[[Request], bytes] = lambda _request: b""
    requests: list[Request] = field(default_factory=list)
    #: bytes a client sent after its first request on one connection
    extra_bytes: list[bytes] = field(default_factory=list)
    connections: int = 0
    port: int = 0
    handlers: set[asyncio.Task[None]] = field(default_factory=set)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        index = self.connections
        self.connections += 1
        try:
            header = await reader.readexactly(7)
            transaction_id, _, length, unit_id = struct.unpack("!HHHB", header)
            pdu = await reader.readexactly(length - 1)
            request = Request(transaction_id, unit_id, pdu, header + pdu)
            self.requests.append(request)
            action = self.behaviour(request, index)
            if action is STALL:
                writer.write(self.stall_prefix(request))
                await writer.drain()
                rest = await reader.read(4096)  # until the client gives up and closes
                if rest:
                    self.extra_bytes.append(rest)
                return
            if isinstance(action, SendThenClose):
                writer.write(action.data)
                await writer.drain()
                return
            if isinstance(action, bytes):
                writer.write(action)
                await writer.drain()
                # the client closes after its reply; anything else it sends is recorded
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(2):
                        rest = await reader.read(4096)
                        if rest:
                            self.extra_bytes.append(rest)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


@contextlib.asynccontextmanager
async def modbus_peer(behaviour: Behaviour, **options: object) -> AsyncIterator[ModbusPeer]:
    peer = ModbusPeer(behaviour, **options)  # type: ignore[arg-type]
    server = await asyncio.start_server(peer.handle, "127.0.0.1", 0)
    peer.port = server.sockets[0].getsockname()[1]
    try:
        yield peer
    finally:
        server.close()
        await server.wait_closed()
        # every handler ends once the client has closed (the probe always does): wait for them,
        # so no connection task outlives the test
        if peer.handlers:
            await asyncio.wait(peer.handlers, timeout=5)


def probe_context(port: int, *, address: str = "127.0.0.1", limits: ProbeLimits | None = None, service: str = "modbus") -> ProbeContext:
    target = Target(address=ipaddress.ip_address(address), spec=address)
    observation = PortObservation(port=port, protocol=Protocol.TCP, state=PortState.OPEN, reason=Reason.SYN_ACK, service=service)
    return ProbeContext(target=target, observation=observation, limits=limits or ProbeLimits())
