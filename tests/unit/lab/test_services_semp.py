"""lab.services.semp: SEMP XML and the UPnP description, read with aiohttp + defusedxml."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import defusedxml.ElementTree as SafeElementTree
import pytest

from lab.services._common import ServiceContext
from lab.services.semp import GATEWAY_DEVICE_TYPE, SEMP_NAMESPACE, Options, default_udn, serve

SEMP = {"semp": SEMP_NAMESPACE}
UPNP = {"upnp": "urn:schemas-upnp-org:device-1-0", "s": "urn:schemas-simple-energy-management-protocol:service-1-0"}


@pytest.fixture
async def base(tmp_path: Path) -> AsyncIterator[str]:
    context = ServiceContext(state_dir=tmp_path / "site" / "master", name="master")
    running = await serve("127.0.0.1", [0], Options(), context=context)
    yield f"http://127.0.0.1:{running.ports[0]}"
    await running.close()


async def fetch(method: str, url: str) -> tuple[int, dict[str, str], bytes]:
    async with aiohttp.ClientSession() as session:
        async with session.request(method, url, allow_redirects=False) as response:
            return response.status, dict(response.headers), await response.read()


async def test_semp_root_returns_device2em_with_info_status_and_planning(base: str) -> None:
    # Given the gateway, When GET /semp/ is fetched
    status, headers, body = await fetch("GET", base + "/semp/")
    root = SafeElementTree.fromstring(body)
    # Then a Device2EM document in the SEMP namespace holds the three parts
    assert status == 200
    assert headers["Content-Type"].startswith("application/xml")
    assert root.tag == f"{{{SEMP_NAMESPACE}}}Device2EM"
    identification = root.find("semp:DeviceInfo/semp:Identification", SEMP)
    assert identification is not None
    device_id = identification.findtext("semp:DeviceId", namespaces=SEMP)
    assert re.fullmatch(r"F-[0-9A-F]{8}-[0-9A-F]{12}-00", device_id or "")
    assert identification.findtext("semp:DeviceType", namespaces=SEMP) == "EVCharger"
    assert identification.findtext("semp:DeviceName", namespaces=SEMP) == "Charge Controller"
    assert identification.findtext("semp:DeviceSerial", namespaces=SEMP) == (device_id or "").split("-")[2]
    assert identification.findtext("semp:DeviceVendor", namespaces=SEMP) == "ChargeCtl Lab"
    assert root.find("semp:DeviceStatus", SEMP) is not None
    assert root.find("semp:PlanningRequest/semp:Timeframe", SEMP) is not None


@pytest.mark.parametrize("part", ["DeviceInfo", "DeviceStatus", "PlanningRequest"])
async def test_each_part_has_its_own_url(base: str, part: str) -> None:
    # When GET /semp/<part> is fetched
    status, _headers, body = await fetch("GET", f"{base}/semp/{part}")
    root = SafeElementTree.fromstring(body)
    # Then the Device2EM holds exactly that part
    assert status == 200
    assert [child.tag for child in root] == [f"{{{SEMP_NAMESPACE}}}{part}"]


async def test_description_names_the_gateway_and_its_semp_service(base: str) -> None:
    # Given the default UDN (derived from the controller name, as ssdp derives it)
    udn = default_udn("master")
    # When the UPnP description is fetched
    status, _headers, body = await fetch("GET", f"{base}/uuid:{udn}/description.xml")
    root = SafeElementTree.fromstring(body)
    # Then it is a device-1-0 root for the SEMP Gateway, whose server is this listener
    assert status == 200
    assert root.tag == "{urn:schemas-upnp-org:device-1-0}root"
    assert root.findtext("upnp:device/upnp:deviceType", namespaces=UPNP) == GATEWAY_DEVICE_TYPE
    assert root.findtext("upnp:device/upnp:UDN", namespaces=UPNP) == f"uuid:{udn}"
    assert root.findtext("upnp:device/s:X_SEMPSERVICE/s:server", namespaces=UPNP) == base
    assert root.findtext("upnp:device/s:X_SEMPSERVICE/s:basePath", namespaces=UPNP) == "/semp"


async def test_post_is_refused_with_405_and_never_acts(base: str) -> None:
    # Given a would-be EM2Device control message, When it is POSTed
    status, headers, _body = await fetch("POST", base + "/semp/")
    # Then the gateway answers 405 allowing GET only
    assert status == 405
    assert "GET" in headers["Allow"]
    assert "POST" not in headers["Allow"]


async def test_unknown_paths_are_404(base: str) -> None:
    status, _headers, _body = await fetch("GET", base + "/uuid:00000000-0000-0000-0000-000000000000/description.xml")
    assert status == 404


async def test_options_override_identity_and_base_path(tmp_path: Path) -> None:
    # Given explicit identity options and another base path
    context = ServiceContext(state_dir=tmp_path / "site" / "slave", name="slave")
    options = Options(
        udn="12345678-1234-5678-1234-567812345678",
        device_id="F-11223344-AABBCCDDEEFF-00",
        base_path="/SimpleEnergyManagementProtocol",
    )
    running = await serve("127.0.0.1", [0], options, context=context)
    try:
        base = f"http://127.0.0.1:{running.ports[0]}"
        # When the data and the description are fetched
        _status, _headers, body = await fetch("GET", base + "/SimpleEnergyManagementProtocol/DeviceInfo")
        _status, _headers, description = await fetch("GET", f"{base}/uuid:{options.udn}/description.xml")
    finally:
        await running.close()
    # Then they carry the configured values
    assert SafeElementTree.fromstring(body).findtext(
        "semp:DeviceInfo/semp:Identification/semp:DeviceId", namespaces=SEMP
    ) == "F-11223344-AABBCCDDEEFF-00"
    assert SafeElementTree.fromstring(description).findtext(
        "upnp:device/s:X_SEMPSERVICE/s:basePath", namespaces=UPNP
    ) == "/SimpleEnergyManagementProtocol"
