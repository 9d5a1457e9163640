"""What the SSDP probe saw on 1900/udp: the replies, which LOCATION it followed and why, the description."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from porthole.codecs.upnp import DeviceDescription

__all__ = ["SsdpReply", "LocationCheck", "DescriptionOutcome", "DescriptionFetch", "SsdpEvidence"]

LOCATION_ELSEWHERE = "LOCATION points elsewhere: not followed"


@dataclass(frozen=True, slots=True, kw_only=True)
class SsdpReply:
    """One HTTPU response datagram from the target (UDA 1.1 §1.3.3)."""

    #: the port it came from (1900 normally; any port is accepted, protocols.md §7.1)
    source_port: int
    status: int
    st: str | None = None
    usn: str | None = None
    location: str | None = None
    server: str | None = None
    cache_control: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LocationCheck:
    """A distinct LOCATION URL and whether porthole fetched it."""

    url: str
    followed: bool
    #: why not, e.g. ``LOCATION points elsewhere: not followed``
    note: str | None = None


class DescriptionOutcome(StrEnum):
    PARSED = "parsed"
    HTTP_STATUS = "http-status"
    REFUSED = "refused"
    MALFORMED = "malformed"
    OTHER_DOCUMENT = "other-document"
    TOO_LARGE = "too-large"
    INCOMPLETE = "incomplete"
    #: no HTTP answer (timeout, refused, reset, bad head); ``detail`` says which
    FAILED = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class DescriptionFetch:
    url: str
    outcome: DescriptionOutcome
    status: int | None = None
    server: str | None = None
    body_bytes: int = 0
    detail: str | None = None
    device: DeviceDescription | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SsdpEvidence:
    #: the ST of each M-SEARCH sent, in order (``ssdp:all``, then the SEMP URN if that drew nothing)
    searches: tuple[str, ...]
    replies: tuple[SsdpReply, ...] = ()
    #: datagrams from the target that were not SSDP responses, and the first one's error
    malformed_datagrams: int = 0
    malformed_example: str | None = None
    #: datagrams from other addresses (ignored: only the target's own answers count)
    foreign_datagrams: int = 0
    locations: tuple[LocationCheck, ...] = ()
    description: DescriptionFetch | None = None
    #: the SEMP Gateway URN was seen (ST, USN or deviceType) or the description has X_SEMPSERVICE
    semp_gateway: bool = False
