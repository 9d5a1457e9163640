"""The rule plan: which source may reach which port of one controller, and why.

``build_plan`` turns a role profile (and, optionally, one host of an audit report)
into a ``RulePlan``; the renderers (``nftables``, ``iptables``, ``cisco``) only
spell that plan in their syntax. Deciding once and rendering three times keeps the
formats from drifting apart.

Semantics (what a network engineer expects of a host firewall for a controller)::

    profile expect   report (if given)        plan
    open             any                      allow from the port's sources
    optional         open                     allow from the port's sources
    optional         not open / no report     skipped (allowed with allow_optional)
    closed           open (a finding)         explicit drop, commented with the finding
    closed           anything else            nothing: the default drop covers it

* A port's sources come from its catalogue service (``SERVICE_SOURCES``: the web UI
  from the management network, 1600/1601 from the paired controller, Modbus/SEMP/EEBUS
  from the energy manager, OCPP-S from the CSMS, ISO 15118 from the EV's IPv6
  link-local range), overridable per port by the site file. A port whose sources were
  not given is *skipped*, never opened to everyone: the plan fails closed and says so.
* The controller's own outbound connections (its OCPP uplink to the CSMS) are never
  cut: replies (conntrack established/related) are accepted inbound and outbound
  traffic is left alone, unless ``strict_egress`` asks for an egress policy, which
  then requires the CSMS address so the uplink stays open.
* Every rule carries ``motive``: the profile line (``profiles/master.toml:122#443/tcp``)
  or the finding that motivated it, so each generated line can be traced back.

Contract: pure. No file, socket or subprocess here; ``parse_site`` takes text.
"""

from __future__ import annotations

import ipaddress
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from porthole.catalog import Catalog, default_catalog
from porthole.errors import ReportInputError, UsageError
from porthole.model import Expectation, PortRef, PortState, ProfileRef, Protocol
from porthole.profiles import Profile, observations_from_host

__all__ = [
    "Address",
    "Network",
    "SourceRole",
    "SERVICE_SOURCES",
    "EV_LINK_LOCAL",
    "SiteSources",
    "AllowRule",
    "DropRule",
    "SkippedPort",
    "EgressRule",
    "RulePlan",
    "build_plan",
    "parse_site",
    "parse_network",
    "comment_text",
]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class SourceRole(StrEnum):
    """Who, on a charger site, legitimately opens connections to a controller."""

    MANAGEMENT = "management"
    CSMS = "csms"
    ENERGY_MANAGER = "energy-manager"
    PEER = "peer"
    EV = "ev"


#: which source needs each catalogue service; a service not listed (or a port without
#: one) is reached from the management network
SERVICE_SOURCES: Mapping[str, SourceRole] = MappingProxyType(
    {
        "ssh": SourceRole.MANAGEMENT,
        "dns": SourceRole.MANAGEMENT,
        "http": SourceRole.MANAGEMENT,
        "https": SourceRole.MANAGEMENT,
        # the slave's OCPP/DLM client connects to the master's 1600/1601
        "ocpp-dlm": SourceRole.PEER,
        "modbus": SourceRole.ENERGY_MANAGER,
        "semp": SourceRole.ENERGY_MANAGER,
        "ssdp": SourceRole.ENERGY_MANAGER,  # SEMP devices are discovered over UPnP/SSDP
        "eebus-ship": SourceRole.ENERGY_MANAGER,
        "mdns": SourceRole.ENERGY_MANAGER,  # EEBUS SHIP is discovered over mDNS
        # OCPP 1.5 SOAP: the central system calls the charge point back
        "ocpp-s": SourceRole.CSMS,
        "iso15118-sdp": SourceRole.EV,
        "iso15118-v2g": SourceRole.EV,
        "iso15118-v2g-tls": SourceRole.EV,
    }
)

#: ISO 15118-2 §7.6: the EV uses IPv6 link-local addresses (SDP goes to ff02::1), so
#: "the EV" is fe80::/10 unless the site file says otherwise
EV_LINK_LOCAL = ipaddress.IPv6Network("fe80::/10")

