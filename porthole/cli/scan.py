"""``porthole scan`` and ``porthole audit``: one thin path from options to a report.

Everything the user typed is validated before the first packet: targets, scope,
ports, limits and profiles. Bad input exits 2 with one line naming what is wrong.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import sys
from dataclasses import replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from rich.console import Console

from porthole.audit import ProfileSelection, build_report, execute
from porthole.catalog import select_ports
from porthole.cli._common import errors_as_exit_codes, fail, recorded_command
from porthole.engine import DiscoveryMode, ScanConfig, Scanner, ScanOutcome, TimingPolicy
from porthole.errors import UsageError
from porthole.history.store import open_store
from porthole.model import Report, Severity
from porthole.report.exit_codes import ExitCode, exit_code_for
from porthole.report.output import render, render_to_string, write_atomic
from porthole.report.encode import dumps_report
from porthole.report.progress import RichProgressObserver
from porthole.targets import TargetSet, parse_targets

if TYPE_CHECKING:
    from porthole.ocpp.site import Site

__all__ = ["scan_command", "audit_command", "describe_config", "ArpRate", "PerHost", "Rate"]


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    SARIF = "sarif"
    JUNIT = "junit"
    CSV = "csv"
    MARKDOWN = "markdown"
    HTML = "html"
    NMAP_XML = "nmap-xml"


Targets = Annotated[Optional[list[str]], typer.Argument(help="Addresses, host names, CIDRs (198.18.0.0/24), ranges (198.18.0.10-20) or @file lists.", show_default=False)]
Exclude = Annotated[Optional[list[str]], typer.Option("--exclude", "-x", help="Leave out these addresses, CIDRs, ranges or @file (repeatable).")]
Scope = Annotated[Optional[list[str]], typer.Option("--scope", help="Refuse any target outside these CIDRs or @scope-file (repeatable).")]
AllowPublic = Annotated[bool, typer.Option("--allow-public", help="Allow globally routable (public) addresses; refused by default.")]
MaxHosts = Annotated[int, typer.Option("--max-hosts", min=1, help="Refuse target sets larger than this.")]
Ports = Annotated[Optional[str], typer.Option("--ports", "-p", help="Restrict (502,53/udp), add (+8080) or remove (-22) ports; default: the whole catalogue.")]
NoDiscovery = Annotated[bool, typer.Option("--no-discovery", "-Pn", help="Skip host discovery and probe every address.")]
Discovery = Annotated[DiscoveryMode, typer.Option("--discovery", help="Host discovery: auto (ARP on-link as root, else ping), arp, ping, none.")]
Syn = Annotated[bool, typer.Option("--syn", help="Half-open SYN probes over raw sockets (root, IPv4).")]
MaxConnections = Annotated[int, typer.Option("--max-connections", min=1, help="Probes in flight across the whole sweep.")]
PerHost = Annotated[int, typer.Option("--per-host-connections", min=1, help="Probes in flight to one host (fragile controllers: keep it low).")]
Rate = Annotated[float, typer.Option("--rate", min=0.1, help="New connections or datagrams per second to one host.")]
ArpRate = Annotated[float, typer.Option("--arp-rate", min=1.0, max=10000.0, help="ARP requests per second during discovery on one segment (broadcasts every device there sees).")]
HostParallelism = Annotated[int, typer.Option("--host-parallelism", min=1, help="Hosts scanned at once.")]
Retries = Annotated[int, typer.Option("--retries", min=0, max=10, help="Extra attempts for ports that stay silent.")]
InitialTimeout = Annotated[float, typer.Option("--initial-timeout", min=0.01, help="Seconds to wait for an answer before the host's RTT is known.")]
MinTimeout = Annotated[float, typer.Option("--min-timeout", min=0.01, help="Lower bound of the adaptive per-probe timeout, seconds.")]
MaxTimeout = Annotated[float, typer.Option("--max-timeout", min=0.01, help="Upper bound of the adaptive per-probe timeout, seconds.")]
Format = Annotated[OutputFormat, typer.Option("--format", "-f", help="Report format on stdout or in --output.")]
Output = Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the report to this file (atomically) in --format.", dir_okay=False)]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar and no table on the terminal.")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Show closed ports, evidence lines and engine logs.")]
FailOn = Annotated[Severity, typer.Option("--fail-on", help="Exit 1 when a finding has at least this severity.")]
Role = Annotated[str, typer.Option("--role", help="Role profile to diff against: auto (infer per host), master, slave or a profile name.")]
Profile = Annotated[Optional[str], typer.Option("--profile", help="A profile file to diff every host against (overrides --role).")]
FromNmap = Annotated[Optional[Path], typer.Option("--from-nmap", help="Diff this nmap XML scan (nmap -oX) against the role profile instead of scanning.", dir_okay=False)]


def audit_command(
    targets: Targets = None,
    role: Role = "auto",
    profile: Profile = None,
    exclude: Exclude = None,
    scope: Scope = None,
    allow_public: AllowPublic = False,
    max_hosts: MaxHosts = 65536,
    ports: Ports = None,
    no_discovery: NoDiscovery = False,
    discovery: Discovery = DiscoveryMode.AUTO,
    syn: Syn = False,
    max_connections: MaxConnections = 128,
    per_host_connections: PerHost = 2,
    rate: Rate = 40.0,
    arp_rate: ArpRate = 1000.0,
    host_parallelism: HostParallelism = 32,
    retries: Retries = 1,
    initial_timeout: InitialTimeout = 1.0,
    min_timeout: MinTimeout = 0.05,
    max_timeout: MaxTimeout = 3.0,
    output_format: Format = OutputFormat.TABLE,
    output: Output = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
    fail_on: FailOn = Severity.HIGH,
    store: Annotated[Optional[str], typer.Option("--store", help="Also store the report in this sweep store (SQLite file or postgresql:// URL) for `porthole history` and `drift`.")] = None,
    from_nmap: FromNmap = None,
    site: Annotated[Optional[Path], typer.Option("--site", help="Site file (TOML) naming each controller's CSMS URL: also audit those OCPP links (docs/ocpp.md).", dir_okay=False)] = None,
) -> None:
    _run(command="audit", fingerprint=True, **locals())



def scan_command(**options: Any) -> None:
    _run(command="scan", fingerprint=False, role=None, profile=None, **options)


# `scan` takes every option of `audit` except the profile ones. Declared once: typer
# reads the signature, so the two commands cannot drift apart.
_AUDIT_ONLY = ("role", "profile", "store", "from_nmap", "site")
_audit_signature = inspect.signature(audit_command, eval_str=True)
scan_command.__signature__ = _audit_signature.replace(  # type: ignore[attr-defined]
    parameters=[parameter for parameter in _audit_signature.parameters.values() if parameter.name not in _AUDIT_ONLY]
)


def _run(
    *,
    command: str,
    fingerprint: bool,
    role: str | None,
    profile: str | None,
    targets: list[str],
    exclude: list[str] | None,
    scope: list[str] | None,
    allow_public: bool,
    max_hosts: int,
    ports: str | None,
    no_discovery: bool,
    discovery: DiscoveryMode,
    syn: bool,
    max_connections: int,
    per_host_connections: int,
    rate: float,
    arp_rate: float,
    host_parallelism: int,
    retries: int,
    initial_timeout: float,
    min_timeout: float,
    max_timeout: float,
    output_format: OutputFormat,
    output: Path | None,
    quiet: bool,
    verbose: bool,
    fail_on: Severity,
    store: str | None = None,
    from_nmap: Path | None = None,
    site: Path | None = None,
) -> None:
    if quiet and verbose:
        fail("--quiet and --verbose cannot be used together", ExitCode.USAGE)
    if verbose:
        logging.getLogger("porthole").setLevel(logging.INFO)
    with errors_as_exit_codes():
        if not min_timeout <= initial_timeout <= max_timeout:
            raise UsageError(f"timeouts must satisfy --min-timeout ({min_timeout:g}) <= --initial-timeout ({initial_timeout:g}) <= --max-timeout ({max_timeout:g})")
        # read before the first packet: a bad site file is exit 2, not a half-done audit
        site_file = _load_site(site) if site is not None else None
        if from_nmap is not None:
            if site_file is not None:
                raise UsageError("--site audits live OCPP links and cannot be combined with --from-nmap")
            if targets:
                raise UsageError("give either targets to scan or --from-nmap FILE to import, not both")
            _import_nmap(from_nmap, role=role, profile=profile, output_format=output_format, output=output, quiet=quiet, verbose=verbose, fail_on=fail_on)
        if not targets:
            raise UsageError("no targets given; name at least one address, CIDR, range or @file")
        target_set = parse_targets(targets, exclude=exclude or (), scope=scope or (), allow_public=allow_public, max_addresses=max_hosts)
        selection = ProfileSelection.from_options(role=role, profile=profile)
        config = ScanConfig(
            ports=tuple(select_ports(ports)),
            timing=TimingPolicy(initial_timeout=initial_timeout, min_timeout=min_timeout, max_timeout=max_timeout),
            max_connections=max_connections,
            per_host_connections=per_host_connections,
            per_host_rate=rate,
            arp_rate=arp_rate,
            host_parallelism=host_parallelism,
            tcp_retries=retries,
            udp_retries=retries,
            discovery=DiscoveryMode.NONE if no_discovery else discovery,
            syn=syn,
            fingerprint=fingerprint,
        )
        if output is not None and output.parent and not output.parent.is_dir():
            raise UsageError(f"--output {output}: directory {output.parent} does not exist")
        terminal = Console(stderr=False, highlight=False, soft_wrap=False)
        progress = RichProgressObserver(Console(stderr=True), quiet=quiet)
        # opened before the first packet: a wrong or old-schema store is exit 2, not a lost audit
        sweep_store = open_store(store) if store is not None else None
        report = asyncio.run(_scan(command, config, selection, target_set, progress, site=site_file))
        if sweep_store is not None:
            with sweep_store:
                sweep_store.record_report(report)
        _emit(report, output_format=output_format, output=output, quiet=quiet, verbose=verbose, console=terminal, fail_on=fail_on, profiles=_profiles_of(selection))
    raise typer.Exit(int(exit_code_for(report, fail_on)))


def _import_nmap(path: Path, *, role: str | None, profile: str | None, output_format: OutputFormat, output: Path | None, quiet: bool, verbose: bool, fail_on: Severity) -> None:
    """``audit --from-nmap``: no packets; nmap's port states diffed against the profile."""
    from porthole.report.nmap_import import read_nmap_xml, report_from_nmap

    selection = ProfileSelection.from_options(role=role, profile=profile)
    scan = read_nmap_xml(path)
    command = recorded_command() if sys.argv else "audit"
    report = report_from_nmap(scan, selection=selection, command=command, origin=str(path))
    terminal = Console(stderr=False, highlight=False, soft_wrap=False)
    _emit(report, output_format=output_format, output=output, quiet=quiet, verbose=verbose, console=terminal, fail_on=fail_on, profiles=_profiles_of(selection))
    raise typer.Exit(int(exit_code_for(report, fail_on)))


