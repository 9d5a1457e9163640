"""What the SEMP probe saw on 8888/tcp: facts only, each GET it made and what came back."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from porthole.codecs.semp import SempDeviceInfo, SempDeviceStatus

__all__ = ["AttemptOutcome", "SempAttempt", "SempEvidence"]


class AttemptOutcome(StrEnum):
    #: a ``Device2EM`` document: this is the SEMP base path
    DEVICE2EM = "device2em"
    #: an HTTP status other than 200 (404, 401, a redirect: never followed)
    HTTP_STATUS = "http-status"
    #: well-formed XML, but not ``Device2EM`` (or not XML at all: an HTML page)
    OTHER_DOCUMENT = "other-document"
    #: XML refused unparsed: entity declarations (an "XML bomb"), a DTD
    REFUSED = "refused"
    #: broken XML
    MALFORMED = "malformed"
    #: a body above the document cap: not parsed
    TOO_LARGE = "too-large"
    #: the body stalled or was cut short and what came does not parse
    INCOMPLETE = "incomplete"
    #: the connection failed after an earlier GET had been answered
    CONNECTION_FAILED = "connection-failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class SempAttempt:
    path: str
    outcome: AttemptOutcome
    status: int | None = None
    server: str | None = None
    content_type: str | None = None
    body_bytes: int = 0
    detail: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SempEvidence:
    #: a ``Device2EM`` document answered one of the GETs
    recognised: bool
    #: the path that answered it, e.g. ``/semp/``
    base_path: str | None = None
    url: str | None = None
    #: the HTTP ``Server`` header of that answer
    server: str | None = None
    #: the document's XML namespace (SEMP v1: http://www.sma.de/communication/schema/SEMP/v1)
    namespace: str | None = None
    device_info: tuple[SempDeviceInfo, ...] = ()
    device_status: tuple[SempDeviceStatus, ...] = ()
    planning_requests: int = 0
    #: every GET in the order made (at most four)
    attempts: tuple[SempAttempt, ...] = ()
    #: the basePath the host's UPnP description (read by the SSDP probe on 1900/udp)
    #: gives for this port, tried first; None when none was advertised
    advertised_base_path: str | None = None
