"""The mDNS probe against python-zeroconf (the lab's SHIP announcement) and hostile responders.

zeroconf always binds 5353, so the real-responder tests run in a throw-away network
namespace of their own (only ``lo``), in a thread that entered it with setns(2) and
runs its own event loop. Hostile responders are small asyncio UDP servers on
127.0.0.1 at an ephemeral port (the probe asks whatever port the observation names).
"""

from __future__ import annotations

import asyncio
import ctypes
import ipaddress
import os
import struct
import subprocess
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from lab.certs import load_certificate, subject_key_identifier
from lab.services._common import ServiceContext
from lab.services.mdns import MDNS_PORT, Options, serve
from porthole.codecs import dns
from porthole.model import PortObservation, PortState, Protocol, Reason
from porthole.services.base import ProbeContext, ProbeFailure
from porthole.services.mdns import MdnsProbe
from porthole.services.mdns import probe as mdns_probe

CLONE_NEWNET = 0x40000000
T = TypeVar("T")


def observation(port: int = MDNS_PORT) -> PortObservation:
    return PortObservation(port=port, protocol=Protocol.UDP, state=PortState.OPEN, reason=Reason.REPLY, service="mdns")


def probe_context(port: int = MDNS_PORT) -> ProbeContext:
    from porthole.targets import Target

    return ProbeContext(target=Target(address=ipaddress.ip_address("127.0.0.1"), spec="127.0.0.1"), observation=observation(port))


# --- a namespace for the real responder ------------------------------------------------


@pytest.fixture
def namespace() -> Iterator[str]:
    name = f"t-mdnsprobe-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)


def run_in_namespace(name: str, body: Callable[[], Awaitable[T]]) -> T:
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            with open(f"/run/netns/{name}") as handle:
                if libc.setns(handle.fileno(), CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns into {name} failed")
            outcome["value"] = asyncio.run(body())  # type: ignore[arg-type]
        except BaseException as exc:  # re-raised in the test thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, name=f"in-{name}")
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive(), "namespace thread did not finish"
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


@pytest.fixture
def service_context(tmp_path: Path) -> ServiceContext:
    return ServiceContext(state_dir=tmp_path / "site" / "cc", name="cc")


def probe_zeroconf(namespace: str, service_context: ServiceContext, **options: object) -> dict:
    async def body() -> dict:
        running = await serve("127.0.0.1", [MDNS_PORT], Options(address="127.0.0.1", **options), context=service_context)  # type: ignore[arg-type]
        try:
            return await MdnsProbe().run(probe_context())
        finally:
            await running.close()

    return run_in_namespace(namespace, body)


def test_ship_announcement_is_read_with_its_txt_keys_and_normalised_ski(namespace: str, service_context: ServiceContext) -> None:
    # Given python-zeroconf announcing SHIP with auto-accept
    evidence = probe_zeroconf(namespace, service_context, register=True, brand="Acme", model="CC613")
    # Then the service list, the instance and every SHIP TXT key are in the evidence
    certificate = load_certificate(service_context.cert_dir / "cc-ship.cert.pem")
    assert evidence["service_types"] == ["_ship._tcp.local."]
    assert evidence["ship_instances_total"] == 1 and evidence["unanswered"] == []
    (instance,) = evidence["ship_instances"]
    assert (instance["name"], instance["host"], instance["port"], instance["addresses"]) == ("CC-cc._ship._tcp.local.", "cc-cc.local.", 4711, ["127.0.0.1"])
    assert (instance["txtvers"], instance["id"], instance["path"]) == ("1", "ChargeCtl-CC-cc", "/ship/")
    assert instance["ski"] == subject_key_identifier(certificate).hex() and instance["ski_valid"] is True
    assert (instance["register"], instance["brand"], instance["model"], instance["type"]) == (True, "Acme", "CC613", "EVSE")
    assert instance["other_txt"] == {} and instance["txt_missing"] is False
    # and the PTR answer carried SRV and TXT along, so only the two DNS-SD queries were sent
    assert evidence["queries_sent"] == 2
    # and register=true is the auto-accept finding
    (finding,) = MdnsProbe().assess(evidence, observation())
    assert finding.id == "eebus-auto-accept" and (finding.port, finding.protocol) == (5353, Protocol.UDP)
    assert finding.evidence[0] == "mDNS 5353/udp: _ship._tcp instance 'CC-cc._ship._tcp.local.' TXT register=true"
    assert MdnsProbe().summarise(evidence) == "mDNS: EEBUS SHIP CC-cc._ship._tcp.local. Acme CC613 EVSE; 1 service type(s)"


def test_ship_node_without_auto_accept_raises_nothing(namespace: str, service_context: ServiceContext) -> None:
    evidence = probe_zeroconf(namespace, service_context, register=False, ski="AB-CD " + "0" * 36)
    (instance,) = evidence["ship_instances"]
    assert instance["register"] is False and instance["ski"] == "abcd" + "0" * 36
    assert MdnsProbe().assess(evidence, observation()) == []


# --- hand-built responders -------------------------------------------------------------


Responder = Callable[[bytes], list[bytes]]


@pytest.fixture
async def responder() -> AsyncIterator[Callable[[Responder], Awaitable[int]]]:
    transports: list[asyncio.DatagramTransport] = []

    class Protocol_(asyncio.DatagramProtocol):
        def __init__(self, answer: Responder) -> None:
            self.answer = answer

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport  # type: ignore[assignment]

        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            for reply in self.answer(data):
                self.transport.sendto(reply, addr)  # type: ignore[attr-defined]

    async def start(answer: Responder) -> int:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: Protocol_(answer), local_addr=("127.0.0.1", 0))
        transports.append(transport)
        return transport.get_extra_info("sockname")[1]

    yield start
    for transport in transports:
        transport.close()


