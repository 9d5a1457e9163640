"""The TLS probe on the lab site: exact accepted sets per port, findings, and OpenSSL's word.

Expected sets follow from lab/site.toml's server configurations (OpenSSL 3.0 on Debian 12):
* master/slave web (443-445): TLS 1.2 + 1.3, ciphers "ECDHE+AESGCM:ECDHE+CHACHA20" with an
  RSA certificate signed by the lab CA;
* master DLM (1600/1601): "ECDHE+AESGCM", client certificates required;
* misconf web (443): TLS 1.0-1.2, AES128-SHA only, RSA-1024, self-signed, expired;
* misconf DLM (1600/1601): OpenSSL's DEFAULT suites, no client certificates.
``openssl s_client`` run from the scanner namespace confirms the version sets independently.
"""

from __future__ import annotations

import subprocess

import pytest

from lab import control

pytestmark = pytest.mark.lab

TLS13 = {0x1301, 0x1302, 0x1303}
STRONG_WEB = {"TLSv1.3": TLS13, "TLSv1.2": {0xC02F, 0xC030, 0xCCA8}}
STRONG_DLM = {"TLSv1.3": TLS13, "TLSv1.2": {0xC02F, 0xC030}}
WEAK_WEB = {"TLSv1.2": {0x002F}, "TLSv1.1": {0x002F}, "TLSv1.0": {0x002F}}
DEFAULT_DLM = {"TLSv1.3": TLS13, "TLSv1.2": {0xC030, 0xCCA8, 0xC02F, 0xC028, 0xC027, 0xC014, 0xC013, 0x009D, 0x009C, 0x003D, 0x003C, 0x0035, 0x002F}}

EXPECTED = {
    ("master", 443): (STRONG_WEB, "not-requested"),
    ("master", 444): (STRONG_WEB, "not-requested"),
    ("master", 445): (STRONG_WEB, "not-requested"),  # the slave's 443
    ("master", 1600): (STRONG_DLM, "required"),
    ("master", 1601): (STRONG_DLM, "required"),
    ("slave", 443): (STRONG_WEB, "not-requested"),
    ("slave", 444): (STRONG_WEB, "not-requested"),  # the master's 443
    ("slave", 445): (STRONG_WEB, "not-requested"),
    ("misconf", 443): (WEAK_WEB, "not-requested"),
    ("misconf", 1600): (DEFAULT_DLM, "not-requested"),
    ("misconf", 1601): (DEFAULT_DLM, "not-requested"),
}

MISCONF_FINDINGS = {
    443: {"tls-legacy-version", "tls-no-forward-secrecy", "tls-self-signed-cert", "tls-expired-cert", "tls-weak-key"},
    1600: {"tls-no-forward-secrecy", "tls-self-signed-cert", "tls-client-cert-not-required"},
    1601: {"tls-no-forward-secrecy", "tls-self-signed-cert", "tls-client-cert-not-required"},
}


@pytest.fixture(scope="module")
def tls_audit(demo_site):
    addresses = [str(demo_site.controller(name).address) for name in ("master", "slave", "misconf")]
    _, report = demo_site.audit_json(*addresses, "--ports", "443,444,445,1600,1601,8090")
    hosts = {host["address"]: host for host in report["hosts"]}
    return demo_site, {name: hosts[str(demo_site.controller(name).address)] for name in ("master", "slave", "misconf")}


def tls_evidence(host: dict, port: int) -> dict:
    observation = next(p for p in host["ports"] if p["port"] == port and p["protocol"] == "tcp")
    assert "tls" in observation["evidence"], (port, [p for p in host["probes"] if p["port"] == port])
    return observation["evidence"]["tls"]


@pytest.mark.parametrize(("controller", "port"), sorted(EXPECTED))
def test_each_lab_tls_port_accepts_exactly_what_its_server_is_configured_for(tls_audit, controller: str, port: int) -> None:
    _, hosts = tls_audit
    evidence = tls_evidence(hosts[controller], port)
    expected_suites, expected_client = EXPECTED[(controller, port)]
    accepted = {v["version"]: {s["code"] for s in v["suites"]} for v in evidence["versions"] if v["accepted"]}
    assert evidence["tls"] and evidence["complete"]
    assert accepted == expected_suites
    assert evidence["client_certificate"] == expected_client


