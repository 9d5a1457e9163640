"""SSDP responder on udp 1900 for the SEMP gateway (no maintained library serves this).

Answers unicast ``M-SEARCH`` requests (UPnP Device Architecture 1.0 §1.2.3) whose
``ST`` is ``ssdp:all``, ``upnp:rootdevice``, the SEMP Gateway URN or the device's
``uuid:<udn>``, with ``HTTP/1.1 200 OK`` carrying CACHE-CONTROL, DATE, EXT,
LOCATION, SERVER, ST and USN. ``ssdp:all`` gets the three answers a root device
gives (rootdevice, uuid, device type). Replies leave from the port the request
reached (1900) towards the requester's address and port.

Options (JSON keys of ``--options``):

=====================  ============================================================
``udn``                device UUID (default: derived from the controller name exactly
                       as ``semp`` does, so LOCATION points at a description that exists)
``location_port``      port of the SEMP HTTP server in LOCATION (default 8888)
``advertise_address``  host for LOCATION (default: the local address the M-SEARCH
                       arrived on, read with IP_PKTINFO; see ``_udp``)
``server``             SERVER header (default "Linux/5.10 UPnP/1.0 ChargeController-SEMP/1.0";
                       the real controller's string is unverified, protocols.md §13)
``max_age``            CACHE-CONTROL max-age in seconds (default 1800)
=====================  ============================================================

Must not: reply to anything that is not a well-formed M-SEARCH with
``MAN: "ssdp:discover"`` (NOTIFY, HTTP responses, garbage get silence), send
NOTIFY announcements, or accept subscriptions. Never crashes on input.
"""

from __future__ import annotations

import email.utils
import ipaddress
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from lab.services._common import Running, ServiceContext, run_service
from lab.services._udp import Datagram, DatagramResponder
from lab.services.semp import GATEWAY_DEVICE_TYPE, default_udn
from porthole.model import Protocol as Transport

__all__ = ["Options", "SearchAnswerer", "parse_m_search", "serve", "main"]

log = logging.getLogger("lab.services.ssdp")

_MAXIMUM_REQUEST = 4096
_MAXIMUM_HEADER_LINES = 32


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    udn: str | None = None
    location_port: int = 8888
    advertise_address: str | None = None
    server: str = "Linux/5.10 UPnP/1.0 ChargeController-SEMP/1.0"
    max_age: int = 1800

    def __post_init__(self) -> None:
        if self.udn is not None:
            uuid.UUID(self.udn)
        if self.advertise_address is not None:
            ipaddress.ip_address(self.advertise_address)
        if not 1 <= self.location_port <= 65535:
            raise ValueError(f"option 'location_port' {self.location_port} is outside 1..65535")


def parse_m_search(payload: bytes) -> dict[str, str] | None:
    """Headers (names upper-cased) of an ``M-SEARCH * HTTP/1.1`` request, or None if it is not one."""
    if len(payload) > _MAXIMUM_REQUEST:
        return None
    try:
        text = payload.decode("ascii")
    except UnicodeDecodeError:
        return None
    head, separator, _body = text.replace("\r\n", "\n").partition("\n\n")
    if not separator and not text.endswith("\n"):
        return None
    lines = head.split("\n")
    if lines[0].strip() != "M-SEARCH * HTTP/1.1" or len(lines) > _MAXIMUM_HEADER_LINES:
        return None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            return None
        headers[name.strip().upper()] = value.strip()
    return headers


class SearchAnswerer:
    """Pure M-SEARCH → responses logic; the clock and the LOCATION host are arguments."""

    def __init__(self, *, udn: str, location_port: int, server: str, max_age: int) -> None:
        self._udn = udn
        self._location_port = location_port
        self._server = server
        self._max_age = max_age

    def answers(self, payload: bytes, *, location_host: str, now: float) -> list[bytes]:
        headers = parse_m_search(payload)
        # UDA requires MAN "ssdp:discover" (quotes included) on every search
        if headers is None or headers.get("MAN") != '"ssdp:discover"':
            return []
        search_target = headers.get("ST", "")
        device_uuid = f"uuid:{self._udn}"
        # (ST echoed, USN) pairs, UDA 1.0 §1.2.3
        targets = {
            "upnp:rootdevice": (f"{device_uuid}::upnp:rootdevice",),
            device_uuid: (device_uuid,),
            GATEWAY_DEVICE_TYPE: (f"{device_uuid}::{GATEWAY_DEVICE_TYPE}",),
        }
        if search_target == "ssdp:all":
            matches = [(target, usn) for target, (usn,) in targets.items()]
        elif search_target.lower() == device_uuid.lower():
            matches = [(device_uuid, device_uuid)]
        elif search_target in targets:
            matches = [(search_target, targets[search_target][0])]
        else:
            return []
        location = f"http://{location_host}:{self._location_port}/uuid:{self._udn}/description.xml"
        date = email.utils.formatdate(now, usegmt=True)
        return [
            (
                "HTTP/1.1 200 OK\r\n"
                f"CACHE-CONTROL: max-age={self._max_age}\r\n"
                f"DATE: {date}\r\n"
                "EXT:\r\n"
                f"LOCATION: {location}\r\n"
                f"SERVER: {self._server}\r\n"
                f"ST: {target}\r\n"
                f"USN: {usn}\r\n"
                "\r\n"
            ).encode("ascii")
            for target, usn in matches
        ]


def _location_host(
    advertise_address: str | None,
    local_address: ipaddress.IPv4Address | ipaddress.IPv6Address | None,
    bind: str,
) -> str:
    if advertise_address is not None:
        address = ipaddress.ip_address(advertise_address)
    elif local_address is not None:
        address = local_address
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
    else:
        address = ipaddress.ip_address(bind)
    return f"[{address}]" if address.version == 6 else str(address)


async def serve(bind: str, ports: Sequence[int], options: Options, *, context: ServiceContext) -> Running:
    """Answer M-SEARCH on every UDP port of ``ports`` (0 = any)."""
    answerer = SearchAnswerer(
        udn=options.udn or default_udn(context.name),
        location_port=options.location_port,
        server=options.server,
        max_age=options.max_age,
    )

    def on_datagram(datagram: Datagram) -> list[bytes]:
        host = _location_host(options.advertise_address, datagram.local_address, bind)
        replies = answerer.answers(datagram.payload, location_host=host, now=time.time())
        if replies:
            log.info("M-SEARCH from %s: %d answer(s)", datagram.peer[:2], len(replies))
        else:
            log.debug("ignored %d bytes from %s", len(datagram.payload), datagram.peer[:2])
        return replies

    responder = DatagramResponder(on_datagram, maximum_size=_MAXIMUM_REQUEST)
    await responder.open(bind, ports)

    async def close() -> None:
        responder.close()

    return Running(ports=responder.ports, close=close)


def main(argv: list[str] | None = None) -> int:
    return run_service(argv, kind="ssdp", transport=Transport.UDP, options_type=Options, serve=serve)


if __name__ == "__main__":
    raise SystemExit(main())
