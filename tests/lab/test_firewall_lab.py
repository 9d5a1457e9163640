"""The generated nftables rules, applied inside a lab controller, leave exactly the
expected ports reachable.

A small site of its own (own name, subnet and state root): one master controller
serving the web UI on 80 and 443 (80 optional, 443 required by the master profile)
and, against the profile, Modbus 502 and SEMP 8888. The scanner scans it, porthole
renders rules from the master profile narrowed by that report (management = the
scanner), the rules are loaded with ``nft -f`` in the controller's namespace, and a
second scan must find 80 and 443 still open and everything else filtered.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lab import control
from own_site import running_own_site

pytestmark = pytest.mark.lab

PORTHOLE = str(Path(sys.executable).with_name("porthole"))
SUBNET = "198.19.61.0/24"
SCANNER = "198.19.61.1"
CONTROLLER = "198.19.61.10"
PORTS = "22,80,443,502,1600,8888"


@pytest.fixture(scope="module")
def firewall_site(tmp_path_factory):
    directory = tmp_path_factory.mktemp("firewall-site")
    name = f"f{os.getpid() % 100000:05d}"
    with running_own_site(directory, f"""
[site]
name = "{name}"
subnet = "{SUBNET}"
scanner = "{SCANNER}"

[[controller]]
name = "unit"
role = "master"
address = "{CONTROLLER}"

[[controller.service]]
kind = "http"
ports = [80, 443, 502, 8888]
""") as site:
        yield site, directory


def scan(site) -> dict:
    completed = subprocess.run(
        [*control.scanner_prefix(site), PORTHOLE, "scan", CONTROLLER, "--ports", PORTS, "--format", "json", "--scope", SUBNET],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def states(report: dict) -> dict[int, str]:
    (host,) = report["hosts"]
    return {port["port"]: port["state"] for port in host["ports"] if port["protocol"] == "tcp"}


def test_applied_nftables_rules_leave_only_the_ports_the_role_needs_reachable(firewall_site):
    site, directory = firewall_site
    # Given a scan of the unprotected controller: four services open, 22 and 1600 closed
    before = scan(site)
    assert states(before) == {22: "closed", 80: "open", 443: "open", 502: "open", 1600: "closed", 8888: "open"}
    report_path = directory / "before.json"
    report_path.write_text(json.dumps(before))

    # When porthole renders nftables rules for a master, narrowed by that report,
    # with the scanner as the management network, written atomically to a file
    rules = directory / "rules.nft"
    rendered = subprocess.run(
        [PORTHOLE, "firewall", "--role", "master", "--report", str(report_path), "--management", f"{SCANNER}/32",
         "--peer", "198.19.61.11", "--format", "nftables", "--output", str(rules)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert rendered.returncode == 0, rendered.stderr
    text = rules.read_text()
    # (502 and 8888, open against the profile, are dropped explicitly, naming their finding)
    assert "tcp dport 502 drop" in text and "tcp dport 8888 drop" in text
    # And the rules are loaded in the controller's own namespace
    applied = subprocess.run([*control.controller_prefix(site, "unit"), "nft", "-f", str(rules)], capture_output=True, text=True, timeout=30, check=False)
    assert applied.returncode == 0, applied.stderr

    # Then a new scan finds the web UI still open and every other port filtered
    after = scan(site)
    assert states(after) == {22: "filtered", 80: "open", 443: "open", 502: "filtered", 1600: "filtered", 8888: "filtered"}
