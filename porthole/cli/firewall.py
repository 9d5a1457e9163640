"""``porthole firewall``: render firewall rules from a role profile (and an audit report).

Thin: reads the files (profile, report, site file), builds the plan with
``porthole.firewall.build_plan`` and writes the chosen rendering to stdout or, atomically,
to ``--output``. It never applies rules.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from porthole import firewall, profiles
from porthole.cli._common import errors_as_exit_codes
from porthole.errors import ReportInputError, UsageError
from porthole.firewall.model import Network, SiteSources, SourceRole
from porthole.model import Expectation
from porthole.report.output import write_atomic
from porthole.report.schema import load_report

__all__ = ["RuleFormat", "firewall_command"]


class RuleFormat(StrEnum):
    NFTABLES = "nftables"
    IPTABLES = "iptables"
    IP6TABLES = "ip6tables"
    CISCO = "cisco"


_NETWORK_HELP = "Repeatable; an address or network, IPv4 or IPv6."


def firewall_command(
    role: Annotated[Optional[str], typer.Option("--role", help="Role profile to allow (master, slave); default: the role the report assigned the host.")] = None,
    profile: Annotated[Optional[Path], typer.Option("--profile", help="A profile .toml file instead of --role.")] = None,
    report: Annotated[Optional[Path], typer.Option("--report", help="A porthole JSON report: allow optional ports only where it saw them open, and drop what it found open against the profile.")] = None,
    host: Annotated[Optional[str], typer.Option("--host", help="Which host of --report (required when it has several).")] = None,
    rule_format: Annotated[RuleFormat, typer.Option("--format", "-f", help="nftables (inet, IPv4+IPv6), iptables / ip6tables (restore files), cisco (IOS extended ACLs).")] = RuleFormat.NFTABLES,
    site: Annotated[Optional[Path], typer.Option("--site", help="A site TOML file with the controller address, [sources] and per-port [ports] overrides (see docs/firewall.md).")] = None,
    controller: Annotated[Optional[str], typer.Option("--controller", help="The controller's address (Cisco ACL destination; default: the report host).")] = None,
    management: Annotated[Optional[list[str]], typer.Option("--management", help=f"Management network: web UI, SSH. {_NETWORK_HELP}")] = None,
    csms: Annotated[Optional[list[str]], typer.Option("--csms", help=f"The CSMS (OCPP-S callbacks; the uplink target under --strict-egress). {_NETWORK_HELP}")] = None,
    energy_manager: Annotated[Optional[list[str]], typer.Option("--energy-manager", help=f"Energy manager: Modbus 502, SEMP 8888, EEBUS 4711 and their discovery. {_NETWORK_HELP}")] = None,
    peer: Annotated[Optional[list[str]], typer.Option("--peer", help=f"The paired master/slave controller: 1600/1601. {_NETWORK_HELP}")] = None,
    ev: Annotated[Optional[list[str]], typer.Option("--ev", help=f"Where the EV talks ISO 15118 from (default fe80::/10). {_NETWORK_HELP}")] = None,
    allow_optional: Annotated[bool, typer.Option("--allow-optional", help="Allow the profile's optional ports even where the report did not see them open.")] = False,
    strict_egress: Annotated[bool, typer.Option("--strict-egress", help="Also drop the controller's outbound traffic except to the CSMS (needs --csms) and the peer.")] = False,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the rules here (atomically) instead of stdout.")] = None,
) -> None:
    """Render firewall rules that let in only what the role needs, from whom it needs it."""
    with errors_as_exit_codes():
        chosen_host = _report_host(report, host) if report is not None else None
        loaded = _profile(role, profile, chosen_host)
        given = _sources(
            controller=controller,
            networks={
                SourceRole.MANAGEMENT: management,
                SourceRole.CSMS: csms,
                SourceRole.ENERGY_MANAGER: energy_manager,
                SourceRole.PEER: peer,
                SourceRole.EV: ev,
            },
        )
        if site is not None:
            try:
                text = site.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise UsageError(f"cannot read site file {site}: {getattr(exc, 'strerror', None) or exc}") from None
            given = firewall.parse_site(text, where=str(site)).merged(given)
        plan = firewall.build_plan(
            loaded,
            given,
            host=chosen_host,
            report_name=str(report) if report else None,
            allow_optional=allow_optional,
            strict_egress=strict_egress,
        )
        text = _render(plan, rule_format)
        for skipped in plan.skipped:
            if loaded.expectation_for(skipped.port) is Expectation.OPEN:
                typer.echo(f"porthole: warning: {skipped.note}", err=True)
        if output is None:
            sys.stdout.write(text)
        else:
            write_atomic(output, text)
            typer.echo(f"{rule_format.value} rules written to {output}", err=True)


def _render(plan: firewall.RulePlan, rule_format: RuleFormat) -> str:
    if rule_format is RuleFormat.NFTABLES:
        return firewall.render_nftables(plan)
    if rule_format is RuleFormat.IPTABLES:
        return firewall.render_iptables(plan, version=4)
    if rule_format is RuleFormat.IP6TABLES:
        return firewall.render_iptables(plan, version=6)
    return firewall.render_cisco(plan)


def _report_host(report: Path, host: str | None) -> dict[str, Any]:
    data = load_report(report)
    hosts = data.get("hosts", [])
    if host is None:
        if len(hosts) != 1:
            listed = ", ".join(item["address"] for item in hosts[:5])
            raise ReportInputError(f"{report} has {len(hosts)} hosts; choose the controller with --host ({listed}{'...' if len(hosts) > 5 else ''})")
        chosen: dict[str, Any] = hosts[0]
        return chosen
    for item in hosts:
        if host in (item["address"], item.get("hostname")):
            return dict(item)
    raise ReportInputError(f"{report} has no host {host!r}; pick one of its hosts with --host")


def _profile(role: str | None, profile: Path | None, host: dict[str, Any] | None) -> profiles.Profile:
    if role is not None and profile is not None:
        raise UsageError("give either --role or --profile, not both")
    if profile is not None:
        return profiles.load_profile(profile)
    if role is None and host is not None:
        role = (host.get("role") or {}).get("role")
    if role is None:
        raise UsageError("which role should the rules allow? give --role master|slave, --profile FILE, or a --report whose host has a role")
    return profiles.load_role_profile(role)


def _sources(*, controller: str | None, networks: dict[SourceRole, list[str] | None]) -> SiteSources:
    address = None
    if controller is not None:
        network = firewall.parse_network(controller, where="--controller")
        if network.num_addresses != 1:
            raise UsageError(f"--controller {controller!r} is a network; give the controller's single address")
        address = network.network_address
    parsed: dict[SourceRole, tuple[Network, ...]] = {
        role: tuple(firewall.parse_network(item, where=f"--{role.value}") for item in values)
        for role, values in networks.items()
        if values
    }
    return SiteSources(controller=address, sources=parsed)
