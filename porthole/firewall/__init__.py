"""Firewall rules from a role profile (and optionally an audit report).

``build_plan`` decides which source may reach which port (``model``); the renderers
spell the plan for nftables, iptables-restore / ip6tables-restore and Cisco IOS ACLs.
Everything here is pure: text out, nothing applied.
"""

from __future__ import annotations

from porthole.firewall.cisco import render_cisco
from porthole.firewall.iptables import render_iptables
from porthole.firewall.model import (
    SERVICE_SOURCES,
    AllowRule,
    DropRule,
    EgressRule,
    RulePlan,
    SiteSources,
    SkippedPort,
    SourceRole,
    build_plan,
    parse_network,
    parse_site,
)
from porthole.firewall.nftables import render_nftables

__all__ = [
    "SERVICE_SOURCES",
    "AllowRule",
    "DropRule",
    "EgressRule",
    "RulePlan",
    "SiteSources",
    "SkippedPort",
    "SourceRole",
    "build_plan",
    "parse_network",
    "parse_site",
    "render_cisco",
    "render_iptables",
    "render_nftables",
]
