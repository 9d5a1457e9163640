"""The rule plan: which source may reach which port, decided from the shipped profiles."""

from __future__ import annotations

import ipaddress

import pytest

from porthole.errors import ReportInputError, UsageError
from porthole.firewall import SiteSources, SourceRole, build_plan, parse_site
from porthole.firewall.model import EV_LINK_LOCAL, comment_text
from porthole.model import PortRef, Protocol
from porthole.profiles import load_role_profile

TCP, UDP = Protocol.TCP, Protocol.UDP
MANAGEMENT = ipaddress.ip_network("198.18.0.0/24")
MANAGEMENT_V6 = ipaddress.ip_network("2001:db8:1::/64")
PEER = ipaddress.ip_network("198.18.0.11/32")
ENERGY_MANAGER = ipaddress.ip_network("198.18.0.50/32")
CSMS = ipaddress.ip_network("203.0.113.5/32")


def full_site() -> SiteSources:
    return SiteSources(
        controller=ipaddress.ip_address("198.18.0.10"),
        sources={
            SourceRole.MANAGEMENT: (MANAGEMENT, MANAGEMENT_V6),
            SourceRole.PEER: (PEER,),
            SourceRole.ENERGY_MANAGER: (ENERGY_MANAGER,),
            SourceRole.CSMS: (CSMS,),
        },
    )


def report_host(*open_ports: PortRef, findings: tuple[dict, ...] = ()) -> dict:
    return {
        "address": "198.18.0.10",
        "ports": [{"port": ref.number, "protocol": ref.protocol.value, "state": "open", "reason": "syn-ack"} for ref in open_ports],
        "findings": list(findings),
    }


def allowed(plan) -> dict[PortRef, set[SourceRole]]:
    result: dict[PortRef, set[SourceRole]] = {}
    for rule in plan.allows:
        result.setdefault(rule.port, set()).add(rule.role)
    return result


def test_a_master_allows_exactly_its_open_ports_each_from_the_source_that_needs_it():
    # Given the master profile and every source address, no report
    plan = build_plan(load_role_profile("master"), full_site())
    # Then the web UI comes from management and the DLM ports from the slave, nothing else
    assert allowed(plan) == {
        PortRef(TCP, 443): {SourceRole.MANAGEMENT},
        PortRef(TCP, 444): {SourceRole.MANAGEMENT},
        PortRef(TCP, 445): {SourceRole.MANAGEMENT},
        PortRef(TCP, 1600): {SourceRole.PEER},
        PortRef(TCP, 1601): {SourceRole.PEER},
    }
    # And each rule names the profile line that asks for the port
    master = load_role_profile("master")
    for rule in plan.allows:
        assert rule.motive == master.source_for(rule.port)
        assert rule.motive.startswith("profiles/master.toml:")


def test_a_slave_does_not_open_the_master_ports_even_with_a_peer_given():
    # Given the slave profile (1600/1601 closed) and the master as peer
    plan = build_plan(load_role_profile("slave"), full_site())
    # Then neither master port is allowed
    assert PortRef(TCP, 1600) not in allowed(plan)
    assert PortRef(TCP, 1601) not in allowed(plan)


def test_optional_ports_are_allowed_only_when_the_report_saw_them_open_or_when_asked():
    profile = load_role_profile("master")
    eebus = PortRef(TCP, 4711)
    # Given no report, Then the optional EEBUS port stays shut and the plan says why
    plain = build_plan(profile, full_site())
    assert eebus not in allowed(plain)
    assert any(item.port == eebus and "--allow-optional" in item.note for item in plain.skipped)
    # Given a report that saw 4711 open, Then it is allowed from the energy manager
    narrowed = build_plan(profile, full_site(), host=report_host(eebus))
    assert allowed(narrowed)[eebus] == {SourceRole.ENERGY_MANAGER}
    # Given --allow-optional, Then every optional port is allowed, 80 from management
    generous = build_plan(profile, full_site(), allow_optional=True)
    assert allowed(generous)[PortRef(TCP, 80)] == {SourceRole.MANAGEMENT}
    assert allowed(generous)[eebus] == {SourceRole.ENERGY_MANAGER}


def test_iso_15118_is_reached_from_the_ev_link_local_range_by_default():
    # Given --allow-optional and no EV range given
    plan = build_plan(load_role_profile("master"), full_site(), allow_optional=True)
    # Then SDP on 15118/udp is allowed from fe80::/10 (ISO 15118-2 uses IPv6 link-local)
    sdp = [rule for rule in plan.allows if rule.port == PortRef(UDP, 15118)]
    assert [(rule.role, rule.networks) for rule in sdp] == [(SourceRole.EV, (EV_LINK_LOCAL,))]


def test_a_port_whose_source_was_not_given_is_skipped_never_opened_to_everyone():
    # Given only a management network: no peer address
    site = SiteSources(sources={SourceRole.MANAGEMENT: (MANAGEMENT,)})
    plan = build_plan(load_role_profile("master"), site)
    # Then 1600/1601 are not allowed from anywhere, and the plan explains what is missing
    assert PortRef(TCP, 1600) not in allowed(plan)
    skipped = {item.port: item.note for item in plan.skipped}
    assert "--peer" in skipped[PortRef(TCP, 1600)]