def _profiles_of(selection: ProfileSelection) -> dict[str, Any]:
    """The loaded profiles by the path reports show, for the document formats."""
    loaded = [selection.fixed] if selection.fixed is not None else list((selection.candidates or {}).values())
    return {profile.display_path: profile for profile in loaded}


async def _scan(command: str, config: ScanConfig, selection: ProfileSelection, targets: TargetSet, observer: RichProgressObserver, *, site: Site | None = None) -> Report:
    loop = asyncio.get_running_loop()
    started_at = datetime.now(UTC)
    started = loop.time()
    probes: tuple[Any, ...] = ()
    if config.fingerprint:
        from porthole.services import registry  # only audits pay for importing the probes

        probes = registry()
    scanner = Scanner(config, observer, probes=probes)
    outcome, interrupted = await execute(scanner, targets)
    described = describe_config(config)
    if site is not None and not interrupted:
        outcome, described = await _with_site_links(outcome, described, site)
    return build_report(
        outcome,
        command=recorded_command() if sys.argv else command,
        selection=selection,
        started_at=started_at,
        finished_at=datetime.now(UTC),
        duration_s=loop.time() - started,
        interrupted=interrupted,
        config=described,
        targets=targets,
    )


def _load_site(path: Path) -> Site:
    from porthole.ocpp.site import load_site  # websockets is imported only when a site file is given

    return load_site(path)