def test_an_undocumented_tls_port_is_found_when_asked_for_and_audited_as_tls(demo_site) -> None:
    # Given misconf's maintenance HTTPS port 8443, outside the vendor's table
    address = str(demo_site.controller("misconf").address)
    # When it is audited with that port added to the catalogue's
    _, report = demo_site.audit_json(address, "--ports", "+8443", "--role", "master")
    (host,) = report["hosts"]
    observation = next(p for p in host["ports"] if p["port"] == 8443 and p["protocol"] == "tcp")
    # Then the banner grab heard nothing and the TLS probe that followed enumerated it
    assert observation["service"] is None and observation["evidence"]["banner"]["speaks_first"] is False
    evidence = observation["evidence"]["tls"]
    accepted = {v["version"]: {s["code"] for s in v["suites"]} for v in evidence["versions"] if v["accepted"]}
    assert accepted == {"TLSv1.2": {0xC02F, 0xC030, 0x0035}}
    assert observation["summary"].startswith("TLSv1.2; 3 suites")
    # And it is judged like a catalogued port: TLS findings, and the profile's unexpected-open
    findings = {(f["id"], f["port"]) for f in host["findings"]}
    assert {("tls-no-forward-secrecy", 8443), ("tls-self-signed-cert", 8443), ("profile-unexpected-open", 8443)} <= findings


def test_hardened_master_and_slave_raise_no_tls_finding(tls_audit) -> None:
    _, hosts = tls_audit
    for name in ("master", "slave"):
        assert [f for f in hosts[name]["findings"] if f["id"].startswith("tls-")] == [], name


def test_misconfigured_controller_has_every_tls_weakness_named_per_port(tls_audit) -> None:
    _, hosts = tls_audit
    found: dict[int, set[str]] = {}
    for item in hosts["misconf"]["findings"]:
        if item["id"].startswith("tls-"):
            found.setdefault(item["port"], set()).add(item["id"])
    assert found == MISCONF_FINDINGS


def test_plain_http_ocpp_s_is_recorded_as_not_tls(tls_audit) -> None:
    _, hosts = tls_audit
    evidence = tls_evidence(hosts["misconf"], 8090)
    assert evidence["tls"] is False and evidence["handshakes"] == 1


def test_the_weak_web_certificate_facts(tls_audit) -> None:
    _, hosts = tls_audit
    leaf = tls_evidence(hosts["misconf"], 443)["certificates"][0]
    assert (leaf["key_type"], leaf["key_bits"], leaf["self_signed"], leaf["subject"]) == ("rsa", 1024, True, "CN=misconf,O=porthole lab")


def test_master_and_slave_certificates_chain_to_the_lab_ca_in_order(tls_audit) -> None:
    _, hosts = tls_audit
    leaf, ca = tls_evidence(hosts["master"], 443)["certificates"]
    assert leaf["subject"] == "CN=master,O=porthole lab" and leaf["issued_by_next"] and ca["is_ca"]


OPENSSL_VERSION_FLAGS = {"TLSv1.0": "-tls1", "TLSv1.1": "-tls1_1", "TLSv1.2": "-tls1_2", "TLSv1.3": "-tls1_3"}


@pytest.mark.parametrize(("controller", "port"), [("master", 443), ("misconf", 443), ("misconf", 1600)])
def test_openssl_s_client_agrees_on_the_accepted_versions(tls_audit, controller: str, port: int) -> None:
    # Given porthole's versions for the port
    site, hosts = tls_audit
    evidence = tls_evidence(hosts[controller], port)
    porthole_versions = {v["version"] for v in evidence["versions"] if v["accepted"]}
    # When OpenSSL's own client tries each version from the scanner namespace
    address = str(site.controller(controller).address)
    openssl_versions = set()
    for version, flag in OPENSSL_VERSION_FLAGS.items():
        completed = subprocess.run(
            [*control.scanner_prefix(site.site), "openssl", "s_client", "-connect", f"{address}:{port}", flag, "-cipher", "ALL:@SECLEVEL=0"],
            input="", capture_output=True, text=True, timeout=20, check=False,
        )
        if completed.returncode == 0 and "Cipher is (NONE)" not in completed.stdout:
            openssl_versions.add(version)
    # Then both see the same set
    assert openssl_versions == porthole_versions
