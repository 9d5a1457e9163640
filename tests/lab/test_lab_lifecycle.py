"""The lab site lifecycle against the real kernel: namespaces, real sshd and dnsmasq, firewall, teardown.

Every check runs from inside the scanner namespace with real sockets (a small
Python snippet under ``ip netns exec``), so it sees what porthole will see. The
sites here use their own names (``t1``, ``t2``) and subnets inside 198.19.0.0/16,
and a private state root, so they never touch a developer's running demo site.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab import control
from lab.site import Site, load_site
from porthole.errors import LabError

pytestmark = pytest.mark.lab

SITE_T1 = """
[site]
name = "t1"
subnet = "198.19.1.0/24"
scanner = "198.19.1.1"

[[controller]]
name = "box"
role = "master"
address = "198.19.1.10"
filtered = ["2222/tcp", "5353/udp"]
description = "real OpenSSH and an open dnsmasq resolver"

[[controller.service]]
kind = "sshd"
ports = [22]
options = { password_authentication = true }

[[controller.service]]
kind = "dnsmasq"
ports = ["53/udp", "53/tcp"]
options = { open_resolver = true }

[[controller]]
name = "closed"
address = "198.19.1.11"
host = "closed"

[[controller]]
name = "dark"
address = "198.19.1.12"
host = "filtered"
"""

SITE_T2 = """
[site]
name = "t2"
subnet = "198.19.2.0/24"
scanner = "198.19.2.1"

[[controller]]
name = "box"
address = "198.19.2.10"

