"""The SEMP gateway on 8888 (``aiohttp.web``): read-only Device2EM XML and its UPnP description.

Wire shapes follow protocols.md §7: ``GET <base_path>/`` returns a ``Device2EM``
document in the SEMP namespace with ``DeviceInfo``, ``DeviceStatus`` and
``PlanningRequest``; ``GET <base_path>/DeviceInfo`` (``/DeviceStatus``,
``/PlanningRequest``) returns a ``Device2EM`` holding only that part; the UPnP
device description lives at ``/uuid:<udn>/description.xml`` (the ``LOCATION`` the
``ssdp`` service advertises).

Options (JSON keys of ``--options``):

=================  ================================================================
``udn``            the device UUID (default: derived from the controller name, the
                   same derivation ``ssdp`` uses, so both agree without options)
``device_id``      SEMP DeviceId ``F-<8 hex>-<12 hex>-00`` (default derived from the name)
``device_name``    default "Charge Controller"
``device_serial``  default: the 12 hex digits of the DeviceId
``device_vendor``  default "ChargeCtl Lab"
``base_path``      default "/semp"
``max_power_w``    MaxPowerConsumption in W (default 22080: 3 x 32 A x 230 V)
=================  ================================================================

The ``semp:server`` URL in the description names the local address and port the
request arrived on, which is what a device with one address would advertise.

Must not: act. Only GET routes exist; a POST (an ``EM2Device`` with
``DeviceControl`` would switch charging on a real unit) answers 405 and is never
read.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from xml.etree import ElementTree

from aiohttp import web

from lab.services._common import Running, ServiceContext, run_service, serve_web_application
from porthole.model import Protocol as Transport

__all__ = [
    "SEMP_NAMESPACE",
    "GATEWAY_DEVICE_TYPE",
    "Options",
    "default_udn",
    "device2em_document",
    "description_document",
    "build_application",
    "serve",
    "main",
]

log = logging.getLogger("lab.services.semp")

SEMP_NAMESPACE = "http://www.sma.de/communication/schema/SEMP/v1"
UPNP_DEVICE_NAMESPACE = "urn:schemas-upnp-org:device-1-0"
SEMP_SERVICE_NAMESPACE = "urn:schemas-simple-energy-management-protocol:service-1-0"
GATEWAY_DEVICE_TYPE = "urn:schemas-simple-energy-management-protocol:device:Gateway:1"

# the prefix the SEMP service extension conventionally uses (a process-wide registration)
ElementTree.register_namespace("semp", SEMP_SERVICE_NAMESPACE)

_DEVICE_ID = re.compile(r"F-[0-9A-Fa-f]{8}-[0-9A-Fa-f]{12}-[0-9A-Fa-f]{2}")
# "LAB-" in ASCII hex: an obviously synthetic vendor part of the DeviceId
_LAB_VENDOR_HEX = "4C41422D"


def default_udn(controller_name: str) -> str:
    """A stable device UUID for a controller: the same in ``semp`` and ``ssdp``."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"porthole-lab:semp:{controller_name}"))


def _default_device_id(controller_name: str) -> str:
    serial = hashlib.sha256(controller_name.encode()).hexdigest()[:12].upper()
    return f"F-{_LAB_VENDOR_HEX}-{serial}-00"


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    udn: str | None = None
    device_id: str | None = None
    device_name: str = "Charge Controller"
    device_serial: str | None = None
    device_vendor: str = "ChargeCtl Lab"
    base_path: str = "/semp"
    max_power_w: int = 22080

    def __post_init__(self) -> None:
        if self.udn is not None:
            uuid.UUID(self.udn)  # ValueError names the bad value
        if self.device_id is not None and not _DEVICE_ID.fullmatch(self.device_id):
            raise ValueError(f"option 'device_id' {self.device_id!r} is not F-<8 hex>-<12 hex>-<2 hex>")
        if not self.base_path.startswith("/") or self.base_path.endswith("/"):
            raise ValueError(f"option 'base_path' {self.base_path!r} must start with / and not end with /")


@dataclass(frozen=True, slots=True, kw_only=True)
class _Identity:
    udn: str
    device_id: str
    serial: str


def _identity(options: Options, context: ServiceContext) -> _Identity:
    device_id = options.device_id or _default_device_id(context.name)
    return _Identity(
        udn=options.udn or default_udn(context.name),
        device_id=device_id,
        serial=options.device_serial or device_id.split("-")[2],
    )


def _element(parent: ElementTree.Element, tag: str, text: str | None = None) -> ElementTree.Element:
    child = ElementTree.SubElement(parent, tag)
    if text is not None:
        child.text = text
    return child


