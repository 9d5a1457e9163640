"""``porthole history``, ``porthole drift`` and ``porthole watch``: the sweep store on the command line.

Parsing and presentation only; the store, the diff and the schedule live in
``porthole.history``.

``porthole watch --once`` exit codes (for cron and systemd):
    0 no drift, no finding at or above --fail-on · 1 findings at or above --fail-on, no drift ·
    2 usage error · 3 the scan could not run · 4 DRIFT: this sweep differs from the previous
    complete one · 130 interrupted (the partial sweep is stored, not compared)
Drift wins over findings: a watcher exists to notice change.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from porthole.audit import ProfileSelection, build_report, execute
from porthole.catalog import select_ports
from porthole.cli._common import errors_as_exit_codes, recorded_command
from porthole.cli.scan import ArpRate, PerHost, Rate, describe_config
from porthole.engine import DiscoveryMode, ScanConfig, Scanner
from porthole.errors import UsageError
from porthole.history.drift import Drift, diff_reports, drift_to_json
from porthole.history.store import SweepStore, default_store_location, open_store
from porthole.history.watch import SweepFunction, WatchOutcome, WebhookSettings, parse_interval, sweep_once, watch_every
from porthole.model import Severity
from porthole.report.encode import dumps_report
from porthole.report.exit_codes import ExitCode
from porthole.report.progress import RichProgressObserver
from porthole.targets import parse_targets

__all__ = ["history_command", "drift_command", "watch_command", "DRIFT_EXIT_CODE"]

#: ``watch --once`` found drift; outside 0/1/2/3/130, and below 126 (shell-reserved codes)
DRIFT_EXIT_CODE = 4


class ListFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


StoreOption = Annotated[
    Optional[str],
    typer.Option("--store", help="Sweep store: an SQLite file or a postgresql:// URL (default $PORTHOLE_STORE or ~/.local/share/porthole/history.sqlite).", show_default=False),
]
FormatOption = Annotated[ListFormat, typer.Option("--format", "-f", help="table or json.")]


def _store_location(store: str | None) -> str:
    if store is not None:
        return store
    location = default_store_location()
    if isinstance(location, Path):  # a postgresql:// URL has no directory to create
        location.parent.mkdir(parents=True, exist_ok=True)
    return str(location)


def history_command(
    store: StoreOption = None,
    migrate: Annotated[bool, typer.Option("--migrate", help="Upgrade a store written by an older porthole to this version's schema.")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Show at most this many sweeps, newest first.")] = 50,
    output_format: FormatOption = ListFormat.TABLE,
) -> None:
    with errors_as_exit_codes():
        with open_store(_store_location(store), migrate=migrate) as opened:
            if migrate:
                typer.echo(f"{opened.path}: schema version {opened.schema_version}", err=True)
            sweeps = opened.sweeps(limit=limit)
    if output_format is ListFormat.JSON:
        rows = [
            {"id": s.id, "started_at": s.started_at, "duration_s": s.duration_s, "interrupted": s.interrupted,
             "hosts_up": s.hosts_up, "open_ports": s.open_ports, "findings": s.findings, "command": s.command}
            for s in sweeps
        ]
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    table = Table(title=None, show_edge=False)
    for column in ("sweep", "started", "duration", "hosts up", "open ports", "findings", "command"):
        table.add_column(column, justify="right" if column in ("sweep", "hosts up", "open ports", "findings") else "left", no_wrap=column != "command")
    for s in sweeps:
        started = s.started_at[:19] + (" (interrupted)" if s.interrupted else "")
        table.add_row(str(s.id), started, f"{s.duration_s:.1f}s", str(s.hosts_up), str(s.open_ports), str(s.findings), s.command)
    Console(highlight=False, soft_wrap=True).print(table if sweeps else "no sweeps stored yet")


def drift_command(
    before: Annotated[Optional[int], typer.Argument(help="Older sweep id (default: the second newest complete sweep).", show_default=False)] = None,
    after: Annotated[Optional[int], typer.Argument(help="Newer sweep id (default: the newest complete sweep).", show_default=False)] = None,
    store: StoreOption = None,
    output_format: FormatOption = ListFormat.TABLE,
) -> None:
    with errors_as_exit_codes():
        with open_store(_store_location(store)) as opened:
            drift = _drift_between(opened, before, after)
    if output_format is ListFormat.JSON:
        sys.stdout.write(json.dumps(drift_to_json(drift), indent=2) + "\n")
    else:
        print_drift(drift, Console(highlight=False, soft_wrap=True))


def _drift_between(store: SweepStore, before: int | None, after: int | None) -> Drift:
    if before is None or after is None:
        latest = store.latest_complete(2 if before is None else 1)
        if before is None:
            if len(latest) < 2:
                raise UsageError(f"drift needs two complete sweeps in {store.path}; it has {len(latest)} (see `porthole history`)")
            before, after = latest
        else:
            if not latest:
                raise UsageError(f"no complete sweep in {store.path} to compare sweep {before} with")
            after = latest[-1]
    return diff_reports(store.report(before), store.report(after), before_sweep=before, after_sweep=after)


def print_drift(drift: Drift, console: Console) -> None:
    heading = f"drift from sweep {drift.before_sweep} to sweep {drift.after_sweep}"
    if not drift:
        console.print(f"{heading}: no changes")
        return
    table = Table(title=heading, show_edge=False, title_justify="left")
    for column in ("where", "change", "what", "before", "after"):
        table.add_column(column)
    for change in drift.changes:
        table.add_row(change.where, change.kind.value, change.subject or "", change.before or "", change.after or "")
    console.print(table)


def watch_command(
    targets: Annotated[list[str], typer.Argument(help="Addresses, CIDRs, ranges or @file lists, as for `porthole audit`.", show_default=False)],
    every: Annotated[str, typer.Option("--every", help="Time between sweep starts: 90s, 15m, 1h, 1d.")] = "1h",
    once: Annotated[bool, typer.Option("--once", help="Sweep once, store, exit 4 on drift (for cron and systemd timers).")] = False,
    store: StoreOption = None,
    webhook: Annotated[Optional[str], typer.Option("--webhook", help="POST a JSON drift report to this URL when a sweep differs from the previous one.")] = None,
    webhook_attempts: Annotated[int, typer.Option("--webhook-attempts", min=1, max=20, help="Deliveries tried before giving up (1s, 2s, 4s... apart).")] = 5,
    metrics_file: Annotated[Optional[Path], typer.Option("--metrics-file", dir_okay=False, help="Write Prometheus textfile metrics here after every sweep.")] = None,
    role: Annotated[str, typer.Option("--role", help="Role profile: auto, master, slave or a profile name.")] = "auto",
    profile: Annotated[Optional[str], typer.Option("--profile", help="A profile file to diff every host against.")] = None,
    ports: Annotated[Optional[str], typer.Option("--ports", "-p", help="Port selection as for `porthole audit`.")] = None,
    exclude: Annotated[Optional[list[str]], typer.Option("--exclude", "-x", help="Leave out these targets (repeatable).")] = None,
    scope: Annotated[Optional[list[str]], typer.Option("--scope", help="Refuse any target outside these CIDRs (repeatable).")] = None,
    allow_public: Annotated[bool, typer.Option("--allow-public", help="Allow globally routable addresses.")] = False,
    no_discovery: Annotated[bool, typer.Option("--no-discovery", "-Pn", help="Skip host discovery.")] = False,
    per_host_connections: PerHost = 2,
    rate: Rate = 40.0,
    arp_rate: ArpRate = 1000.0,
    fail_on: Annotated[Severity, typer.Option("--fail-on", help="With --once and no drift: exit 1 when a finding has at least this severity.")] = Severity.HIGH,
) -> None:
    with errors_as_exit_codes():
        interval = parse_interval(every)
        target_set = parse_targets(targets, exclude=exclude or (), scope=scope or (), allow_public=allow_public, max_addresses=65536)
        selection = ProfileSelection.from_options(role=role, profile=profile)
        config = ScanConfig(
            ports=tuple(select_ports(ports)),
            discovery=DiscoveryMode.NONE if no_discovery else DiscoveryMode.AUTO,
            fingerprint=True,
            per_host_connections=per_host_connections,
            per_host_rate=rate,
            arp_rate=arp_rate,
        )
        if metrics_file is not None and not metrics_file.parent.is_dir():
            raise UsageError(f"--metrics-file {metrics_file}: directory {metrics_file.parent} does not exist")
        settings = WebhookSettings(url=webhook, attempts=webhook_attempts) if webhook else None
        sweep = _sweep_function(config, selection, target_set)
        with open_store(_store_location(store)) as opened:
            if once:
                outcome = asyncio.run(sweep_once(sweep, opened, webhook=settings, metrics_file=metrics_file))
                _announce(outcome)
                raise typer.Exit(_once_exit_code(outcome, fail_on))
            try:
                asyncio.run(watch_every(sweep, opened, interval, webhook=settings, metrics_file=metrics_file, on_outcome=_announce))
            except KeyboardInterrupt:  # between sweeps: nothing is in flight, nothing to store
                pass
            raise typer.Exit(int(ExitCode.INTERRUPTED))


def _sweep_function(config: ScanConfig, selection: ProfileSelection, targets: Any) -> SweepFunction:
    async def sweep() -> dict[str, Any]:
        from porthole.services import registry

        loop = asyncio.get_running_loop()
        started_at, started = datetime.now(UTC), loop.time()
        scanner = Scanner(config, RichProgressObserver(Console(stderr=True), quiet=True), probes=registry())
        outcome, interrupted = await execute(scanner, targets)
        report = build_report(
            outcome, command=recorded_command(), selection=selection, started_at=started_at,
            finished_at=datetime.now(UTC), duration_s=loop.time() - started, interrupted=interrupted,
            config=describe_config(config),
            targets=targets,
        )
        return json.loads(dumps_report(report))

    return sweep


def _announce(outcome: WatchOutcome) -> None:
    if outcome.drift is None:
        what = "interrupted, not compared" if outcome.report.get("interrupted") else "no earlier sweep to compare with"
    else:
        what = f"{len(outcome.drift.changes)} change(s) since sweep {outcome.drift.before_sweep}"
    if outcome.delivery is not None:
        what += "; webhook notified" if outcome.delivery.delivered else f"; webhook NOT notified ({outcome.delivery.error})"
    typer.echo(f"porthole watch: sweep {outcome.sweep_id} stored: {what}", err=True)


def _once_exit_code(outcome: WatchOutcome, fail_on: Severity) -> int:
    if outcome.report.get("interrupted"):
        return int(ExitCode.INTERRUPTED)
    if outcome.drift:
        return DRIFT_EXIT_CODE
    severities = {Severity(finding["severity"]) for host in outcome.report.get("hosts", []) for finding in host.get("findings", [])}
    return int(ExitCode.FINDINGS if any(severity.rank >= fail_on.rank for severity in severities) else ExitCode.CLEAN)
