"""The fragile embedded card: the default audit leaves it answering; raising the caps breaks it.

The card (lab/services/fragile.py) counts, on its own interface, the connections it
sees at once and per second; past 4 concurrent or 50 per second it goes silent like
a crashed stack. The first test proves porthole's defaults stay under both limits;
the second proves the same card *does* hang when the caps are raised past them, so
the first test can fail.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from lab import control

pytestmark = pytest.mark.lab


def fragile_process(demo_site) -> control.ProcessRecord:
    state = control.status(demo_site.path)
    assert state is not None
    return next(p for p in state.processes if p.kind == "fragile")


def card_state(demo_site) -> dict:
    record = fragile_process(demo_site)
    state_dir = Path(record.argv[record.argv.index("--state-dir") + 1])
    return json.loads((state_dir / "fragile.json").read_text())


def reset_card(demo_site) -> None:
    """Power-cycle the card (SIGHUP): it answers again and its maxima restart from 0."""
    os.kill(fragile_process(demo_site).pid, signal.SIGHUP)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        state = card_state(demo_site)
        if not state["hung"] and state["max_concurrent_seen"] == 0 and state["max_rate_seen"] == 0:
            return
        time.sleep(0.1)
    raise AssertionError(f"the fragile card did not power-cycle: {card_state(demo_site)}")


def web_answers(demo_site, address: str) -> bool:
    code = (
        "import socket,sys\n"
        f"s=socket.create_connection(('{address}',80),timeout=2)\n"
        "s.sendall(b'GET / HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n')\n"
        "sys.exit(0 if s.recv(64).startswith(b'HTTP/1.') else 1)\n"
    )
    return demo_site.in_scanner(code).returncode == 0


@pytest.fixture
def fragile(demo_site):
    reset_card(demo_site)
    yield demo_site, str(demo_site.controller("fragile").address)
    reset_card(demo_site)


def test_the_default_audit_leaves_the_fragile_card_answering(fragile):
    site, address = fragile
    trips_before = card_state(site)["trips"]
    # When the card is audited with porthole's defaults (2 connections, 40/s per host)
    code, report = site.audit_json(address)
    # Then the audit saw its open ports
    (host,) = report["hosts"]
    assert {p["port"] for p in host["ports"] if p["state"] == "open"} == {80, 81, 82, 443, 502, 8888}
    # And the card never saw more than 2 connections at once nor more than 40 in a second
    state = card_state(site)
    assert state["hung"] is False and state["trips"] == trips_before
    assert 0 < state["max_concurrent_seen"] <= 2
    assert state["max_rate_seen"] <= 40
    # And it still serves its web page afterwards
    assert web_answers(site, address)


def test_the_same_wide_scan_at_the_default_caps_does_not_hang_it(fragile):
    site, address = fragile
    trips_before = card_state(site)["trips"]
    # When the same 200 ports are scanned at the default caps
    completed = site.porthole("scan", address, "--ports", "1-200", "--format", "json")
    assert completed.returncode == 0, completed.stderr
    # Then the card kept answering: the pacing holds over a long burst too
    state = card_state(site)
    assert state["hung"] is False and state["trips"] == trips_before
    assert state["max_rate_seen"] <= 40
    assert web_answers(site, address)


def test_raising_the_caps_past_its_limits_hangs_the_card(fragile):
    site, address = fragile
    trips_before = card_state(site)["trips"]
    # When 200 of its ports are scanned with 8 connections at once and 500 new per second
    completed = site.porthole("scan", address, "--ports", "1-200", "--per-host-connections", "8", "--rate", "500", "--format", "json")
    assert completed.returncode in (0, 1), completed.stderr
    # Then it tripped and went silent, as the field reports describe
    state = card_state(site)
    assert state["hung"] is True and state["trips"] == trips_before + 1
    assert state["trip_reason"] in ("concurrency", "rate")
    assert not web_answers(site, address)
