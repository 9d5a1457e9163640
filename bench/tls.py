"""TLS benchmark: porthole's TLS enumeration against sslyze and testssl.sh, in one run.

    python -m bench.tls [--variant "--per-host-connections 5"]    (root; make bench-tls)

    lab/site.toml renamed "bnts" ──▶ up ──▶ in the scanner namespace, one after the other:
        porthole audit <hosts> --ports <TLS ports>      (evidence "tls" of each port)
        sslyze --certinfo --sslv2 .. --tlsv1_3 --elliptic_curves <endpoints>
        testssl -p -E -S --file <endpoints>             (protocols, each cipher per protocol, certificate)
    ──▶ accepted versions and suites per endpoint, compared ──▶ tables on stdout
        + bench/results/tls-<UTC>.json and .md ──▶ down

Issue 4: porthole must agree with both peers on every version and suite they can test,
in at most half of sslyze's time and a twentieth of testssl.sh's, on the same endpoints.

The endpoints are the lab's TLS servers (services of kind "tls" in lab/site.toml) whose
TLS porthole enumerates in an audit, on every controller where they are open: master
443/444/445/1600/1601/4711, slave 443/444/445, misconf 443/1600/1601/4711 (13 endpoints;
444 and 445 are forwards to the other unit's 443, as on real units; 4711 is EEBUS SHIP,
mutual TLS on the master). Ports outside the catalogue (misconf's 8443) are left out:
porthole finds TLS there only after its banner grab has waited 2 s for a peer that speaks
first, a discovery cost the peers, told where TLS is, do not pay; one run with it (14
endpoints) gave 0.76x sslyze all the same.

The peers are not porthole dependencies: sslyze (AGPL) lives in its own venv,
``bench/.venv-peers`` (git-ignored: it holds a ``.gitignore`` of ``*``), made on first
use with ``pip install sslyze``; testssl.sh is the Debian package ``testssl.sh``.

Contract: measures, never asserts; exit status non-zero only when a tool fails to run
or the lab cannot start. Traffic stays inside the lab namespaces; the site comes down
in ``finally``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from bench._common import bench_copy_of_site, running_site, say
from bench.sweep import (
    BENCH_DIRECTORY,
    RESULTS_DIRECTORY,
    _Capture,
    _peak_in_window,
    _peak_overlap,
    decode_frame,
    flush_neighbour_caches,
    machine_info,
    run_measured,
    tcp_lifetimes,
)
from lab import control
from lab.site import Site, expected_port_states
from porthole.catalog import default_catalog
from porthole.model import PortRef, Protocol

__all__ = ["PEER_VENV", "endpoints_of", "main", "parse_porthole", "parse_sslyze", "parse_testssl"]

SITE_NAME = "bnts"
PEER_VENV = BENCH_DIRECTORY / ".venv-peers"
#: porthole's version labels; the peers' are mapped onto these
VERSIONS = ("SSLv3", "TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3")
#: controllers whose TLS ports are compared (fragile and hostile serve no real TLS)
CONTROLLERS = ("master", "slave", "misconf")
# "address:port" -> version label -> accepted IANA suite names (absent version: not accepted)
Accepted = dict[str, dict[str, frozenset[str]]]


def endpoints_of(site: Site) -> list[tuple[str, int]]:
    """Every open (controller, port) among the TLS ports of ``CONTROLLERS``.

    porthole takes one port list for all its targets, so every tool gets the same
    cross product, kept to the ports the site serves (forwards included: a master's
    445 is the slave's 443 server, reached through the master).
    """
    controllers = [site.controller(name) for name in CONTROLLERS]
    catalogued = set(default_catalog().ports)
    ports = sorted({port.number for c in controllers for s in c.services if s.kind == "tls" for port in s.ports if PortRef(Protocol.TCP, port.number) in catalogued})
    endpoints = []
    for controller in controllers:
        states = expected_port_states(controller, [PortRef(Protocol.TCP, number) for number in ports])
        endpoints += [(str(controller.address), number) for (_, number), state in states.items() if state.value == "open"]
    return sorted(endpoints)


# --- parsing each tool's report --------------------------------------------------------


def parse_porthole(path: Path, endpoints: Sequence[tuple[str, int]]) -> Accepted:
    report = json.loads(path.read_text(encoding="utf-8"))
    wanted = {f"{address}:{port}" for address, port in endpoints}
    accepted: Accepted = {}
    for host in report["hosts"]:
        for port in host["ports"]:
            key = f"{host['address']}:{port['port']}"
            tls = (port.get("evidence") or {}).get("tls")
            if key not in wanted or port["protocol"] != "tcp" or not tls:
                continue
            accepted[key] = {v["version"]: frozenset(s["name"] for s in v["suites"]) for v in tls.get("versions", []) if v.get("accepted")}
    return accepted


_SSLYZE_VERSIONS = {"ssl_3_0_cipher_suites": "SSLv3", "tls_1_0_cipher_suites": "TLSv1.0", "tls_1_1_cipher_suites": "TLSv1.1", "tls_1_2_cipher_suites": "TLSv1.2", "tls_1_3_cipher_suites": "TLSv1.3"}


def parse_sslyze(path: Path) -> Accepted:
    report = json.loads(path.read_text(encoding="utf-8"))
    accepted: Accepted = {}
    for server in report["server_scan_results"]:
        location = server["server_location"]
        versions: dict[str, frozenset[str]] = {}
        for field, label in _SSLYZE_VERSIONS.items():
            attempt = (server.get("scan_result") or {}).get(field) or {}
            suites = frozenset(s["cipher_suite"]["name"] for s in ((attempt.get("result") or {}).get("accepted_cipher_suites") or []))
            if suites:
                versions[label] = suites
        accepted[f"{location['ip_address']}:{location['port']}"] = versions
    return accepted


_TESTSSL_VERSIONS = {"ssl3": "SSLv3", "tls1": "TLSv1.0", "tls1_1": "TLSv1.1", "tls1_2": "TLSv1.2", "tls1_3": "TLSv1.3"}


def parse_testssl(path: Path) -> Accepted:
    """testssl's JSON: one ``cipher-<proto>_x<hex>`` entry per accepted suite (``-E``), IANA name last."""
    accepted: Accepted = {}
    for entry in json.loads(path.read_text(encoding="utf-8")):
        key = f"{entry['ip'].split('/')[-1]}:{entry['port']}"
        identifier: str = entry["id"]
        if identifier.startswith("cipher-") and not identifier.startswith("cipher_order"):
            protocol = identifier.removeprefix("cipher-").rsplit("_x", 1)[0]
            label = _TESTSSL_VERSIONS.get(protocol)
            if label is None:
                continue
            versions = accepted.setdefault(key, {})
            versions[label] = versions.get(label, frozenset()) | {entry["finding"].split()[-1]}
        elif identifier in ("SSLv3", "TLS1", "TLS1_1", "TLS1_2", "TLS1_3"):
            accepted.setdefault(key, {})
    return accepted


# --- agreement -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Agreement:
    peer: str
    endpoint: str
    versions_agree: bool
    suites_agree: bool
    #: what differs, "<tool> only: ..." per version
    differences: tuple[str, ...]


def compare(porthole: Accepted, peer: Accepted, peer_name: str) -> list[Agreement]:
    rows = []
    for endpoint in sorted(set(porthole) | set(peer)):
        ours, theirs = porthole.get(endpoint), peer.get(endpoint)
        if ours is None or theirs is None:
            rows.append(Agreement(peer=peer_name, endpoint=endpoint, versions_agree=False, suites_agree=False, differences=(f"{'porthole' if ours is None else peer_name} has no result",)))
            continue
        differences = []
        for version in VERSIONS:
            mine, their = ours.get(version, frozenset()), theirs.get(version, frozenset())
            if mine - their:
                differences.append(f"{version} porthole only: {', '.join(sorted(mine - their))}")
            if their - mine:
                differences.append(f"{version} {peer_name} only: {', '.join(sorted(their - mine))}")
        rows.append(Agreement(peer=peer_name, endpoint=endpoint, versions_agree=set(ours) == set(theirs), suites_agree=not differences, differences=tuple(differences)))
    return rows


# --- running -------------------------------------------------------------------------


def ensure_sslyze() -> Path:
    """The sslyze in bench/.venv-peers, installed there on first use (never into porthole's venv)."""
    executable = PEER_VENV / "bin" / "sslyze"
    if not executable.exists():
        say(f"bench: installing sslyze into {PEER_VENV} (separate venv: sslyze is AGPL, never a porthole dependency)")
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        (PEER_VENV / ".gitignore").write_text("*\n", encoding="utf-8")
        subprocess.run([str(PEER_VENV / "bin" / "pip"), "install", "--quiet", "sslyze"], check=True)
    return executable


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolRun:
    tool: str
    argv: tuple[str, ...]
    wall_s: float
    peak_rss_kb: int
    exit_status: int
    connections: TlsTraffic | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsTraffic:
    """TCP connections the capture saw one tool open to the lab (first SYN of each 4-tuple)."""

    total: int
    #: to the benchmark's endpoints only (the audit also connects elsewhere, e.g. reach)
    per_endpoint: dict[str, int]
    #: the most any one host saw: alive at once, and started in any sliding second
    peak_concurrent_per_host: int
    peak_new_per_second_per_host: int


def summarise_connections(records: Sequence[tuple[int, int, bytes]], scanner: str, endpoints: Sequence[tuple[str, int]]) -> TlsTraffic:
    lifetimes = tcp_lifetimes((decode_frame(*record) for record in records), scanner)
    wanted = {f"{address}:{port}" for address, port in endpoints}
    per_endpoint: dict[str, int] = {endpoint: 0 for endpoint in sorted(wanted)}
    by_host: dict[str, list[tuple[int, int]]] = {}
    for (host, port, _source_port), (start, end) in lifetimes.items():
        if f"{host}:{port}" in wanted:
            per_endpoint[f"{host}:{port}"] += 1
        by_host.setdefault(host, []).append((start, end))
    return TlsTraffic(
        total=len(lifetimes),
        per_endpoint=per_endpoint,
        peak_concurrent_per_host=max((_peak_overlap(intervals) for intervals in by_host.values()), default=0),
        peak_new_per_second_per_host=max((_peak_in_window(sorted(start for start, _ in intervals), 1_000_000_000) for intervals in by_host.values()), default=0),
    )


def _file_name(tool: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in tool).strip("_")


def version_of(argv: Sequence[str]) -> str:
    completed = subprocess.run(argv, capture_output=True, text=True, check=False)
    # testssl colours its banner even with --version: keep the text, drop the escapes
    text = re.sub(r"\x1b\[[0-9;]*m", "", completed.stdout + completed.stderr)
    return next((line.strip() for line in text.splitlines() if re.search(r"\d+\.\d+", line)), "unknown")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tls", description="porthole TLS enumeration vs sslyze and testssl.sh on the lab's TLS ports (root).")
    parser.add_argument("--results", type=Path, default=RESULTS_DIRECTORY, help="where the JSON and markdown results go")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="OPTIONS",
        help="also run porthole with these extra options, e.g. --variant '--per-host-connections 5' (what-if; repeatable)",
    )
    parser.add_argument(
        "--peers",
        default="sslyze,testssl",
        help="comma-separated peers to run (default: sslyze,testssl; testssl.sh alone takes about 4 minutes)",
    )
    arguments = parser.parse_args(argv)
    peers = [name.strip() for name in arguments.peers.split(",") if name.strip()]
    unknown = sorted(set(peers) - {"sslyze", "testssl"})
    if unknown or not peers:
        parser.error(f"--peers: choose from sslyze, testssl (got {arguments.peers!r})")
    if os.geteuid() != 0:
        parser.error("needs root: it builds network namespaces (sudo make bench-tls)")
    testssl = shutil.which("testssl") or shutil.which("testssl.sh")
    if testssl is None and "testssl" in peers:
        parser.error("testssl.sh is not installed (apt-get install testssl.sh)")
    porthole_executable = str(Path(sys.executable).with_name("porthole"))
    if not Path(porthole_executable).exists():
        parser.error(f"{porthole_executable} not found: install porthole into this interpreter's environment (make venv)")
    sslyze = ensure_sslyze() if "sslyze" in peers else None

    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    arguments.results.mkdir(parents=True, exist_ok=True)
    scratch_root = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
    work = Path(tempfile.mkdtemp(prefix="porthole-bench-tls-", dir=scratch_root))
    machine = machine_info(shutil.which("nmap") or "nmap")
    machine["sslyze"] = version_of([str(sslyze.with_name("python")), "-c", "import importlib.metadata as m; print(m.version('sslyze'))"]) if sslyze else "(not run)"
    machine["testssl"] = "testssl.sh " + version_of([testssl, "--version"]).split("testssl", 1)[-1].split()[0] if testssl and "testssl" in peers else "testssl.sh (not run)"
    site_path = bench_copy_of_site(SITE_NAME, work)
    runs: list[ToolRun] = []
    try:
        with running_site(site_path) as (site, state):
            endpoints = endpoints_of(site)
            targets = [f"{address}:{port}" for address, port in endpoints]
            (work / "endpoints.txt").write_text("\n".join(targets) + "\n", encoding="utf-8")
            hosts = sorted({address for address, _ in endpoints})
            ports = ",".join(str(port) for port in sorted({port for _, port in endpoints}))
            porthole = [porthole_executable, "audit", *hosts, "--scope", str(site.subnet), "--ports", ports, "--format", "json", "--quiet"]
            commands: dict[str, list[str]] = {
                # the product as an auditor runs it, restricted to the TLS ports (the HTTP
                # probe on 443 comes with it: porthole pays for it, the peers do not)
                "porthole": [*porthole, "--output", str(work / "porthole.json")],
                **{
                    f"porthole {variant}": [*porthole, "--output", str(work / f"porthole-variant-{number}.json"), *shlex.split(variant)]
                    for number, variant in enumerate(arguments.variant, start=1)
                },
                "sslyze": [str(sslyze or "sslyze"), "--quiet", "--json_out", str(work / "sslyze.json"), "--certinfo", "--sslv2", "--sslv3", "--tlsv1", "--tlsv1_1", "--tlsv1_2", "--tlsv1_3", "--elliptic_curves", "--mozilla_config=disable", *targets],
                # -p protocols, -E each cipher per protocol, -S certificate: the same questions
                "testssl": [testssl or "testssl", "--quiet", "--color", "0", "--warnings", "off", "-p", "-E", "-S", "--jsonfile", str(work / "testssl.json"), "--file", str(work / "endpoints.txt")],
            }
            commands = {tool: command for tool, command in commands.items() if tool.startswith("porthole") or tool in peers}
            for tool, command in commands.items():
                flush_neighbour_caches(state)
                say(f"bench: {tool} on {len(targets)} endpoints ...")
                recorder = _Capture(site, work / f"{_file_name(tool)}.frames.json")
                recorder.start()
                try:
                    finished = run_measured([*control.scanner_prefix(site), *command], stdout=work / f"{_file_name(tool)}.stdout", stderr=work / f"{_file_name(tool)}.stderr")
                finally:
                    frames = recorder.stop()
                traffic = summarise_connections(frames, str(site.scanner), endpoints)
                runs.append(ToolRun(tool=tool, argv=tuple(command), wall_s=round(finished.wall_s, 3), peak_rss_kb=finished.peak_rss_kb, exit_status=finished.exit_status, connections=traffic))
                say(
                    f"  {tool}: {finished.wall_s:.1f} s, {finished.peak_rss_kb / 1024:.1f} MB, exit {finished.exit_status}, "
                    f"{traffic.total} connections (at most {traffic.peak_concurrent_per_host} at once and {traffic.peak_new_per_second_per_host} new in a second per host)"
                )
    finally:
        shutil.copytree(work, arguments.results / f"tls-{stamp}")
        shutil.rmtree(work, ignore_errors=True)
    machine["load_average_at_end"] = os.getloadavg()
    kept = arguments.results / f"tls-{stamp}"

    parsers: dict[str, Callable[[], Accepted]] = {
        "porthole": lambda: parse_porthole(kept / "porthole.json", endpoints),
        "sslyze": lambda: parse_sslyze(kept / "sslyze.json"),
        "testssl": lambda: parse_testssl(kept / "testssl.json"),
    }
    accepted: dict[str, Accepted] = {}
    for tool, parse in parsers.items():
        if tool != "porthole" and tool not in peers:
            continue
        try:
            accepted[tool] = parse()
        except (OSError, ValueError, KeyError) as error:
            say(f"bench: could not read {tool}'s report: {error}")
    agreements = [row for peer in ("sslyze", "testssl") if peer in accepted and "porthole" in accepted for row in compare(accepted["porthole"], accepted[peer], peer)]
    markdown = render(runs, accepted, agreements, endpoints, machine, stamp)
    (arguments.results / f"tls-{stamp}.md").write_text(markdown, encoding="utf-8")
    results = {
        "benchmark": "tls",
        "machine": machine,
        "endpoints": [f"{a}:{p}" for a, p in endpoints],
        "runs": [asdict(run) for run in runs],
        "accepted": {tool: {endpoint: {v: sorted(s) for v, s in versions.items()} for endpoint, versions in by_endpoint.items()} for tool, by_endpoint in accepted.items()},
        "agreement": [asdict(row) for row in agreements],
    }
    (arguments.results / f"tls-{stamp}.json").write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    say("")
    say(markdown)
    say(f"bench: results in {arguments.results / f'tls-{stamp}.json'} (raw reports in {kept})")
    failed = [run for run in runs if run.exit_status not in (0, 1)] or [tool for tool in ("porthole", *peers) if tool not in accepted]
    return 1 if failed else 0


