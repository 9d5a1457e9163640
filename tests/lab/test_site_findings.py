"""Every finding on every lab controller, from one full audit of the site.

The per-service lab tests (test_fp_*.py) check each probe's evidence in detail; this
one pins the whole picture an auditor gets: the exact (finding id, port) set on the
misconfigured unit, and nothing at all on the hardened master and slave.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.lab

MISCONF_FINDINGS = {
    ("ssh-open", 22), ("ssh-password-auth", 22), ("ssh-weak-algorithm", 22), ("profile-forbidden-open", 22),
    ("dns-open-resolver", 53), ("profile-forbidden-open", 53),
    ("http-no-redirect", 80), ("http-plain-login", 80),
    ("https-no-hsts", 443), ("tls-expired-cert", 443), ("tls-legacy-version", 443), ("tls-no-forward-secrecy", 443),
    ("tls-self-signed-cert", 443), ("tls-weak-key", 443),
    ("profile-expected-missing", 444), ("profile-expected-missing", 445),
    ("modbus-open", 502), ("profile-forbidden-open", 502),
    ("tls-client-cert-not-required", 1600), ("tls-no-forward-secrecy", 1600), ("tls-self-signed-cert", 1600),
    ("tls-client-cert-not-required", 1601), ("tls-no-forward-secrecy", 1601), ("tls-self-signed-cert", 1601),
    ("upnp-open", 1900), ("profile-forbidden-open", 1900),
    ("eebus-no-client-auth", 4711), ("eebus-ski-mismatch", 4711), ("eebus-auto-accept", 5353),
    ("ocpp-s-open", 8090), ("profile-forbidden-open", 8090),
    ("semp-open", 8888), ("profile-forbidden-open", 8888),
    ("iso15118-no-tls", 15118), ("profile-forbidden-open", 15119),
}


@pytest.fixture(scope="module")
def full_audit(demo_site, unit_audit):
    return demo_site, unit_audit.code, {host["address"]: host for host in unit_audit.report["hosts"]}


def test_the_misconfigured_unit_raises_exactly_its_findings_each_with_evidence(full_audit):
    site, code, hosts = full_audit
    host = hosts[str(site.controller("misconf").address)]
    assert {(finding["id"], finding["port"]) for finding in host["findings"]} == MISCONF_FINDINGS
    for finding in host["findings"]:
        assert finding["evidence"], finding["id"]
        assert finding["setting"] and finding["recommendation"], finding["id"]
    assert code == 1


@pytest.mark.parametrize("name", ["master", "slave"])
def test_hardened_units_raise_no_finding_at_all(full_audit, name):
    site, _, hosts = full_audit
    host = hosts[str(site.controller(name).address)]
    assert host["findings"] == []
    assert host["deviations"] == []


@pytest.mark.parametrize("name", ["master", "slave", "misconf"])
def test_every_open_port_on_the_lab_units_is_identified(full_audit, name):
    site, _, hosts = full_audit
    host = hosts[str(site.controller(name).address)]
    unidentified = [f"{p['port']}/{p['protocol']}" for p in host["ports"] if p["state"] == "open" and not p["summary"]]
    assert unidentified == []
    # Probes of open ports all complete (a silent open|filtered UDP port may time out: that is its nature)
    open_ports = {(p["port"], p["protocol"]) for p in host["ports"] if p["state"] == "open"}
    failed = [f"{p['probe_id']} {p['port']}: {p['error_reason']}" for p in host["probes"] if p["status"] != "completed" and (p["port"], p["protocol"]) in open_ports]
    assert failed == []
