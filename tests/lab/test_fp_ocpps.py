"""OCPP-S on the lab site: misconf runs the SOAP endpoint on 8090 (lab/services/ocpps.py);
the hardened master and slave do not, so neither may carry OCPP-S evidence or findings."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def ocpps_audit(unit_audit):
    """The session's one audit of master, slave and misconf (tests/lab/conftest.py)."""
    return unit_audit.hosts


def port(host: dict, number: int) -> dict:
    return next(p for p in host["ports"] if p["protocol"] == "tcp" and p["port"] == number)


def test_misconf_ocpps_endpoint_is_identified(ocpps_audit):
    observation = port(ocpps_audit["misconf"], 8090)
    evidence = observation["evidence"]["ocpp-s"]
    assert (evidence["tls_sniff"], evidence["transport"], evidence["status"], evidence["recognised"]) == ("not-tls", "plain", 400, True)
    assert re.fullmatch(r"porthole-probe-[0-9a-f]{8}", evidence["probe_identity"])
    soap = evidence["soap"]
    assert (soap["soap_version"], soap["fault_code"], soap["fault_subcode"], soap["ocpp_version"]) == ("1.2", "Sender", "IdentityMismatch", "1.6")
    assert observation["summary"] == "OCPP-S 1.6 SOAP (plain HTTP): Fault Sender/IdentityMismatch"


def test_misconf_ocpps_finding(ocpps_audit):
    (finding,) = [f for f in ocpps_audit["misconf"]["findings"] if f["id"] == "ocpp-s-open"]
    assert (finding["port"], finding["severity"], finding["setting"]) == (8090, "high", "ASKI over OCPP-S: Off")
    assert finding["evidence"][:2] == ["POST / on 8090/tcp over plain HTTP: 400 Bad Request", "SOAP 1.2 Fault Sender/IdentityMismatch in urn://Ocpp/Cp/2015/10/"]


@pytest.mark.parametrize("name", ["master", "slave"])
def test_hardened_units_have_no_ocpps(ocpps_audit, name):
    host = ocpps_audit[name]
    assert port(host, 8090)["state"] == "closed" and "ocpp-s" not in port(host, 8090)["evidence"]
    assert not [f for f in host["findings"] if f["id"] == "ocpp-s-open"]