_SITE_KEYS = ("controller", "ports", "sources")


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteSources:
    """The site's addresses: the controller, and the networks of each source role."""

    controller: Address | None = None
    sources: Mapping[SourceRole, tuple[Network, ...]] = field(default_factory=dict)
    #: per-port override of SERVICE_SOURCES (from the site file's ``[ports]``)
    port_sources: Mapping[PortRef, tuple[SourceRole, ...]] = field(default_factory=dict)

    def networks(self, role: SourceRole) -> tuple[Network, ...]:
        given = self.sources.get(role, ())
        if role is SourceRole.EV and not given:
            return (EV_LINK_LOCAL,)
        return given

    def merged(self, other: SiteSources) -> SiteSources:
        """``other`` (command-line options) added to this (the site file)."""
        sources = {role: _unique((*self.sources.get(role, ()), *other.sources.get(role, ()))) for role in SourceRole}
        return SiteSources(
            controller=other.controller or self.controller,
            sources={role: networks for role, networks in sources.items() if networks},
            port_sources={**self.port_sources, **other.port_sources},
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class AllowRule:
    port: PortRef
    role: SourceRole
    networks: tuple[Network, ...]
    #: the profile line that asks for the port (``profiles/master.toml:122#443/tcp``)
    motive: str
    #: one line for a human: what the port is and why it is allowed
    note: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DropRule:
    """An explicit drop for a port the report found open against the profile."""

    port: PortRef
    motive: str
    note: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SkippedPort:
    """A port the profile allows but the plan does not open, and why (shown as a comment)."""

    port: PortRef
    motive: str
    note: str


@dataclass(frozen=True, slots=True, kw_only=True)
class EgressRule:
    """New outbound connections allowed under ``strict_egress`` (any port)."""

    role: SourceRole
    networks: tuple[Network, ...]
    note: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RulePlan:
    profile: ProfileRef
    profile_source: str
    controller: Address | None
    allows: tuple[AllowRule, ...]
    drops: tuple[DropRule, ...]
    skipped: tuple[SkippedPort, ...]
    strict_egress: bool
    egress: tuple[EgressRule, ...]
    #: the report host the plan was narrowed with (``reports/a.json host 198.18.0.10``)
    narrowed_by: str | None = None

    @property
    def name(self) -> str:
        """A name for tables, chains and ACLs: ``porthole-master``."""
        return f"porthole-{self.profile.id}"


def build_plan(
    profile: Profile,
    site: SiteSources,
    *,
    host: Mapping[str, Any] | None = None,
    report_name: str | None = None,
    allow_optional: bool = False,
    strict_egress: bool = False,
    catalog: Catalog | None = None,
) -> RulePlan:
    """The rule plan for one controller playing ``profile``'s role.

    ``host`` is one host of a porthole JSON report (as ``load_report`` returns it); with
    it, optional ports are allowed only when the report saw them open, and every open
    port the profile forbids gets an explicit drop naming the finding.
    """
    catalog = catalog or default_catalog()
    states: dict[PortRef, PortState] = {}
    findings: dict[PortRef, str] = {}
    narrowed_by = None
    controller = site.controller
    if host is not None:
        states = {observation.ref: observation.state for observation in observations_from_host(host)}
        findings = _port_findings(host)
        address = str(host.get("address", "?"))
        narrowed_by = f"{report_name or 'report'} host {address}"
        if controller is None:
            controller = _optional_address(address)

    allows: list[AllowRule] = []
    drops: list[DropRule] = []
    skipped: list[SkippedPort] = []
    observed_open = {ref for ref, state in states.items() if state is PortState.OPEN}
    for ref in sorted({*profile.ports, *observed_open}):
        expect = profile.expectation_for(ref)
        motive = profile.source_for(ref)
        rule = profile.rule_for(ref)
        service = (rule.service if rule else None) or catalog.service_of(ref)
        if expect is Expectation.CLOSED:
            if ref in observed_open:
                finding = findings.get(ref)
                # a `porthole scan` report has no findings: the observation is the motive
                why = f"finding {finding}" if finding else f"report: {ref} open against {motive}"
                drops.append(DropRule(port=ref, motive=why, note=f"{ref} found open, profile says closed ({motive})"))
            continue
        if expect is Expectation.OPTIONAL and not allow_optional and ref not in observed_open:
            why = "not open in the report" if host is not None else "no report narrows it"
            skipped.append(SkippedPort(port=ref, motive=motive, note=f"{ref} optional and {why}; pass --allow-optional to allow it"))
            continue
        roles = site.port_sources.get(ref) or (SERVICE_SOURCES.get(service or "", SourceRole.MANAGEMENT),)
        allowed_any = False
        for role in roles:
            networks = site.networks(role)
            if not networks:
                continue
            allowed_any = True
            allows.append(
                AllowRule(
                    port=ref,
                    role=role,
                    networks=networks,
                    motive=motive,
                    note=f"{ref} {service or 'uncatalogued'} ({expect.value}) from {role.value}: {_first_sentence(rule.reason) if rule else 'open in the report'}",
                )
            )
        if not allowed_any:
            wanted = " or ".join(f"--{role.value}" for role in roles)
            skipped.append(SkippedPort(port=ref, motive=motive, note=f"{ref} {expect.value} but reached by {', '.join(r.value for r in roles)} and no address given ({wanted})"))

    egress: list[EgressRule] = []
    if strict_egress:
        csms = site.networks(SourceRole.CSMS)
        if not csms:
            raise UsageError(
                "--strict-egress drops the controller's outbound traffic, which would cut its OCPP uplink; "
                "give the CSMS address with --csms ADDR (or [sources] csms in the site file)"
            )
        egress.append(EgressRule(role=SourceRole.CSMS, networks=csms, note="the controller's OCPP uplink to the CSMS"))
        peer = site.networks(SourceRole.PEER)
        if peer:
            egress.append(EgressRule(role=SourceRole.PEER, networks=peer, note="DLM and the UI/SSH forwarders talk to the paired controller"))

    return RulePlan(
        profile=profile.ref(),
        profile_source=profile.display_path,
        controller=controller,
        allows=tuple(allows),
        drops=tuple(drops),
        skipped=tuple(skipped),
        strict_egress=strict_egress,
        egress=tuple(egress),
        narrowed_by=narrowed_by,
    )


def _port_findings(host: Mapping[str, Any]) -> dict[PortRef, str]:
    """``{502/tcp: "profile-forbidden-open 502/tcp (profiles/master.toml:154#502/tcp)"}``."""
    found: dict[PortRef, str] = {}
    for raw in host.get("findings") or ():
        if not isinstance(raw, Mapping) or not str(raw.get("id", "")).startswith("profile-") or raw.get("port") is None:
            continue
        try:
            ref = PortRef(Protocol(raw["protocol"]), int(raw["port"]))
        except (KeyError, TypeError, ValueError):
            raise ReportInputError(f"host {host.get('address', '?')}: finding {raw.get('id')!r} has no valid port/protocol") from None
        source = f" ({raw['source']})" if raw.get("source") else ""
        found.setdefault(ref, f"{raw['id']} {ref}{source}")
    return found


def _first_sentence(text: str) -> str:
    sentence = text.split(". ")[0].rstrip(".")
    return sentence if len(sentence) <= 90 else sentence[:89] + "…"


def _unique(networks: Iterable[Network]) -> tuple[Network, ...]:
    return tuple(dict.fromkeys(networks))


def _optional_address(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def parse_network(text: str, *, where: str) -> Network:
    """``198.18.0.0/24``, ``2001:db8::5`` (a host) → a network; ``UsageError`` otherwise."""
    try:
        return ipaddress.ip_network(text.strip(), strict=True)
    except ValueError as exc:
        raise UsageError(f"{where}: {text!r} is not an IPv4/IPv6 address or network ({exc}); e.g. 198.18.0.0/24 or 2001:db8::/64") from None


def parse_site(text: str, *, where: str) -> SiteSources:
    """Parse a firewall site file (strict: unknown keys are errors)::

        controller = "198.18.0.10"
        [sources]
        management = ["198.18.0.0/24", "2001:db8:1::/64"]
        csms = ["203.0.113.5"]
        energy-manager = ["198.18.0.50"]
        peer = ["198.18.0.11"]
        ev = ["fe80::/10"]
        [ports]                         # optional: who reaches a port, overriding the default
        "4711/tcp" = ["energy-manager", "management"]
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{where}: not valid TOML: {exc}") from None
    _reject_unknown(data, _SITE_KEYS, where)
    controller = None
    if "controller" in data:
        if not isinstance(data["controller"], str) or _optional_address(data["controller"]) is None:
            raise UsageError(f"{where}: controller must be one IP address as a string, e.g. controller = \"198.18.0.10\"")
        controller = ipaddress.ip_address(data["controller"])
    raw_sources = data.get("sources", {})
    if not isinstance(raw_sources, dict):
        raise UsageError(f"{where}: [sources] must be a table")
    _reject_unknown(raw_sources, tuple(role.value for role in SourceRole), f"{where}: [sources]")
    sources = {SourceRole(key): _unique(parse_network(item, where=f"{where}: [sources] {key}") for item in _strings(value, f"{where}: [sources] {key}")) for key, value in raw_sources.items()}
    raw_ports = data.get("ports", {})
    if not isinstance(raw_ports, dict):
        raise UsageError(f"{where}: [ports] must be a table")
    port_sources: dict[PortRef, tuple[SourceRole, ...]] = {}
    for key, value in raw_ports.items():
        ref = _parse_port_key(key, where)
        roles = []
        for item in _strings(value, f"{where}: [ports] {key!r}"):
            try:
                roles.append(SourceRole(item))
            except ValueError:
                raise UsageError(f"{where}: [ports] {key!r}: unknown source {item!r}; use {', '.join(role.value for role in SourceRole)}") from None
        port_sources[ref] = tuple(roles)
    return SiteSources(controller=controller, sources=sources, port_sources=port_sources)


def _parse_port_key(key: str, where: str) -> PortRef:
    number_text, _, protocol_text = key.partition("/")
    try:
        number = int(number_text)
        protocol = Protocol(protocol_text or "tcp")
        if not 1 <= number <= 65535:
            raise ValueError
    except ValueError:
        raise UsageError(f"{where}: [ports] key {key!r} is not a port; write \"502/tcp\" or \"5353/udp\"") from None
    return PortRef(protocol, number)


def _strings(value: object, where: str) -> Sequence[str]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise UsageError(f"{where}: expected a list of strings")
    return value


def _reject_unknown(table: Mapping[str, object], allowed: Sequence[str], where: str) -> None:
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise UsageError(f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(allowed)}")


def comment_text(text: str, *, limit: int) -> str:
    """``text`` made safe for a quoted rule comment: printable ASCII without quotes or
    backslashes (a hostile banner must not end the string), at most ``limit`` characters."""
    cleaned = "".join(character if " " <= character <= "~" and character not in '"\\' else "?" for character in text.replace("…", "..."))
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 3] + "..."

