"""ISO 15118 on the lab site: SDP on 15118/udp and the plain V2G port 15119/tcp.

misconf's SECC answers SDP with "no TLS" and advertises 15119 (the vendor's port,
outside ISO 15118-2's dynamic range), and listens on 15119. The master firewalls
15118/udp (silence: the SDP probe ends as a timeout, no finding) and the slave has
no SECC at all.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def iso15118_audit(unit_audit):
    """The session's one audit of master, slave and misconf (tests/lab/conftest.py)."""
    return unit_audit.hosts


def port(host: dict, number: int, protocol: str) -> dict:
    return next(p for p in host["ports"] if p["protocol"] == protocol and p["port"] == number)


def test_misconf_secc_accepts_no_tls_and_advertises_15119(iso15118_audit):
    observation = port(iso15118_audit["misconf"], 15118, "udp")
    assert observation["evidence"]["sdp"] == {
        "requested_security": "no-tls",
        "requested_transport": "tcp",
        "attempts": 1,
        # the lab SECC names the IPv4 address the request reached, IPv4-mapped
        "secc_address": "::ffff:c612:c",
        "secc_port": 15119,
        "security": "no-tls",
        "transport": "tcp",
        "secc_port_in_dynamic_range": False,
    }
    assert observation["summary"] == "ISO 15118 SDP: SECC [::ffff:c612:c]:15119, no TLS"
    (finding,) = [f for f in iso15118_audit["misconf"]["findings"] if f["id"] == "iso15118-no-tls"]
    assert (finding["port"], finding["protocol"], finding["severity"]) == (15118, "udp", "medium")
    assert "advertised port 15119 is outside ISO 15118-2's dynamic range 49152-65535" in finding["evidence"]


def test_misconf_plain_v2g_port_is_recorded_and_judged_by_the_profile_only(iso15118_audit):
    misconf = iso15118_audit["misconf"]
    observation = port(misconf, 15119, "tcp")
    assert observation["evidence"]["v2g"] == {"plain_v2g_port_open": True, "established_by": "syn-ack", "messages_sent": 0}
    # the verdict on a reachable 15119 is the master profile's (expected closed)
    assert [f["id"] for f in misconf["findings"] if f["port"] == 15119] == ["profile-forbidden-open"]


def test_firewalled_secc_is_no_answer_not_a_failure_nor_a_finding(iso15118_audit):
    master = iso15118_audit["master"]
    assert port(master, 15118, "udp")["state"] == "open|filtered"
    (result,) = [p for p in master["probes"] if p["probe_id"] == "sdp"]
    # silence on a port that was already silent: report 1.1 "no-answer", not an error
    assert (result["status"], result["error_reason"]) == ("no-answer", None)
    assert result["error_detail"].endswith("the port stays open|filtered")
    for name in ("master", "slave"):
        assert not [f for f in iso15118_audit[name]["findings"] if f["id"] == "iso15118-no-tls"], name


def test_hostile_udp_garbage_is_malformed_sdp_and_silent_mdns(demo_site):
    # Given the hostile controller answering every datagram on 5353 and 15118 with random bytes
    _, report = demo_site.audit_json(str(demo_site.controller("hostile").address), "--ports", "5353/udp,15118/udp")
    (host,) = report["hosts"]
    results = {result["probe_id"]: result for result in host["probes"]}
    # Then the SDP probe names the garbage as malformed, the mDNS probe ignores it and
    # ends with no answer, saying so, and neither raises a finding or crashes
    assert (results["sdp"]["status"], results["sdp"]["error_reason"]) == ("error", "malformed")
    assert "512-byte reply is not an SDP response" in results["sdp"]["error_detail"]
    assert (results["mdns"]["status"], results["mdns"]["error_reason"]) == ("no-answer", None)
    assert "not a reply to the query were ignored" in results["mdns"]["error_detail"]
    assert not [f for f in host["findings"] if f["id"] in {"iso15118-no-tls", "eebus-auto-accept"}]
