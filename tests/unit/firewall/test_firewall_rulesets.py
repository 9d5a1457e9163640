"""The rendered rules load in the real tools: ``nft -c -f``, ``iptables-restore --test`` and
``ip6tables-restore --test``, each run inside a throw-away network namespace (so a
check never touches the host's firewall), and every rule says what motivated it.
Needs root, nft and iptables (installed by .ci/run)."""

from __future__ import annotations

import ipaddress
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from porthole.firewall import SiteSources, SourceRole, build_plan, render_cisco, render_iptables, render_nftables
from porthole.firewall.cisco import REMARK_LIMIT
from porthole.model import PortRef, Protocol
from porthole.profiles import load_role_profile

SITE = SiteSources(
    controller=ipaddress.ip_address("198.18.0.10"),
    sources={
        SourceRole.MANAGEMENT: (ipaddress.ip_network("198.18.0.0/24"), ipaddress.ip_network("2001:db8:1::/64")),
        SourceRole.PEER: (ipaddress.ip_network("198.18.0.11/32"), ipaddress.ip_network("2001:db8:1::11/128")),
        SourceRole.ENERGY_MANAGER: (ipaddress.ip_network("198.18.0.50/32"),),
        SourceRole.CSMS: (ipaddress.ip_network("203.0.113.5/32"), ipaddress.ip_network("2001:db8:ffff::5/128")),
    },
)
FINDING = {"id": "profile-forbidden-open", "port": 502, "protocol": "tcp", "source": 'profiles/master.toml:154#502/tcp "quoted"'}
REPORT_HOST = {
    "address": "198.18.0.10",
    "ports": [{"port": 502, "protocol": "tcp", "state": "open", "reason": "syn-ack"}, {"port": 80, "protocol": "tcp", "state": "open", "reason": "syn-ack"}],
    "findings": [FINDING],
}

PLANS = {
    "master": lambda: build_plan(load_role_profile("master"), SITE),
    "master-all-optional-strict-egress": lambda: build_plan(load_role_profile("master"), SITE, allow_optional=True, strict_egress=True),
    "master-narrowed-by-report": lambda: build_plan(load_role_profile("master"), SITE, host=REPORT_HOST, report_name="r.json"),
    "slave": lambda: build_plan(load_role_profile("slave"), SITE, allow_optional=True),
    "nothing-given": lambda: build_plan(load_role_profile("master"), SiteSources()),
}


@pytest.fixture(scope="module")
def namespace() -> Iterator[str]:
    name = f"phfw{os.getpid() % 100000}"
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False, capture_output=True)


