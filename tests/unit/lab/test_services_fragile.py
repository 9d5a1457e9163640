"""lab.services.fragile: the counting logic as pure code, then the real hang in throw-away namespaces.

The namespace test builds two network namespaces joined by a veth pair (no link
to any real interface, addresses in 198.19.254.0/24 of the RFC 2544 space): the
card runs in one as a real process (it installs nftables rules there, which is
why it must never run in the test's own namespace), a client in the other.
Every namespace is deleted in the fixture's finalizer.
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import struct
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lab.services.fragile import (
    TCP_ACK,
    TCP_FIN,
    TCP_RST,
    TCP_SYN,
    FlowTracker,
    TcpSegment,
    TripReason,
    is_counted_capture,
    parse_ethernet_frame,
)

REPOSITORY = Path(__file__).resolve().parents[3]
CARD = ipaddress.IPv4Address("198.19.254.1")
CLIENT = ipaddress.IPv4Address("198.19.254.2")


# --- synthetic frames -----------------------------------------------------------------------


def tcp_header(source_port: int, destination_port: int, flags: int) -> bytes:
    return struct.pack(">HHIIBBHHH", source_port, destination_port, 1, 0, 5 << 4, flags, 65535, 0, 0)


def ipv4_frame(source: str, destination: str, source_port: int, destination_port: int, flags: int,
               *, vlan: bool = False, options: bytes = b"", fragment_offset: int = 0) -> bytes:
    tcp = tcp_header(source_port, destination_port, flags)
    header_length = 20 + len(options)
    ip = struct.pack(
        ">BBHHHBBH4s4s", 0x40 | header_length // 4, 0, header_length + len(tcp), 1, fragment_offset, 64, 6, 0,
        ipaddress.IPv4Address(source).packed, ipaddress.IPv4Address(destination).packed,
    ) + options
    ethernet = b"\x02" * 6 + b"\x04" * 6
    ethernet += (b"\x81\x00\x00\x01" if vlan else b"") + b"\x08\x00"
    return ethernet + ip + tcp


def ipv6_frame(source: str, destination: str, source_port: int, destination_port: int, flags: int) -> bytes:
    tcp = tcp_header(source_port, destination_port, flags)
    ip = struct.pack(">IHBB16s16s", 6 << 28, len(tcp), 6, 64,
                     ipaddress.IPv6Address(source).packed, ipaddress.IPv6Address(destination).packed)
    return b"\x02" * 6 + b"\x04" * 6 + b"\x86\xdd" + ip + tcp


def test_parser_reads_ipv4_ipv6_and_vlan_tagged_tcp() -> None:
    expected = TcpSegment(source=CLIENT, destination=CARD, source_port=40000, destination_port=502, flags=TCP_SYN)
    assert parse_ethernet_frame(ipv4_frame(str(CLIENT), str(CARD), 40000, 502, TCP_SYN)) == expected
    assert parse_ethernet_frame(ipv4_frame(str(CLIENT), str(CARD), 40000, 502, TCP_SYN, vlan=True)) == expected
    # an IPv4 header with options (IHL 6) still finds the TCP header
    assert parse_ethernet_frame(ipv4_frame(str(CLIENT), str(CARD), 40000, 502, TCP_SYN, options=b"\x01" * 4)) == expected
    segment = parse_ethernet_frame(ipv6_frame("fd00::2", "fd00::1", 40000, 443, TCP_SYN | TCP_ACK))
    assert segment == TcpSegment(
        source=ipaddress.IPv6Address("fd00::2"), destination=ipaddress.IPv6Address("fd00::1"),
        source_port=40000, destination_port=443, flags=TCP_SYN | TCP_ACK,
    )


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        b"\x00" * 13,
        ipv4_frame("198.19.254.2", "198.19.254.1", 1, 2, TCP_SYN)[:40],  # truncated TCP header
        ipv4_frame("198.19.254.2", "198.19.254.1", 1, 2, TCP_SYN, fragment_offset=8),  # later fragment
        b"\x02" * 12 + b"\x08\x06" + b"\x00" * 28,  # ARP
        b"\xff" * 100,
    ],
    ids=["empty", "short", "truncated", "fragment", "arp", "garbage"],
)
def test_parser_returns_none_for_anything_but_a_whole_tcp_header(frame: bytes) -> None:
    assert parse_ethernet_frame(frame) is None


def test_loopback_outgoing_copies_are_not_counted() -> None:
    assert is_counted_capture(hardware_type=772, packet_type=0)  # lo, incoming copy
    assert not is_counted_capture(hardware_type=772, packet_type=4)  # lo, outgoing copy
    assert is_counted_capture(hardware_type=1, packet_type=4)  # Ethernet/veth, sent by the card


def segment(source: ipaddress.IPv4Address, destination: ipaddress.IPv4Address, source_port: int,
            destination_port: int, flags: int) -> TcpSegment:
    return TcpSegment(source=source, destination=destination, source_port=source_port,
                      destination_port=destination_port, flags=flags)


def open_flow(tracker: FlowTracker, client_port: int, now: float, card_port: int = 502) -> list[TripReason | None]:
    """SYN in, SYN-ACK out, ACK in: one accepted connection."""
    return [
        tracker.observe(segment(CLIENT, CARD, client_port, card_port, TCP_SYN), now),
        tracker.observe(segment(CARD, CLIENT, card_port, client_port, TCP_SYN | TCP_ACK), now),
        tracker.observe(segment(CLIENT, CARD, client_port, card_port, TCP_ACK), now),
    ]


def test_concurrent_connections_trip_when_above_the_limit() -> None:
    # Given a card allowing 4 concurrent connections
    tracker = FlowTracker(address=CARD, max_concurrent=4, max_rate=1000)
    # When 4 connections are open, Then it holds
    for port in range(40000, 40004):
        assert open_flow(tracker, port, now=float(port - 40000)) == [None, None, None]
    assert tracker.concurrent == 4
    # When a 5th is accepted (its SYN-ACK seen), Then it trips on concurrency
    reasons = open_flow(tracker, 40004, now=5.0)
    assert reasons[1] is TripReason.CONCURRENCY
    assert tracker.max_concurrent_seen == 5


def test_fin_or_rst_in_either_direction_ends_a_flow() -> None:
    tracker = FlowTracker(address=CARD, max_concurrent=4, max_rate=1000)
    open_flow(tracker, 40000, now=0.0)
    open_flow(tracker, 40001, now=0.0)
    open_flow(tracker, 40002, now=0.0)
    # a FIN from the client, a FIN from the card and a RST from the client
    tracker.observe(segment(CLIENT, CARD, 40000, 502, TCP_FIN | TCP_ACK), 1.0)
    tracker.observe(segment(CARD, CLIENT, 502, 40001, TCP_FIN | TCP_ACK), 1.0)
    tracker.observe(segment(CLIENT, CARD, 40002, 502, TCP_RST), 1.0)
    assert tracker.concurrent == 0


def test_syn_to_a_closed_port_counts_as_an_attempt_but_not_a_connection() -> None:
    # Given a scan of a closed port: SYN in, RST out
    tracker = FlowTracker(address=CARD, max_concurrent=4, max_rate=1000)
    tracker.observe(segment(CLIENT, CARD, 40000, 23, TCP_SYN), 0.0)
    tracker.observe(segment(CARD, CLIENT, 23, 40000, TCP_RST | TCP_ACK), 0.0)
    assert (tracker.connections_seen, tracker.concurrent, tracker.rate) == (1, 0, 1)


def test_rate_counts_syns_in_a_sliding_one_second_window() -> None:
    # Given a card allowing 5 new connections per second
    tracker = FlowTracker(address=CARD, max_concurrent=1000, max_rate=5)
    # When 5 SYNs arrive within 0.9 s, Then no trip
    for index in range(5):
        assert tracker.observe(segment(CLIENT, CARD, 40000 + index, 80, TCP_SYN), index * 0.2) is None
    # When the 6th arrives at 1.1 s, the first (at 0.0) has left the window: still 5, no trip
    assert tracker.observe(segment(CLIENT, CARD, 40005, 80, TCP_SYN), 1.1) is None
    assert tracker.rate == 5
    # When a 7th arrives at 1.15 s, 6 fall inside (0.15, 1.15]: trip on rate
    assert tracker.observe(segment(CLIENT, CARD, 40006, 80, TCP_SYN), 1.15) is TripReason.RATE
    assert tracker.max_rate_seen == 6
    assert tracker.connections_seen == 7


def test_syn_ack_and_retransmitted_acks_are_not_attempts() -> None:
    tracker = FlowTracker(address=CARD, max_concurrent=1000, max_rate=1)
    open_flow(tracker, 40000, now=0.0)
    # the card's own outgoing SYN (e.g. a client connection of its own) is no attempt either
    tracker.observe(segment(CARD, CLIENT, 50000, 80, TCP_SYN), 0.0)
    assert tracker.connections_seen == 1


def test_reset_forgets_live_flows_and_the_window_but_keeps_maxima() -> None:
    tracker = FlowTracker(address=CARD, max_concurrent=1, max_rate=1000)
    open_flow(tracker, 40000, now=0.0)
    open_flow(tracker, 40001, now=0.0)
    tracker.reset()
    assert (tracker.concurrent, tracker.rate, tracker.max_concurrent_seen) == (0, 0, 2)


def test_traffic_of_other_addresses_is_ignored() -> None:
    tracker = FlowTracker(address=CARD, max_concurrent=0, max_rate=0)
    other = ipaddress.IPv4Address("198.19.254.3")
    assert tracker.observe(segment(CLIENT, other, 40000, 80, TCP_SYN), 0.0) is None
    assert tracker.observe(segment(other, CLIENT, 80, 40000, TCP_SYN | TCP_ACK), 0.0) is None
    assert tracker.connections_seen == 0


# --- the real card in throw-away namespaces -----------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Namespaces:
    card: str
    client: str


@pytest.fixture
def namespaces() -> Iterator[Namespaces]:
    suffix = os.getpid()
    pair = Namespaces(card=f"t-frag-{suffix}", client=f"t-frag-c-{suffix}")
    card_end, client_end = f"tfd{suffix}", f"tfc{suffix}"

    def ip(*arguments: str) -> None:
        subprocess.run(["ip", *arguments], check=True, capture_output=True)

    try:
        ip("netns", "add", pair.card)
        ip("netns", "add", pair.client)
        ip("link", "add", card_end, "type", "veth", "peer", "name", client_end)
        ip("link", "set", card_end, "netns", pair.card)
        ip("link", "set", client_end, "netns", pair.client)
        ip("-n", pair.card, "link", "set", card_end, "name", "eth0")
        ip("-n", pair.card, "addr", "add", f"{CARD}/24", "dev", "eth0")
        ip("-n", pair.client, "addr", "add", f"{CLIENT}/24", "dev", client_end)
        for namespace, interface in ((pair.card, "eth0"), (pair.client, client_end)):
            ip("-n", namespace, "link", "set", "lo", "up")
            ip("-n", namespace, "link", "set", interface, "up")
        yield pair
    finally:
        # deleting a namespace deletes its end of the veth pair, and with it the pair
        for namespace in (pair.card, pair.client):
            subprocess.run(["ip", "netns", "delete", namespace], check=False, capture_output=True)


def environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPOSITORY), "PYTHONUNBUFFERED": "1"}


@pytest.fixture
def start_card(namespaces: Namespaces, tmp_path: Path) -> Iterator[object]:
    processes: list[subprocess.Popen[bytes]] = []

    def starter(**options: object) -> tuple[subprocess.Popen[bytes], Path]:
        state_dir = tmp_path / "site" / "card"
        log = (tmp_path / "card.log").open("wb")
        process = subprocess.Popen(
            ["ip", "netns", "exec", namespaces.card, sys.executable, "-m", "lab.services.fragile",
             "--bind", "0.0.0.0", "--port", "80", "--port", "502", "--port", "9000",
             "--options", json.dumps({"interface": "eth0", **options}),
             "--state-dir", str(state_dir), "--name", "card"],
            cwd=REPOSITORY, env=environment(), stdout=log, stderr=subprocess.STDOUT,
        )
        processes.append(process)
        state_file = state_dir / "fragile.json"
        wait_for(lambda: state_file.exists() or process.poll() is not None, what="the card to start")
        assert process.poll() is None, (tmp_path / "card.log").read_text()
        return process, state_file

    yield starter
    for process in processes:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_for(condition, *, what: str, timeout: float = 15.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def state(state_file: Path) -> dict[str, object]:
    return json.loads(state_file.read_text())


PROBE = textwrap.dedent(
    """
    import socket, sys
    try:
        connection = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3]))
    except TimeoutError:
        print("timeout")
    except ConnectionRefusedError:
        print("refused")
    else:
        connection.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
        print("ok:" + connection.makefile("rb").readline().decode().strip())
    """
)

HOLD = textwrap.dedent(
    """
    import socket, sys
    held = [socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5) for _ in range(int(sys.argv[3]))]
    print("held", flush=True)
    sys.stdin.read()
    """
)

# 50 connections a second: far above the card's limit, yet slow enough that the
# card's nftables rule (one `nft` run after the trip) is in place long before the
# burst would be over
SEQUENTIAL = textwrap.dedent(
    """
    import socket, sys, time
    completed = 0
    for _ in range(int(sys.argv[3])):
        try:
            socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=0.5).close()
        except OSError:
            break
        completed += 1
        time.sleep(0.02)
    print(completed)
    """
)


def client(namespaces: Namespaces, script: str, *arguments: object) -> str:
    completed = subprocess.run(
        ["ip", "netns", "exec", namespaces.client, sys.executable, "-c", script, *map(str, arguments)],
        capture_output=True, text=True, timeout=60, env=environment(), check=True,
    )
    return completed.stdout.strip()


def test_card_hangs_on_too_many_concurrent_connections_and_recovers_on_sighup(namespaces, start_card) -> None:
    # Given a healthy card that allows 4 concurrent connections and stays hung until reset
    card, state_file = start_card(max_concurrent=4, hang_seconds=0, read_timeout=60)
    assert state(state_file) == {
        "hung": False, "trip_reason": None, "max_concurrent_seen": 0, "max_rate_seen": 0,
        "connections_seen": 0, "tripped_at": None, "trips": 0,
    }
    assert client(namespaces, PROBE, CARD, 80, 2) == "ok:HTTP/1.0 200 OK"
    # When a client holds 5 connections open
    holder = subprocess.Popen(
        ["ip", "netns", "exec", namespaces.client, sys.executable, "-c", HOLD, str(CARD), "9000", "5"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=environment(),
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        # Then the card trips on concurrency and goes silent: a new connection times out
        wait_for(lambda: state(state_file)["hung"] is True, what="the card to hang")
        tripped = state(state_file)
        assert tripped["trip_reason"] == "concurrency"
        assert tripped["max_concurrent_seen"] == 5
        assert tripped["tripped_at"] is not None
        assert client(namespaces, PROBE, CARD, 80, 1) == "timeout"
        # When it receives SIGHUP
        card.send_signal(signal.SIGHUP)
        # Then it recovers and answers again
        wait_for(lambda: state(state_file)["hung"] is False, what="the card to recover")
        recovered = state(state_file)
        # (the latest trip stays on record)
        assert (recovered["trip_reason"], recovered["tripped_at"], recovered["trips"]) == (
            "concurrency", tripped["tripped_at"], 1
        )
        assert client(namespaces, PROBE, CARD, 80, 2) == "ok:HTTP/1.0 200 OK"
    finally:
        holder.kill()
        holder.wait()
    # And SIGTERM ends it cleanly, leaving no nftables table behind
    card.terminate()
    assert card.wait(timeout=10) == 0
    tables = subprocess.run(["ip", "netns", "exec", namespaces.card, "nft", "list", "tables"],
                            capture_output=True, text=True, check=True).stdout
    assert "porthole_fragile" not in tables


def test_card_hangs_on_a_connection_burst_and_recovers_after_hang_seconds(namespaces, start_card) -> None:
    # Given a card that allows 5 new connections per second and hangs for 1 s
    _card, state_file = start_card(max_rate=5, max_concurrent=1000, hang_seconds=1)
    # When a client opens and closes connections back to back
    completed = int(client(namespaces, SEQUENTIAL, CARD, 9000, 100))
    # Then the card trips on rate before the burst is through
    assert completed < 100
    tripped = state(state_file)
    assert (tripped["trips"], tripped["trip_reason"]) == (1, "rate")
    assert tripped["max_rate_seen"] > 5
    assert tripped["max_concurrent_seen"] <= 2  # one at a time: this was not a concurrency trip
    # and after hang_seconds it answers again on its own
    wait_for(lambda: state(state_file)["hung"] is False, what="the card to recover by itself")
    assert client(namespaces, PROBE, CARD, 80, 2) == "ok:HTTP/1.0 200 OK"


def test_modbus_port_answers_illegal_function(namespaces, start_card) -> None:
    # Given the card, When an MBAP read arrives on 502, Then exception 01 answers with ids echoed
    start_card()
    script = textwrap.dedent(
        """
        import socket, sys
        connection = socket.create_connection((sys.argv[1], 502), timeout=2)
        connection.sendall(bytes.fromhex("1234000000060103006400 02".replace(" ", "")))
        print(connection.recv(100).hex())
        """
    )
    assert client(namespaces, script, CARD) == "12340000000301" + "8301"


def test_card_refuses_to_run_outside_an_ip_netns_namespace() -> None:
    # Given this test process, which runs in the machine's (or container's) own namespace
    from lab.services.fragile import _ensure_own_namespace
    from porthole.errors import LabError

    # When the card's guard runs here, Then it refuses (it would change this namespace's nftables)
    with pytest.raises(LabError, match="refusing to run outside a namespace made with `ip netns`"):
        _ensure_own_namespace()
