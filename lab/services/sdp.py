"""ISO 15118-2 SECC Discovery Protocol responder on udp 15118 (IPv4 or IPv6 bind).

Wire format (protocols.md §9.2; ISO 15118-2 §7.10.1)::

    request, 10 bytes
    +----+----+---------+-------------------+----------+-----------+
    | 01 | FE | 90 00   | 00 00 00 02       | security | transport |
    +----+----+---------+-------------------+----------+-----------+
      version  SDP req    payload length 2    00 TLS     00 TCP
                                              10 no TLS  10 UDP

    response, 28 bytes
    +----+----+---------+-------------+------------------+-------+----------+-----------+
    | 01 | FE | 90 01   | 00 00 00 14 | SECC address(16) | port  | security | transport |
    +----+----+---------+-------------+------------------+-------+----------+-----------+

Options (JSON keys of ``--options``):

================  ===================================================================
``security``      "no-tls" (default): answer 0x10; "tls": answer 0x00 (TLS enforced);
                  "client": echo the requested security (SwitchEV-style "accept offer")
``tcp_port``      port in the answer (default: 15120 when the answer says TLS, else 15119)
``secc_address``  IPv6 text for the address field. Default: the local address the
                  request arrived on, so the answer names a reachable listener: an
                  IPv6 request gets that IPv6 address, an IPv4 request the
                  IPv4-mapped form ``::ffff:a.b.c.d`` (a real SECC answers with its
                  link-local address; the lab has no PLC link to be local on)
================  ===================================================================

The transport byte of the answer is always 0x00 (TCP): V2G runs over TCP only.

Must not: answer anything but an exact, well-formed 10-byte request (wrong
length, version, payload type, length field or an undefined security/transport
value get no reply); open a V2G session (that is the ``v2g``/``tls`` services).
"""

from __future__ import annotations

import ipaddress
import logging
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from lab.services._common import Running, ServiceContext, run_service
from lab.services._udp import Datagram, DatagramResponder
from porthole.model import Protocol as Transport

__all__ = ["SecurityMode", "Options", "answer_sdp_request", "serve", "main"]

log = logging.getLogger("lab.services.sdp")

_HEADER = struct.Struct(">BBHI")
_VERSION, _INVERSE_VERSION = 0x01, 0xFE
_SDP_REQUEST, _SDP_RESPONSE = 0x9000, 0x9001
_TLS, _NO_TLS = 0x00, 0x10
_TCP, _UDP = 0x00, 0x10
_PLAIN_PORT, _TLS_PORT = 15119, 15120


class SecurityMode(StrEnum):
    NO_TLS = "no-tls"
    TLS = "tls"
    CLIENT = "client"


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    security: SecurityMode = SecurityMode.NO_TLS
    tcp_port: int | None = None
    secc_address: str | None = None

    def __post_init__(self) -> None:
        if self.secc_address is not None and ipaddress.ip_address(self.secc_address).version != 6:
            raise ValueError(f"option 'secc_address' {self.secc_address!r} must be an IPv6 address")
        if self.tcp_port is not None and not 1 <= self.tcp_port <= 65535:
            raise ValueError(f"option 'tcp_port' {self.tcp_port} is outside 1..65535")


def answer_sdp_request(
    payload: bytes,
    *,
    security: SecurityMode,
    tcp_port: int | None,
    secc_address: ipaddress.IPv6Address,
) -> bytes | None:
    """The 28-byte SDP response to ``payload``, or None when it is not a valid request."""
    if len(payload) != _HEADER.size + 2:
        return None
    version, inverse, payload_type, length = _HEADER.unpack_from(payload)
    requested_security, requested_transport = payload[8], payload[9]
    if (
        version != _VERSION
        or inverse != _INVERSE_VERSION
        or payload_type != _SDP_REQUEST
        or length != 2
        or requested_security not in (_TLS, _NO_TLS)
        or requested_transport not in (_TCP, _UDP)
    ):
        return None
    if security is SecurityMode.TLS:
        answered_security = _TLS
    elif security is SecurityMode.NO_TLS:
        answered_security = _NO_TLS
    else:
        answered_security = requested_security
    port = tcp_port if tcp_port is not None else (_TLS_PORT if answered_security == _TLS else _PLAIN_PORT)
    body = secc_address.packed + struct.pack(">HBB", port, answered_security, _TCP)
    return _HEADER.pack(_VERSION, _INVERSE_VERSION, _SDP_RESPONSE, len(body)) + body


def _secc_address(
    configured: str | None, local_address: ipaddress.IPv4Address | ipaddress.IPv6Address | None, bind: str
) -> ipaddress.IPv6Address:
    if configured is not None:
        return ipaddress.IPv6Address(configured)
    address = local_address if local_address is not None else ipaddress.ip_address(bind)
    if isinstance(address, ipaddress.IPv4Address):
        return ipaddress.IPv6Address(f"::ffff:{address}")
    return address


async def serve(bind: str, ports: Sequence[int], options: Options, *, context: ServiceContext) -> Running:
    """Answer SDP requests on every UDP port of ``ports`` (0 = any)."""

    def on_datagram(datagram: Datagram) -> list[bytes]:
        reply = answer_sdp_request(
            datagram.payload,
            security=options.security,
            tcp_port=options.tcp_port,
            secc_address=_secc_address(options.secc_address, datagram.local_address, bind),
        )
        if reply is None:
            log.debug("ignored %d bytes from %s", len(datagram.payload), datagram.peer[:2])
            return []
        log.info("SDP request from %s answered", datagram.peer[:2])
        return [reply]

    responder = DatagramResponder(on_datagram, maximum_size=64)
    await responder.open(bind, ports)

    async def close() -> None:
        responder.close()

    return Running(ports=responder.ports, close=close)


def main(argv: list[str] | None = None) -> int:
    return run_service(argv, kind="sdp", transport=Transport.UDP, options_type=Options, serve=serve)


if __name__ == "__main__":
    raise SystemExit(main())
