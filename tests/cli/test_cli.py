"""The command line: exit codes, error messages, output files, interruption.

These run porthole for real against services on loopback addresses (127.0.0.x),
in-process through typer's CliRunner or as a subprocess where signals matter.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import pytest
from typer.testing import CliRunner

from porthole.cli import app
from porthole.report.schema import validate_report

runner = CliRunner()
FAST = ["--initial-timeout", "0.3", "--min-timeout", "0.05", "--max-timeout", "0.5", "--rate", "500"]


class CountingListener:
    """A TCP listener that counts the connections it accepts."""

    def __init__(self, address: str, port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((address, port))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            connection.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture
def listeners():
    opened: list[CountingListener] = []

    def start(address: str, port: int) -> CountingListener:
        listener = CountingListener(address, port)
        opened.append(listener)
        return listener

    yield start
    for listener in opened:
        listener.close()


def invoke(*args: str):
    return runner.invoke(app, list(args))


# ------------------------------------------------------------------ usage errors: exit 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["scan", "127.0.0.300"], "127.0.0.300"),
        (["scan", "8.8.8.8"], "8.8.8.8"),
        (["scan", "127.0.0.40", "--scope", "198.18.0.0/24"], "198.18.0.0/24"),
        (["scan", "127.0.0.40", "--ports", "99999"], "99999"),
        (["scan", "127.0.0.40", "--ports", "22/sctp"], "22/sctp"),
        (["scan", "127.0.0.40", "--quiet", "--verbose"], "--quiet and --verbose"),
        (["scan", "127.0.0.40", "--initial-timeout", "5", "--max-timeout", "1"], "--initial-timeout"),
        (["audit", "127.0.0.40", "--role", "nosuchrole"], "nosuchrole"),
        (["scan", "@/nonexistent/targets.txt"], "/nonexistent/targets.txt"),
        (["scan", "127.0.0.40", "--output", "/nonexistent/dir/report.json"], "/nonexistent/dir"),
    ],
    ids=["bad-address", "public-address", "outside-scope", "bad-port", "bad-protocol", "quiet-and-verbose", "timeouts-inverted", "unknown-role", "missing-target-file", "output-dir-missing"],
)
def test_bad_input_exits_2_with_a_message_naming_the_problem(args, message):
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_a_bad_target_among_good_ones_means_nothing_is_scanned(listeners):
    # Given a listening port on a valid target
    listener = listeners("127.0.0.41", 22)
    # When the command line also names an invalid target
    result = invoke("scan", "127.0.0.41", "not_a_host!", "--ports", "22", *FAST)
    # Then it exits 2 before any probe: the listener saw no connection
    assert result.exit_code == 2
    time.sleep(0.3)
    assert listener.accepted == 0


def test_unknown_keys_in_a_profile_file_are_a_clear_usage_error(tmp_path):
    profile = tmp_path / "bad.toml"
    profile.write_text('[profile]\nid = "bad"\nversion = 1\nrole = "master"\ncolour = "blue"\n[default]\nexpect = "closed"\n')
    result = invoke("audit", "127.0.0.42", "--profile", str(profile))
    assert result.exit_code == 2
    assert "colour" in result.output


def test_an_unknown_format_is_refused_by_the_parser():
    result = invoke("scan", "127.0.0.43", "--format", "xml")
    assert result.exit_code == 2


# ------------------------------------------------------------------ clean runs and findings


def test_a_clean_scan_exits_0_and_writes_a_schema_valid_json_report(listeners, tmp_path):
    listeners("127.0.0.44", 80)
    output = tmp_path / "report.json"
    result = invoke("scan", "127.0.0.44", "--ports", "80,22", "--format", "json", "--output", str(output), "--quiet", *FAST)
    assert result.exit_code == 0, result.output
    report = json.loads(output.read_text())
    validate_report(report)
    (host,) = report["hosts"]
    assert {(p["port"], p["state"], p["reason"]) for p in host["ports"]} == {(80, "open", "syn-ack"), (22, "closed", "reset")}
    assert report["interrupted"] is False


def test_json_goes_to_stdout_without_output_file(listeners):
    listeners("127.0.0.45", 502)
    result = invoke("scan", "127.0.0.45", "--ports", "502", "--format", "json", *FAST)
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["hosts"][0]["ports"][0]["state"] == "open"


def test_audit_exits_1_on_a_high_finding_and_fail_on_raises_the_bar(listeners):
    # Given Modbus open on a unit audited as a master (the master profile forbids 502)
    listeners("127.0.0.46", 502)
    args = ["audit", "127.0.0.46", "--role", "master", "--ports", "502,22", "--format", "json", *FAST]
    # When audited with the default --fail-on high
    result = invoke(*args)
    # Then the forbidden-open finding makes it exit 1 and the report says why
    assert result.exit_code == 1, result.output
    host = json.loads(result.stdout)["hosts"][0]
    assert [d["kind"] for d in host["deviations"]] == ["forbidden-open"]
    finding = next(f for f in host["findings"] if f["port"] == 502)
    assert finding["setting"] and finding["severity"] in ("high", "critical")
    # And with --fail-on critical the same audit is not a failure
    assert invoke(*args, "--fail-on", "critical").exit_code == (1 if finding["severity"] == "critical" else 0)


def test_the_table_names_ports_deviations_and_findings(listeners):
    listeners("127.0.0.47", 502)
    result = invoke("audit", "127.0.0.47", "--role", "master", "--ports", "502,22", *FAST)
    assert result.exit_code == 1
    assert "502/tcp" in result.stdout
    assert "forbidden-open" in result.stdout


def test_version_flag_and_python_dash_m_work():
    completed = subprocess.run([sys.executable, "-m", "porthole", "--version"], capture_output=True, text=True, check=False)
    assert completed.returncode == 0
    assert completed.stdout.startswith("porthole ")


# ------------------------------------------------------------------ cannot run: exit 3


def test_syn_mode_without_raw_socket_privileges_exits_3():
    # Given an unprivileged user (we run as root in CI, so drop to nobody)
    command = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", sys.executable, "-m", "porthole", "scan", "127.0.0.48", "--ports", "22", "--syn", "--no-discovery"]
    completed = subprocess.run(command, capture_output=True, text=True, check=False, env={**os.environ, "HOME": "/tmp"})
    # Then porthole explains that --syn needs raw sockets and exits 3
    assert completed.returncode == 3, completed.stderr
    assert "--syn needs raw sockets" in completed.stderr


# ------------------------------------------------------------------ interruption: exit 130, partial report


def test_ctrl_c_writes_the_partial_report_and_exits_130(tmp_path):
    # Given a slow scan: mute UDP ports with long timeouts and many retries
    output = tmp_path / "partial.json"
    with ExitStack() as stack:
        mutes = []
        for port in (53, 1900, 5353, 15118):
            mute = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
            mute.bind(("127.0.0.49", port))
            mutes.append(mute)
        process = subprocess.Popen(
            [sys.executable, "-m", "porthole", "scan", "127.0.0.49", "--no-discovery", "--ports", "22,80,53/udp,1900/udp,5353/udp,15118/udp",
             "--retries", "8", "--initial-timeout", "2", "--min-timeout", "2", "--max-timeout", "2",
             "--format", "json", "--output", str(output), "--quiet"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        # Wait until the scan is under way (a mute port got its first datagram),
        # not a fixed time: start-up is slower on a loaded machine.
        readable, _, _ = select.select(mutes, [], [], 60)
        assert readable, "porthole never started probing"
        time.sleep(0.5)
        # When the user presses Ctrl-C
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    # Then porthole exits 130 and the report holds what was found so far
    assert process.returncode == 130, stderr
    report = json.loads(output.read_text())
    validate_report(report)
    assert report["interrupted"] is True
    states = {f"{p['port']}/{p['protocol']}": p["state"] for p in report["hosts"][0]["ports"]}
    assert states["22/tcp"] == "closed" and states["80/tcp"] == "closed"
    assert report["hosts"][0]["complete"] is False


def test_ipv6_targets_are_scanned_like_ipv4(listeners):
    # Given a listener on ::1 port 8090
    import socket as _socket

    with _socket.socket(_socket.AF_INET6, _socket.SOCK_STREAM) as server:
        server.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
        server.bind(("::1", 8090))
        server.listen(4)
        # When porthole scans the IPv6 loopback address
        result = invoke("scan", "::1", "--ports", "8090,8091", "--format", "json", *FAST)
    # Then the open and closed ports are told apart over IPv6
    assert result.exit_code == 0, result.output
    (host,) = json.loads(result.stdout)["hosts"]
    assert host["address"] == "::1"
    assert {(p["port"], p["state"]) for p in host["ports"]} == {(8090, "open"), (8091, "closed")}