def test_a_port_found_open_against_the_profile_gets_an_explicit_drop_naming_the_finding():
    # Given a report in which 502/tcp (closed in the profile) is open, with its finding
    modbus = PortRef(TCP, 502)
    finding = {"id": "profile-forbidden-open", "port": 502, "protocol": "tcp", "source": "profiles/master.toml:154#502/tcp"}
    plan = build_plan(load_role_profile("master"), full_site(), host=report_host(modbus, findings=(finding,)), report_name="a.json")
    # Then the plan drops 502 explicitly and says which finding motivated it
    assert [(drop.port, drop.motive) for drop in plan.drops] == [
        (modbus, "finding profile-forbidden-open 502/tcp (profiles/master.toml:154#502/tcp)")
    ]
    assert modbus not in allowed(plan)
    # And the plan records what narrowed it, and takes the controller from the report
    assert plan.narrowed_by == "a.json host 198.18.0.10"


def test_an_uncatalogued_port_found_open_is_dropped_under_the_default_closed():
    # Given a report with 2323/tcp open (not in the profile: default closed)
    plan = build_plan(load_role_profile("master"), full_site(), host=report_host(PortRef(TCP, 2323)))
    # Then it gets an explicit drop
    assert [drop.port for drop in plan.drops] == [PortRef(TCP, 2323)]


def test_a_finding_without_a_valid_port_is_reported_as_bad_input():
    host = report_host(findings=({"id": "profile-forbidden-open", "port": "x", "protocol": "tcp"},))
    with pytest.raises(ReportInputError, match="no valid port"):
        build_plan(load_role_profile("master"), full_site(), host=host)


def test_strict_egress_needs_the_csms_so_the_ocpp_uplink_is_never_cut():
    # Given --strict-egress without a CSMS address
    site = SiteSources(sources={SourceRole.MANAGEMENT: (MANAGEMENT,)})
    # Then the plan refuses and says how to fix it
    with pytest.raises(UsageError, match="--csms"):
        build_plan(load_role_profile("master"), site, strict_egress=True)
    # Given the CSMS, Then outbound to the CSMS and the peer is allowed
    plan = build_plan(load_role_profile("master"), full_site(), strict_egress=True)
    assert [(egress.role, egress.networks) for egress in plan.egress] == [(SourceRole.CSMS, (CSMS,)), (SourceRole.PEER, (PEER,))]


def test_without_strict_egress_no_egress_policy_is_planned():
    plan = build_plan(load_role_profile("master"), full_site())
    assert plan.strict_egress is False and plan.egress == ()


def test_a_site_file_sets_sources_and_overrides_who_reaches_a_port():
    # Given a site file moving 4711 to management and the energy manager
    site = parse_site(
        """
controller = "198.18.0.10"
[sources]
management = ["198.18.0.0/24", "2001:db8:1::/64"]
energy-manager = ["198.18.0.50"]
[ports]
"4711/tcp" = ["energy-manager", "management"]
""",
        where="site.toml",
    )
    # When planning with --allow-optional
    plan = build_plan(load_role_profile("master"), site, allow_optional=True)
    # Then 4711 is allowed from both, and the controller address is the site's
    assert allowed(plan)[PortRef(TCP, 4711)] == {SourceRole.ENERGY_MANAGER, SourceRole.MANAGEMENT}
    assert str(plan.controller) == "198.18.0.10"


def test_command_line_sources_add_to_the_site_file():
    from_file = parse_site('[sources]\nmanagement = ["198.18.0.0/24"]\n', where="site.toml")
    merged = from_file.merged(SiteSources(sources={SourceRole.MANAGEMENT: (MANAGEMENT_V6,)}))
    assert merged.networks(SourceRole.MANAGEMENT) == (MANAGEMENT, MANAGEMENT_V6)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[sources]\nmanagment = ["198.18.0.0/15"]\n', "unknown key 'managment'"),
        ('[sources]\nmanagement = ["198.18.0.1/15"]\n', "not an IPv4/IPv6 address or network"),
        ('controller = "nowhere"\n', "controller must be one IP address"),
        ('[ports]\n"http" = ["management"]\n', "is not a port"),
        ('[ports]\n"80/tcp" = ["admins"]\n', "unknown source 'admins'"),
        ("[sources\n", "not valid TOML"),
    ],
)
def test_a_broken_site_file_is_a_usage_error_naming_the_problem(text, message):
    with pytest.raises(UsageError, match=message):
        parse_site(text, where="site.toml")


def test_comments_cannot_be_broken_out_of_by_hostile_text():
    # Given text with a quote, a backslash and a newline (e.g. from a report)
    text = comment_text('ends "here\\\nand a new rule', limit=128)
    # Then none of them survive and the length is capped
    assert '"' not in text and "\\" not in text and "\n" not in text
    assert len(comment_text("x" * 500, limit=100)) == 100
