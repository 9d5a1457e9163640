"""Fingerprint probes: one package per service, registered in ``REGISTRY``.

Adding a service touches one new package here and one line in ``REGISTRY`` (plus a
codec in ``porthole.codecs`` if the wire format is new, and its finding ids in
``catalog/findings.toml``). ``base.py`` holds the contract every probe follows.

``assess_host`` is the pure step after a scan: each probe judges its own evidence,
then host-level assessors judge evidence across ports (e.g. the SKI advertised over
mDNS against the certificate served on 4711).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from porthole.model import Finding, HostResult
from porthole.services.base import ServiceProbe

__all__ = ["REGISTRY", "HOST_ASSESSORS", "ServiceProbe", "assess_host", "probe_by_id"]

log = logging.getLogger(__name__)

#: Every fingerprint probe porthole can run. An explicit tuple: no import-time
#: registration side effects, and the set a reader sees is the set that runs.
REGISTRY: tuple[ServiceProbe, ...] = ()

#: Pure functions judging evidence across the ports of one host.
HOST_ASSESSORS: tuple[Callable[[HostResult], Sequence[Finding]], ...] = ()


def probe_by_id(probe_id: str, registry: Sequence[ServiceProbe] = REGISTRY) -> ServiceProbe | None:
    return next((probe for probe in registry if probe.id == probe_id), None)


def assess_host(
    host: HostResult,
    registry: Sequence[ServiceProbe] = REGISTRY,
    host_assessors: Sequence[Callable[[HostResult], Sequence[Finding]]] = HOST_ASSESSORS,
) -> tuple[Finding, ...]:
    """Findings from every probe's evidence on ``host``, then from the host assessors."""
    findings: list[Finding] = []
    for observation in host.ports:
        for probe_id, evidence in observation.evidence.items():
            probe = probe_by_id(probe_id, registry)
            if probe is None:
                continue  # evidence of the reachability phase (e.g. "reach") has no assessor
            findings.extend(probe.assess(evidence, observation))
    for assessor in host_assessors:
        findings.extend(assessor(host))
    return tuple(findings)
