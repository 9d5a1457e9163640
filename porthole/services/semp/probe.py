"""SEMP on 8888/tcp: GET the base path and read the Device2EM document (protocols.md §7.3).

What it sends: at most four ``GET`` requests, one per connection, stopping at the first
``Device2EM`` answer. First the basePath the device advertises in its UPnP description
(``X_SEMPSERVICE``, read by the SSDP probe on 1900/udp: this probe declares ``after``,
so the engine runs it once that evidence is in), when it names this host and port; then
the base paths SEMP gateways use (``/semp/``: evcc's own gateway and openHAB;
``/SimpleEnergyManagementProtocol/``: evcc's path for these controllers; ``/SEMP/``:
SMA's EV charger). An advertised path is taken only if it is a plain absolute path
(letters, digits, ``._~-/``): a description is device-controlled text and goes into our
request line.

Must not: POST (an ``EM2Device`` document with ``DeviceControl`` switches or throttles
charging), follow redirects, or send anything but GET. A device that stalls or
refuses the first connection ends the probe at once (a ``ProbeFailure``): trying
more paths would only wait on it again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit

from porthole.codecs import CodecError
from porthole.codecs.semp import MAX_DOCUMENT, Device2Em, parse_device2em
from porthole.codecs.xmldoc import UnexpectedDocument, XmlRefused
from porthole.model import Finding, PortObservation, PortState
from porthole.jsonable import to_jsonable
from porthole.services._http_get import HttpDocument, http_get
from porthole.services.base import ProbeContext, ProbeFailure
from porthole.services.semp import assess as assess_module
from porthole.services.semp.evidence import AttemptOutcome, SempAttempt, SempEvidence

__all__ = ["SempProbe", "BASE_PATHS"]

#: tried in this order (after an advertised basePath); the first Device2EM answer wins
BASE_PATHS = ("/semp/", "/SimpleEnergyManagementProtocol/", "/SEMP/")
#: what an advertised basePath may look like to be sent at all
_SAFE_PATH = re.compile(r"/[A-Za-z0-9._~/-]{0,200}")


class SempProbe:
    id: ClassVar[str] = "semp"
    #: reads the UPnP description the SSDP probe fetched (``context.host_evidence``)
    after: ClassVar[frozenset[str]] = frozenset({"ssdp"})

    def __init__(self, *, base_paths: tuple[str, ...] = BASE_PATHS) -> None:
        self.base_paths = base_paths

    def claims(self, observation: PortObservation) -> bool:
        return observation.service == "semp" and observation.state is PortState.OPEN

    async def run(self, context: ProbeContext) -> dict[str, Any]:
        return to_jsonable(await self.collect(context))

    async def collect(self, context: ProbeContext) -> SempEvidence:
        limit = min(context.limits.max_document, MAX_DOCUMENT)
        attempts: list[SempAttempt] = []
        advertised = advertised_base_path(context.host_evidence, address=context.address, hostname=context.target.hostname, port=context.port)
        paths = [advertised] if advertised else []
        paths += [path for path in self.base_paths if path != advertised]
        for path in paths:
            try:
                document = await http_get(context, port=context.port, path=path, limit=limit)
            except ProbeFailure as failure:
                if not attempts:
                    raise
                attempts.append(SempAttempt(path=path, outcome=AttemptOutcome.CONNECTION_FAILED, detail=str(failure)))
                break
            attempt, parsed = _judge(path, document, limit)
            attempts.append(attempt)
            if parsed is not None:
                return SempEvidence(
                    recognised=True,
                    base_path=path,
                    url=document.url,
                    server=document.server,
                    namespace=parsed.namespace,
                    device_info=parsed.device_info,
                    device_status=parsed.device_status,
                    planning_requests=parsed.planning_requests,
                    attempts=tuple(attempts),
                    advertised_base_path=advertised,
                )
        return SempEvidence(recognised=False, attempts=tuple(attempts), advertised_base_path=advertised)

    def assess(self, evidence: dict[str, Any], observation: PortObservation) -> list[Finding]:
        return assess_module.assess(evidence, observation)

    def summarise(self, evidence: dict[str, Any]) -> str | None:
        return assess_module.summarise(evidence)


def advertised_base_path(host_evidence: Mapping[str, Mapping[str, Any]], *, address: str, hostname: str | None, port: int) -> str | None:
    """The SEMP basePath an SSDP-fetched UPnP description gives for ``address:port``, as ``/path/``.

    Only a description whose ``semp:server`` names this host (address or the name the
    user gave) and this port, and only a plain absolute path; anything else is ignored.
    """
    for evidence in host_evidence.values():
        ssdp = evidence.get("ssdp") if isinstance(evidence, Mapping) else None
        description = ssdp.get("description") if isinstance(ssdp, Mapping) else None
        device = description.get("device") if isinstance(description, Mapping) else None
        service = device.get("semp_service") if isinstance(device, Mapping) else None
        if not isinstance(service, Mapping):
            continue
        base, server = service.get("base_path"), service.get("server")
        if not isinstance(base, str) or not _SAFE_PATH.fullmatch(base):
            continue
        if isinstance(server, str) and server:
            try:
                parts = urlsplit(server)
                server_port = parts.port or (443 if parts.scheme == "https" else 80)
            except ValueError:
                continue
            names = {name.lower() for name in (address, hostname) if name}
            if parts.scheme != "http" or (parts.hostname or "").lower() not in names or server_port != port:
                continue
        return base.rstrip("/") + "/"
    return None


def _judge(path: str, document: HttpDocument, limit: int) -> tuple[SempAttempt, Device2Em | None]:
    """What one GET answered, and the document when it is a Device2EM."""
    common = {
        "path": path,
        "status": document.status,
        "server": document.server,
        "content_type": document.content_type,
        "body_bytes": len(document.body),
    }
    if document.status != 200:
        return SempAttempt(**common, outcome=AttemptOutcome.HTTP_STATUS, detail=f"HTTP {document.status} {document.reason or ''}".rstrip()), None
    if document.ended == "limit":
        return SempAttempt(**common, outcome=AttemptOutcome.TOO_LARGE, detail=f"body larger than {limit} bytes: not parsed"), None
    try:
        parsed = parse_device2em(document.body, limit=limit)
    except XmlRefused as exc:
        return SempAttempt(**common, outcome=AttemptOutcome.REFUSED, detail=str(exc)), None
    except CodecError as exc:
        if not document.complete:
            detail = f"body {document.ended} after {len(document.body)} bytes: {exc}"
            return SempAttempt(**common, outcome=AttemptOutcome.INCOMPLETE, detail=detail), None
        outcome = AttemptOutcome.OTHER_DOCUMENT if isinstance(exc, UnexpectedDocument) else AttemptOutcome.MALFORMED
        return SempAttempt(**common, outcome=outcome, detail=str(exc)), None
    detail = None if document.complete else f"body {document.ended} after {len(document.body)} bytes, but the document is whole"
    return SempAttempt(**common, outcome=AttemptOutcome.DEVICE2EM, detail=detail), parsed
