"""SEMP (8888/tcp) and UPnP/SSDP (1900/udp) fingerprints on the lab site, cross-checked with nmap.

misconf runs lab/services/semp.py on 8888 and lab/services/ssdp.py on 1900/udp; the
hardened master and slave run neither (master firewalls 8888, both leave 1900 closed).
nmap's ``upnp-info`` must agree with porthole on SERVER and LOCATION.
"""

from __future__ import annotations

import hashlib
import subprocess
import xml.etree.ElementTree as ElementTree

import pytest

from lab import control
from lab.services.semp import GATEWAY_DEVICE_TYPE, default_udn

pytestmark = pytest.mark.lab

LAB_SERVER = "Linux/5.10 UPnP/1.0 ChargeController-SEMP/1.0"


@pytest.fixture(scope="module")
def semp_audit(demo_site, unit_audit):
    """The session's one audit of master, slave and misconf (tests/lab/conftest.py)."""
    return demo_site, unit_audit.hosts


def port(host: dict, protocol: str, number: int) -> dict:
    return next(p for p in host["ports"] if p["protocol"] == protocol and p["port"] == number)


def finding_ids(host: dict) -> set[tuple[str, int | None]]:
    return {(f["id"], f["port"]) for f in host["findings"]}


def test_misconf_semp_gateway_is_identified_and_flagged(semp_audit):
    _, hosts = semp_audit
    misconf = hosts["misconf"]
    semp = port(misconf, "tcp", 8888)["evidence"]["semp"]
    # the lab derives the DeviceId from the controller name: "LAB-" in hex, then 12 hex of sha256
    serial = hashlib.sha256(b"misconf").hexdigest()[:12].upper()
    # its base path is none of the usual ones: the UPnP description the SSDP probe read on
    # 1900/udp advertises it, and the SEMP probe (which runs after) asks there first, once
    assert semp["recognised"] and semp["base_path"] == "/em/semp/" and semp["advertised_base_path"] == "/em/semp/"
    assert [a["path"] for a in semp["attempts"]] == ["/em/semp/"]
    assert semp["device_info"] == [
        {
            "device_id": f"F-4C41422D-{serial}-00",
            "device_name": "Charge Controller",
            "device_type": "EVCharger",
            "device_serial": serial,
            "device_vendor": "ChargeCtl Lab",
            "max_power_consumption": "22080",
        }
    ]
    assert [(s["status"], s["em_signals_accepted"]) for s in semp["device_status"]] == [("Off", "true")]
    assert port(misconf, "tcp", 8888)["summary"] == "SEMP Device2EM at /em/semp/: ChargeCtl Lab Charge Controller (EVCharger)"
    (finding,) = [f for f in misconf["findings"] if f["id"] == "semp-open"]
    assert (finding["severity"], finding["port"], finding["setting"]) == ("high", 8888, "SEMP interface: Off")


def test_misconf_ssdp_answers_and_its_own_description_is_read(semp_audit):
    _, hosts = semp_audit
    misconf = hosts["misconf"]
    address = misconf["address"]
    ssdp = port(misconf, "udp", 1900)["evidence"]["ssdp"]
    udn = default_udn("misconf")
    location = f"http://{address}:8888/uuid:{udn}/description.xml"
    assert ssdp["searches"] == ["ssdp:all"]
    assert [r["st"] for r in ssdp["replies"]] == ["upnp:rootdevice", f"uuid:{udn}", GATEWAY_DEVICE_TYPE]
    assert {(r["server"], r["location"], r["source_port"]) for r in ssdp["replies"]} == {(LAB_SERVER, location, 1900)}
    assert ssdp["locations"] == [{"url": location, "followed": True, "note": None}]
    description = ssdp["description"]
    assert (description["outcome"], description["status"]) == ("parsed", 200)
    device = description["device"]
    assert (device["device_type"], device["friendly_name"], device["manufacturer"], device["model_name"], device["udn"]) == (
        GATEWAY_DEVICE_TYPE, "Charge Controller SEMP Gateway", "ChargeCtl Lab", "Charge Controller", f"uuid:{udn}"
    )
    assert (device["semp_service"]["server"], device["semp_service"]["base_path"]) == (f"http://{address}:8888", "/em/semp")
    assert ssdp["semp_gateway"] is True
    (finding,) = [f for f in misconf["findings"] if f["id"] == "upnp-open"]
    assert (finding["severity"], finding["port"], finding["protocol"]) == ("high", 1900, "udp")


@pytest.mark.parametrize("name", ["master", "slave"])
def test_hardened_units_have_no_semp_or_upnp_evidence_nor_findings(semp_audit, name):
    _, hosts = semp_audit
    host = hosts[name]
    assert not {fid for fid, _ in finding_ids(host)} & {"semp-open", "upnp-open"}
    for observation in host["ports"]:
        assert not {"semp", "ssdp"} & set(observation.get("evidence", {}))
    assert not [p for p in host["probes"] if p["probe_id"] in ("semp", "ssdp")]


def nmap_upnp_info(site, address: str) -> dict[str, str]:
    """``Server``/``Location`` lines of nmap's upnp-info output, run from the scanner namespace."""
    completed = subprocess.run(
        [*control.scanner_prefix(site.site), "nmap", "-n", "-Pn", "-sU", "-p", "1900", "--script", "upnp-info", "-oX", "-", address],
        capture_output=True, text=True, timeout=120, check=True,
    )
    script = ElementTree.fromstring(completed.stdout).find(".//port[@portid='1900']/script[@id='upnp-info']")
    assert script is not None, completed.stdout
    facts = {}
    for line in script.get("output", "").splitlines():
        key, colon, value = line.strip().partition(": ")
        if colon and key in ("Server", "Location", "Name", "Manufacturer", "Model Name"):
            facts[key] = value.strip()
    return facts


def test_nmap_upnp_info_agrees_on_server_and_location(semp_audit):
    site, hosts = semp_audit
    misconf = hosts["misconf"]
    ssdp = port(misconf, "udp", 1900)["evidence"]["ssdp"]
    nmap = nmap_upnp_info(site, misconf["address"])
    # nmap reports one reply (it searches upnp:rootdevice); porthole's root-device reply must say the same
    root = next(r for r in ssdp["replies"] if r["st"] == "upnp:rootdevice")
    assert nmap["Server"] == root["server"]
    assert nmap["Location"] == root["location"]
    # where nmap also read the description, its identity fields agree too
    device = ssdp["description"]["device"]
    for key, field in (("Name", "friendly_name"), ("Manufacturer", "manufacturer"), ("Model Name", "model_name")):
        if key in nmap:
            assert nmap[key] == device[field]
