"""The gentleness limits: a global cap, a per-host cap and a per-host pace.

    global semaphore      probes in flight across the whole sweep
    HostGate.semaphore    connections/datagrams in flight to one host (default 2)
    HostGate pacing       new connections or datagrams per second to one host (default 40)

Pacing is an even spacing (one start every 1/rate seconds), not a token bucket: a
bucket that starts full lets a burst of ``rate`` probes out in the first instant,
which is exactly what trips embedded stacks that count connections per second.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import AsyncIterator

__all__ = ["HostGate"]


class HostGate:
    """Admission for probes to one host: at most ``connections`` at once, ``rate`` starts per second."""

    def __init__(self, *, connections: int, rate: float, global_limit: asyncio.Semaphore) -> None:
        if connections < 1:
            raise ValueError("per-host connections must be at least 1")
        if rate <= 0:
            raise ValueError("per-host rate must be positive")
        self._semaphore = asyncio.Semaphore(connections)
        self._global = global_limit
        self._interval = 1.0 / rate
        self._next_start = 0.0
        self._pace_lock = asyncio.Lock()

    async def pace(self) -> None:
        """Wait for this host's next start slot (also used by probes for each new connection)."""
        # The lock is held across the sleep and the next start is measured from the
        # *actual* previous start: a late wake-up then delays the following probe
        # instead of squeezing two starts closer than 1/rate, so no sliding second
        # ever holds more than ``rate`` starts.
        loop = asyncio.get_running_loop()
        async with self._pace_lock:
            wait = self._next_start - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            self._next_start = loop.time() + self._interval

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one per-host and one global slot for the duration of a probe."""
        async with self._semaphore:
            async with self._global:
                await self.pace()
                yield
