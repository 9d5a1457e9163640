"""Render a ``RulePlan`` as ``iptables-restore`` (IPv4) or ``ip6tables-restore`` (IPv6) input.

One file per family, as the two tools require; ``render_iptables(plan, version=4)``
keeps only the IPv4 networks of each rule, ``version=6`` only the IPv6 ones. The
output replaces the ``filter`` table's INPUT and OUTPUT chains (iptables-restore
semantics: the table is flushed on load); FORWARD is left at its current policy::

    *filter
    :INPUT DROP [0:0]
    :OUTPUT ACCEPT [0:0]        (DROP with --strict-egress)
    -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
    -A INPUT -s 198.18.0.0/24 -p tcp -m tcp --dport 443 -m comment --comment "profiles/master.toml:122#443/tcp" -j ACCEPT
    COMMIT

Matches are on the destination port and the source network only (see ``nftables``).

Contract: pure text out of a plan; nothing here runs iptables.
"""

from __future__ import annotations

import ipaddress
from typing import Literal

import porthole
from porthole.firewall.model import Network, RulePlan, comment_text

__all__ = ["render_iptables"]

# xt_comment stores at most 256 bytes
_COMMENT_LIMIT = 255

_ICMP_TYPES = ("destination-unreachable", "time-exceeded", "parameter-problem")
_ICMPV6_TYPES = (
    "destination-unreachable",
    "packet-too-big",
    "time-exceeded",
    "parameter-problem",
    "router-advertisement",
    "neighbour-solicitation",
    "neighbour-advertisement",
)


def render_iptables(plan: RulePlan, *, version: Literal[4, 6] = 4) -> str:
    tool = "iptables-restore" if version == 4 else "ip6tables-restore"
    icmp = ("icmp", "--icmp-type", _ICMP_TYPES) if version == 4 else ("ipv6-icmp", "--icmpv6-type", _ICMPV6_TYPES)
    lines = [
        f"# porthole {porthole.__version__} firewall (IPv{version}) for a controller in role {plan.profile.role}",
        f"# profile {plan.profile.id} v{plan.profile.version} ({_line(plan.profile_source)}, sha256 {plan.profile.sha256})",
    ]
    if plan.narrowed_by:
        lines.append(f"# narrowed by {_line(plan.narrowed_by)}")
    lines += [
        f"# Check with: {tool} --test FILE    Load with: {tool} FILE (replaces the filter table's rules)",
        "*filter",
        ":INPUT DROP [0:0]",
        f":OUTPUT {'DROP' if plan.strict_egress else 'ACCEPT'} [0:0]",
        "# replies to the controller's own connections (its OCPP uplink): never cut",
        f"-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED {_comment('replies to the controller own connections')} -j ACCEPT",
        "-A INPUT -m conntrack --ctstate INVALID -j DROP",
        "-A INPUT -i lo -j ACCEPT",
        *(f"-A INPUT -p {icmp[0]} {icmp[1]} {kind} -j ACCEPT" for kind in icmp[2]),
    ]
    for rule in plan.allows:
        networks = _family(rule.networks, version)
        if not networks:
            continue
        lines.append(f"# {_line(rule.note)}")
        lines += [
            f"-A INPUT -s {network} -p {rule.port.protocol.value} -m {rule.port.protocol.value} --dport {rule.port.number} {_comment(rule.motive)} -j ACCEPT"
            for network in networks
        ]
    for drop in plan.drops:
        lines += [
            f"# {_line(drop.note)}",
            f"-A INPUT -p {drop.port.protocol.value} -m {drop.port.protocol.value} --dport {drop.port.number} {_comment(drop.motive)} -j DROP",
        ]
    if plan.skipped:
        lines.append("# not allowed (dropped by the policy):")
        lines += [f"#   {_line(skipped.note)} [{_line(skipped.motive)}]" for skipped in plan.skipped]
    if plan.strict_egress:
        lines += [
            "-A OUTPUT -o lo -j ACCEPT",
            "-A OUTPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
            *(f"-A OUTPUT -p {icmp[0]} {icmp[1]} {kind} -j ACCEPT" for kind in icmp[2]),
        ]
        if version == 6:
            lines.append("-A OUTPUT -p ipv6-icmp --icmpv6-type router-solicitation -j ACCEPT")
        for egress in plan.egress:
            lines.append(f"# --strict-egress: {_line(egress.note)}")
            lines += [
                f"-A OUTPUT -d {network} -m conntrack --ctstate NEW {_comment(f'egress to {egress.role.value}')} -j ACCEPT"
                for network in _family(egress.networks, version)
            ]
    lines += ["COMMIT", ""]
    return "\n".join(lines)


def _family(networks: tuple[Network, ...], version: int) -> list[Network]:
    kind = ipaddress.IPv4Network if version == 4 else ipaddress.IPv6Network
    return [network for network in networks if isinstance(network, kind)]


def _comment(text: str) -> str:
    return f'-m comment --comment "{comment_text(text, limit=_COMMENT_LIMIT)}"'


def _line(text: str) -> str:
    return "".join(character if character.isprintable() else "?" for character in text)
