"""EEBUS SHIP and its mDNS announcement on the lab site (python-zeroconf, OpenSSL).

misconf announces ``_ship._tcp`` with register=true and an SKI that is the
complement of the certificate it serves on 4711, where TLS asks for no client
certificate: all three EEBUS findings. The hardened master serves 4711 with client
certificates required and announces the SKI of that very certificate: evidence,
but no EEBUS finding. The slave has neither.
"""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import serialization

from lab import control
from lab.certs import load_certificate, subject_key_identifier

pytestmark = pytest.mark.lab

EEBUS_FINDINGS = {"eebus-no-client-auth", "eebus-ski-mismatch", "eebus-auto-accept"}


@pytest.fixture(scope="module")
def eebus_audit(demo_site, unit_audit):
    """The session's one audit of master, slave and misconf (tests/lab/conftest.py)."""
    return demo_site, unit_audit.hosts


def port(host: dict, number: int, protocol: str) -> dict:
    return next(p for p in host["ports"] if p["protocol"] == protocol and p["port"] == number)


def lab_certificate(site, name: str):
    certificate = load_certificate(control.state_root() / site.site.name / "certs" / f"{name}.cert.pem")
    return certificate, subject_key_identifier(certificate).hex(), hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


def test_misconf_mdns_announces_ship_with_auto_accept_and_a_foreign_ski(eebus_audit):
    site, hosts = eebus_audit
    _, ski, _ = lab_certificate(site, "misconf-ship")
    observation = port(hosts["misconf"], 5353, "udp")
    evidence = observation["evidence"]["mdns"]
    assert evidence["service_types"] == ["_ship._tcp.local."] and evidence["ship_instances_total"] == 1
    (instance,) = evidence["ship_instances"]
    assert instance["name"] == "CC-misconf._ship._tcp.local."
    assert (instance["host"], instance["port"], instance["addresses"]) == ("cc-misconf.local.", 4711, ["198.18.0.12"])
    assert (instance["txtvers"], instance["id"], instance["path"], instance["register"]) == ("1", "ChargeCtl-CC-misconf", "/ship/", True)
    assert (instance["brand"], instance["model"], instance["type"]) == ("ChargeCtl", "CC-LAB", "EVSE")
    # the lab's ski_mismatch: the complement of the served certificate's SKI
    assert instance["ski"] == bytes(b ^ 0xFF for b in bytes.fromhex(ski)).hex()
    assert observation["summary"] == "mDNS: EEBUS SHIP CC-misconf._ship._tcp.local. ChargeCtl CC-LAB EVSE; 1 service type(s)"


def test_misconf_4711_completes_tls_without_a_client_certificate(eebus_audit):
    site, hosts = eebus_audit
    certificate, ski, fingerprint = lab_certificate(site, "misconf-ship")
    evidence = port(hosts["misconf"], 4711, "tcp")["evidence"]["eebus"]
    assert (evidence["handshake"], evidence["certificate_requested"], evidence["client_certificate_required"]) == ("completed", False, False)
    assert evidence["negotiated_version"] == "TLSv1.2"
    assert evidence["certificate"]["subject_key_identifier"] == ski
    assert evidence["certificate"]["sha256_fingerprint"] == fingerprint
    assert evidence["certificate"]["subject"] == certificate.subject.rfc4514_string()


def test_misconf_raises_all_three_eebus_findings(eebus_audit):
    site, hosts = eebus_audit
    _, ski, _ = lab_certificate(site, "misconf-ship")
    findings = {f["id"]: f for f in hosts["misconf"]["findings"] if f["id"] in EEBUS_FINDINGS}
    assert set(findings) == EEBUS_FINDINGS
    assert (findings["eebus-no-client-auth"]["port"], findings["eebus-no-client-auth"]["severity"]) == (4711, "high")
    assert (findings["eebus-auto-accept"]["port"], findings["eebus-auto-accept"]["protocol"]) == (5353, "udp")
    mismatch = findings["eebus-ski-mismatch"]
    assert (mismatch["port"], mismatch["protocol"]) == (4711, "tcp")
    assert f"SubjectKeyIdentifier {ski}" in mismatch["evidence"][1]


def test_master_requires_client_certificates_and_announces_its_own_ski(eebus_audit):
    site, hosts = eebus_audit
    _, ski, fingerprint = lab_certificate(site, "master-ship")
    eebus = port(hosts["master"], 4711, "tcp")["evidence"]["eebus"]
    assert eebus["handshake"] == "refused-without-client-certificate"
    assert (eebus["certificate_requested"], eebus["client_certificate_required"]) == (True, True)
    assert eebus["rejection"] == "fatal alert handshake_failure (40) after our empty Certificate"
    assert (eebus["certificate"]["subject_key_identifier"], eebus["certificate"]["sha256_fingerprint"]) == (ski, fingerprint)
    (instance,) = port(hosts["master"], 5353, "udp")["evidence"]["mdns"]["ship_instances"]
    assert (instance["ski"], instance["register"], instance["addresses"]) == (ski, False, ["198.18.0.10"])


def test_no_eebus_finding_on_the_hardened_units(eebus_audit):
    _, hosts = eebus_audit
    for name in ("master", "slave"):
        assert not [f for f in hosts[name]["findings"] if f["id"] in EEBUS_FINDINGS], name
    assert port(hosts["slave"], 4711, "tcp")["state"] == "closed"
    assert "eebus" not in port(hosts["slave"], 4711, "tcp")["evidence"]
