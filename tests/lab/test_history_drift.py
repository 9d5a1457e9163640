"""Drift between two stored audits while the lab changes under them.

A small site of its own (own name, subnet and state root): one controller serving HTTP
on 80. Between the two sweeps an HTTP service is started on 8080 and the TLS service on
443 is restarted with a different certificate; the drift must say exactly that.
The extra services run in the controller's namespace and are killed by PID.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab import control
from own_site import running_own_site

pytestmark = pytest.mark.lab

PORTHOLE = str(Path(sys.executable).with_name("porthole"))
ADDRESS = "198.19.61.10"


@pytest.fixture(scope="module")
def drift_site(tmp_path_factory):
    directory = tmp_path_factory.mktemp("drift-site")
    name = f"d{os.getpid() % 100000:05d}"
    with running_own_site(directory, f"""
[site]
name = "{name}"
subnet = "198.19.61.0/24"
scanner = "198.19.61.1"

[[controller]]
name = "box"
address = "{ADDRESS}"

[[controller.service]]
kind = "http"
ports = [80]
""") as site:
        yield site, directory


@pytest.fixture
def extra_services(drift_site, request):
    """Start lab services inside the controller namespace; every one is killed by PID afterwards."""
    site, directory = drift_site
    started: list[subprocess.Popen] = []

    def start(kind: str, port: int, options: dict | None = None) -> subprocess.Popen:
        log = directory / f"extra-{kind}-{port}-{len(started)}.log"
        argv = [
            *control.controller_prefix(site, "box"), sys.executable, "-m", f"lab.services.{kind}", "--port", str(port),
            "--state-dir", str(directory / "extra-state"), "--name", "box", "--options", json.dumps(options or {}),
        ]
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=log.open("wb"))
        started.append(process)
        deadline = time.monotonic() + 30
        while f"{kind} serving on" not in log.read_text(errors="replace"):
            assert process.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, f"{kind} on {port} did not start: {log.read_text(errors='replace')}"
            time.sleep(0.05)
        return process

    def stop(process: subprocess.Popen) -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

    start.stop = stop  # type: ignore[attr-defined]
    yield start
    for process in started:
        stop(process)


def audit_into(site, store: Path) -> None:
    completed = subprocess.run(
        [*control.scanner_prefix(site), PORTHOLE, "audit", ADDRESS, "--ports", "80,443,8080", "--scope", "198.19.61.0/24",
         "--store", str(store), "--quiet", "--fail-on", "critical"],
        capture_output=True, text=True, timeout=180, check=False,
    )
    assert completed.returncode == 0, completed.stderr


def test_drift_reports_exactly_the_opened_port_and_the_rotated_certificate(drift_site, extra_services, tmp_path):
    site, _ = drift_site
    store = tmp_path / "history.sqlite"
    # Given a TLS service on 443 with certificate "first", and a first audit stored
    first_tls = extra_services("tls", 443, {"cert": "drift-first"})
    audit_into(site, store)
    # When 443 gets a new certificate and an HTTP service opens 8080, and a second audit is stored
    extra_services.stop(first_tls)
    extra_services("tls", 443, {"cert": "drift-second"})
    extra_services("http", 8080)
    audit_into(site, store)
    # Then `porthole drift` (the last two sweeps) reports exactly those two changes
    completed = subprocess.run([PORTHOLE, "drift", "--store", str(store), "--format", "json"], capture_output=True, text=True, timeout=60, check=False)
    assert completed.returncode == 0, completed.stderr
    drift = json.loads(completed.stdout)
    assert (drift["before_sweep"], drift["after_sweep"]) == (1, 2)
    changes = [(change["kind"], change["port"], change["subject"]) for change in drift["changes"]]
    assert changes == [("fingerprint-changed", 443, "tls-certificate"), ("port-opened", 8080, None)]
    rotated = drift["changes"][0]
    assert rotated["before"] != rotated["after"] and len(rotated["after"]) == 64
    assert drift["changes"][1]["before"] == "closed"