[[controller.service]]
kind = "sshd"
ports = [22, 2200]
"""

# Runs inside the scanner namespace; prints one JSON result.
PROBE = textwrap.dedent(
    """
    import errno, json, socket, struct, sys
    kind, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    def outcome(error):
        return {"result": "timeout"} if isinstance(error, socket.timeout) else {"result": errno.errorcode.get(error.errno, str(error))}
    if kind == "tcp":
        s = socket.socket(); s.settimeout(2)
        try:
            s.connect((host, port))
            try:
                banner = s.recv(256)
            except socket.timeout:
                banner = b""
            print(json.dumps({"result": "connected", "banner": banner.decode("latin-1")}))
        except OSError as error:
            print(json.dumps(outcome(error)))
    elif kind == "udp":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2); s.connect((host, port))
        s.send(b"\\x00")
        try:
            s.recv(512); print(json.dumps({"result": "reply"}))
        except OSError as error:
            print(json.dumps(outcome(error)))
    elif kind == "dns-localhost":
        query = struct.pack(">HHHHHH", 0x5A17, 0x0100, 1, 0, 0, 0) + b"\\x09localhost\\x00" + struct.pack(">HH", 1, 1)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2); s.connect((host, port))
        s.send(query)
        reply = s.recv(512)
        ident, flags, questions, answers = struct.unpack(">HHHH", reply[:8])
        print(json.dumps({"id": ident, "qr": bool(flags & 0x8000), "ra": bool(flags & 0x0080),
                          "rcode": flags & 0x000F, "answers": answers, "rdata": list(reply[-4:])}))
    """
)


def probe_from_scanner(site: Site, kind: str, host: str, port: int) -> dict[str, object]:
    completed = subprocess.run(
        [*control.scanner_prefix(site), sys.executable, "-c", PROBE, kind, host, str(port)],
        capture_output=True, text=True, timeout=30, check=True,
    )
    return json.loads(completed.stdout)


def namespaces() -> set[str]:
    output = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in output.splitlines() if line.strip()}


def root_interfaces() -> set[str]:
    output = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    return {line.split(":")[1].strip() for line in output.splitlines()}


@pytest.fixture(scope="module")
def state_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("lab-state")
    previous = os.environ.get(control.STATE_ROOT_ENVIRONMENT)
    os.environ[control.STATE_ROOT_ENVIRONMENT] = str(root)
    try:
        yield root
    finally:
        if previous is None:
            del os.environ[control.STATE_ROOT_ENVIRONMENT]
        else:
            os.environ[control.STATE_ROOT_ENVIRONMENT] = previous


@pytest.fixture(scope="module")
def root_interfaces_before() -> set[str]:
    return root_interfaces()


@pytest.fixture(scope="module")
def site_t1(state_root: Path, root_interfaces_before: set[str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Site, control.LabState]]:
    path = tmp_path_factory.mktemp("site-t1") / "t1.toml"
    path.write_text(SITE_T1, encoding="utf-8")
    try:
        state = control.up(path)
        yield load_site(path), state
    finally:
        control.down(path)


def test_up_records_every_namespace_and_a_running_process_per_service(site_t1: tuple[Site, control.LabState]) -> None:
    # Given the t1 site is up
    site, state = site_t1

    # Then its namespaces exist, and status reports both services alive
    assert set(state.namespaces) == {"ph-t1-sw", "ph-t1-scan", "ph-t1-box", "ph-t1-closed", "ph-t1-dark"}
    assert set(state.namespaces) <= namespaces()
    recorded = control.status("t1")
    assert recorded is not None and recorded.phase is control.LabPhase.UP
    assert sorted(record.kind for record in recorded.processes) == ["dnsmasq", "sshd"]
    assert all(record.is_running() for record in recorded.processes)
    assert recorded.addresses["box"] == "198.19.1.10"


def test_real_sshd_answers_with_an_ssh_identification_line(site_t1: tuple[Site, control.LabState]) -> None:
    # Given the t1 site is up
    site, _ = site_t1

    # When the scanner connects to 22/tcp on the controller
    answer = probe_from_scanner(site, "tcp", "198.19.1.10", 22)

    # Then OpenSSH sends its banner first (RFC 4253 §4.2)
    assert answer["result"] == "connected"
    assert str(answer["banner"]).startswith("SSH-2.0-OpenSSH_")


def test_open_dnsmasq_answers_localhost_with_recursion_available(site_t1: tuple[Site, control.LabState]) -> None:
    # Given the t1 site is up with dnsmasq as an open resolver
    site, _ = site_t1

    # When the scanner asks for localhost. A with RD=1
    answer = probe_from_scanner(site, "dns-localhost", "198.19.1.10", 53)

    # Then the reply is a NOERROR answer with RA set, resolving to 127.0.0.1
    assert answer == {"id": 0x5A17, "qr": True, "ra": True, "rcode": 0, "answers": 1, "rdata": [127, 0, 0, 1]}


def test_firewalled_port_is_silent_and_unserved_port_refuses(site_t1: tuple[Site, control.LabState]) -> None:
    # Given the t1 site, whose controller drops 2222/tcp and 5353/udp
    site, _ = site_t1

    # When the scanner tries a dropped port, then an unserved one, over TCP and UDP
    dropped_tcp = probe_from_scanner(site, "tcp", "198.19.1.10", 2222)
    refused_tcp = probe_from_scanner(site, "tcp", "198.19.1.10", 23)
    dropped_udp = probe_from_scanner(site, "udp", "198.19.1.10", 5353)
    refused_udp = probe_from_scanner(site, "udp", "198.19.1.10", 161)

    # Then dropped ports time out and unserved ports answer RST / ICMP port-unreachable
    assert dropped_tcp == {"result": "timeout"}
    assert refused_tcp == {"result": "ECONNREFUSED"}
    assert dropped_udp == {"result": "timeout"}
    assert refused_udp == {"result": "ECONNREFUSED"}


def test_closed_host_refuses_and_filtered_host_is_silent(site_t1: tuple[Site, control.LabState]) -> None:
    # Given the t1 site with a host = "closed" and a host = "filtered" controller
    site, _ = site_t1

    # When the scanner connects to 22/tcp on each
    closed = probe_from_scanner(site, "tcp", "198.19.1.11", 22)
    closed_udp = probe_from_scanner(site, "udp", "198.19.1.11", 53)
    dark = probe_from_scanner(site, "tcp", "198.19.1.12", 22)

    # Then the closed host resets (TCP) and sends port-unreachable (UDP); the filtered one stays silent
    assert closed == {"result": "ECONNREFUSED"}
    assert closed_udp == {"result": "ECONNREFUSED"}
    assert dark == {"result": "timeout"}


def test_no_namespace_has_a_default_route_and_root_gains_no_interface(
    site_t1: tuple[Site, control.LabState], root_interfaces_before: set[str]
) -> None:
    # Given the t1 site is up
    _, state = site_t1

    # Then no lab namespace can route anywhere beyond the site subnet
    for namespace in state.namespaces:
        routes = subprocess.run(
            ["ip", "-n", namespace, "route", "show", "default"], capture_output=True, text=True, check=True
        ).stdout
        assert routes.strip() == "", f"{namespace} has a default route: {routes}"
    scanner_routes = subprocess.run(
        ["ip", "-n", "ph-t1-scan", "-4", "route", "show"], capture_output=True, text=True, check=True
    ).stdout
    assert [route.strip() for route in scanner_routes.splitlines()] == [
        "198.19.1.0/24 dev eth0 proto kernel scope link src 198.19.1.1"
    ]
    # and nothing was plugged into the root namespace (no link to a real interface)
    assert root_interfaces() == root_interfaces_before


def test_second_up_of_a_running_site_is_a_clear_error_and_changes_nothing(
    site_t1: tuple[Site, control.LabState],
) -> None:
    # Given the t1 site is up
    site, state = site_t1
    assert site.source is not None

    # When it is brought up again
    with pytest.raises(LabError, match=r"lab site 't1' is already up .* python -m lab down --site t1"):
        control.up(site.source)

    # Then the running site is untouched
    after = control.status("t1")
    assert after is not None
    assert [record.pid for record in after.processes] == [record.pid for record in state.processes]
    assert all(record.is_running() for record in after.processes)


def test_down_kills_recorded_processes_deletes_namespaces_and_is_idempotent(
    state_root: Path, tmp_path: Path
) -> None:
    # Given a small site t2 that is up
    path = tmp_path / "t2.toml"
    path.write_text(SITE_T2, encoding="utf-8")
    try:
        state = control.up(path)
        site = load_site(path)
        assert probe_from_scanner(site, "tcp", "198.19.2.10", 2200)["result"] == "connected"

        # When it is taken down, twice
        control.down(path)
        control.down("t2")
    finally:
        control.down(path)

    # Then its processes are gone, its namespaces deleted and its state removed
    assert [record.pid for record in state.processes if record.is_running()] == []
    assert not set(state.namespaces) & namespaces()
    assert control.status("t2") is None
    assert not (state_root / "t2").exists()


def test_failed_up_cleans_up_after_itself(state_root: Path, tmp_path: Path) -> None:
    # Given a site whose sshd configuration is rejected by sshd itself
    path = tmp_path / "t3.toml"
    path.write_text(
        SITE_T2.replace('"t2"', '"t3"').replace("198.19.2.", "198.19.3.")
        + 'options = { ciphers = "no-such-cipher" }\n',
        encoding="utf-8",
    )

    # When it is brought up
    with pytest.raises(LabError, match=r"sshd .* failed: .*no-such-cipher"):
        control.up(path)

    # Then nothing of it is left behind
    assert not {name for name in namespaces() if name.startswith("ph-t3-")}
    assert control.status("t3") is None


def test_delayed_site_link_carries_traffic_and_its_process_is_stopped_by_down(state_root: Path, tmp_path: Path) -> None:
    # Given a site whose scanner reaches the switch through the user-space delay link
    path = tmp_path / "t4.toml"
    path.write_text(
        SITE_T2.replace('"t2"', '"t4"').replace("198.19.2.", "198.19.4.").replace(
            'scanner = "198.19.4.1"', 'scanner = "198.19.4.1"\nlink_delay_ms = 3'
        ),
        encoding="utf-8",
    )
    try:
        state = control.up(path)
        site = load_site(path)

        # When the scanner talks to the controller through it
        answer = probe_from_scanner(site, "tcp", "198.19.4.10", 22)
        refused = probe_from_scanner(site, "tcp", "198.19.4.10", 23)

        # Then frames cross the link both ways (banner and RST arrive), from a recorded process
        assert str(answer["banner"]).startswith("SSH-2.0-OpenSSH_")
        assert refused == {"result": "ECONNREFUSED"}
        delay_links = [record for record in state.processes if record.kind == "delay-link"]
        assert len(delay_links) == 1 and delay_links[0].is_running()
    finally:
        control.down(path)

    # And down stops it together with the services
    assert [record.pid for record in state.processes if record.is_running()] == []
    assert not {name for name in namespaces() if name.startswith("ph-t4-")}
