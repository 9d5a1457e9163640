"""What the banner grab saw on an uncatalogued open TCP port: facts only."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["ReadStop", "BannerEvidence"]


class ReadStop(StrEnum):
    """Why the banner grab stopped reading."""

    #: the peer closed the connection
    EOF = "eof"
    #: the peer went quiet: no (further) byte within the wait
    STALLED = "stalled"
    #: the byte cap was reached: the peer had more to say
    LIMIT = "limit"
    #: the peer was still trickling bytes when the banner window closed (e.g. one a second)
    WINDOW = "window"
    #: the peer reset the connection
    RESET = "reset"


@dataclass(frozen=True, slots=True, kw_only=True)
class BannerEvidence:
    #: whether the peer sent anything at all before being asked
    speaks_first: bool
    #: bytes received in total (at most ``read_limit``)
    received_bytes: int
    #: the first bytes received, as hex (capped; ``received_bytes`` says how many came)
    received_hex: str
    #: the first bytes received, printable ASCII with every other byte escaped
    preview: str
    #: protocol recognised from the first bytes (``ssh``, ``tls``, ``smtp``...; see
    #: ``porthole.codecs.banner.SIGNATURES``), or ``None``
    protocol: str | None
    stopped: ReadStop
    #: the caps this grab applied, so "silent" and "limit" can be read exactly
    read_limit: int
    first_byte_wait_s: float