def check(namespace: str, *argv: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", namespace, *argv, str(path)], capture_output=True, text=True, timeout=30, check=False)


@pytest.mark.parametrize("case", sorted(PLANS))
def test_the_nftables_ruleset_passes_nft_check_mode(case, namespace, tmp_path):
    # Given a rendered ruleset
    path = tmp_path / "rules.nft"
    path.write_text(render_nftables(PLANS[case]()))
    # When nft checks it, Then it accepts it
    completed = check(namespace, "nft", "-c", "-f", path=path)
    assert completed.returncode == 0, completed.stderr


@pytest.mark.parametrize("case", sorted(PLANS))
@pytest.mark.parametrize(("version", "tool"), [(4, "iptables-restore"), (6, "ip6tables-restore")])
def test_the_iptables_files_pass_the_restore_test(case, version, tool, namespace, tmp_path):
    path = tmp_path / f"rules.v{version}"
    path.write_text(render_iptables(PLANS[case](), version=version))
    completed = check(namespace, tool, "--test", path=path)
    assert completed.returncode == 0, completed.stderr


def test_loading_the_nftables_ruleset_twice_replaces_it_instead_of_failing(namespace, tmp_path):
    # Given the ruleset really loaded once in the namespace
    path = tmp_path / "rules.nft"
    path.write_text(render_nftables(PLANS["master"]()))
    for _ in range(2):
        # When it is loaded (again), Then nft accepts it
        completed = check(namespace, "nft", "-f", path=path)
        assert completed.returncode == 0, completed.stderr
    # And exactly one porthole table is there, with the 443 rule once
    listing = subprocess.run(["ip", "netns", "exec", namespace, "nft", "list", "table", "inet", "porthole_master"], capture_output=True, text=True, check=True).stdout
    assert listing.count("tcp dport 443 accept") == 2  # IPv4 and IPv6 management
    subprocess.run(["ip", "netns", "exec", namespace, "nft", "delete", "table", "inet", "porthole_master"], check=True)


def test_every_nftables_accept_and_drop_rule_carries_its_motive():
    text = render_nftables(PLANS["master-narrowed-by-report"]())
    port_rules = [line.strip() for line in text.splitlines() if re.search(r"dport \d+ (accept|drop)", line)]
    assert port_rules, "expected port rules"
    for line in port_rules:
        assert re.search(r'comment "(profiles/master\.toml:\d+#\d+/(tcp|udp)|finding profile-[a-z-]+ \d+/tcp.*)"$', line), line
    # And the finding's hostile quote did not end the comment early
    assert any(line.startswith("tcp dport 502 drop comment") for line in port_rules)


def test_rules_match_the_destination_port_never_the_source_port():
    for render in (render_nftables(PLANS["master"]()), render_iptables(PLANS["master"](), version=4)):
        assert "sport" not in render
    assert " eq 443" in render_cisco(PLANS["master"]())


def test_ipv6_sources_land_only_in_the_ipv6_outputs():
    plan = PLANS["master"]()
    assert "2001:db8:1::/64" not in render_iptables(plan, version=4)
    assert "-s 2001:db8:1::/64 -p tcp -m tcp --dport 443" in render_iptables(plan, version=6)
    assert "ip6 saddr 2001:db8:1::/64 tcp dport 443 accept" in render_nftables(plan)


def test_without_strict_egress_outbound_traffic_is_left_open():
    plan = PLANS["master"]()
    assert "type filter hook output priority filter; policy accept;" in render_nftables(plan)
    assert ":OUTPUT ACCEPT [0:0]" in render_iptables(plan, version=4)
    assert "ct state established,related accept" in render_nftables(plan)


def test_cisco_acls_are_well_formed_and_every_permit_follows_its_motive():
    text = render_cisco(PLANS["master-all-optional-strict-egress"]())
    lines = text.splitlines()
    # IOS limits remarks to 100 characters
    assert all(len(line.removeprefix(" remark ")) <= REMARK_LIMIT for line in lines if line.startswith(" remark "))
    # Every port permit is preceded by a remark naming the profile line
    for index, line in enumerate(lines):
        match = re.match(r" permit (tcp|udp) \S+( \S+)? (host \S+|any) eq (\d+)$", line)
        if match:
            previous = next(earlier for earlier in reversed(lines[:index]) if earlier.startswith(" remark "))
            assert f"#{match.group(4)}/{match.group(1)}" in previous, (previous, line)
    # IPv4 sources use wildcard masks, IPv6 sources prefixes, the controller is the destination
    assert " permit tcp 198.18.0.0 0.0.0.255 host 198.18.0.10 eq 443" in lines
    assert " permit tcp 2001:db8:1::/64 any eq 443" in lines
    assert " permit tcp host 198.18.0.11 host 198.18.0.10 eq 1600" in lines
    # Each ACL ends in an explicit, logged deny; strict egress adds the OUT ACLs
    assert lines.count(" deny ip any host 198.18.0.10 log") == 1
    assert "ip access-list extended PORTHOLE-MASTER-OUT" in lines
    assert " permit ip host 198.18.0.10 host 203.0.113.5" in lines


def test_a_port_the_profile_forbids_is_never_allowed_in_any_format():
    plan = PLANS["master-narrowed-by-report"]()
    assert PortRef(Protocol.TCP, 502) not in {rule.port for rule in plan.allows}
    assert "dport 502 accept" not in render_nftables(plan)
    assert "--dport 502 -m comment" in render_iptables(plan, version=4) and "--dport 502 -m comment --comment \"finding" in render_iptables(plan, version=4)
    assert " deny tcp any host 198.18.0.10 eq 502 log" in render_cisco(plan).splitlines()
