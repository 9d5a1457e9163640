"""``porthole profile list|show|capture``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from porthole import profiles
from porthole.cli._common import errors_as_exit_codes
from porthole.errors import ReportInputError
from porthole.report.output import write_atomic
from porthole.report.schema import load_report

app = typer.Typer(help="List, show and capture role profiles.", no_args_is_help=True)


@app.command("list")
def list_command() -> None:
    """List the profiles porthole can find (PORTHOLE_PROFILES_DIR, then the shipped profiles/)."""
    with errors_as_exit_codes():
        found = profiles.list_profiles()
    table = Table(title="role profiles", title_justify="left")
    for column in ("id", "role", "version", "path", "description"):
        table.add_column(column)
    for profile in found:
        ref = profile.ref()
        table.add_row(ref.id, ref.role, str(ref.version), str(profile.path), profile.description or "")
    Console().print(table)


@app.command("show")
def show_command(name: Annotated[str, typer.Argument(help="A profile name (master, slave) or a .toml path.")]) -> None:
    """Show what a profile expects of every port, and why."""
    with errors_as_exit_codes():
        profile = profiles.load_profile(Path(name) if ("/" in name or name.endswith(".toml")) else name)
        Console().print(profiles.render_profile(profile))


@app.command("capture")
def capture_command(
    report: Annotated[Path, typer.Argument(help="A porthole JSON report of a known-good controller.", exists=False)],
    host: Annotated[Optional[str], typer.Option("--host", help="Which host of the report (required when it has several).")] = None,
    profile_id: Annotated[Optional[str], typer.Option("--id", help="The new profile's id (default: captured-<address>).")] = None,
    role: Annotated[str, typer.Option("--role", help="The role the unit plays (master, slave...).")] = "master",
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the profile here (atomically) instead of stdout.")] = None,
) -> None:
    """Write a profile that expects exactly what a known-good unit exposes."""
    with errors_as_exit_codes():
        data = load_report(report)
        hosts = data.get("hosts", [])
        if host is None:
            if len(hosts) != 1:
                raise ReportInputError(f"{report} has {len(hosts)} hosts; choose one with --host ({', '.join(h['address'] for h in hosts[:5])}{'...' if len(hosts) > 5 else ''})")
            chosen = hosts[0]
        else:
            chosen = next((h for h in hosts if h["address"] == host or h.get("hostname") == host), None)
            if chosen is None:
                raise ReportInputError(f"{report} has no host {host!r}")
        text = profiles.capture_profile(chosen, profile_id=profile_id or f"captured-{chosen['address']}", role=role, source=str(report))
        if output is None:
            sys.stdout.write(text)
        else:
            write_atomic(output, text)
            typer.echo(f"profile written to {output}", err=True)
