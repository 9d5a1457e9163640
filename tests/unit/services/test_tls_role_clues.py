"""Role clues from which forwarder presents the unit's own certificate (protocols.md §0.1)."""

from __future__ import annotations

import pytest

from porthole.model import PortObservation, PortState, Protocol, Reason
from porthole.services.tls.role import forwarder_certificate_clues

MASTER_CERT, SLAVE_CERT = "aa" * 32, "bb" * 32


def web_port(port: int, fingerprint: str | None, state: PortState = PortState.OPEN) -> PortObservation:
    evidence = {"tls": {"certificates": [{"position": 0, "sha256": fingerprint}]}} if fingerprint else {}
    return PortObservation(port=port, protocol=Protocol.TCP, state=state, reason=Reason.SYN_ACK, service="https", evidence=evidence)


def test_444_matching_443_makes_a_master_clue():
    clues = forwarder_certificate_clues([web_port(443, MASTER_CERT), web_port(444, MASTER_CERT), web_port(445, SLAVE_CERT)])
    assert [clue.role for clue in clues] == ["master"]
    assert "444/tcp presents the certificate of 443/tcp" in clues[0].line


def test_445_matching_443_makes_a_slave_clue():
    clues = forwarder_certificate_clues([web_port(443, SLAVE_CERT), web_port(444, MASTER_CERT), web_port(445, SLAVE_CERT)])
    assert [clue.role for clue in clues] == ["slave"]


@pytest.mark.parametrize(
    "ports",
    [
        [web_port(443, MASTER_CERT), web_port(444, MASTER_CERT)],  # 445 missing
        [web_port(443, MASTER_CERT), web_port(444, MASTER_CERT), web_port(445, MASTER_CERT)],  # all alike: no peer
        [web_port(443, MASTER_CERT), web_port(444, SLAVE_CERT), web_port(445, "cc" * 32)],  # none alike
        [web_port(443, MASTER_CERT), web_port(444, None), web_port(445, SLAVE_CERT)],  # 444 unidentified
        [web_port(443, MASTER_CERT), web_port(444, MASTER_CERT), web_port(445, SLAVE_CERT, PortState.FILTERED)],
    ],
    ids=["port-missing", "all-alike", "none-alike", "unidentified", "filtered"],
)
def test_no_clue_when_the_forwarders_do_not_tell(ports):
    assert forwarder_certificate_clues(ports) == []
