"""What is known about the plain ISO 15118 V2G port (15119/tcp) without speaking V2G."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["V2gEvidence"]


@dataclass(frozen=True, slots=True, kw_only=True)
class V2gEvidence:
    #: the port accepted a TCP connection (the reachability phase's connect)
    plain_v2g_port_open: bool
    #: how that was established: the reachability phase's reason (``syn-ack``)
    established_by: str
    #: V2G messages porthole sent: always 0 (protocols.md §9.3)
    messages_sent: int = 0
