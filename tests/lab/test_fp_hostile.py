"""porthole against the hostile lab controller: every probe meets its nemesis and says why.

The ``hostile`` controller (lab/site.toml, lab/services/hostile.py) misbehaves on real
catalogue ports: a 10 MB SSH "identification line", stalls, an endless HTTP header,
malformed TLS and Modbus, a slowloris, garbage, an XML bomb and garbage datagrams, plus
a 10 MB banner on uncatalogued 2323 for the generic banner grab. One audit runs from
the scanner namespace; the tests check it ends in a verdict (not a traceback, not a
hang, not unbounded memory) and that each port's outcome names the reason.

The audit's duration is bounded by the engine's per-probe budget; the subprocess
timeout here is only a safety net against a regression that hangs, never an
assertion of speed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lab import control
from porthole.model import PortObservation, PortState, Protocol, Reason
from porthole.report.schema import validate_report
from porthole.services import probe_by_id, registry

pytestmark = pytest.mark.lab

#: the reasons a hostile peer may legitimately end a probe with
HOSTILE_REASONS = frozenset({"malformed", "unrecognised", "too-large", "timeout", "handshake-failed", "connection-reset"})
#: generous: a porthole audit idles well below 100 MB; 10 MB banners and a billion
#: laughs must not add to it more than the read caps allow
PEAK_RSS_BOUND = 300 * 1024 * 1024
#: the safety net only: far above what the engine's budgets allow
SAFETY_NET_SECONDS = 600
UNCATALOGUED_PORT = 2323
PORTHOLE = str(Path(sys.executable).with_name("porthole"))


@dataclass(frozen=True, slots=True, kw_only=True)
class HostileAudit:
    exit_code: int
    stdout: str
    stderr: str
    peak_rss_bytes: int
    report: dict[str, Any] | None

    @property
    def host(self) -> dict[str, Any]:
        assert self.report is not None, self.stderr[-2000:]
        (host,) = self.report["hosts"]
        return host

    def port(self, number: int, protocol: str = "tcp") -> dict[str, Any]:
        return next(p for p in self.host["ports"] if (p["port"], p["protocol"]) == (number, protocol))

    def result(self, probe_id: str, number: int, protocol: str = "tcp") -> dict[str, Any]:
        matching = [r for r in self.host["probes"] if (r["probe_id"], r["port"], r["protocol"]) == (probe_id, number, protocol)]
        assert len(matching) == 1, f"{probe_id} on {number}/{protocol}: {len(matching)} results"
        return matching[0]


def run_measured(command: list[str]) -> tuple[int, str, str, int]:
    """Run ``command``; return its exit code, output and peak resident set size in bytes.

    ``os.wait4`` reaps the child itself to read its rusage (``ru_maxrss``, KiB on Linux):
    ``ip netns exec`` execs porthole in place, so the child *is* porthole.
    """
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr)
        safety_net = threading.Timer(SAFETY_NET_SECONDS, process.kill)
        safety_net.start()
        try:
            _pid, status, usage = os.wait4(process.pid, 0)
        finally:
            safety_net.cancel()
        process.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        return process.returncode, stdout.read().decode(errors="replace"), stderr.read().decode(errors="replace"), usage.ru_maxrss * 1024


@pytest.fixture(scope="module")
def hostile_audit(demo_site) -> HostileAudit:
    # Given the hostile controller, When it is audited from the scanner's namespace
    # with the uncatalogued port added, its peak memory measured
    address = str(demo_site.controller("hostile").address)
    command = [
        *control.scanner_prefix(demo_site.site),
        PORTHOLE,
        "audit",
        address,
        "--ports",
        f"+{UNCATALOGUED_PORT}",
        "--format",
        "json",
        "--scope",
        str(demo_site.site.subnet),
    ]
    code, stdout, stderr, peak = run_measured(command)
    try:
        report = json.loads(stdout)
    except json.JSONDecodeError:
        report = None
    return HostileAudit(exit_code=code, stdout=stdout, stderr=stderr, peak_rss_bytes=peak, report=report)


def observation_of(port: dict[str, Any]) -> PortObservation:
    return PortObservation(
        port=port["port"],
        protocol=Protocol(port["protocol"]),
        state=PortState(port["state"]),
        reason=Reason(port["reason"]),
        service=port["service"],
    )


def answered_ports(audit: HostileAudit) -> list[dict[str, Any]]:
    return [p for p in audit.host["ports"] if p["state"] in ("open", "open|filtered")]


# --- the audit survives -----------------------------------------------------------------------


def test_the_audit_ends_in_a_verdict_not_a_crash(hostile_audit: HostileAudit) -> None:
    # Then porthole exits 0 or 1 (findings), never 3 or a traceback, and writes a report
    assert hostile_audit.exit_code in (0, 1), hostile_audit.stderr[-3000:]
    assert "Traceback" not in hostile_audit.stderr
    assert hostile_audit.report is not None
    assert hostile_audit.host["complete"] and not hostile_audit.report["interrupted"]


def test_the_report_is_valid_against_the_committed_schema(hostile_audit: HostileAudit) -> None:
    # Then the hostile bytes in evidence and error details still make a schema-valid report
    assert hostile_audit.report is not None
    validate_report(hostile_audit.report)


def test_peak_memory_stays_bounded_despite_ten_megabyte_banners_and_an_xml_bomb(hostile_audit: HostileAudit) -> None:
    # Then the read caps held: no banner, header or document was buffered whole, nothing expanded
    assert 0 < hostile_audit.peak_rss_bytes < PEAK_RSS_BOUND, f"peak RSS {hostile_audit.peak_rss_bytes / 2**20:.0f} MiB"


def test_every_served_port_is_seen(demo_site, hostile_audit: HostileAudit) -> None:
    # Given the ports the site file serves on the hostile controller
    served = {(port.protocol.value, port.number) for port in demo_site.controller("hostile").served_ports}
    states = {(p["protocol"], p["port"]): p["state"] for p in hostile_audit.host["ports"]}
    # Then TCP ones are open; UDP ones answer only garbage, which no UDP probe payload accepts: open|filtered
    assert {key: states[key] for key in served} == {key: ("open" if key[0] == "tcp" else "open|filtered") for key in served}


def test_every_probed_port_ends_as_evidence_or_a_named_failure(hostile_audit: HostileAudit) -> None:
    # Then each probe that claimed an answering port either filed evidence or failed for a hostile-peer reason
    unclaimed = []
    for port in answered_ports(hostile_audit):
        claiming = [probe for probe in registry() if probe.claims(observation_of(port))]
        if not claiming:
            unclaimed.append(f"{port['port']}/{port['protocol']}")
        for probe in claiming:
            result = hostile_audit.result(probe.id, port["port"], port["protocol"])
            if result["status"] == "completed":
                # evidence is filed on the port, exactly as the probe returned it
                assert port["evidence"][probe.id] == result["evidence"], (probe.id, port["port"])
            elif result["status"] == "no-answer":
                # only where the port itself stayed open|filtered, and said in the detail
                assert port["state"] == "open|filtered" and result["error_detail"], result
            else:
                assert result["status"] == "error", result
                assert result["error_reason"] in HOSTILE_REASONS and result["error_detail"], result
    # And every open TCP port had a probe; a UDP port that answered only garbage stays
    # open|filtered, which a probe may decline (the DNS probe does: 53/udp is unprobed)
    assert [name for name in unclaimed if name.endswith("/tcp")] == []


# --- each nemesis, by port and probe ------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Expect:
    """What one probe's result on one hostile port must be, and how to say it in a failure."""

    description: str
    holds: Callable[[dict[str, Any]], bool]


