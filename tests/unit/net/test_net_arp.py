"""ARP frames built and parsed by porthole.net.arp, checked against scapy as an oracle.

The sweep itself (raw packet socket, streaming replies) is exercised against the lab's
namespaces in tests/lab/test_site_audit.py (empty addresses found down by one ARP round).
"""

from __future__ import annotations

import pytest
from scapy.layers.l2 import ARP, Ether

from porthole.net.arp import build_request, parse_reply

OUR_MAC = bytes.fromhex("020000000001")


def test_a_request_is_a_broadcast_who_has_for_the_target():
    frame = build_request(OUR_MAC, "198.18.0.1", "198.18.0.10")
    parsed = Ether(frame)
    assert parsed.dst == "ff:ff:ff:ff:ff:ff" and parsed.src == "02:00:00:00:00:01" and parsed.type == 0x0806
    arp = parsed[ARP]
    assert (arp.op, arp.hwsrc, arp.psrc, arp.hwdst, arp.pdst) == (1, "02:00:00:00:00:01", "198.18.0.1", "00:00:00:00:00:00", "198.18.0.10")
    assert len(frame) == 42


def test_a_reply_built_by_scapy_yields_its_sender_address():
    reply = bytes(Ether(dst="02:00:00:00:00:01", src="02:00:00:00:00:0a") / ARP(op=2, hwsrc="02:00:00:00:00:0a", psrc="198.18.0.10", hwdst="02:00:00:00:00:01", pdst="198.18.0.1"))
    assert parse_reply(reply) == "198.18.0.10"


@pytest.mark.parametrize(
    "frame",
    [
        bytes(Ether() / ARP(op=1, psrc="198.18.0.10", pdst="198.18.0.1")),  # a request, not a reply
        bytes(Ether(type=0x0800) / (b"\x00" * 28)),  # not ARP at all
        bytes(Ether() / ARP(op=2, psrc="198.18.0.10"))[:30],  # truncated
        b"",
    ],
    ids=["request", "not-arp", "truncated", "empty"],
)
def test_anything_but_an_ipv4_arp_reply_is_ignored(frame):
    assert parse_reply(frame) is None
