"""The contract of a fingerprint probe (phase 2 of an audit).

A probe is a class (one per ``services/<name>/`` package) with:

* ``id``: stable kebab-case name (``ssh``, ``modbus``); its evidence is filed under
  this key in ``PortObservation.evidence`` and its failures in ``HostResult.probes``;
* ``claims(observation) -> bool``: whether it applies to an open port, usually by
  catalogue service id (``observation.service == "modbus"``);
* ``async run(context) -> dict``: the evidence, JSON-serialisable *facts only*
  (no judgements). Unknown or malformed answers are evidence too (e.g.
  ``{"recognised": False, "reason": "no SSH identification line within 255 bytes"}``);
* ``assess(evidence, port) -> list[Finding]``: pure; turns evidence into findings,
  built with ``porthole.findings.finding`` so ids, severities, titles, settings and
  recommendations all come from the documented table (``catalog/findings.toml``);
* ``summarise(evidence) -> str | None``: one line for the ports table ("OpenSSH_9.2p1",
  "Modbus: Acme CC 5.32"), like nmap's VERSION column;
* optionally ``follows_up(observation) -> bool``: whether it applies to an open port it
  did not claim, judged from the evidence the claiming probes left on ``observation``
  (the engine asks once they have finished): the TLS probe takes an uncatalogued port
  whose banner grab found it silent, since a TLS server waits for the client's hello;
* optionally ``after: frozenset[str]``: ids of probes whose evidence *on other ports of
  the host* this one reads (``context.host_evidence``); the engine runs it once those
  probes have finished on every port of the host (SEMP on 8888 waits for the SSDP probe
  on 1900/udp, which read the basePath from the UPnP description), and no longer.

Rules every probe follows (architecture.md §5.4, protocols.md §0):

* read-only and pre-authentication: the fewest packets that identify the service,
  then a clean close; never a write, a login, a charging action or a subscription;
* every read bounded in size (``context.limits``) and made through the context's
  connections, which the engine paces under the host's gate;
* no overall deadline of its own: the engine wraps ``run`` in
  ``asyncio.timeout(probe_budget)``; a probe may use short *phase* waits (e.g. "2 s
  for KEXINIT") via ``context.wait``;
* a failure raises; the engine records it as a ``ProbeResult`` with the reason, so a
  hostile device becomes evidence, never a crash. Raise ``ProbeFailure(reason, detail)``
  to name the reason (``malformed``, ``unrecognised``, ``too-large``...).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TypeVar

from porthole.errors import ErrorReason
from porthole.model import Finding, PortObservation
from porthole.targets import Target

__all__ = ["ServiceProbe", "ProbeContext", "ProbeLimits", "ProbeFailure", "read_bounded", "close_stream"]

T = TypeVar("T")


class ProbeFailure(Exception):
    """A probe could not establish its evidence; ``reason`` is an ``ErrorReason`` value."""

    def __init__(self, reason: ErrorReason | str, detail: str) -> None:
        super().__init__(detail)
        self.reason = str(reason.value if isinstance(reason, ErrorReason) else reason)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeLimits:
    """Caps every probe applies to what a device may send (hostile devices exist)."""

    #: bytes read from one connection in total
    max_read: int = 64 * 1024
    #: one protocol line (banner, HTTP header line)
    max_line: int = 8 * 1024
    #: a document (XML description, HTML page) kept for parsing
    max_document: int = 256 * 1024
    #: wait for the first byte of an answer
    first_byte: float = 5.0
    #: wait between two chunks of one answer
    between_chunks: float = 2.0


@dataclass(slots=True, kw_only=True)
class ProbeContext:
    """What a probe may use: the target, the port, paced connections, limits.

    Connections opened here are counted against the host's pace (the engine holds the
    host's connection slot while the probe runs, so a probe opens them one at a time).
    """

    target: Target
    observation: PortObservation
    limits: ProbeLimits = field(default_factory=ProbeLimits)
    #: the engine's pacing hook: awaited before each new connection or datagram
    pace: Callable[[], Awaitable[None]] = field(default=lambda: asyncio.sleep(0))
    #: porthole's version, for User-Agent and SSH identification strings
    version: str = "0"
    #: for probes that declare ``after``: the evidence of the host's other ports once
    #: those probes have finished, keyed "1900/udp" -> {probe id: evidence}; empty otherwise
    host_evidence: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return str(self.target.address)

    @property
    def port(self) -> int:
        return self.observation.port

    @property
    def host_header(self) -> str:
        """Host for HTTP/SSDP: the name the user gave, else the address ([v6] bracketed)."""
        if self.target.hostname:
            return self.target.hostname
        return f"[{self.address}]" if ":" in self.address else self.address

    async def open_stream(self, *, port: int | None = None, tls: ssl.SSLContext | None = None, server_hostname: str | None = None) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A paced TCP (optionally TLS) connection to the target; the caller closes it."""
        await self.pace()
        return await asyncio.open_connection(
            self.address,
            port or self.port,
            ssl=tls,
            server_hostname=server_hostname if tls is not None else None,
            limit=self.limits.max_line,
        )

    async def wait(self, awaitable: Awaitable[T], seconds: float) -> T:
        """A phase wait (e.g. "2 s for the banner"); raises ``TimeoutError``."""
        async with asyncio.timeout(seconds):
            return await awaitable


async def read_bounded(reader: asyncio.StreamReader, *, limit: int, first_byte: float, between_chunks: float, until: Callable[[bytes], bool] = lambda _: False) -> tuple[bytes, str]:
    """Read until EOF, ``until(data)`` is true, ``limit`` bytes, or a stall.

    Returns the bytes and why reading stopped: ``eof``, ``complete``, ``limit`` or
    ``stalled`` (no byte within ``first_byte`` / ``between_chunks``). A device that
    sends 10 MB or stalls mid-reply therefore costs at most ``limit`` bytes and a
    bounded wait, and the caller records why.
    """
    data = bytearray()
    wait = first_byte
    while len(data) < limit:
        try:
            async with asyncio.timeout(wait):
                chunk = await reader.read(min(65536, limit - len(data)))
        except TimeoutError:
            return bytes(data), "stalled"
        if not chunk:
            return bytes(data), "eof"
        data += chunk
        if until(bytes(data)):
            return bytes(data), "complete"
        wait = between_chunks
    return bytes(data), "limit"


async def close_stream(writer: asyncio.StreamWriter) -> None:
    """Close a probe's stream without waiting on a peer that never finishes."""
    writer.close()
    try:
        async with asyncio.timeout(1.0):
            await writer.wait_closed()
    except (TimeoutError, OSError, ssl.SSLError):
        pass


class ServiceProbe(Protocol):
    id: ClassVar[str]

    def claims(self, observation: PortObservation) -> bool: ...

    async def run(self, context: ProbeContext) -> dict[str, Any]: ...

    def assess(self, evidence: dict[str, Any], observation: PortObservation) -> list[Finding]: ...

    def summarise(self, evidence: dict[str, Any]) -> str | None: ...