def failure(*reasons: str, mentioning: str = "") -> Expect:
    """The probe failed, for one of ``reasons``, with a detail naming ``mentioning``."""
    return Expect(
        description=f"error {' | '.join(reasons)}" + (f" mentioning {mentioning!r}" if mentioning else ""),
        holds=lambda result: result["status"] == "error" and result["error_reason"] in reasons and mentioning in (result["error_detail"] or ""),
    )


def evidence(description: str, holds: Callable[[dict[str, Any]], bool]) -> Expect:
    """The probe completed and recorded the misbehaviour as evidence (probes that treat a
    non-answer as a fact, as base.py allows: "unknown or malformed answers are evidence too")."""
    return Expect(description=f"evidence: {description}", holds=lambda result: result["status"] == "completed" and holds(result["evidence"]))


def no_answer(mentioning: str) -> Expect:
    """Nothing that answers the probe's question came back from an open|filtered port: not a
    failure (report 1.1 ``no-answer``), with a detail naming ``mentioning``."""
    return Expect(
        description=f"no-answer mentioning {mentioning!r}",
        holds=lambda result: result["status"] == "no-answer" and result["error_reason"] is None and mentioning in (result["error_detail"] or ""),
    )


def no_tls(mentioning: str = "") -> Expect:
    return evidence(
        f"tls false{' noting ' + repr(mentioning) if mentioning else ''}",
        lambda found: found["tls"] is False and any(mentioning in note for note in found["notes"]),
    )


