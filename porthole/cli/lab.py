"""``porthole lab up|down|status``: the simulated charger site (see lab/README.md).

The lab lives in the repository (``lab/``), not in the installed package's runtime
path: it is imported only when one of these commands runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from porthole.cli._common import errors_as_exit_codes
from porthole.errors import LabError

app = typer.Typer(help="Start, stop and inspect the lab site (network namespaces; needs root).", no_args_is_help=True)

SiteOption = Annotated[Optional[Path], typer.Option("--site", help="Site file (default: lab/site.toml).")]


def _control():  # type: ignore[no-untyped-def]
    try:
        from lab import control
    except ImportError as exc:
        raise LabError(f"the lab is not available in this installation ({exc}); run from a source checkout: make lab-up") from None
    return control


@app.command("up")
def up_command(site: SiteOption = None) -> None:
    """Create the site's namespaces and start every controller's services."""
    with errors_as_exit_codes():
        control = _control()
        state = control.up(site or control.DEFAULT_SITE)
        _print_state(state)
        typer.echo(f"scan it from inside: {' '.join(control.scanner_prefix(control.load_site(site or control.DEFAULT_SITE)))} porthole audit <targets>")


@app.command("down")
def down_command(site: SiteOption = None) -> None:
    """Stop the site's processes and delete its namespaces."""
    with errors_as_exit_codes():
        control = _control()
        control.down(site or control.DEFAULT_SITE)
        typer.echo("lab site stopped")


@app.command("status")
def status_command(site: SiteOption = None) -> None:
    """Show the site's controllers, addresses and service processes."""
    with errors_as_exit_codes():
        control = _control()
        state = control.status(site or control.DEFAULT_SITE)
    if state is None:
        typer.echo("lab site is not running")
        raise typer.Exit(1)
    _print_state(state)


def _print_state(state: object) -> None:
    """One table: each controller's address and its service processes, alive or not."""
    console = Console()
    console.print(f"lab site [bold]{state.site_name}[/bold] ({state.phase.value}, started {state.started_at}); scanner namespace {state.scanner_namespace}")  # type: ignore[attr-defined]
    table = Table(show_edge=False, pad_edge=False)
    for column in ("host", "address", "service", "ports", "pid", "running"):
        table.add_column(column)
    for record in state.processes:  # type: ignore[attr-defined]
        table.add_row(
            record.host,
            state.addresses.get(record.host, ""),  # type: ignore[attr-defined]
            record.kind,
            ", ".join(record.ports),
            str(record.pid),
            "yes" if record.is_running() else "[red]no[/red]",
        )
    console.print(table)
