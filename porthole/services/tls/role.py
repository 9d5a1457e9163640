"""Role evidence from the web forwarders' certificates (protocols.md §0.1).

    on a master:  443 = its own UI · 444 → master (itself) · 445 → the slave
    on a slave:   443 = its own UI · 444 → the master     · 445 → slave (itself)

So on a master 444/tcp presents the same certificate as 443/tcp and 445/tcp another
one; on a slave it is the other way round. Pure: reads the TLS probe's evidence
(leaf certificate SHA-256) from the observations; says nothing when a port is
missing, unidentified, or both or neither forwarder match.
"""

from __future__ import annotations

from collections.abc import Sequence

from porthole.model import PortObservation, PortState, Protocol
from porthole.profiles import RoleClue

__all__ = ["forwarder_certificate_clues", "leaf_fingerprint"]


def leaf_fingerprint(observation: PortObservation) -> str | None:
    evidence = observation.evidence.get("tls")
    if not isinstance(evidence, dict):
        return None
    for certificate in evidence.get("certificates") or ():
        if isinstance(certificate, dict) and certificate.get("position") == 0 and certificate.get("sha256"):
            return str(certificate["sha256"])
    return None


def forwarder_certificate_clues(observations: Sequence[PortObservation]) -> list[RoleClue]:
    """At most one clue: which web port's certificate matches this unit's own 443/tcp."""
    fingerprints = {
        observation.port: leaf_fingerprint(observation)
        for observation in observations
        if observation.protocol is Protocol.TCP and observation.port in (443, 444, 445) and observation.state is PortState.OPEN
    }
    own, to_master, to_slave = fingerprints.get(443), fingerprints.get(444), fingerprints.get(445)
    if not (own and to_master and to_slave):
        return []
    if to_master == own and to_slave != own:
        return [RoleClue(role="master", line=f"444/tcp presents the certificate of 443/tcp (sha256 {own[:12]}…) and 445/tcp another one: 444 reaches this unit, so it is the master")]
    if to_slave == own and to_master != own:
        return [RoleClue(role="slave", line=f"445/tcp presents the certificate of 443/tcp (sha256 {own[:12]}…) and 444/tcp another one: 445 reaches this unit, so it is the slave")]
    return []
