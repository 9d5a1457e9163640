"""DNS assess and summary on hand-built evidence: when a resolver is an open resolver, and what the ports table says."""

from __future__ import annotations

from typing import Any

import pytest

from porthole.model import PortObservation, PortState, Protocol, Reason, Severity
from porthole.services.dns.assess import assess, summarise

UDP_53 = PortObservation(port=53, protocol=Protocol.UDP, state=PortState.OPEN, reason=Reason.REPLY, service="dns")


def exchange(**fields: Any) -> dict[str, Any]:
    base = {"question": "localhost. IN A", "query_id": 1, "recursion_desired": True, "outcome": "reply", "rcode": 0, "rcode_name": "NOERROR", "authoritative": False, "truncated": False, "recursion_available": True, "answers": ["localhost. 0 IN A 127.0.0.1"], "query_hex": "", "reply_hex": "", "detail": None}
    return base | fields


def evidence(**fields: Any) -> dict[str, Any]:
    base = {"transport": "udp", "answers_queries": True, "recursion_available": True, "resolves_localhost": True, "localhost_addresses": ["127.0.0.1"], "version": "dnsmasq-2.90", "exchanges": [exchange(), exchange(question="version.bind. CH TXT", recursion_desired=False, answers=['version.bind. 0 CH TXT "dnsmasq-2.90"'])]}
    return base | fields


def test_recursion_available_and_localhost_resolved_is_an_open_resolver_finding() -> None:
    (found,) = assess(evidence(), UDP_53)
    assert (found.id, found.severity, found.setting, found.port, found.protocol) == ("dns-open-resolver", Severity.MEDIUM, "WAN Router: Off", 53, Protocol.UDP)
    assert "53/udp" in found.detail
    assert found.evidence == (
        "localhost. IN A (RD=1) over udp -> NOERROR, RA=1, AA=0: localhost. 0 IN A 127.0.0.1",
        'version.bind. CH TXT (RD=0) over udp -> NOERROR, RA=1, AA=0: version.bind. 0 CH TXT "dnsmasq-2.90"',
    )


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"recursion_available": False}, id="authoritative-answer-without-RA"),
        pytest.param({"resolves_localhost": False, "localhost_addresses": []}, id="RA-but-REFUSED"),
        pytest.param({"recursion_available": False, "resolves_localhost": False}, id="refused-without-RA"),
    ],
)
def test_no_finding_unless_both_recursion_and_an_answer_were_seen(fields: dict[str, Any]) -> None:
    assert assess(evidence(**fields), UDP_53) == []


def test_an_exchange_without_a_reply_is_listed_by_its_outcome() -> None:
    (found,) = assess(evidence(exchanges=[exchange(), exchange(question="version.bind. CH TXT", recursion_desired=False, outcome="no-reply", rcode=None, rcode_name=None)]), UDP_53)
    assert found.evidence[1] == "version.bind. CH TXT (RD=0) over udp -> no-reply"


@pytest.mark.parametrize(
    ("fields", "summary"),
    [
        ({}, "dnsmasq-2.90: open resolver (RA, resolves localhost.)"),
        ({"version": None}, "DNS: open resolver (RA, resolves localhost.)"),
        ({"recursion_available": False, "resolves_localhost": False, "exchanges": [exchange(rcode=5, rcode_name="REFUSED", recursion_available=False, answers=[])]}, "dnsmasq-2.90: localhost. REFUSED, RA=0"),
        ({"resolves_localhost": False, "exchanges": [exchange(outcome="malformed", detail="compression loop")]}, "dnsmasq-2.90: localhost. NOERROR, RA=1"),
        ({"answers_queries": False}, None),
    ],
)
def test_summary_names_the_software_and_the_verdict(fields: dict[str, Any], summary: str | None) -> None:
    assert summarise(evidence(**fields)) == summary
