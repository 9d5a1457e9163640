"""Fingerprint probes: one package per service, registered in ``registry()``.

Adding a service touches one new package here and one entry in ``registry()`` (plus a
codec in ``porthole.codecs`` if the wire format is new, and its finding ids in
``catalog/findings.toml``). ``base.py`` holds the contract every probe follows.

``assess_host`` is the pure step after a scan: each probe judges its own evidence,
then host-level assessors judge evidence across ports (e.g. the SKI advertised over
mDNS against the certificate served on 4711).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from functools import lru_cache

from porthole.model import Finding, HostResult
from porthole.services.base import ServiceProbe

__all__ = ["registry", "host_assessors", "ServiceProbe", "assess_host", "probe_by_id"]

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def registry() -> tuple[ServiceProbe, ...]:
    """Every fingerprint probe porthole can run, in one explicit tuple.

    No import-time registration side effects: the set a reader sees here is the set
    that runs. Built on first use, so ``porthole scan`` (no fingerprints) and the
    engine never pay for importing every probe and its libraries.
    """
    from porthole.services.banner import BannerProbe
    from porthole.services.dns import DnsProbe
    from porthole.services.eebus import EebusProbe
    from porthole.services.http import HttpProbe
    from porthole.services.mdns import MdnsProbe
    from porthole.services.modbus import ModbusProbe
    from porthole.services.ocpps import OcppsProbe
    from porthole.services.sdp import SdpProbe
    from porthole.services.semp import SempProbe
    from porthole.services.ssdp import SsdpProbe
    from porthole.services.ssh import SshProbe
    from porthole.services.tls import TlsProbe
    from porthole.services.v2g import V2gProbe

    return (
        BannerProbe(),
        DnsProbe(),
        EebusProbe(),
        HttpProbe(),
        MdnsProbe(),
        ModbusProbe(),
        OcppsProbe(),
        SdpProbe(),
        SempProbe(),
        SsdpProbe(),
        SshProbe(),
        TlsProbe(),
        V2gProbe(),
    )


@lru_cache(maxsize=1)
def host_assessors() -> tuple[Callable[[HostResult], Sequence[Finding]], ...]:
    """Pure functions judging evidence across the ports of one host."""
    from porthole.services.eebus import assess_ski_match

    return (
        assess_ski_match,  # EEBUS: SKI in mDNS TXT (5353/udp) vs certificate on the SHIP port
    )


def probe_by_id(probe_id: str, probes: Sequence[ServiceProbe] | None = None) -> ServiceProbe | None:
    return next((probe for probe in (registry() if probes is None else probes) if probe.id == probe_id), None)


def assess_host(
    host: HostResult,
    probes: Sequence[ServiceProbe] | None = None,
    assessors: Sequence[Callable[[HostResult], Sequence[Finding]]] | None = None,
) -> tuple[Finding, ...]:
    """Findings from every probe's evidence on ``host``, then from the host assessors."""
    probes = registry() if probes is None else probes
    assessors = host_assessors() if assessors is None else assessors
    findings: list[Finding] = []
    for observation in host.ports:
        for probe_id, evidence in observation.evidence.items():
            probe = probe_by_id(probe_id, probes)
            if probe is None:
                continue  # evidence of the reachability phase (e.g. "reach") has no assessor
            findings.extend(probe.assess(evidence, observation))
    for assessor in assessors:
        findings.extend(assessor(host))
    return tuple(findings)
