"""What the ISO 15118 SECC Discovery Protocol (15118/udp) answered to one no-TLS request."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SdpEvidence", "DYNAMIC_PORTS"]

#: ISO 15118-2 expects the SECC's V2G TCP port from the dynamic range (protocols.md §9.2)
DYNAMIC_PORTS = range(49152, 65536)


@dataclass(frozen=True, slots=True, kw_only=True)
class SdpEvidence:
    #: what porthole asked for: always "no-tls" over "tcp", so the answer shows the SECC's choice
    requested_security: str
    requested_transport: str
    #: requests sent until the answer came (≤ 3)
    attempts: int
    secc_address: str
    secc_port: int
    #: the SECC's decision: "tls" (0x00), "no-tls" (0x10) or the raw code ("0x42")
    security: str
    #: "tcp" (0x00), "udp" (0x10) or the raw code
    transport: str
    #: False when the advertised port lies outside 49152-65535 (the vendor documents 15119/15120)
    secc_port_in_dynamic_range: bool
