"""TCP forwarder: the controller's 81/82/444/445/23/24, which relay to a peer's 80/443/22.

Each accepted connection opens one connection to ``to_address``:``port`` and
bytes are piped both ways. An EOF from one side is passed on to the other as a
half-close (so replies still in flight arrive); when both directions have
reached EOF, or either fails, both connections are closed. If the
peer cannot be reached within ``connect_timeout`` the accepted connection is
closed without a byte, which is what a forwarder without its peer looks like
(protocols.md §1 "forwarder without peer").

Options (JSON keys of ``--options``; ``lab.daemons`` fills ``to_address`` from ``to``):

===================  ==============================================================
``to``               the peer controller's name in the site file (informational)
``to_address``       the peer's IP address (required)
``port``             the peer's TCP port (required), e.g. 443 for 444
``connect_timeout``  seconds to wait for the peer (default 3)
===================  ==============================================================

Buffers are bounded: each direction reads at most 64 KiB at a time and waits for
the other side to drain before reading more, so a slow reader stalls its writer
instead of growing memory.

Must not: look at or change the bytes it relays.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from lab.services._common import Running, ServiceContext, TcpListeners, run_service
from porthole.model import Protocol as Transport

__all__ = ["Options", "serve", "main"]

log = logging.getLogger("lab.services.forward")

_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    to_address: str
    port: int
    to: str | None = None
    connect_timeout: float = 3.0

    def __post_init__(self) -> None:
        ipaddress.ip_address(self.to_address)
        if not 1 <= self.port <= 65535:
            raise ValueError(f"option 'port' {self.port} is outside 1..65535")
        if self.connect_timeout <= 0:
            raise ValueError("option 'connect_timeout' must be positive")


async def _pipe(source: asyncio.StreamReader, destination: asyncio.StreamWriter) -> None:
    """Copy until EOF, then pass the EOF on (half-close), so in-flight replies still arrive."""
    while chunk := await source.read(_CHUNK):
        destination.write(chunk)
        await destination.drain()
    if destination.can_write_eof() and not destination.is_closing():
        destination.write_eof()


async def serve(bind: str, ports: Sequence[int], options: Options, *, context: ServiceContext) -> Running:
    """Forward every TCP port of ``ports`` (0 = any) to the peer."""

    async def on_connection(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        client = client_writer.get_extra_info("peername")
        try:
            async with asyncio.timeout(options.connect_timeout):
                peer_reader, peer_writer = await asyncio.open_connection(options.to_address, options.port, limit=_CHUNK)
        except (OSError, TimeoutError) as exc:
            log.info("peer %s:%d unreachable for %s (%r): closing", options.to_address, options.port, client, exc)
            return
        try:
            # An EOF is passed on as a half-close; once both directions have ended
            # both connections are closed. An error (reset) in either ends both at once.
            pipes = [
                asyncio.ensure_future(_pipe(client_reader, peer_writer)),
                asyncio.ensure_future(_pipe(peer_reader, client_writer)),
            ]
            try:
                await asyncio.wait(pipes, return_when=asyncio.FIRST_EXCEPTION)
            finally:
                for pipe in pipes:
                    pipe.cancel()
                results = await asyncio.gather(*pipes, return_exceptions=True)
            for result in results:
                if isinstance(result, Exception) and not isinstance(result, OSError):
                    raise result
        finally:
            peer_writer.close()
            with contextlib.suppress(OSError):
                await peer_writer.wait_closed()

    listeners = TcpListeners(on_connection, logger=log)
    await listeners.start(bind, ports, limit=_CHUNK)
    return Running(ports=listeners.ports, close=listeners.close)


def main(argv: list[str] | None = None) -> int:
    return run_service(argv, kind="forward", transport=Transport.TCP, options_type=Options, serve=serve)


if __name__ == "__main__":
    raise SystemExit(main())