def render(runs: Sequence[ToolRun], accepted: Mapping[str, Accepted], agreements: Sequence[Agreement], endpoints: Sequence[tuple[str, int]], machine: Mapping[str, object], stamp: str) -> str:
    by_tool = {run.tool: run for run in runs}
    porthole = by_tool.get("porthole")
    lines = [
        f"TLS enumeration of {len(endpoints)} lab endpoints, one run each, {stamp}, porthole {machine['porthole']} at {machine['git_revision']} "
        f"({machine['git_uncommitted_paths']} uncommitted paths), sslyze {machine['sslyze']}, {machine['testssl']}, {machine['cpus']} CPUs, "
        f"load average {machine['load_average_at_start'][0]:.1f} at start and {machine['load_average_at_end'][0]:.1f} at end",  # type: ignore[index]
        "",
        "| tool | wall s | peak RSS MB | porthole's time as a share of it | connections (per endpoint) | per host: at once / new in 1 s | exit |",
        "|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        share = f"{porthole.wall_s / run.wall_s:.3f}" if porthole is not None and run.wall_s else "-"
        if run.tool.startswith("porthole "):
            share = "(what-if)"
        traffic = run.connections
        connections = "-"
        caps = "-"
        if traffic is not None:
            counts = list(traffic.per_endpoint.values())
            connections = f"{traffic.total} ({min(counts)}-{max(counts)})" if counts else str(traffic.total)
            caps = f"{traffic.peak_concurrent_per_host} / {traffic.peak_new_per_second_per_host}"
        lines.append(f"| {run.tool} | {run.wall_s:.2f} | {run.peak_rss_kb / 1024:.1f} | {share} | {connections} | {caps} | {run.exit_status} |")
    lines += ["", "| endpoint | porthole: versions (suites) | vs sslyze | vs testssl.sh |", "|---|---|---|---|"]
    ours = accepted.get("porthole", {})
    for address, port in endpoints:
        endpoint = f"{address}:{port}"
        versions = ours.get(endpoint)
        summary = ", ".join(f"{v.removeprefix('TLSv')} ({len(s)})" for v, s in sorted(versions.items())) if versions else "no result"
        cells = []
        for peer in ("sslyze", "testssl"):
            row = next((a for a in agreements if a.peer == peer and a.endpoint == endpoint), None)
            cells.append("-" if row is None else "agree" if row.suites_agree else "; ".join(row.differences))
        lines.append(f"| {endpoint} | {summary} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
