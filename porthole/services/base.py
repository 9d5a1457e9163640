"""The contract of a fingerprint probe (phase 2 of a scan).

A probe is an object with:

* ``id``: a stable kebab-case name (``modbus``, ``tls``); evidence is filed under it;
* ``claims(observation) -> bool``: whether it applies to an open port
  (usually by the catalogue service id, e.g. ``observation.service == "modbus"``);
* ``async run(target, observation) -> dict``: the evidence, JSON-serialisable facts
  only (no judgements; ``assess`` functions turn evidence into findings).

Rules a probe follows (architecture.md §5.4, protocols.md §0):

* read-only and pre-authentication: one identification exchange, then close;
* every read bounded in size; it never sets its own overall deadline: the engine
  wraps ``run`` in ``asyncio.timeout(probe_budget)`` and in the host's gate;
* failures raise; the engine records them as a ``ProbeResult`` with the error, so a
  hostile device becomes evidence, never a crash.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

from porthole.model import PortObservation
from porthole.targets import Target

__all__ = ["ServiceProbe"]


class ServiceProbe(Protocol):
    id: ClassVar[str]

    def claims(self, observation: PortObservation) -> bool: ...

    async def run(self, target: Target, observation: PortObservation) -> dict[str, Any]: ...
