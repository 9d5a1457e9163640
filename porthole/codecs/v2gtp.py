"""V2GTP header and the ISO 15118 SECC Discovery Protocol (ISO 15118-2 §7.8.3).

    V2GTP header (8 bytes)
    0      1      2             4                          8
    +------+------+-------------+--------------------------+
    | 0x01 | 0xFE | payload type| payload length (uint32)  |
    +------+------+-------------+--------------------------+

    SDP request  (type 0x9000, 2 bytes):  security | transport
    SDP response (type 0x9001, 20 bytes): SECC IPv6 address (16) | port (2) | security | transport

security 0x00 = TLS, 0x10 = no TLS; transport 0x00 = TCP, 0x10 = UDP.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

from porthole.codecs._errors import CodecError

__all__ = ["SECURITY_TLS", "SECURITY_NO_TLS", "TRANSPORT_TCP", "SdpResponse", "build_sdp_request", "parse_sdp_response"]

SECURITY_TLS = 0x00
SECURITY_NO_TLS = 0x10
TRANSPORT_TCP = 0x00
TRANSPORT_UDP = 0x10
PAYLOAD_SDP_REQUEST = 0x9000
PAYLOAD_SDP_RESPONSE = 0x9001
_HEADER = struct.Struct("!BBHI")


@dataclass(frozen=True, slots=True, kw_only=True)
class SdpResponse:
    secc_address: ipaddress.IPv6Address
    port: int
    security: int
    transport: int


def build_sdp_request(security: int = SECURITY_NO_TLS, transport: int = TRANSPORT_TCP) -> bytes:
    if security not in (SECURITY_TLS, SECURITY_NO_TLS) or transport not in (TRANSPORT_TCP, TRANSPORT_UDP):
        raise CodecError("SDP security/transport must be 0x00 or 0x10")
    return _HEADER.pack(0x01, 0xFE, PAYLOAD_SDP_REQUEST, 2) + bytes([security, transport])


def parse_sdp_response(data: bytes) -> SdpResponse:
    if len(data) < _HEADER.size:
        raise CodecError("V2GTP header truncated", offset=len(data))
    version, inverse, payload_type, length = _HEADER.unpack_from(data)
    if version != 0x01 or inverse != 0xFE:
        raise CodecError(f"not V2GTP: version bytes {version:#04x} {inverse:#04x}", offset=0)
    if payload_type != PAYLOAD_SDP_RESPONSE:
        raise CodecError(f"V2GTP payload type {payload_type:#06x} is not an SDP response", offset=2)
    if length != 20 or len(data) != _HEADER.size + 20:
        raise CodecError(f"SDP response payload must be 20 bytes, header says {length}, got {len(data) - _HEADER.size}", offset=4)
    body = data[_HEADER.size:]
    return SdpResponse(
        secc_address=ipaddress.IPv6Address(body[:16]),
        port=struct.unpack_from("!H", body, 16)[0],
        security=body[18],
        transport=body[19],
    )