#: (port, protocol, probe id) → the outcome that probe must report there
NEMESES: dict[tuple[int, str, str], Expect] = {
    (UNCATALOGUED_PORT, "tcp", "banner"): evidence(
        "banner read up to its cap, 10 MB never buffered",
        lambda found: found["received_bytes"] == found["read_limit"] and found["stopped"] == "limit",
    ),
    # huge_banner with "SSH-2.0-": an identification line that never ends
    (22, "tcp", "ssh"): failure("too-large", "malformed"),
    # stall after "SSH-2.0-"
    (23, "tcp", "ssh"): failure("timeout", "malformed"),
    # endless_header: the header-block cap ends it, long before the probe budget
    (80, "tcp", "http"): failure("too-large"),
    # stall after "HTTP/1.1 200 OK\r\n"
    (81, "tcp", "http"): failure("timeout", "malformed"),
    # tls_garbage: record length 65535, truncated
    (443, "tcp", "http"): failure("handshake-failed", "malformed", "connection-reset"),
    (443, "tcp", "tls"): no_tls(mentioning="65535"),
    # malformed_modbus: MBAP length 0xFFFF
    (502, "tcp", "modbus"): failure("malformed", mentioning="65535"),
    # slowloris behind a valid TLS record header: only a deadline ends it
    (1600, "tcp", "tls"): failure("timeout"),
    # garbage
    (8090, "tcp", "ocpp-s"): failure("malformed", "unrecognised"),
    (8090, "tcp", "tls"): no_tls(),
    # xml_bomb on every SEMP base path: refused unexpanded
    (8888, "tcp", "semp"): evidence(
        "not recognised, every document refused",
        lambda found: found["recognised"] is False and {attempt["outcome"] for attempt in found["attempts"]} == {"refused"},
    ),
    # udp_garbage
    (1900, "udp", "ssdp"): failure("malformed"),
    # garbage is not an mDNS reply: ignored, counted in the detail, and the port stays open|filtered
    (5353, "udp", "mdns"): no_answer(mentioning="not a reply to the query were ignored"),
    (15118, "udp", "sdp"): failure("malformed"),
}


@pytest.mark.parametrize(("number", "protocol", "probe_id"), sorted(NEMESES))
def test_each_probe_meets_its_nemesis_and_says_why(hostile_audit: HostileAudit, number: int, protocol: str, probe_id: str) -> None:
    # Given what the probe must report against this port's misbehaviour
    expected = NEMESES[(number, protocol, probe_id)]
    # Then the audit's result for that probe and port says exactly that
    assert probe_by_id(probe_id) is not None, f"probe {probe_id!r} is not registered"
    result = hostile_audit.result(probe_id, number, protocol)
    assert expected.holds(result), f"{number}/{protocol} {probe_id}: expected {expected.description}, got {result}"


def test_every_probe_that_ran_on_a_hostile_port_has_its_nemesis_asserted(hostile_audit: HostileAudit) -> None:
    # Guards the table above: a probe newly claiming one of these ports needs its expectation written down
    ran = {(result["port"], result["protocol"], result["probe_id"]) for result in hostile_audit.host["probes"]}
    assert ran - set(NEMESES) == set()


def test_the_banner_grab_describes_the_uncatalogued_port(hostile_audit: HostileAudit) -> None:
    # Then 2323 (10 MB of "A" without a newline) is described from its first 4 KiB
    port = hostile_audit.port(UNCATALOGUED_PORT)
    assert port["service"] is None and port["state"] == "open"
    assert port["summary"] == "speaks first: " + "A" * 60 + "…"
    banner = port["evidence"]["banner"]
    assert (banner["received_bytes"], banner["stopped"], banner["protocol"]) == (4096, "limit", None)