def name(text: str) -> bytes:
    return b"".join(bytes([len(label)]) + label.encode() for label in text.rstrip(".").split(".")) + b"\x00"


def rr(owner: bytes, rtype: int, rdata: bytes, ttl: int = 120) -> bytes:
    return owner + struct.pack("!HHIH", rtype, 0x8001, ttl, len(rdata)) + rdata


def reply_to(query: bytes, *records: bytes, answers: int | None = None) -> bytes:
    query_id = struct.unpack_from("!H", query)[0]
    question = query[12:]
    count = len(records) if answers is None else answers
    return struct.pack("!HHHHHH", query_id, 0x8400, 1, count, 0, len(records) - count) + question + b"".join(records)


def question_name(query: bytes) -> str:
    return dns.read_name(query, 12)[0]


async def test_instance_without_srv_and_txt_in_the_ptr_answer_is_asked_about_escaped_name_intact(responder, monkeypatch) -> None:
    # Given a minimal responder: PTR answers carry no additionals, and the instance
    # name contains a space and a dot (free text in DNS-SD, escaped in presentation form)
    instance_wire = b"\x0aCC one.two" + name("_ship._tcp.local.")
    asked: list[str] = []

    def answer(query: bytes) -> list[bytes]:
        asked.append(f"{question_name(query)} {struct.unpack_from('!H', query, len(query) - 4)[0]}")
        qtype = struct.unpack_from("!H", query, len(query) - 4)[0]
        if qtype == 12 and question_name(query) == "_ship._tcp.local.":
            return [reply_to(query, rr(name("_ship._tcp.local."), 12, instance_wire))]
        if qtype == 33:
            return [reply_to(query, rr(instance_wire, 33, struct.pack("!HHH", 0, 0, 4712) + name("cc.local.")))]
        if qtype == 16:
            txt = b"".join(bytes([len(s)]) + s for s in (b"txtvers=1", b"SKI=0A 0B" + b"0" * 36, b"register=TRUE", b"register=false", b"flag", b"=x", b""))
            return [reply_to(query, rr(instance_wire, 16, txt))]
        return []  # no service enumeration support

    port = await responder(answer)
    monkeypatch.setattr(mdns_probe, "QUERY_WAIT_SECONDS", 0.3)
    evidence = await MdnsProbe().run(probe_context(port))
    # Then the follow-up queries named the instance byte for byte, and TXT rules held:
    # keys case-insensitive, first occurrence wins, bare keys kept, keyless strings skipped
    assert asked == ["_services._dns-sd._udp.local. 12", "_ship._tcp.local. 12", "CC\\032one\\.two._ship._tcp.local. 33", "CC\\032one\\.two._ship._tcp.local. 16"]
    (instance,) = evidence["ship_instances"]
    assert (instance["host"], instance["port"]) == ("cc.local.", 4712)
    assert instance["ski"] == "0a0b" + "0" * 36 and instance["ski_valid"]
    assert (instance["register"], instance["register_raw"]) == (True, "TRUE")
    assert instance["other_txt"] == {"flag": None}
    assert evidence["unanswered"] == ["_services._dns-sd._udp.local. PTR"]
    assert evidence["queries_sent"] == 4


