"""UPnP/SSDP on 1900/udp: unicast M-SEARCH, then the target's own device description (protocols.md §7.1-7.2).

What it sends, at most:

1. ``M-SEARCH`` with ``ST: ssdp:all`` to the target's port, from a **bound,
   unconnected** socket: devices may answer from another source port than 1900,
   and a connected socket would drop those replies (protocols.md §7.1 gotcha). That
   is also why this probe runs on ``open|filtered`` 1900 too: the reachability
   phase asks from a connected socket and can miss exactly those devices.
2. Only if (1) drew no SSDP reply: one more ``M-SEARCH`` for the SEMP Gateway URN
   (some devices answer only the search targets they implement).
3. One ``GET`` of a LOCATION URL, and only when its host is the target itself
   (its address, or the name the user gave). A LOCATION naming any other host is
   recorded as ``LOCATION points elsewhere: not followed``: a device must never
   steer porthole to a third party.

Replies are collected for ``WINDOW`` seconds after each M-SEARCH (UDA: a unicast
search is answered within 1 s), ending ``QUIET`` seconds after the latest reply, and
at most ``MAX_DATAGRAMS`` datagrams are looked at. Only datagrams from the target's
address count. Must not: SUBSCRIBE, send NOTIFY, or call SOAP actions.
"""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any, ClassVar
from urllib.parse import urlsplit

import asyncio_dgram

from porthole.codecs import CodecError
from porthole.codecs.ssdp import SEMP_GATEWAY_URN, build_msearch, parse_response
from porthole.codecs.upnp import MAX_DESCRIPTION, DeviceDescription, parse_device_description
from porthole.codecs.xmldoc import UnexpectedDocument, XmlRefused
from porthole.errors import ErrorReason
from porthole.model import Finding, PortObservation, PortState
from porthole.jsonable import to_jsonable
from porthole.services._http_get import http_get
from porthole.services.base import ProbeContext, ProbeFailure
from porthole.services.ssdp import assess as assess_module
from porthole.services.ssdp.evidence import (
    LOCATION_ELSEWHERE,
    DescriptionFetch,
    DescriptionOutcome,
    LocationCheck,
    SsdpEvidence,
    SsdpReply,
)

__all__ = ["SsdpProbe", "WINDOW", "QUIET", "MAX_DATAGRAMS", "MAX_REPLIES", "SEARCH_TARGETS"]

#: seconds to collect replies after one M-SEARCH
WINDOW = 1.5
#: seconds of silence after the latest reply that end the window early
QUIET = 0.5
#: datagrams looked at per M-SEARCH (replies, garbage and strays alike)
MAX_DATAGRAMS = 32
#: replies kept in the evidence
MAX_REPLIES = 16
#: the second one is sent only when the first drew no SSDP reply
SEARCH_TARGETS = ("ssdp:all", SEMP_GATEWAY_URN)


class SsdpProbe:
    id: ClassVar[str] = "ssdp"

    def __init__(self, *, window: float = WINDOW, quiet: float = QUIET) -> None:
        self.window = window
        self.quiet = quiet

    def claims(self, observation: PortObservation) -> bool:
        return observation.service == "ssdp" and observation.state in (PortState.OPEN, PortState.OPEN_FILTERED)

    async def run(self, context: ProbeContext) -> dict[str, Any]:
        return to_jsonable(await self.collect(context))

    async def collect(self, context: ProbeContext) -> SsdpEvidence:
        heard = _Heard()
        searches: list[str] = []
        bind_address = "::" if context.target.address.version == 6 else "0.0.0.0"
        endpoint = await asyncio_dgram.bind((bind_address, 0))
        try:
            for search_target in SEARCH_TARGETS:
                searches.append(search_target)
                await context.pace()
                message = build_msearch(context.host_header, search_target=search_target, user_agent=f"porthole/{context.version}")
                await endpoint.send(message, (context.address, context.port))
                await _collect(context, endpoint, heard, window=self.window, quiet=self.quiet)
                if heard.replies:
                    break
        finally:
            endpoint.close()
        if not heard.replies:
            if heard.malformed:
                raise ProbeFailure(ErrorReason.MALFORMED, f"{heard.malformed} datagram(s) from the target, none an SSDP response; first: {heard.malformed_example}")
            raise ProbeFailure(ErrorReason.TIMEOUT, f"no SSDP reply within {self.window:g} s to M-SEARCH {' nor '.join(searches)}")
        locations, to_follow = _check_locations(context, heard.replies)
        description = await _fetch_description(context, to_follow) if to_follow is not None else None
        device = description.device if description is not None else None
        return SsdpEvidence(
            searches=tuple(searches),
            replies=tuple(heard.replies),
            malformed_datagrams=heard.malformed,
            malformed_example=heard.malformed_example,
            foreign_datagrams=heard.foreign,
            locations=locations,
            description=description,
            semp_gateway=_is_semp_gateway(heard.replies, device),
        )

    def assess(self, evidence: dict[str, Any], observation: PortObservation) -> list[Finding]:
        return assess_module.assess(evidence, observation)

    def summarise(self, evidence: dict[str, Any]) -> str | None:
        return assess_module.summarise(evidence)


class _Heard:
    """What the windows collected so far."""

    def __init__(self) -> None:
        self.replies: list[SsdpReply] = []
        self.malformed = 0
        self.malformed_example: str | None = None
        self.foreign = 0


