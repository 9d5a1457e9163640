"""UPnP device description (UDA 1.1 §2.3), with the SEMP gateway extension (protocols.md §7.2).

The document a device serves at its SSDP ``LOCATION``::

    <root xmlns="urn:schemas-upnp-org:device-1-0">
      <specVersion><major>1</major><minor>0</minor></specVersion>
      <URLBase>http://...</URLBase>                       (optional, UDA 1.0 only)
      <device>
        <deviceType>urn:...:device:Gateway:1</deviceType>
        <friendlyName/> <manufacturer/> <modelName/> <modelNumber/>
        <serialNumber/> <UDN>uuid:...</UDN> <presentationURL/>
        <serviceList><service><serviceType/>...</service></serviceList>
        <deviceList><device>...</device></deviceList>     (embedded devices)
        <semp:X_SEMPSERVICE xmlns:semp="urn:schemas-simple-energy-management-protocol:service-1-0">
          <semp:server>http://HOST:PORT</semp:server> <semp:basePath>/semp</semp:basePath>
          <semp:transport/> <semp:exchangeFormat/> <semp:wsVersion/>
        </semp:X_SEMPSERVICE>
      </device>
    </root>

Only the root device's identity is kept, plus the types of its services and
embedded devices (each list capped); unknown elements are ignored. Elements are
matched by local name, so a device that drops the UPnP namespace still parses.
Parsing goes through ``xmldoc.parse_document`` (size cap, no DTD, no entities).
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.etree.ElementTree import Element

from porthole.codecs.xmldoc import UnexpectedDocument, child, child_text, children, local_name, parse_document

__all__ = ["MAX_DESCRIPTION", "MAX_LISTED", "SempServiceInfo", "DeviceDescription", "parse_device_description"]

#: bytes of description kept for parsing (real ones are 1-10 KiB)
MAX_DESCRIPTION = 256 * 1024
#: service types and embedded device types kept
MAX_LISTED = 16


@dataclass(frozen=True, slots=True, kw_only=True)
class SempServiceInfo:
    """The ``X_SEMPSERVICE`` block: where the device says its SEMP interface lives."""

    server: str | None = None
    base_path: str | None = None
    transport: str | None = None
    exchange_format: str | None = None
    ws_version: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceDescription:
    spec_version: str | None = None
    url_base: str | None = None
    device_type: str | None = None
    friendly_name: str | None = None
    manufacturer: str | None = None
    model_name: str | None = None
    model_number: str | None = None
    serial_number: str | None = None
    udn: str | None = None
    presentation_url: str | None = None
    semp_service: SempServiceInfo | None = None
    service_types: tuple[str, ...] = ()
    embedded_device_types: tuple[str, ...] = ()


def parse_device_description(data: bytes, *, limit: int = MAX_DESCRIPTION) -> DeviceDescription:
    """The root device of a UPnP description; ``CodecError`` if ``data`` is not one."""
    root = parse_document(data, limit=limit)
    if local_name(root.tag) != "root":
        raise UnexpectedDocument(f"not a UPnP device description: root element <{local_name(root.tag)[:40]}>")
    device = child(root, "device")
    if device is None:
        raise UnexpectedDocument("not a UPnP device description: <root> has no <device>")
    major, minor = child_text(root, "specVersion", "major"), child_text(root, "specVersion", "minor")
    semp_element = child(device, "X_SEMPSERVICE")
    semp_service = None
    if semp_element is not None:
        semp_service = SempServiceInfo(
            server=child_text(semp_element, "server"),
            base_path=child_text(semp_element, "basePath"),
            transport=child_text(semp_element, "transport"),
            exchange_format=child_text(semp_element, "exchangeFormat"),
            ws_version=child_text(semp_element, "wsVersion"),
        )
    service_list = child(device, "serviceList")
    device_list = child(device, "deviceList")
    return DeviceDescription(
        spec_version=f"{major}.{minor}" if major is not None and minor is not None else None,
        url_base=child_text(root, "URLBase"),
        device_type=child_text(device, "deviceType"),
        friendly_name=child_text(device, "friendlyName"),
        manufacturer=child_text(device, "manufacturer"),
        model_name=child_text(device, "modelName"),
        model_number=child_text(device, "modelNumber"),
        serial_number=child_text(device, "serialNumber"),
        udn=child_text(device, "UDN"),
        presentation_url=child_text(device, "presentationURL"),
        semp_service=semp_service,
        service_types=_listed(service_list, "service", "serviceType"),
        embedded_device_types=_listed(device_list, "device", "deviceType"),
    )


def _listed(container: Element | None, item: str, field: str) -> tuple[str, ...]:
    if container is None:
        return ()
    found: list[str] = []
    for element in children(container, item):
        value = child_text(element, field)
        if value is not None:
            found.append(value)
        if len(found) == MAX_LISTED:
            break
    return tuple(found)