async def test_compression_loop_in_a_reply_is_malformed(responder) -> None:
    # Given a reply whose answer name is a pointer to itself
    def answer(query: bytes) -> list[bytes]:
        looping = b"\xc0" + bytes([12 + len(query) - 12])  # points at its own offset
        return [reply_to(query, looping + struct.pack("!HHIH", 12, 1, 120, 2) + b"\xc0\x0c")]

    port = await responder(answer)
    with pytest.raises(ProbeFailure) as failure:
        await MdnsProbe().run(probe_context(port))
    assert failure.value.reason == "malformed"
    assert "compression loop" in str(failure.value)


async def test_oversized_reply_with_thousands_of_records_is_bounded(responder) -> None:
    # Given a 60 KB reply: 2800 service types and 2800 SHIP instances
    def answer(query: bytes) -> list[bytes]:
        owner = b"\xc0\x0c"  # the question's name
        records = [rr(owner, 12, bytes([6]) + f"i{n:05d}".encode() + b"\xc0\x0c") for n in range(2800)]
        return [reply_to(query, *records)]

    port = await responder(answer)
    evidence = await MdnsProbe().run(probe_context(port))
    # Then at most the caps are kept, and the totals say how many there were
    assert evidence["service_types_total"] == 2800 and len(evidence["service_types"]) == mdns_probe.MAX_SERVICE_TYPES
    assert evidence["ship_instances_total"] == 2800 and len(evidence["ship_instances"]) == mdns_probe.MAX_SHIP_INSTANCES


async def test_garbage_datagrams_are_ignored_and_silence_ends_as_timeout(responder, monkeypatch) -> None:
    # Given a responder that answers every query with garbage and wrong-id DNS
    def answer(query: bytes) -> list[bytes]:
        wrong_id = bytes([query[0] ^ 0xFF]) + query[1:2] + b"\x84\x00" + bytes(8)
        return [b"\xff" * 700, wrong_id, b"\x00"]

    port = await responder(answer)
    monkeypatch.setattr(mdns_probe, "QUERY_WAIT_SECONDS", 0.3)
    with pytest.raises(ProbeFailure) as failure:
        await MdnsProbe().run(probe_context(port))
    assert failure.value.reason == "timeout"
    assert "6 datagrams that were not a reply to the query were ignored" in str(failure.value)


async def test_truncated_record_in_a_matching_reply_is_malformed(responder) -> None:
    def answer(query: bytes) -> list[bytes]:
        return [reply_to(query, rr(b"\xc0\x0c", 12, b"\x05abc"))[:-2]]

    port = await responder(answer)
    with pytest.raises(ProbeFailure) as failure:
        await MdnsProbe().run(probe_context(port))
    assert failure.value.reason == "malformed"


async def test_closed_port_is_reported_as_refused() -> None:
    # Given a UDP port nobody listens on (bound then closed, so the kernel answers ICMP)
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    transport.close()
    with pytest.raises(ProbeFailure) as failure:
        await MdnsProbe().run(probe_context(port))
    assert failure.value.reason == "connection-refused"


def test_probe_claims_the_mdns_port_open_or_silent() -> None:
    probe = MdnsProbe()
    assert probe.claims(observation())
    assert probe.claims(PortObservation(port=5353, protocol=Protocol.UDP, state=PortState.OPEN_FILTERED, reason=Reason.TIMEOUT, service="mdns"))
    assert not probe.claims(PortObservation(port=5353, protocol=Protocol.UDP, state=PortState.CLOSED, reason=Reason.ICMP, service="mdns"))
