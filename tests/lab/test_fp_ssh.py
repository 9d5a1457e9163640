"""SSH fingerprints on the lab site (real OpenSSH), cross-checked with nmap's ssh2-enum-algos.

misconf runs the real sshd on 22 with password logins and a legacy SHA-1 key
exchange added (lab/site.toml); 23 is closed and 24 firewalled there. The hardened
master firewalls 22 and the slave has no SSH at all, so neither may carry SSH
evidence or findings.
"""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ElementTree

import pytest

from lab import control

pytestmark = pytest.mark.lab

SSH_FINDINGS = {"ssh-open", "ssh-weak-algorithm", "ssh-password-auth", "ssh-auth-none", "telnet-open"}


@pytest.fixture(scope="module")
def ssh_audit(demo_site, unit_audit):
    """The session's one audit of master, slave and misconf (tests/lab/conftest.py)."""
    return demo_site, unit_audit.hosts


def port(host: dict, number: int) -> dict:
    return next(p for p in host["ports"] if p["protocol"] == "tcp" and p["port"] == number)


def test_misconf_ssh_is_identified_with_its_algorithms_and_methods(ssh_audit):
    _, hosts = ssh_audit
    observation = port(hosts["misconf"], 22)
    evidence = observation["evidence"]["ssh"]
    # OpenSSH as Debian 12 ships it: "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12uN"
    identification = evidence["identification"]
    assert identification["protocol_version"] == "2.0" and identification["software_version"].startswith("OpenSSH_9.2")
    assert identification["comments"].startswith("Debian-") and identification["line_ending"] == "crlf"
    assert observation["summary"] == f"{identification['software_version']} {identification['comments']} (protocol 2.0)"
    kexinit = evidence["kexinit"]
    assert kexinit["solicited"] is False and evidence["kexinit_error"] is None
    assert "diffie-hellman-group14-sha1" in kexinit["kex_algorithms"]  # the site file's KexAlgorithms +...
    assert kexinit["server_host_key_algorithms"] == ["ssh-ed25519"]
    assert evidence["auth"] == {"username": "porthole-probe", "methods": ["publickey", "password"], "none_accepted": False, "error": None}
    # the other SSH ports of misconf carry nothing
    assert port(hosts["misconf"], 23)["state"] == "closed" and port(hosts["misconf"], 24)["state"] == "filtered"
    assert "ssh" not in port(hosts["misconf"], 23)["evidence"]


def test_misconf_ssh_findings(ssh_audit):
    _, hosts = ssh_audit
    findings = {f["id"]: f for f in hosts["misconf"]["findings"] if f["id"] in SSH_FINDINGS}
    assert set(findings) == {"ssh-open", "ssh-weak-algorithm", "ssh-password-auth"}
    assert all(f["port"] == 22 for f in findings.values())
    assert (findings["ssh-open"]["severity"], findings["ssh-open"]["setting"]) == ("high", "SSH access: Off")
    weak = findings["ssh-weak-algorithm"]
    assert weak["severity"] == "high"
    assert "kex diffie-hellman-group14-sha1: fail (sha1-hash, dh-2048-modulus)" in weak["evidence"]
    assert "mac hmac-sha1: fail (sha1-hash)" in weak["evidence"]
    assert findings["ssh-password-auth"]["severity"] == "high"


@pytest.mark.parametrize("name", ["master", "slave"])
def test_hardened_units_have_no_ssh_evidence_or_findings(ssh_audit, name):
    _, hosts = ssh_audit
    host = hosts[name]
    assert not [f["id"] for f in host["findings"] if f["id"] in SSH_FINDINGS]
    for number in (22, 23, 24):
        assert "ssh" not in port(host, number)["evidence"]
    assert not [p for p in host["probes"] if p["probe_id"] == "ssh"]


def test_nmap_ssh2_enum_algos_lists_the_same_algorithms(ssh_audit):
    # Given porthole's KEXINIT evidence and nmap's ssh2-enum-algos run from the same vantage
    site, hosts = ssh_audit
    address = hosts["misconf"]["address"]
    completed = subprocess.run(
        [*control.scanner_prefix(site.site), "nmap", "-Pn", "-n", "-p", "22", "--script", "ssh2-enum-algos", "-oX", "-", address],
        capture_output=True, text=True, timeout=120, check=True,
    )
    script = ElementTree.fromstring(completed.stdout).find(".//port[@portid='22']/script[@id='ssh2-enum-algos']")
    assert script is not None, completed.stdout
    nmap_lists = {table.get("key"): [elem.text for elem in table.findall("elem")] for table in script.findall("table")}
    kexinit = port(hosts["misconf"], 22)["evidence"]["ssh"]["kexinit"]
    # Then every list nmap reports is porthole's, in the same order. nmap folds the two
    # directions into one key when they are equal; porthole keeps both.
    expected = {"kex_algorithms": kexinit["kex_algorithms"], "server_host_key_algorithms": kexinit["server_host_key_algorithms"]}
    for kind in ("encryption_algorithms", "mac_algorithms", "compression_algorithms"):
        client, server = kexinit[f"{kind}_client_to_server"], kexinit[f"{kind}_server_to_client"]
        expected.update({kind: client} if client == server else {f"{kind}_client_to_server": client, f"{kind}_server_to_client": server})
    assert nmap_lists == expected
