"""The benchmarks read each peer tool's report right: bench.tls and bench.audit parsers.

The report snippets are cut from real runs on the lab (sslyze 6.3.1, testssl.sh 3.0.8,
Nmap 7.93, porthole audit JSON) down to the fields the parsers read.
"""

from __future__ import annotations

import json
from pathlib import Path

from bench import audit, tls
from lab.site import load_site
from lab.control import DEFAULT_SITE

SITE = load_site(DEFAULT_SITE)
MISCONF = "198.18.0.12"


def _write(path: Path, content: object) -> Path:
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return path


def _sslyze_server(address: str, port: int, accepted: dict[str, list[str]]) -> dict[str, object]:
    fields = ("ssl_2_0_cipher_suites", "ssl_3_0_cipher_suites", "tls_1_0_cipher_suites", "tls_1_1_cipher_suites", "tls_1_2_cipher_suites", "tls_1_3_cipher_suites")
    return {
        "server_location": {"hostname": address, "port": port, "ip_address": address},
        "scan_result": {
            field: {"status": "COMPLETED", "result": {"accepted_cipher_suites": [{"cipher_suite": {"name": name}} for name in accepted.get(field, [])]}}
            for field in fields
        },
    }


def _porthole_report(port: int, versions: dict[str, list[tuple[int, str]]]) -> dict[str, object]:
    labels = ("TLSv1.3", "TLSv1.2", "TLSv1.1", "TLSv1.0", "SSLv3")
    tls_evidence = {
        "versions": [
            {"version": label, "accepted": label in versions, "suites": [{"code": code, "name": name} for code, name in versions.get(label, [])]}
            for label in labels
        ]
    }
    return {"duration_s": 1.0, "hosts": [{"address": MISCONF, "findings": [], "ports": [{"port": port, "protocol": "tcp", "state": "open", "evidence": {"tls": tls_evidence}}]}]}


def test_tls_endpoints_are_the_open_tls_ports_of_master_slave_and_misconf() -> None:
    # Given the default lab site
    # When the TLS benchmark picks its endpoints
    endpoints = tls.endpoints_of(SITE)
    # Then it is every open TLS port of the three real units, EEBUS 4711 included where open
    assert (MISCONF, 443) in endpoints and ("198.18.0.10", 1600) in endpoints
    assert {address for address, port in endpoints if port == 4711} == {"198.18.0.10", MISCONF}
    assert not any(address in ("198.18.0.13", "198.18.0.14") for address, _ in endpoints)


def test_sslyze_and_porthole_agreeing_on_every_suite_compare_as_agreement(tmp_path: Path) -> None:
    # Given sslyze and porthole both saw TLS 1.0-1.2 with one CBC suite on misconf:443
    suite = "TLS_RSA_WITH_AES_128_CBC_SHA"
    sslyze = _write(tmp_path / "s.json", {"server_scan_results": [_sslyze_server(MISCONF, 443, {f: [suite] for f in ("tls_1_0_cipher_suites", "tls_1_1_cipher_suites", "tls_1_2_cipher_suites")})]})
    porthole = _write(tmp_path / "p.json", _porthole_report(443, {v: [(0x2F, suite)] for v in ("TLSv1.0", "TLSv1.1", "TLSv1.2")}))
    # When both are parsed and compared
    rows = tls.compare(tls.parse_porthole(porthole, [(MISCONF, 443)]), tls.parse_sslyze(sslyze), "sslyze")
    # Then the endpoint agrees on versions and suites
    assert [(row.endpoint, row.versions_agree, row.suites_agree) for row in rows] == [(f"{MISCONF}:443", True, True)]


def test_a_suite_only_testssl_accepted_is_reported_as_a_difference(tmp_path: Path) -> None:
    # Given testssl.sh listing two TLS 1.2 suites where porthole saw one
    entries = [
        {"id": "TLS1_2", "ip": f"{MISCONF}/{MISCONF}", "port": "1600", "finding": "offered"},
        {"id": "cipher-tls1_2_xc030", "ip": f"{MISCONF}/{MISCONF}", "port": "1600", "finding": "TLS 1.2   xc030   ECDHE-RSA-AES256-GCM-SHA384   ECDH 253   AESGCM   256   TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"},
        {"id": "cipher-tls1_2_xc02f", "ip": f"{MISCONF}/{MISCONF}", "port": "1600", "finding": "TLS 1.2   xc02f   ECDHE-RSA-AES128-GCM-SHA256   ECDH 253   AESGCM   128   TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"},
        {"id": "cipher_order", "ip": f"{MISCONF}/{MISCONF}", "port": "1600", "finding": "server"},
    ]
    testssl = _write(tmp_path / "t.json", entries)
    porthole = _write(tmp_path / "p.json", _porthole_report(1600, {"TLSv1.2": [(0xC030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384")]}))
    # When compared
    [row] = tls.compare(tls.parse_porthole(porthole, [(MISCONF, 1600)]), tls.parse_testssl(testssl), "testssl")
    # Then the versions agree, the suites do not, and the difference names the suite
    assert row.versions_agree and not row.suites_agree
    assert row.differences == ("TLSv1.2 testssl only: TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",)


def test_nmap_script_output_scores_the_conditions_it_shows_and_only_on_that_host(tmp_path: Path) -> None:
    # Given an nmap XML report with dns-recursion on misconf and a guessed service on the hostile unit
    xml = f"""<?xml version="1.0"?><nmaprun><host><status state="up"/><address addr="{MISCONF}" addrtype="ipv4"/><ports>
      <port protocol="udp" portid="53"><state state="open"/><service name="domain" product="dnsmasq" version="2.90" method="probed"/>
        <script id="dns-recursion" output="Recursion appears to be enabled"/></port>
      <port protocol="tcp" portid="22"><state state="open"/><service name="ssh" method="probed"/>
        <script id="ssh2-enum-algos" output="kex_algorithms: (2) curve25519-sha256 diffie-hellman-group14-sha1"/></port>
      </ports></host><host><status state="up"/><address addr="198.18.0.14" addrtype="ipv4"/><ports>
      <port protocol="tcp" portid="502"><state state="open"/><service name="mbap" method="table"/></port>
      </ports></host></nmaprun>"""
    ports = audit.parse_nmap(_write(tmp_path / "n.xml", xml))
    # When the conditions are scored for nmap
    scores = {condition.name: audit.score(condition, ports, SITE, tool="nmap") for condition in audit.CONDITIONS}
    # Then recursion and the weak kex count on misconf, the Modbus read does not, and
    # a port-table guess is not an identification
    assert scores["open DNS resolver"].right == ("misconf",)
    assert scores["SSH weak kex listed (group14-sha1)"].right == ("misconf",)
    assert scores["Modbus device identification read"].right == ()
    assert scores["plain-HTTP login page"].tested is False
    assert ports[("198.18.0.14", "502/tcp")].identified is False
    assert ports[(MISCONF, "53/udp")].description == "dnsmasq 2.90"
