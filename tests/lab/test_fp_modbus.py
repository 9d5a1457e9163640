"""Modbus fingerprints on the lab site (real pymodbus), cross-checked with nmap's modbus-discover.

misconf runs the pymodbus server with device identification on 502 (lab/site.toml,
lab/services/modbus.py); the hardened master and slave firewall 502, so neither may
carry Modbus evidence or findings.

nmap's modbus-discover sweeps unit ids with FC 0x11 (Report Server ID), acceptable
against the lab only; it stops after the first unit that answers unless told to be
"aggressive" (its argument is read as a Lua string, so even "false" would turn the
sweep on: it is left out). pymodbus answers device identification for any unit id,
so nmap's first unit (1) and porthole's (255) see the same objects.
"""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ElementTree

import pytest

from lab import control

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def modbus_audit(demo_site, unit_audit):
    """The session's one audit of master, slave and misconf (tests/lab/conftest.py)."""
    return demo_site, unit_audit.hosts


def port(host: dict, number: int) -> dict:
    return next(p for p in host["ports"] if p["protocol"] == "tcp" and p["port"] == number)


def test_misconf_pymodbus_identifies_itself_to_one_request_on_unit_255(modbus_audit):
    _, hosts = modbus_audit
    observation = port(hosts["misconf"], 502)
    evidence = observation["evidence"]["modbus"]
    assert (evidence["modbus"], evidence["basis"], evidence["unit_id"]) == (True, "data", 255)
    identification = evidence["device_identification"]
    assert (identification["vendor_name"], identification["product_code"], identification["revision"]) == ("ChargeCtl Lab", "CC-LAB", "5.33")
    assert [(e["unit_id"], e["function_code"], e["outcome"]) for e in evidence["exchanges"]] == [(255, 0x2B, "response")]
    assert observation["summary"] == "Modbus TCP: ChargeCtl Lab CC-LAB 5.33 (unit 255)"
    findings = [f for f in hosts["misconf"]["findings"] if f["id"] == "modbus-open"]
    assert [(f["port"], f["severity"], f["setting"]) for f in findings] == [(502, "high", "Modbus TCP Server: Off")]
    assert findings[0]["evidence"][-1] == "device identification: VendorName 'ChargeCtl Lab', ProductCode 'CC-LAB', MajorMinorRevision '5.33'"


@pytest.mark.parametrize("name", ["master", "slave"])
def test_hardened_units_have_no_modbus_evidence_and_no_modbus_finding(modbus_audit, name):
    _, hosts = modbus_audit
    host = hosts[name]
    assert port(host, 502)["state"] == "filtered"
    assert not [p for p in host["probes"] if p["probe_id"] == "modbus"]
    assert not [f for f in host["findings"] if f["id"] == "modbus-open"]


def test_nmap_modbus_discover_sees_the_same_device_identification(modbus_audit):
    # Given nmap's modbus-discover from the same vantage, stopping at the first unit that answers
    site, hosts = modbus_audit
    address = hosts["misconf"]["address"]
    completed = subprocess.run(
        [*control.scanner_prefix(site.site), "nmap", "-Pn", "-n", "-p", "502", "--script", "modbus-discover", "-oX", "-", address],
        capture_output=True, text=True, timeout=180, check=True,
    )
    script = ElementTree.fromstring(completed.stdout).find(".//port[@portid='502']/script[@id='modbus-discover']")
    assert script is not None, completed.stdout
    tables = script.findall("table")
    assert [table.get("key") for table in tables] == ["sid 0x1"]
    nmap_identification = tables[0].find("elem[@key='Device identification']")
    assert nmap_identification is not None
    # Then nmap's objects (joined by spaces) are porthole's, in order
    objects = port(hosts["misconf"], 502)["evidence"]["modbus"]["device_identification"]["objects"]
    assert nmap_identification.text == " ".join(item["value"] for item in objects)