def device2em_document(options: Options, identity: _Identity, parts: Sequence[str]) -> bytes:
    """A ``Device2EM`` document with the named parts (DeviceInfo, DeviceStatus, PlanningRequest)."""
    root = ElementTree.Element(f"{{{SEMP_NAMESPACE}}}Device2EM")

    def tag(name: str) -> str:
        return f"{{{SEMP_NAMESPACE}}}{name}"

    if "DeviceInfo" in parts:
        info = _element(root, tag("DeviceInfo"))
        identification = _element(info, tag("Identification"))
        _element(identification, tag("DeviceId"), identity.device_id)
        _element(identification, tag("DeviceName"), options.device_name)
        _element(identification, tag("DeviceType"), "EVCharger")
        _element(identification, tag("DeviceSerial"), identity.serial)
        _element(identification, tag("DeviceVendor"), options.device_vendor)
        characteristics = _element(info, tag("Characteristics"))
        _element(characteristics, tag("MinPowerConsumption"), "4140")
        _element(characteristics, tag("MaxPowerConsumption"), str(options.max_power_w))
        _element(characteristics, tag("MinOnTime"), "300")
        _element(characteristics, tag("MinOffTime"), "300")
        capabilities = _element(info, tag("Capabilities"))
        _element(_element(capabilities, tag("CurrentPower")), tag("Method"), "Measurement")
        _element(_element(capabilities, tag("Timestamps")), tag("AbsoluteTimestamps"), "false")
        _element(_element(capabilities, tag("Interruptions")), tag("InterruptionsAllowed"), "true")
        _element(_element(capabilities, tag("Requests")), tag("OptionalEnergy"), "true")
    if "DeviceStatus" in parts:
        status = _element(root, tag("DeviceStatus"))
        _element(status, tag("DeviceId"), identity.device_id)
        _element(status, tag("EMSignalsAccepted"), "true")
        _element(status, tag("Status"), "Off")
        power_info = _element(_element(status, tag("PowerConsumption")), tag("PowerInfo"))
        _element(power_info, tag("AveragePower"), "0")
        _element(power_info, tag("Timestamp"), "0")
        _element(power_info, tag("AveragingInterval"), "60")
    if "PlanningRequest" in parts:
        timeframe = _element(_element(root, tag("PlanningRequest")), tag("Timeframe"))
        _element(timeframe, tag("DeviceId"), identity.device_id)
        _element(timeframe, tag("EarliestStart"), "0")
        _element(timeframe, tag("LatestEnd"), "28800")
        _element(timeframe, tag("MinEnergy"), "0")
        _element(timeframe, tag("MaxEnergy"), "22000")
    return ElementTree.tostring(root, encoding="utf-8", xml_declaration=True, default_namespace=SEMP_NAMESPACE)


def description_document(options: Options, identity: _Identity, server_url: str) -> bytes:
    """The UPnP device description of the SEMP gateway (protocols.md §7.2)."""
    def upnp(name: str) -> str:
        return f"{{{UPNP_DEVICE_NAMESPACE}}}{name}"

    def semp(name: str) -> str:
        return f"{{{SEMP_SERVICE_NAMESPACE}}}{name}"

    root = ElementTree.Element(upnp("root"))
    version = _element(root, upnp("specVersion"))
    _element(version, upnp("major"), "1")
    _element(version, upnp("minor"), "0")
    device = _element(root, upnp("device"))
    _element(device, upnp("deviceType"), GATEWAY_DEVICE_TYPE)
    _element(device, upnp("friendlyName"), f"{options.device_name} SEMP Gateway")
    _element(device, upnp("manufacturer"), options.device_vendor)
    _element(device, upnp("modelName"), options.device_name)
    _element(device, upnp("UDN"), f"uuid:{identity.udn}")
    _element(device, upnp("presentationURL"), server_url + "/")
    service = _element(device, semp("X_SEMPSERVICE"))
    _element(service, semp("server"), server_url)
    _element(service, semp("basePath"), options.base_path)
    _element(service, semp("transport"), "HTTP/Pull")
    _element(service, semp("exchangeFormat"), "XML")
    _element(service, semp("wsVersion"), "1.1.0")
    return ElementTree.tostring(
        root, encoding="utf-8", xml_declaration=True, default_namespace=UPNP_DEVICE_NAMESPACE
    )


def build_application(options: Options, context: ServiceContext) -> web.Application:
    identity = _identity(options, context)
    application = web.Application()
    all_parts = ("DeviceInfo", "DeviceStatus", "PlanningRequest")

    def xml(body: bytes) -> web.Response:
        return web.Response(body=body, content_type="application/xml", charset="utf-8")

    async def everything(request: web.Request) -> web.Response:
        return xml(device2em_document(options, identity, all_parts))

    def one_part(part: str):  # noqa: ANN202 - an aiohttp handler
        async def handler(request: web.Request) -> web.Response:
            return xml(device2em_document(options, identity, (part,)))

        return handler

    async def description(request: web.Request) -> web.Response:
        return xml(description_document(options, identity, _server_url(request)))

    base = options.base_path
    application.router.add_get(base, everything)
    application.router.add_get(base + "/", everything)
    for part in all_parts:
        application.router.add_get(f"{base}/{part}", one_part(part))
    application.router.add_get(f"/uuid:{identity.udn}/description.xml", description)
    return application


def _server_url(request: web.Request) -> str:
    """``http://<local address>:<local port>`` of the connection the request came on."""
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    if not sockname:
        return f"http://{request.host}"
    address = ipaddress.ip_address(sockname[0])
    host = f"[{address}]" if address.version == 6 else str(address)
    return f"http://{host}:{sockname[1]}"


async def serve(bind: str, ports: Sequence[int], options: Options, *, context: ServiceContext) -> Running:
    """Serve SEMP on every port of ``ports`` (0 = any)."""
    return await serve_web_application(build_application(options, context), bind, ports, logger=log)


def main(argv: list[str] | None = None) -> int:
    return run_service(argv, kind="semp", transport=Transport.TCP, options_type=Options, serve=serve)


if __name__ == "__main__":
    raise SystemExit(main())
