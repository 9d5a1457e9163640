"""Pure judgement of DNS evidence (the JSON form ``DnsProbe.run`` returned).

``dns-open-resolver`` when the reply to ``localhost. IN A`` (RD=1) carried RA and an
A record: a recursive or forwarding resolver answers this vantage (protocols.md §3,
§12: "WAN Router" Off). Medium, the checklist's WARN: porthole cannot tell from the
packets whether the vantage is the WAN side, where the vendor rates it worse.

Not a finding: RA with REFUSED (the resolver exists but will not serve this
vantage), or an authoritative-only answer without RA. The version string is a
fingerprint, not a verdict.
"""

from __future__ import annotations

from typing import Any

from porthole.findings import finding
from porthole.model import Finding, PortObservation

__all__ = ["assess", "summarise"]


def assess(evidence: dict[str, Any], observation: PortObservation) -> list[Finding]:
    if not (evidence.get("recursion_available") and evidence.get("resolves_localhost")):
        return []
    transport = evidence.get("transport", observation.protocol.value)
    lines = [_exchange_line(exchange, transport) for exchange in evidence.get("exchanges", [])]
    return [
        finding(
            "dns-open-resolver",
            port=observation.port,
            protocol=observation.protocol,
            detail=(
                f"A DNS resolver answers this vantage on {observation.port}/{transport}: it resolved localhost. "
                "with recursion available, so it resolves (and, as a forwarder, forwards) names for anyone who reaches it"
            ),
            evidence=lines,
        )
    ]


def summarise(evidence: dict[str, Any]) -> str | None:
    if not evidence.get("answers_queries"):
        return None
    software = evidence.get("version") or "DNS"
    if evidence.get("recursion_available") and evidence.get("resolves_localhost"):
        return f"{software}: open resolver (RA, resolves localhost.)"
    exchanges = evidence.get("exchanges") or [{}]
    first = exchanges[0]
    return f"{software}: localhost. {first.get('rcode_name') or first.get('outcome')}, RA={int(bool(evidence.get('recursion_available')))}"


def _exchange_line(exchange: dict[str, Any], transport: str) -> str:
    asked = f"{exchange.get('question')} (RD={int(bool(exchange.get('recursion_desired')))}) over {transport}"
    if exchange.get("rcode_name") is None:
        return f"{asked} -> {exchange.get('outcome')}"
    flags = f"RA={int(bool(exchange.get('recursion_available')))}, AA={int(bool(exchange.get('authoritative')))}"
    answers = "; ".join(exchange.get("answers") or []) or "no answer records"
    return f"{asked} -> {exchange['rcode_name']}, {flags}: {answers}"
