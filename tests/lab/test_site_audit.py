"""porthole against the lab site, run from inside the site's scanner namespace.

Expected port states come from the site file (served → open, firewalled → filtered /
open|filtered, everything else → closed); expected deviations are written out here,
from the profiles' documented rules, so a regression in either shows.
"""

from __future__ import annotations

import pytest

from porthole.catalog import default_catalog
from porthole.report.schema import validate_report
from lab.site import expected_port_states

pytestmark = pytest.mark.lab

CONTROLLERS = ("master", "slave", "misconf", "fragile")


def observed_states(host: dict) -> dict[tuple[str, int], str]:
    return {(port["protocol"], port["port"]): port["state"] for port in host["ports"]}


def expected_states(controller) -> dict[tuple[str, int], str]:
    states = expected_port_states(controller, default_catalog().ports)
    return {(protocol.value, number): state.value for (protocol, number), state in states.items()}


@pytest.fixture(scope="module")
def site_audit(demo_site):
    """One default audit of the whole site, including the empty addresses .20-.29."""
    targets = [str(demo_site.controller(name).address) for name in CONTROLLERS]
    code, report = demo_site.audit_json(*targets, "198.18.0.20-29")
    return demo_site, code, report


def host_of(report: dict, address: str) -> dict:
    return next(host for host in report["hosts"] if host["address"] == address)


def test_the_report_is_valid_against_the_committed_schema(site_audit):
    _, _, report = site_audit
    validate_report(report)


@pytest.mark.parametrize("name", CONTROLLERS)
def test_every_catalogue_port_has_the_state_the_site_file_implies(site_audit, name):
    site, _, report = site_audit
    controller = site.controller(name)
    host = host_of(report, str(controller.address))
    assert host["status"] == "up" and host["complete"]
    assert observed_states(host) == expected_states(controller)


def test_firewalled_ports_are_silent_and_closed_ports_answer(site_audit):
    site, _, report = site_audit
    master = {(p["protocol"], p["port"]): p for p in host_of(report, str(site.controller("master").address))["ports"]}
    assert (master[("tcp", 502)]["state"], master[("tcp", 502)]["reason"]) == ("filtered", "timeout")
    assert master[("tcp", 502)]["attempts"] == 2
    assert (master[("tcp", 23)]["state"], master[("tcp", 23)]["reason"]) == ("closed", "reset")
    assert (master[("udp", 15118)]["state"], master[("udp", 15118)]["reason"]) == ("open|filtered", "timeout")
    assert (master[("udp", 53)]["state"], master[("udp", 53)]["reason"]) == ("closed", "icmp")
    assert (master[("tcp", 443)]["state"], master[("tcp", 443)]["reason"]) == ("open", "syn-ack")


def test_udp_services_answer_their_own_protocol(site_audit):
    site, _, report = site_audit
    misconf = {(p["protocol"], p["port"]): p for p in host_of(report, str(site.controller("misconf").address))["ports"]}
    for port in (53, 1900, 5353, 15118):
        assert (misconf[("udp", port)]["state"], misconf[("udp", port)]["reason"]) == ("open", "reply"), port


def test_empty_addresses_are_found_down_by_one_arp_round(site_audit):
    _, _, report = site_audit
    assert report["targets"]["down"] == [f"198.18.0.{n}" for n in range(20, 30)]
    assert {host["address"] for host in report["hosts"]}.isdisjoint(report["targets"]["down"])
    discovery = report["config"]["discovery"]
    assert discovery["arp_requests"] == 14 and discovery["arp_replies"] == 4
    assert all(host["status_reason"] == "arp-response" for host in report["hosts"])
    assert (report["summary"]["hosts_down"], report["summary"]["hosts_up"]) == (10, 4)


def test_hardened_units_match_their_profiles_exactly(site_audit):
    site, _, report = site_audit
    for name, role in (("master", "master"), ("slave", "slave")):
        host = host_of(report, str(site.controller(name).address))
        assert host["role"]["role"] == role and host["role"]["method"] == "inferred"
        assert host["profile"]["id"] == role
        assert host["deviations"] == []
        assert [f for f in host["findings"] if f["severity"] != "info"] == []


def test_roles_are_inferred_from_the_master_ports_and_say_so(site_audit):
    site, _, report = site_audit
    master = host_of(report, str(site.controller("master").address))
    slave = host_of(report, str(site.controller("slave").address))
    assert any("1600" in line and "open" in line for line in master["role"]["evidence"])
    assert any("1600" in line for line in slave["role"]["evidence"])
    # And the forwarders' certificates agree: 444 reaches the master itself, 445 the slave itself
    assert any(line.startswith("444/tcp presents the certificate of 443/tcp") for line in master["role"]["evidence"])
    assert any(line.startswith("445/tcp presents the certificate of 443/tcp") for line in slave["role"]["evidence"])


def test_the_misconfigured_unit_shows_every_deviation(site_audit):
    site, code, report = site_audit
    host = host_of(report, str(site.controller("misconf").address))
    assert host["role"]["role"] == "master"
    deviations = {(d["kind"], d["port"], d["protocol"]) for d in host["deviations"]}
    assert deviations == {
        ("forbidden-open", 22, "tcp"),
        ("forbidden-open", 53, "tcp"),
        ("forbidden-open", 53, "udp"),
        ("forbidden-open", 502, "tcp"),
        ("forbidden-open", 1900, "udp"),
        ("forbidden-open", 8090, "tcp"),
        ("forbidden-open", 8888, "tcp"),
        ("forbidden-open", 15119, "tcp"),
        ("expected-missing", 444, "tcp"),
        ("expected-missing", 445, "tcp"),
    }
    # Each deviation is also a finding naming the setting that fixes it
    for deviation in host["deviations"]:
        finding = next(f for f in host["findings"] if f["port"] == deviation["port"] and f["protocol"] == deviation["protocol"] and f["id"] == f"profile-{deviation['kind']}")
        assert finding["setting"] and finding["recommendation"] and finding["detail"]
    # And the high-severity ones make the audit exit 1
    assert code == 1


def test_syn_mode_finds_the_same_states_as_connect_mode(demo_site, site_audit):
    _, _, connect_report = site_audit
    targets = [str(demo_site.controller(name).address) for name in ("master", "slave", "misconf")]
    completed = demo_site.porthole("scan", *targets, "--syn", "--format", "json")
    assert completed.returncode == 0, completed.stderr
    import json

    syn_report = json.loads(completed.stdout)
    for host in syn_report["hosts"]:
        tcp = {k: v for k, v in observed_states(host).items() if k[0] == "tcp"}
        expected = {k: v for k, v in observed_states(host_of(connect_report, host["address"])).items() if k[0] == "tcp"}
        assert tcp == expected, host["address"]


def test_no_discovery_probes_empty_addresses_and_finds_them_silent(demo_site):
    completed = demo_site.porthole("scan", "198.18.0.20", "--no-discovery", "--ports", "80,502", "--retries", "0", "--format", "json", "--initial-timeout", "0.3", "--min-timeout", "0.1", "--max-timeout", "0.5")
    assert completed.returncode == 0, completed.stderr
    import json

    (host,) = json.loads(completed.stdout)["hosts"]
    # ARP fails inside the kernel: the connect gets EHOSTUNREACH (filtered by icmp) or times out
    assert {p["state"] for p in host["ports"]} == {"filtered"}
    assert host["status"] == "unknown"
