"""Render a ``RulePlan`` as an nftables ruleset for the controller's own input hook.

The output is one ``inet`` table (IPv4 and IPv6 in one place) that ``nft -f`` loads
atomically and that a second load replaces (the ``table``/``delete table`` idiom), so
it coexists with other tables on the host instead of flushing the whole ruleset::

    table inet porthole_master { chain input  { policy drop; replies, lo, ICMP; allows; drops }
                                 chain output { policy accept  (drop with --strict-egress) } }

Rules match the destination port and the source network, never the destination
address: on the controller itself multicast discovery (mDNS 224.0.0.251, ISO 15118 SDP
to ff02::1) arrives for group addresses. Every rule has a ``comment`` naming the profile
line or finding behind it, with the human reason on a ``#`` line above.

Contract: pure text out of a plan; nothing here runs ``nft``.
"""

from __future__ import annotations

import ipaddress
import re

import porthole
from porthole.firewall.model import AllowRule, Network, RulePlan, comment_text

__all__ = ["render_nftables", "table_name"]

# nft keeps at most 128 bytes of comment per rule (NFT_USERDATA_MAXLEN is per object)
_COMMENT_LIMIT = 128

#: ICMP a host needs to work (RFC 4890 for ICMPv6: neighbour discovery, PMTU, errors)
_ICMP_TYPES = "destination-unreachable, time-exceeded, parameter-problem"
_ICMPV6_TYPES = (
    "destination-unreachable, packet-too-big, time-exceeded, parameter-problem, "
    "nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, mld-listener-query"
)


def table_name(plan: RulePlan) -> str:
    """``porthole_master``: nft identifiers allow letters, digits and underscores."""
    return re.sub(r"[^A-Za-z0-9_]", "_", plan.name)


def render_nftables(plan: RulePlan) -> str:
    table = table_name(plan)
    lines = [
        *_header(plan),
        "",
        "# Declaring then deleting the table makes a reload replace it atomically.",
        f"table inet {table}",
        f"delete table inet {table}",
        "",
        f"table inet {table} {{",
        "    chain input {",
        "        type filter hook input priority filter; policy drop;",
        "",
        "        # replies to the controller's own connections (its OCPP uplink): never cut",
        f'        ct state established,related accept comment "{_comment("replies to the controller own connections")}"',
        "        ct state invalid drop",
        '        iifname "lo" accept',
        f"        meta l4proto icmp icmp type {{ {_ICMP_TYPES} }} accept",
        f"        meta l4proto ipv6-icmp icmpv6 type {{ {_ICMPV6_TYPES} }} accept",
    ]
    for rule in plan.allows:
        lines += ["", f"        # {_line(rule.note)}", *(f"        {text}" for text in _allow_lines(rule))]
    for drop in plan.drops:
        lines += [
            "",
            f"        # {_line(drop.note)}",
            f'        {drop.port.protocol.value} dport {drop.port.number} drop comment "{_comment(drop.motive)}"',
        ]
    if plan.skipped:
        lines += ["", "        # not allowed (dropped by the policy):"]
        lines += [f"        #   {_line(skipped.note)} [{_line(skipped.motive)}]" for skipped in plan.skipped]
    lines += ["    }", "", "    chain output {"]
    if plan.strict_egress:
        lines += [
            "        type filter hook output priority filter; policy drop;",
            '        oifname "lo" accept',
            "        ct state established,related accept",
            f"        meta l4proto icmp icmp type {{ {_ICMP_TYPES} }} accept",
            f"        meta l4proto ipv6-icmp icmpv6 type {{ {_ICMPV6_TYPES}, nd-router-solicit }} accept",
        ]
        for egress in plan.egress:
            lines.append(f"        # --strict-egress: {_line(egress.note)}")
            for family, networks in _by_family(egress.networks):
                lines.append(f'        {family} daddr {_set(networks)} ct state new accept comment "{_comment(f"egress to {egress.role.value}")}"')
    else:
        lines += [
            "        # outbound left open: the controller's OCPP uplink and forwarders must not be cut",
            "        type filter hook output priority filter; policy accept;",
        ]
    lines += ["    }", "}", ""]
    return "\n".join(lines)


def _allow_lines(rule: AllowRule) -> list[str]:
    comment = _comment(rule.motive)
    return [
        f'{family} saddr {_set(networks)} {rule.port.protocol.value} dport {rule.port.number} accept comment "{comment}"'
        for family, networks in _by_family(rule.networks)
    ]


def _by_family(networks: tuple[Network, ...]) -> list[tuple[str, list[Network]]]:
    families = [
        ("ip", [network for network in networks if isinstance(network, ipaddress.IPv4Network)]),
        ("ip6", [network for network in networks if isinstance(network, ipaddress.IPv6Network)]),
    ]
    return [(family, members) for family, members in families if members]


def _set(networks: list[Network]) -> str:
    texts = [str(network.network_address) if network.num_addresses == 1 else str(network) for network in networks]
    return texts[0] if len(texts) == 1 else "{ " + ", ".join(texts) + " }"


def _comment(text: str) -> str:
    return comment_text(text, limit=_COMMENT_LIMIT)


def _line(text: str) -> str:
    """One line of ``#`` comment: no newline may escape into the ruleset."""
    return "".join(character if character.isprintable() else "?" for character in text)


def _header(plan: RulePlan) -> list[str]:
    lines = [
        f"# porthole {porthole.__version__} firewall for a controller in role {plan.profile.role}",
        f"# profile {plan.profile.id} v{plan.profile.version} ({_line(plan.profile_source)}, sha256 {plan.profile.sha256})",
    ]
    if plan.narrowed_by:
        lines.append(f"# narrowed by {_line(plan.narrowed_by)}")
    if plan.controller is not None:
        lines.append(f"# controller {plan.controller}")
    lines += [
        "# Check with: nft -c -f FILE    Load on the controller (or its Linux host) with: nft -f FILE",
        "# Inbound: only the ports the role needs, from the sources that need them; the rest is dropped.",
    ]
    return lines
