"""ISO 15118 V2G without TLS (15119/tcp): recorded from the reachability phase, no traffic.

All porthole may do on 15119 is connect and close (protocols.md §9.3: no
supportedAppProtocolReq or any later V2G message, and an SECC never speaks first),
and the reachability phase already did exactly that. So this probe sends nothing: it
turns "15119/tcp open" into evidence that a plain V2G listener is reachable.

No finding here, on purpose. Reachable 15119 is already judged by the role profile
(``profile-forbidden-open`` on 15119/tcp, medium, with the ISO 15118 setting), and
the SDP probe raises ``iso15118-no-tls`` when the SECC itself says it accepts no TLS.
A third verdict from a bare connect would repeat the profile's, and on a site whose
profile allows 15119 (a vantage on the PLC segment, where DIN 70121 vehicles need it)
it would be wrong.
"""

from __future__ import annotations

from typing import Any, ClassVar

from porthole.model import Finding, PortObservation, PortState, Protocol
from porthole.jsonable import to_jsonable
from porthole.services.base import ProbeContext
from porthole.services.v2g.evidence import V2gEvidence

__all__ = ["V2gProbe"]


class V2gProbe:
    id: ClassVar[str] = "v2g"

    def claims(self, observation: PortObservation) -> bool:
        return observation.service == "iso15118-v2g" and observation.protocol is Protocol.TCP and observation.state is PortState.OPEN

    async def run(self, context: ProbeContext) -> dict[str, Any]:
        evidence = V2gEvidence(plain_v2g_port_open=True, established_by=context.observation.reason.value)
        return to_jsonable(evidence)  # type: ignore[return-value]

    def assess(self, evidence: dict[str, Any], observation: PortObservation) -> list[Finding]:
        return []

    def summarise(self, evidence: dict[str, Any]) -> str | None:
        return "ISO 15118 V2G without TLS (TCP listener; not spoken to)" if evidence.get("plain_v2g_port_open") else None
