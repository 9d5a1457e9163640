"""Engine behaviour that needs a real segment: ARP discovery and retries on dropping hosts.

A small site of its own (own name, subnet and state root): one host that answers, one
whose firewall drops two ports, one that drops everything, and empty addresses.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from lab import control, netns
from own_site import running_own_site

pytestmark = pytest.mark.lab

PORTHOLE = str(Path(sys.executable).with_name("porthole"))


@pytest.fixture(scope="module")
def engine_site(tmp_path_factory):
    directory = tmp_path_factory.mktemp("engine-site")
    name = f"e{os.getpid() % 100000:05d}"
    with running_own_site(directory, f"""
[site]
name = "{name}"
subnet = "198.19.60.0/24"
scanner = "198.19.60.1"

[[controller]]
name = "open"
address = "198.19.60.10"
filtered = ["502/tcp", "8888/tcp"]

[[controller.service]]
kind = "http"
ports = [80]

[[controller]]
name = "dark"
address = "198.19.60.11"
host = "filtered"
""") as site:
        yield site


def scan(site, *args: str) -> dict:
    completed = subprocess.run([*control.scanner_prefix(site), PORTHOLE, "scan", *args, "--format", "json", "--scope", "198.19.60.0/24"], capture_output=True, text=True, timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def test_a_host_that_drops_everything_is_not_retried_but_a_partly_filtered_one_is(engine_site):
    report = scan(engine_site, "198.19.60.10-11", "--ports", "80,502,8888,22,23,24")
    hosts = {host["address"]: host for host in report["hosts"]}
    # The host that answers some ports: its two dropped ports were retried once
    partly = {p["port"]: p for p in hosts["198.19.60.10"]["ports"]}
    assert (partly[502]["state"], partly[502]["attempts"]) == ("filtered", 2)
    assert (partly[8888]["state"], partly[8888]["attempts"]) == ("filtered", 2)
    assert (partly[80]["state"], partly[22]["state"]) == ("open", "closed")
    # The host that answers ARP and nothing else: every port filtered after one attempt, and it says why
    dark = hosts["198.19.60.11"]
    assert dark["status_reason"] == "arp-response"
    assert {(p["state"], p["attempts"]) for p in dark["ports"]} == {("filtered", 1)}
    assert all("retries skipped" in p["detail"] for p in dark["ports"])


def test_arp_discovery_reports_absent_addresses_down_without_probing_them(engine_site):
    report = scan(engine_site, "198.19.60.10-15", "--ports", "80")
    assert [host["address"] for host in report["hosts"]] == ["198.19.60.10", "198.19.60.11"]
    assert report["targets"]["down"] == [f"198.19.60.{n}" for n in range(12, 16)]
    assert report["config"]["discovery"]["arp_requests"] == 6
    assert report["config"]["discovery"]["arp_replies"] == 2


#: runs in the scanner namespace: prints "ready", then one line per ARP request the
#: scanner sends (time in ns, address asked for) until SIGTERM
ARP_CAPTURE = """
import signal, socket, sys, time
stop = False
def halt(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, halt)
# ETH_P_ALL: only "all protocols" taps see the frames this host sends
capture = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
capture.bind((sys.argv[1], 0))
capture.settimeout(0.05)
print("ready", flush=True)
while not stop:
    try:
        frame, address = capture.recvfrom(128)
    except (socket.timeout, InterruptedError):
        continue
    if address[2] == socket.PACKET_OUTGOING and frame[12:14] == b"\\x08\\x06" and frame[20:22] == b"\\x00\\x01":
        print(time.monotonic_ns(), socket.inet_ntoa(frame[38:42]), flush=True)
"""


def test_arp_discovery_keeps_to_the_arp_rate(engine_site):
    # Given a capture of the ARP requests leaving the scanner
    capture = subprocess.Popen(
        [*control.scanner_prefix(engine_site), sys.executable, "-c", ARP_CAPTURE, netns.HOST_INTERFACE],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert capture.stdout is not None and capture.stdout.readline().strip() == "ready"
        # When 40 addresses are discovered at --arp-rate 20
        report = scan(engine_site, "198.19.60.10-49", "--ports", "80", "--arp-rate", "20")
    finally:
        capture.send_signal(signal.SIGTERM)
        output, _ = capture.communicate(timeout=10)
    asked = [line.split() for line in output.splitlines()]
    # the kernel resolves the two live hosts itself before connecting: only the sweep asks for the empty ones
    stamps = [int(stamp) for stamp, address in asked if address not in ("198.19.60.10", "198.19.60.11")]
    # Then every address was asked, the report says at what rate, and no second held more than 20
    assert report["config"]["discovery"]["arp_requests"] == 40 and report["config"]["arp_rate"] == 20.0
    assert {address for _, address in asked} == {f"198.19.60.{n}" for n in range(10, 50)}
    busiest = max(sum(1 for other in stamps if start <= other < start + 1_000_000_000) for start in stamps)
    assert busiest <= 21  # 20 a second, the window's own first request included