async def _collect(context: ProbeContext, endpoint: asyncio_dgram.DatagramServer, heard: _Heard, *, window: float, quiet: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + window
    replied = False
    for _ in range(MAX_DATAGRAMS):
        remaining = deadline - loop.time()
        wait = min(remaining, quiet) if replied else remaining
        if wait <= 0:
            return
        try:
            data, source = await context.wait(endpoint.recv(), wait)
        except TimeoutError:
            return
        except (OSError, asyncio_dgram.TransportClosed):
            return  # an ICMP error queued on the socket, or it closed: nothing more will come
        if not _from_target(context, source):
            heard.foreign += 1
            continue
        try:
            response = parse_response(data)
        except CodecError as exc:
            heard.malformed += 1
            heard.malformed_example = heard.malformed_example or str(exc)
            continue
        replied = True
        if len(heard.replies) < MAX_REPLIES:
            heard.replies.append(
                SsdpReply(
                    source_port=int(source[1]),
                    status=response.status,
                    st=_clip(response.header("st")),
                    usn=_clip(response.header("usn")),
                    location=_clip(response.header("location"), 1024),
                    server=_clip(response.header("server")),
                    cache_control=_clip(response.header("cache-control")),
                )
            )


def _from_target(context: ProbeContext, source: Any) -> bool:
    try:
        address = ipaddress.ip_address(str(source[0]).partition("%")[0])
    except (ValueError, TypeError, IndexError):
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address == context.target.address


def _location_on_target(context: ProbeContext, url: str) -> tuple[int, str] | str:
    """``(port, path)`` to fetch, or why the URL is not followed."""
    try:
        parts = urlsplit(url)
        port = parts.port or 80
    except ValueError:
        return "LOCATION is not a valid URL: not followed"
    if parts.scheme.lower() != "http":
        return f"LOCATION scheme {parts.scheme or '(none)'!r} is not http: not followed"
    host = (parts.hostname or "").lower()
    try:
        on_target = ipaddress.ip_address(host) == context.target.address
    except ValueError:
        on_target = context.target.hostname is not None and host == context.target.hostname.lower().rstrip(".")
    if not on_target:
        return LOCATION_ELSEWHERE
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    if any(ch in path for ch in " \r\n\t") or not path.startswith("/"):
        return "LOCATION path has spaces or control characters: not followed"
    return port, path


def _check_locations(context: ProbeContext, replies: list[SsdpReply]) -> tuple[tuple[LocationCheck, ...], tuple[str, int, str] | None]:
    """Each distinct LOCATION with its verdict; the first on-target one is the one to GET."""
    checks: list[LocationCheck] = []
    to_follow: tuple[str, int, str] | None = None
    for reply in replies:
        url = reply.location
        if url is None or any(check.url == url for check in checks):
            continue
        verdict = _location_on_target(context, url)
        if isinstance(verdict, str):
            checks.append(LocationCheck(url=url, followed=False, note=verdict))
        elif to_follow is None:
            to_follow = (url, *verdict)
            checks.append(LocationCheck(url=url, followed=True))
        else:
            checks.append(LocationCheck(url=url, followed=False, note="another LOCATION on the target: one description per probe, not followed"))
    return tuple(checks), to_follow


async def _fetch_description(context: ProbeContext, location: tuple[str, int, str]) -> DescriptionFetch:
    url, port, path = location
    limit = min(context.limits.max_document, MAX_DESCRIPTION)
    try:
        document = await http_get(context, port=port, path=path, limit=limit)
    except ProbeFailure as failure:
        return DescriptionFetch(url=url, outcome=DescriptionOutcome.FAILED, detail=f"{failure.reason}: {failure}")
    common = {"url": url, "status": document.status, "server": document.server, "body_bytes": len(document.body)}
    if document.status != 200:
        return DescriptionFetch(**common, outcome=DescriptionOutcome.HTTP_STATUS, detail=f"HTTP {document.status} {document.reason or ''}".rstrip())
    if document.ended == "limit":
        return DescriptionFetch(**common, outcome=DescriptionOutcome.TOO_LARGE, detail=f"description larger than {limit} bytes: not parsed")
    try:
        device = parse_device_description(document.body, limit=limit)
    except XmlRefused as exc:
        return DescriptionFetch(**common, outcome=DescriptionOutcome.REFUSED, detail=str(exc))
    except UnexpectedDocument as exc:
        return DescriptionFetch(**common, outcome=DescriptionOutcome.OTHER_DOCUMENT, detail=str(exc))
    except CodecError as exc:
        if not document.complete:
            return DescriptionFetch(**common, outcome=DescriptionOutcome.INCOMPLETE, detail=f"body {document.ended} after {len(document.body)} bytes: {exc}")
        return DescriptionFetch(**common, outcome=DescriptionOutcome.MALFORMED, detail=str(exc))
    return DescriptionFetch(**common, outcome=DescriptionOutcome.PARSED, device=device)


def _is_semp_gateway(replies: list[SsdpReply], device: DeviceDescription | None) -> bool:
    if any(SEMP_GATEWAY_URN in (reply.st or "") or SEMP_GATEWAY_URN in (reply.usn or "") for reply in replies):
        return True
    return device is not None and (device.device_type == SEMP_GATEWAY_URN or device.semp_service is not None)


def _clip(value: str | None, length: int = 256) -> str | None:
    if value is None:
        return None
    return value if len(value) <= length else value[: length - 1] + "…"
