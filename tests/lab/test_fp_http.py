"""Web UI fingerprints on the lab site, cross-checked with nmap's http-title.

master and slave are hardened: 80/81/82 only redirect to https:// (81/82 reach the
peer controller through the lab forwarder), 443/444/445 serve the page over TLS 1.2+
with HSTS. misconf serves a password form on plain 80 and an old TLS 1.0-1.2 page
without HSTS on 443 (lab/site.toml).
"""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ElementTree

import pytest

from lab import control

pytestmark = pytest.mark.lab

HTTP_FINDINGS = {"http-no-redirect", "http-plain-login", "http-legacy-ui", "https-no-hsts"}
WEB_PORTS = (80, 81, 82, 443, 444, 445)


@pytest.fixture(scope="module")
def http_audit(demo_site, unit_audit):
    """The session's one audit of master, slave and misconf (tests/lab/conftest.py)."""
    return demo_site, unit_audit.hosts


def port(host: dict, number: int) -> dict:
    return next(p for p in host["ports"] if p["protocol"] == "tcp" and p["port"] == number)


@pytest.mark.parametrize("name", ["master", "slave"])
def test_hardened_units_redirect_every_plain_port_and_send_hsts(http_audit, name):
    _, hosts = http_audit
    host = hosts[name]
    for number in (80, 81, 82):
        evidence = port(host, number)["evidence"]["http"]
        root = evidence["root"]
        # 81 and 82 reach the master's and the slave's UI, which both redirect to their own https:// root
        assert (evidence["scheme"], root["status"], root["redirects_to_https"]) == ("http", 301, True), number
        assert root["location"] in ("https://198.18.0.10/", "https://198.18.0.11/")
        assert evidence["legacy"] is None
    for number in (443, 444, 445):
        evidence = port(host, number)["evidence"]["http"]
        assert evidence["scheme"] == "https" and evidence["tls"]["version"] in ("TLSv1.2", "TLSv1.3")
        assert (evidence["root"]["status"], evidence["root"]["title"], evidence["root"]["hsts"]) == (200, "Charge Controller", "max-age=31536000")
        # the lab's TLS page answers every path alike: /legacy/ proves nothing either way
        assert evidence["legacy"]["verdict"] == "inconclusive"
    assert port(host, 80)["summary"].startswith(f"HTTP 301 → https://{host['address']}/")


@pytest.mark.parametrize("name", ["master", "slave"])
def test_hardened_units_have_no_http_findings(http_audit, name):
    _, hosts = http_audit
    assert [f["id"] for f in hosts[name]["findings"] if f["id"] in HTTP_FINDINGS] == []
    assert not [p for p in hosts[name]["probes"] if p["probe_id"] == "http" and p["status"] != "completed"]


def test_misconf_plain_login_and_old_https_are_identified(http_audit):
    _, hosts = http_audit
    misconf = hosts["misconf"]
    plain = port(misconf, 80)["evidence"]["http"]
    assert (plain["root"]["status"], plain["root"]["title"], plain["root"]["password_form"], plain["root"]["redirects_to_https"]) == (200, "Charge Controller - Login", True, False)
    assert plain["legacy"]["verdict"] == "absent"
    secure = port(misconf, 443)["evidence"]["http"]
    assert secure["tls"] == {"version": "TLSv1.2", "cipher": "AES128-SHA"}
    assert (secure["root"]["title"], secure["root"]["hsts"]) == ("Charge Controller", None)
    # 81/82 are closed on misconf: no probe ran there
    assert "http" not in port(misconf, 81)["evidence"] and port(misconf, 81)["state"] == "closed"


def test_misconf_http_findings(http_audit):
    _, hosts = http_audit
    findings = sorted((f["id"], f["port"], f["severity"]) for f in hosts["misconf"]["findings"] if f["id"] in HTTP_FINDINGS)
    assert findings == [("http-no-redirect", 80, "medium"), ("http-plain-login", 80, "high"), ("https-no-hsts", 443, "info")]
    login = next(f for f in hosts["misconf"]["findings"] if f["id"] == "http-plain-login")
    assert login["setting"] == "HTTPS for web interface: On"
    assert login["evidence"] == ["GET / on 80/tcp: page with <input type=\"password\"> (title 'Charge Controller - Login')"]


def nmap_http_title(site, address: str, ports: str) -> dict[int, dict[str, str]]:
    """nmap's http-title per port: {"title": ...} or {"redirect_url": ...}."""
    completed = subprocess.run(
        [*control.scanner_prefix(site.site), "nmap", "-n", "-Pn", "-sT", "-p", ports, "--script", "http-title", "-oX", "-", address],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    results: dict[int, dict[str, str]] = {}
    for port_element in ElementTree.fromstring(completed.stdout).iter("port"):
        script = port_element.find("script[@id='http-title']")
        if script is not None:
            results[int(port_element.get("portid", "0"))] = {element.get("key", ""): element.text or "" for element in script.iter("elem")}
    return results


def test_nmap_http_title_agrees_with_porthole(http_audit):
    # Given porthole's evidence and nmap's http-title, run from the same vantage
    site, hosts = http_audit
    misconf = hosts["misconf"]
    master = hosts["master"]
    nmap_misconf = nmap_http_title(site, misconf["address"], "80,443")
    # (nmap's http-title only claims well-known web ports without -sV, so 81/82 are left out)
    nmap_master = nmap_http_title(site, master["address"], "80,443")
    # Then the titles agree, and where porthole saw a redirect nmap names the same target
    assert nmap_misconf[80]["title"] == port(misconf, 80)["evidence"]["http"]["root"]["title"]
    assert nmap_misconf[443]["title"] == port(misconf, 443)["evidence"]["http"]["root"]["title"]
    assert nmap_master[443]["title"] == port(master, 443)["evidence"]["http"]["root"]["title"]
    assert nmap_master[80]["redirect_url"] == port(master, 80)["evidence"]["http"]["root"]["location"]
