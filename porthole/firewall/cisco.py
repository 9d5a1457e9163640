"""Render a ``RulePlan`` as Cisco IOS / IOS-XE extended named ACLs (IPv4 and IPv6).

Why this appliance format (and not an OPNsense/pfSense alias+rule export): charger
VLANs on commercial sites hang off managed switches and routers, and the engineer who
receives porthole's output is usually asked for "the ACL for the charger VLAN". An
IOS ACL is plain text that pastes into a change ticket and a config session, reads
line by line with its ``remark``s, and its dialect is understood by IOS-XE, NX-OS
and most other CLI-configured firewalls. The pfSense/OPNsense export is XML tied to
one product's config schema and version (rule UUIDs, tracker ids), which cannot be
reviewed as easily nor checked without the appliance.

Placement: the ACLs filter traffic *towards* the controller, so apply them outbound
on the interface that faces the charger VLAN::

    interface Vlan<charger>
     ip access-group PORTHOLE-MASTER-IN out
     ipv6 traffic-filter PORTHOLE-MASTER-IN-V6 out

An IOS ACL is stateless: replies to the controller's own TCP connections (its OCPP
uplink) are let back in with ``established``; UDP replies (DNS, NTP) need a
reflexive ACL or a zone-based firewall, which the output says in a remark. With
``--strict-egress`` a second ACL (``...-OUT``, applied ``in`` on the same interface)
limits what the controller itself may open.

Contract: pure text out of a plan; remarks are at most 100 characters (IOS limit).
"""

from __future__ import annotations

import ipaddress

import porthole
from porthole.firewall.model import Address, Network, RulePlan, comment_text

__all__ = ["render_cisco", "acl_name", "REMARK_LIMIT"]

#: IOS rejects longer remarks
REMARK_LIMIT = 100

_ICMP_TYPES = ("unreachable", "time-exceeded", "parameter-problem")
_ICMPV6_TYPES = ("unreachable", "packet-too-big", "time-exceeded", "parameter-problem", "nd-ns", "nd-na", "router-advertisement")


def acl_name(plan: RulePlan, *, version: int = 4, direction: str = "IN") -> str:
    base = f"{plan.name.upper()}-{direction}"
    return base if version == 4 else f"{base}-V6"


def render_cisco(plan: RulePlan) -> str:
    lines = [
        f"! porthole {porthole.__version__} ACLs for a controller in role {plan.profile.role}",
        f"! profile {plan.profile.id} v{plan.profile.version} ({_bang(plan.profile_source)}, sha256 {plan.profile.sha256})",
    ]
    if plan.narrowed_by:
        lines.append(f"! narrowed by {_bang(plan.narrowed_by)}")
    lines += [
        f"! apply outbound on the interface facing the charger VLAN: ip access-group {acl_name(plan)} out",
        f"!                                                        ipv6 traffic-filter {acl_name(plan, version=6)} out",
    ]
    for version in (4, 6):
        lines += ["!", *_inbound(plan, version)]
    if plan.strict_egress:
        for version in (4, 6):
            lines += ["!", *_outbound(plan, version)]
    lines += ["end", ""]
    return "\n".join(lines)


def _inbound(plan: RulePlan, version: int) -> list[str]:
    destination = _host(plan.controller, version)
    keyword = "ip" if version == 4 else "ipv6"
    lines = [f"ip access-list extended {acl_name(plan)}" if version == 4 else f"ipv6 access-list {acl_name(plan, version=6)}"]
    lines += [
        _remark("replies to the controller own TCP connections (OCPP uplink): never cut"),
        f" permit tcp any {destination} established",
        _remark("stateless ACL: UDP replies (DNS, NTP) need a reflexive ACL or zone-based firewall"),
        *(f" permit icmp any {destination} {kind}" for kind in (_ICMP_TYPES if version == 4 else _ICMPV6_TYPES)),
    ]
    for rule in plan.allows:
        networks = _family(rule.networks, version)
        if not networks:
            continue
        lines.append(_remark(f"{rule.port} from {rule.role.value}: {rule.motive}"))
        lines += [f" permit {rule.port.protocol.value} {_source(network)} {destination} eq {rule.port.number}" for network in networks]
    for drop in plan.drops:
        lines += [_remark(drop.motive), f" deny {drop.port.protocol.value} any {destination} eq {drop.port.number} log"]
    for skipped in plan.skipped:
        lines.append(_remark(f"not allowed: {skipped.note}"))
    lines.append(f" deny {keyword} any {destination} log")
    return lines


def _outbound(plan: RulePlan, version: int) -> list[str]:
    controller = _host(plan.controller, version)
    keyword = "ip" if version == 4 else "ipv6"
    lines = [
        f"ip access-list extended {acl_name(plan, direction='OUT')}" if version == 4 else f"ipv6 access-list {acl_name(plan, version=6, direction='OUT')}",
        _remark("--strict-egress: what the controller itself may open; apply in on the same interface"),
        f" permit tcp {controller} any established",
        *(f" permit icmp {controller} any {kind}" for kind in (_ICMP_TYPES if version == 4 else (*_ICMPV6_TYPES, "router-solicitation"))),
    ]
    for egress in plan.egress:
        networks = _family(egress.networks, version)
        if networks:
            lines.append(_remark(f"egress to {egress.role.value}: {egress.note}"))
            lines += [f" permit {keyword} {controller} {_source(network)}" for network in networks]
    lines.append(f" deny {keyword} {controller} any log")
    return lines


def _host(address: Address | None, version: int) -> str:
    if address is None or address.version != version:
        return "any"
    return f"host {address}"


def _source(network: Network) -> str:
    if network.num_addresses == 1:
        return f"host {network.network_address}"
    if isinstance(network, ipaddress.IPv4Network):
        return f"{network.network_address} {network.hostmask}"
    return str(network)


def _family(networks: tuple[Network, ...], version: int) -> list[Network]:
    return [network for network in networks if network.version == version]


def _remark(text: str) -> str:
    return f" remark {comment_text(text, limit=REMARK_LIMIT)}"


def _bang(text: str) -> str:
    return "".join(character if character.isprintable() else "?" for character in text)
