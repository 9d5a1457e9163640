"""SEMP ``Device2EM`` documents (SMA SEMP v1, as evcc and openHAB read them; protocols.md §7.3).

What ``GET <base>/`` returns on a SEMP gateway (one document may describe several
devices; only the identification and status parts are kept)::

    <Device2EM xmlns="http://www.sma.de/communication/schema/SEMP/v1">
      <DeviceInfo>
        <Identification>
          <DeviceId>F-4C41422D-0123456789AB-00</DeviceId>   F-<8 hex vendor>-<12 hex serial>-<2 hex sub>
          <DeviceName/> <DeviceType>EVCharger</DeviceType> <DeviceSerial/> <DeviceVendor/>
        </Identification>
        <Characteristics> <MaxPowerConsumption/> ... </Characteristics>
        <Capabilities> ... </Capabilities>
      </DeviceInfo>
      <DeviceStatus>
        <DeviceId/> <EMSignalsAccepted>true</EMSignalsAccepted> <Status>Off</Status>
        <PowerConsumption><PowerInfo><AveragePower/>...</PowerInfo></PowerConsumption>
      </DeviceStatus>
      <PlanningRequest> ... </PlanningRequest>
    </Device2EM>

The opposite direction (``EM2Device`` with ``DeviceControl``) switches charging; this
module has no builder for it on purpose: porthole only ever GETs SEMP.
"""

from __future__ import annotations

from dataclasses import dataclass

from porthole.codecs.xmldoc import UnexpectedDocument, child, child_text, children, local_name, parse_document

__all__ = ["SEMP_NAMESPACE", "MAX_DOCUMENT", "MAX_DEVICES", "SempDeviceInfo", "SempDeviceStatus", "Device2Em", "parse_device2em"]

SEMP_NAMESPACE = "http://www.sma.de/communication/schema/SEMP/v1"
#: bytes of document kept for parsing (a gateway with a few devices sends a few KiB)
MAX_DOCUMENT = 256 * 1024
#: DeviceInfo / DeviceStatus entries kept
MAX_DEVICES = 16


@dataclass(frozen=True, slots=True, kw_only=True)
class SempDeviceInfo:
    device_id: str | None = None
    device_name: str | None = None
    device_type: str | None = None
    device_serial: str | None = None
    device_vendor: str | None = None
    max_power_consumption: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SempDeviceStatus:
    device_id: str | None = None
    status: str | None = None
    em_signals_accepted: str | None = None
    average_power: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Device2Em:
    #: the root element's namespace ("" when the device sends none)
    namespace: str
    device_info: tuple[SempDeviceInfo, ...] = ()
    device_status: tuple[SempDeviceStatus, ...] = ()
    planning_requests: int = 0


def parse_device2em(data: bytes, *, limit: int = MAX_DOCUMENT) -> Device2Em:
    """A ``Device2EM`` document; ``CodecError`` if ``data`` is another document (an HTML page...)."""
    root = parse_document(data, limit=limit)
    if local_name(root.tag) != "Device2EM":
        raise UnexpectedDocument(f"not a SEMP Device2EM document: root element <{local_name(root.tag)[:40]}>")
    namespace = root.tag[1:].partition("}")[0] if root.tag.startswith("{") else ""
    infos = []
    for element in children(root, "DeviceInfo"):
        identification = child(element, "Identification")
        infos.append(
            SempDeviceInfo(
                device_id=child_text(identification, "DeviceId"),
                device_name=child_text(identification, "DeviceName"),
                device_type=child_text(identification, "DeviceType"),
                device_serial=child_text(identification, "DeviceSerial"),
                device_vendor=child_text(identification, "DeviceVendor"),
                max_power_consumption=child_text(element, "Characteristics", "MaxPowerConsumption"),
            )
        )
        if len(infos) == MAX_DEVICES:
            break
    statuses = []
    for element in children(root, "DeviceStatus"):
        statuses.append(
            SempDeviceStatus(
                device_id=child_text(element, "DeviceId"),
                status=child_text(element, "Status"),
                em_signals_accepted=child_text(element, "EMSignalsAccepted"),
                average_power=child_text(element, "PowerConsumption", "PowerInfo", "AveragePower"),
            )
        )
        if len(statuses) == MAX_DEVICES:
            break
    planning = sum(1 for _ in children(root, "PlanningRequest"))
    return Device2Em(namespace=namespace, device_info=tuple(infos), device_status=tuple(statuses), planning_requests=planning)
