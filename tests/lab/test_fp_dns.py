"""DNS fingerprints on the lab site (real dnsmasq), cross-checked with nmap's dns-recursion.

misconf runs dnsmasq as an open resolver on 53/udp and 53/tcp (lab/site.toml): it
answers localhost. with RA, and wikipedia.org from a local record standing in for
the internet it would forward to (the lab has no upstream). The hardened master and
slave run no DNS at all (53 closed), so neither may carry DNS evidence or findings.
"""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ElementTree

import pytest

from lab import control

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def dns_audit(demo_site, unit_audit):
    """The session's one audit of master, slave and misconf (tests/lab/conftest.py)."""
    return demo_site, unit_audit.hosts


def port(host: dict, number: int, protocol: str) -> dict:
    return next(p for p in host["ports"] if p["protocol"] == protocol and p["port"] == number)


@pytest.mark.parametrize("protocol", ["udp", "tcp"])
def test_misconf_dnsmasq_is_an_open_resolver_over_both_transports(dns_audit, protocol):
    # Given the audit of the misconfigured master / When its 53 is read
    _, hosts = dns_audit
    observation = port(hosts["misconf"], 53, protocol)
    evidence = observation["evidence"]["dns"]
    # Then the real dnsmasq answered localhost. with RA and named itself
    assert (evidence["transport"], evidence["answers_queries"], evidence["recursion_available"], evidence["resolves_localhost"]) == (protocol, True, True, True)
    assert evidence["localhost_addresses"] == ["127.0.0.1"]
    assert evidence["version"] == "dnsmasq-2.90"
    assert [exchange["question"] for exchange in evidence["exchanges"]] == ["localhost. IN A", "version.bind. CH TXT"]
    assert evidence["exchanges"][0]["answers"] == ["localhost. 0 IN A 127.0.0.1"]
    assert observation["summary"] == "dnsmasq-2.90: open resolver (RA, resolves localhost.)"
    # And it is the open-resolver finding on that port, at the checklist's WARN (medium)
    findings = [f for f in hosts["misconf"]["findings"] if f["id"] == "dns-open-resolver" and f["protocol"] == protocol]
    assert [(f["port"], f["severity"], f["setting"]) for f in findings] == [(53, "medium", "WAN Router: Off")]


@pytest.mark.parametrize("name", ["master", "slave"])
def test_hardened_units_have_no_dns_evidence_and_no_dns_finding(dns_audit, name):
    _, hosts = dns_audit
    host = hosts[name]
    assert {port(host, 53, protocol)["state"] for protocol in ("udp", "tcp")} == {"closed"}
    assert not [p for p in host["ports"] if "dns" in p["evidence"]]
    assert not [p for p in host["probes"] if p["probe_id"] == "dns"]
    assert not [f for f in host["findings"] if f["id"] == "dns-open-resolver"]


def nmap_dns_recursion(site, address: str) -> ElementTree.Element | None:
    completed = subprocess.run(
        [*control.scanner_prefix(site.site), "nmap", "-Pn", "-n", "-sU", "-p", "53", "--script", "dns-recursion", "-oX", "-", address],
        capture_output=True, text=True, timeout=120, check=True,
    )
    return ElementTree.fromstring(completed.stdout).find(".//port[@portid='53']/script[@id='dns-recursion']")


@pytest.mark.parametrize("name", ["misconf", "master", "slave"])
def test_nmap_dns_recursion_agrees_with_porthole(dns_audit, name):
    # Given nmap's dns-recursion from the same vantage (it asks for www.wikipedia.org with RD=1
    # and reports recursion when RA is set and RCODE is 0 or 2)
    site, hosts = dns_audit
    script = nmap_dns_recursion(site, hosts[name]["address"])
    porthole_open = any(f["id"] == "dns-open-resolver" and f["protocol"] == "udp" for f in hosts[name]["findings"])
    # Then nmap reports recursion exactly where porthole reports an open resolver
    nmap_open = script is not None and script.get("output") == "Recursion appears to be enabled"
    assert nmap_open == porthole_open == (name == "misconf")