async def _with_site_links(outcome: ScanOutcome, described: dict[str, Any], site: Site) -> tuple[ScanOutcome, dict[str, Any]]:
    """Audit the OCPP link of each audited host the site file lists: findings on the host,
    the link evidence under ``config.ocpp_links`` (HostResult's schema is closed)."""
    from porthole.ocpp.site import audit_site_links, link_documents

    audits = await audit_site_links(site, {host.address for host in outcome.hosts})
    by_address = {audit.controller.address: audit.findings for audit in audits}
    hosts = [replace(host, findings=(*host.findings, *by_address.get(host.address, ()))) for host in outcome.hosts]
    return replace(outcome, hosts=hosts), {**described, "site": str(site.path), "ocpp_links": link_documents(audits)}


def describe_config(config: ScanConfig) -> dict[str, Any]:
    """The settings a report records under ``config`` (informational, not versioned)."""
    return {
        "ports": [str(entry.ref) for entry in config.ports],
        "max_connections": config.max_connections,
        "per_host_connections": config.per_host_connections,
        "per_host_rate": config.per_host_rate,
        "arp_rate": config.arp_rate,
        "host_parallelism": config.host_parallelism,
        "tcp_retries": config.tcp_retries,
        "udp_retries": config.udp_retries,
        "initial_timeout_s": config.timing.initial_timeout,
        "min_timeout_s": config.timing.min_timeout,
        "max_timeout_s": config.timing.max_timeout,
        "discovery_mode": config.discovery.value,
        "syn": config.syn,
        "fingerprint": config.fingerprint,
    }


def _emit(
    report: Report,
    *,
    output_format: OutputFormat,
    output: Path | None,
    quiet: bool,
    verbose: bool,
    console: Console,
    fail_on: Severity = Severity.HIGH,
    profiles: dict[str, Any] | None = None,
) -> None:
    """stdout gets the report in --format unless it went to --output; the table is shown
    on the terminal beside a JSON (or other document) file unless --quiet."""
    if output is not None:
        text = render_to_string(report, output_format.value, verbose=verbose, fail_on=fail_on, profiles=profiles)  # type: ignore[arg-type]
        write_atomic(output, text)
        if not quiet:
            render(report, "table", console, verbose=verbose)
            console.print(f"report written to {output}")
        return
    if output_format is not OutputFormat.TABLE:
        sys.stdout.write(render_to_string(report, output_format.value, fail_on=fail_on, profiles=profiles))  # type: ignore[arg-type]
        sys.stdout.flush()
    elif not quiet:
        render(report, "table", console, verbose=verbose)
