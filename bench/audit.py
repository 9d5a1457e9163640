"""Audit benchmark: ``porthole audit`` against ``nmap -sV`` with NSE scripts, in one run.

    python -m bench.audit [--no-capture] [--controller NAME ...] [--time-limit S]   (root; make bench-audit)

    lab/site.toml renamed "bnau" ──▶ fresh site ──▶ porthole audit 198.18.0.0/24 ──▶ down
                                 ──▶ fresh site ──▶ nmap -sS -sU -sV --script ... ──▶ down
    each run: wall time and peak RSS (bench.sweep.run_measured), a capture on the
    scanner's interface (new connections per second and at once, per host), and the
    fragile card's own counters (lab/services/fragile.py: the most it saw at once / per s)
    ──▶ tables on stdout + bench/results/audit-<UTC>.json and .md

Issue 3 ("Speed"): a full audit of the lab site in at most a tenth of the time of
nmap's version detection with the scripts that cover the same checklist items
(``http-title,ssh2-enum-algos,modbus-discover,dns-recursion,upnp-info``), on the same
ports (the catalogue's, TCP and UDP), with more findings right, within the per-host caps.

"Findings right" is judged against the site file's design, written out in
``CONDITIONS`` below: which controller should show which checklist condition. A tool
scores a condition on a host when its report shows it there (porthole: a finding or
the evidence; nmap: the script output); a hit on any other host is counted wrong.

Contract:

* Measures, never asserts. Exit status non-zero only when a tool fails to run or the
  lab cannot start.
* Each tool meets a freshly started site: the fragile card (which hangs when scanned
  too hard) and the daemons' state cannot carry one tool's effect into the other's run.
* Traffic stays inside the lab namespaces; the sites come down in ``finally``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from defusedxml import ElementTree

from bench._common import bench_copy_of_site, running_site, say
from bench.sweep import RESULTS_DIRECTORY, RUN_TIME_LIMIT_SECONDS, Comparison, _Capture, catalogue_ports, flush_neighbour_caches, machine_info, run_measured, summarise_traffic
from lab import control
from lab.site import Site, expected_port_states
from porthole.model import PortRef, Protocol

__all__ = ["CONDITIONS", "NMAP_SCRIPTS", "main"]

SITE_NAME = "bnau"
NMAP_SCRIPTS = "http-title,ssh2-enum-algos,modbus-discover,dns-recursion,upnp-info"


# --- what each tool reported, normalised --------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PortReport:
    """One open port as a tool described it."""

    service: str
    #: product/version (nmap) or porthole's one-line summary
    description: str
    #: the tool identified the service by talking to it (nmap: method="probed"; porthole: probe evidence)
    identified: bool
    #: porthole: evidence + findings as JSON text; nmap: every script's output
    text: str
    finding_ids: frozenset[str] = frozenset()


# (address, "port/protocol") -> report
Ports = dict[tuple[str, str], PortReport]


def parse_porthole(path: Path) -> Ports:
    report = json.loads(path.read_text(encoding="utf-8"))
    ports: Ports = {}
    for host in report["hosts"]:
        for port in host["ports"]:
            if port["state"] != "open":
                continue
            key = f"{port['port']}/{port['protocol']}"
            findings = [f for f in host.get("findings") or [] if f.get("port") == port["port"] and f.get("protocol") == port["protocol"]]
            # "reach" is the UDP reachability payload, not a fingerprint
            identified = any(name != "reach" for name in (port.get("evidence") or {}))
            ports[(host["address"], key)] = PortReport(
                service=port.get("service") or "",
                description=port.get("summary") or "",
                identified=identified,
                text=json.dumps({"evidence": port.get("evidence"), "findings": findings}),
                finding_ids=frozenset(f["id"] for f in findings),
            )
    return ports


def parse_nmap(path: Path) -> Ports:
    root = ElementTree.parse(str(path)).getroot()
    ports: Ports = {}
    for host in root.iter("host"):
        address = next((a.get("addr") for a in host.iter("address") if a.get("addrtype") == "ipv4"), None)
        if address is None:
            continue
        for port in host.iter("port"):
            state = port.find("state")
            # open|filtered UDP ports count as open when a version probe or script got an answer
            if state is None or state.get("state") not in ("open", "open|filtered"):
                continue
            service = port.find("service")
            scripts = {script.get("id", ""): script.get("output", "") for script in port.iter("script")}
            if state.get("state") != "open" and not scripts:
                continue
            name = service.get("name", "") if service is not None else ""
            tunnel = service.get("tunnel", "") if service is not None else ""
            product = " ".join(filter(None, (service.get(k, "") for k in ("product", "version", "extrainfo")))) if service is not None else ""
            ports[(address, f"{port.get('portid')}/{port.get('protocol')}")] = PortReport(
                service=f"{tunnel}/{name}" if tunnel else name,
                description=product,
                identified=service is not None and service.get("method") == "probed",
                text="\n".join(f"{script_id}: {output}" for script_id, output in scripts.items()),
            )
    return ports


# --- the checklist conditions both tools can show -------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Condition:
    name: str
    #: controllers of lab/site.toml on which the condition must be shown
    expected_on: frozenset[str]
    porthole: Callable[[Mapping[tuple[str, str], PortReport], str], bool]
    #: None: none of the five NSE scripts tests it
    nmap: Callable[[Mapping[tuple[str, str], PortReport], str], bool] | None


def _on_host(address: str, ports: Mapping[tuple[str, str], PortReport], keep: Callable[[str, PortReport], bool]) -> bool:
    return any(keep(port, report) for (host, port), report in ports.items() if host == address)


def _finding(finding_id: str) -> Callable[[Mapping[tuple[str, str], PortReport], str], bool]:
    return lambda ports, address: _on_host(address, ports, lambda _port, report: finding_id in report.finding_ids)


def _text(port: str, *needles: str) -> Callable[[Mapping[tuple[str, str], PortReport], str], bool]:
    return lambda ports, address: _on_host(address, ports, lambda key, report: key == port and all(n in report.text for n in needles))


CONDITIONS: tuple[Condition, ...] = (
    # misconf's sshd adds diffie-hellman-group14-sha1 (lab/site.toml); both tools must list it
    Condition(name="SSH weak kex listed (group14-sha1)", expected_on=frozenset({"misconf"}),
              porthole=_text("22/tcp", '"diffie-hellman-group14-sha1"'), nmap=_text("22/tcp", "diffie-hellman-group14-sha1")),
    # porthole's Read Device Identification; nmap's modbus-discover reads the same objects
    Condition(name="Modbus device identification read", expected_on=frozenset({"misconf"}),
              porthole=_text("502/tcp", '"vendor_name": "ChargeCtl Lab"'), nmap=_text("502/tcp", "ChargeCtl Lab")),
    Condition(name="open DNS resolver", expected_on=frozenset({"misconf"}),
              porthole=_finding("dns-open-resolver"), nmap=_text("53/udp", "Recursion appears to be enabled")),
    Condition(name="UPnP server described", expected_on=frozenset({"misconf"}),
              porthole=_finding("upnp-open"), nmap=_text("1900/udp", "Server:")),
    Condition(name="plain-HTTP login page", expected_on=frozenset({"misconf"}), porthole=_finding("http-plain-login"), nmap=None),
    Condition(name="SSH password authentication offered", expected_on=frozenset({"misconf"}), porthole=_finding("ssh-password-auth"), nmap=None),
    Condition(name="ISO 15118 SECC offers no TLS", expected_on=frozenset({"misconf"}), porthole=_finding("iso15118-no-tls"), nmap=None),
    Condition(name="TLS 1.0/1.1 accepted", expected_on=frozenset({"misconf"}), porthole=_finding("tls-legacy-version"), nmap=None),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ConditionScore:
    condition: str
    expected_on: tuple[str, ...]
    right: tuple[str, ...]
    wrong: tuple[str, ...]
    tested: bool


def score(condition: Condition, ports: Ports, site: Site, *, tool: str) -> ConditionScore:
    check = condition.porthole if tool == "porthole" else condition.nmap
    if check is None:
        return ConditionScore(condition=condition.name, expected_on=tuple(sorted(condition.expected_on)), right=(), wrong=(), tested=False)
    shown = {c.name for c in site.controllers if check(ports, str(c.address))}
    return ConditionScore(
        condition=condition.name,
        expected_on=tuple(sorted(condition.expected_on)),
        right=tuple(sorted(shown & condition.expected_on)),
        wrong=tuple(sorted(shown - condition.expected_on)),
        tested=True,
    )


def expected_open(site: Site, controllers: Sequence[str] = ()) -> list[tuple[str, str, str]]:
    """(controller, address, "port/protocol") of every catalogue port the site (or the named controllers) serves."""
    refs = [PortRef(protocol, number) for protocol in (Protocol.TCP, Protocol.UDP) for number in catalogue_ports(protocol)]
    rows = []
    for controller in site.controllers:
        if controllers and controller.name not in controllers:
            continue
        for (protocol, number), state in expected_port_states(controller, refs).items():
            if state.value == "open":
                rows.append((controller.name, str(controller.address), f"{number}/{protocol.value}"))
    return sorted(rows, key=lambda row: (row[1], int(row[2].split("/")[0]), row[2]))


# --- runs ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolRun:
    tool: str
    argv: tuple[str, ...]
    wall_s: float
    reported_s: float | None
    peak_rss_kb: int
    exit_status: int
    #: from the capture: most new TCP connections to one host in a second, most alive at once
    peak_new_per_second: int | None
    peak_concurrent: int | None
    tcp_connections: int | None
    udp_datagrams: int | None
    #: the fragile card's own counters after the run (lab/services/fragile.py)
    fragile: dict[str, Any] | None


def run_tool(tool: str, argv_for: Callable[[Site, Path], list[str]], *, site_path: Path, work: Path, capture: bool, time_limit: float) -> tuple[ToolRun, Ports | None, Site]:
    output = work / f"{tool}.{'json' if tool == 'porthole' else 'xml'}"
    with running_site(site_path) as (site, state):
        flush_neighbour_caches(state)
        argv = argv_for(site, output)
        recorder = _Capture(site, work / f"{tool}.frames.json") if capture else None
        if recorder is not None:
            recorder.start()
        try:
            finished = run_measured([*control.scanner_prefix(site), *argv], stdout=work / f"{tool}.stdout", stderr=work / f"{tool}.stderr", time_limit=time_limit)
        finally:
            frames = recorder.stop() if recorder is not None else None
        fragile_file = control.state_root() / site.name / "fragile" / "fragile.json"
        fragile = json.loads(fragile_file.read_text(encoding="utf-8")) if fragile_file.exists() else None
    tcp = summarise_traffic(frames, site, spawned_ns=finished.spawned_ns, comparison=Comparison.TCP) if frames is not None else None
    udp = summarise_traffic(frames, site, spawned_ns=finished.spawned_ns, comparison=Comparison.UDP) if frames is not None else None
    ports: Ports | None = None
    reported: float | None = None
    # a killed nmap leaves a truncated XML file: no report, rather than a partial one read as complete
    if output.exists() and finished.exit_status in (0, 1):
        if tool == "porthole":
            ports = parse_porthole(output)
            reported = float(json.loads(output.read_text(encoding="utf-8"))["duration_s"])
        else:
            ports = parse_nmap(output)
            finished_element = ElementTree.parse(str(output)).getroot().find("runstats/finished")
            reported = float(finished_element.get("elapsed", "nan")) if finished_element is not None else None
    run = ToolRun(
        tool=tool,
        argv=tuple(argv),
        wall_s=round(finished.wall_s, 3),
        reported_s=reported,
        peak_rss_kb=finished.peak_rss_kb,
        exit_status=finished.exit_status,
        peak_new_per_second=tcp.peak_new_per_second if tcp else None,
        peak_concurrent=tcp.peak_concurrent if tcp else None,
        tcp_connections=tcp.tcp_connections if tcp else None,
        udp_datagrams=udp.udp_datagrams if udp else None,
        fragile=fragile,
    )
    return run, ports, site


def targets_of(site: Site, controllers: Sequence[str]) -> list[str]:
    """The whole subnet, or the addresses of the named controllers."""
    return [str(site.controller(name).address) for name in controllers] if controllers else [str(site.subnet)]


def porthole_argv(executable: str, controllers: Sequence[str]) -> Callable[[Site, Path], list[str]]:
    def argv(site: Site, output: Path) -> list[str]:
        return [executable, "audit", *targets_of(site, controllers), "--scope", str(site.subnet), "--format", "json", "--output", str(output), "--quiet"]

    return argv


def nmap_argv(executable: str, controllers: Sequence[str]) -> Callable[[Site, Path], list[str]]:
    tcp = ",".join(str(n) for n in catalogue_ports(Protocol.TCP))
    udp = ",".join(str(n) for n in catalogue_ports(Protocol.UDP))

    def argv(site: Site, output: Path) -> list[str]:
        # -T4 as in bench.sweep's baseline (nmap's own faster timing); -sS + -sU for the
        # UDP services the scripts need (dns-recursion, upnp-info); -n: no resolver here.
        return [executable, "-n", "-sS", "-sU", "-sV", "-T4", "--script", NMAP_SCRIPTS, "-p", f"T:{tcp},U:{udp}", *targets_of(site, controllers), "-oX", str(output)]

    return argv


# --- tables --------------------------------------------------------------------------


def summary_table(runs: Sequence[ToolRun], baseline: ToolRun) -> str:
    lines = [
        "| tool | wall s | in-tool s | time vs nmap | peak RSS MB | new conns/s/host (capture) | conns at once/host (capture) | fragile card: most at once / per s seen, trips |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        fragile = run.fragile or {}
        # a run killed at the time limit took at least that long: its ratio is a bound
        bound = ">" if run.exit_status == -9 else ""
        killed = " (killed at the time limit)" if bound else ""
        fragile_text = f"{fragile.get('max_concurrent_seen', '-')} / {fragile.get('max_rate_seen', '-')}, {fragile.get('trips', '-')}" if fragile else "-"
        lines.append(
            f"| {run.tool}{killed} | {bound}{run.wall_s:.1f} | {_number(run.reported_s)} | {run.wall_s / baseline.wall_s:.3f}x | {run.peak_rss_kb / 1024:.1f} "
            f"| {_number(run.peak_new_per_second)} | {_number(run.peak_concurrent)} | {fragile_text} |"
        )
    return "\n".join(lines)


def conditions_table(scores: Mapping[str, Sequence[ConditionScore]], reported: Mapping[str, bool]) -> str:
    lines = ["| condition (expected on) | porthole | nmap -sV + scripts |", "|---|---|---|"]
    for porthole_score, nmap_score in zip(scores["porthole"], scores["nmap"], strict=True):
        cells = [_score_text(score) if reported[tool] else "no report" for tool, score in (("porthole", porthole_score), ("nmap", nmap_score))]
        lines.append(f"| {porthole_score.condition} ({', '.join(porthole_score.expected_on)}) | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def _score_text(score: ConditionScore) -> str:
    if not score.tested:
        return "not tested by these scripts"
    text = "yes" if set(score.right) == set(score.expected_on) else "no"
    return text + (f" (also on {', '.join(score.wrong)}: wrong)" if score.wrong else "")


def services_table(site: Site, reports: Mapping[str, Ports | None], controllers: Sequence[str] = ()) -> tuple[str, dict[str, int]]:
    lines = ["| controller | port | porthole | nmap -sV |", "|---|---|---|---|"]
    identified = {tool: 0 for tool in reports}
    for name, address, port in expected_open(site, controllers):
        cells = []
        for tool, ports in reports.items():
            report = (ports or {}).get((address, port))
            if report is None:
                cells.append("not reported open")
                continue
            identified[tool] += report.identified
            mark = "" if report.identified else " (not probed)" if tool == "nmap" else " (no fingerprint)"
            cells.append(f"{report.service} {report.description}".strip().replace("|", "/")[:70] + mark)
        lines.append(f"| {name} | {port} | " + " | ".join(cells) + " |")
    return "\n".join(lines), identified


def _number(value: float | int | None) -> str:
    return "-" if value is None else f"{value:.2f}" if isinstance(value, float) else str(value)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.audit", description="porthole audit vs nmap -sV with NSE scripts on the default lab site (root).")
    parser.add_argument("--results", type=Path, default=RESULTS_DIRECTORY, help="where the JSON and markdown results go")
    parser.add_argument("--no-capture", action="store_true", help="do not capture packets (no per-host connection figures)")
    parser.add_argument("--controller", action="append", default=[], metavar="NAME", help="audit only these lab controllers (repeatable; default: the whole subnet)")
    parser.add_argument("--time-limit", type=float, default=RUN_TIME_LIMIT_SECONDS, help=f"kill a tool after this many seconds (default {RUN_TIME_LIMIT_SECONDS:g})")
    arguments = parser.parse_args(argv)
    if os.geteuid() != 0:
        parser.error("needs root: it builds network namespaces and runs nmap -sS/-sU (sudo make bench-audit)")
    nmap_executable = shutil.which("nmap")
    if nmap_executable is None:
        parser.error("nmap is not installed (apt-get install nmap)")
    porthole_executable = str(Path(sys.executable).with_name("porthole"))
    if not Path(porthole_executable).exists():
        parser.error(f"{porthole_executable} not found: install porthole into this interpreter's environment (make venv)")

    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    arguments.results.mkdir(parents=True, exist_ok=True)
    scratch_root = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
    work = Path(tempfile.mkdtemp(prefix="porthole-bench-audit-", dir=scratch_root))
    machine = machine_info(nmap_executable)
    site_path = bench_copy_of_site(SITE_NAME, work)
    runs: list[ToolRun] = []
    reports: dict[str, Ports | None] = {}
    try:
        # porthole first: nmap's run cannot leave the fragile card hung for it, and each
        # tool gets its own fresh site anyway.
        for tool, argv_for in (("porthole", porthole_argv(porthole_executable, arguments.controller)), ("nmap", nmap_argv(nmap_executable, arguments.controller))):
            say(f"bench: {tool} on a fresh {SITE_NAME!r} site ...")
            run, ports, site = run_tool(tool, argv_for, site_path=site_path, work=work, capture=not arguments.no_capture, time_limit=arguments.time_limit)
            runs.append(run)
            reports[tool] = ports
            say(f"  {tool}: {run.wall_s:.1f} s, {run.peak_rss_kb / 1024:.1f} MB, exit {run.exit_status}")
    finally:
        shutil.copytree(work, arguments.results / f"audit-{stamp}")
        shutil.rmtree(work, ignore_errors=True)
    machine["load_average_at_end"] = os.getloadavg()
    failed = [run for run in runs if run.exit_status not in (0, 1) or reports.get(run.tool) is None]

    scores = {tool: [score(condition, reports.get(tool) or {}, site, tool=tool) for condition in CONDITIONS] for tool in ("porthole", "nmap")}
    services, identified = services_table(site, reports, arguments.controller)
    expected = len(expected_open(site, arguments.controller))
    by_tool = {run.tool: run for run in runs}
    markdown = (
        f"Audit of {' '.join(arguments.controller) or site.subnet} (lab/site.toml as {SITE_NAME!r}), one run each, {stamp}, porthole {machine['porthole']} at "
        f"{machine['git_revision']} ({machine['git_uncommitted_paths']} uncommitted paths), {machine['nmap']}, {machine['cpus']} CPUs, "
        f"load average {machine['load_average_at_start'][0]:.1f} at start and {machine['load_average_at_end'][0]:.1f} at end\n\n"
        f"{summary_table(runs, by_tool['nmap'])}\n\n"
        f"Checklist conditions shown (judged against the site's design):\n\n{conditions_table(scores, {tool: reports.get(tool) is not None for tool in scores})}\n\n"
        f"Open catalogue ports identified by talking to them: porthole {identified.get('porthole', 0)}/{expected}, "
        f"nmap {identified.get('nmap', 0)}/{expected}\n\n{services}\n"
    )
    (arguments.results / f"audit-{stamp}.md").write_text(markdown, encoding="utf-8")
    results = {
        "benchmark": "audit",
        "machine": machine,
        "runs": [asdict(run) for run in runs],
        "conditions": {tool: [asdict(s) for s in tool_scores] for tool, tool_scores in scores.items()},
        "identified": identified,
        "expected_open": expected,
    }
    (arguments.results / f"audit-{stamp}.json").write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    say("")
    say(markdown)
    say(f"bench: results in {arguments.results / f'audit-{stamp}.json'} (raw reports in {arguments.results / f'audit-{stamp}'})")
    for run in failed:
        say(f"bench: {run.tool} FAILED (exit {run.exit_status}); see its stderr in the raw reports")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
