"""The ``porthole`` command line (typer): argument parsing and presentation only.

    porthole scan TARGET...        ports only
    porthole audit TARGET...       ports, fingerprints, role-profile diff
    porthole profile list|show|capture
    porthole lab up|down|status

Exit codes (documented in docs/report.md and README):
    0 clean · 1 findings at or above --fail-on · 2 usage or input error ·
    3 the scan could not run · 130 interrupted (partial report written)
"""

from __future__ import annotations

import logging
import sys
from typing import Annotated, Optional

import typer

from porthole import __version__
from porthole.cli import firewall as firewall_commands
from porthole.cli import lab as lab_commands
from porthole.cli import history as history_commands
from porthole.cli import profile as profile_commands
from porthole.cli.ocpp import ocpp_command
from porthole.cli.scan import audit_command, scan_command

__all__ = ["app", "main"]

app = typer.Typer(
    name="porthole",
    help="Audit the network exposure of EV charge controllers: port states, service fingerprints and role-profile diffs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"porthole {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[Optional[bool], typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")] = None,
) -> None:
    """porthole: what is open on your charge controllers, what should be, and why it matters."""
    logging.basicConfig(level=logging.WARNING, format="porthole: %(levelname)s: %(message)s", stream=sys.stderr)


app.command("scan", help="Probe the catalogue ports (no fingerprints, no profile diff).")(scan_command)
app.command("audit", help="Probe, fingerprint and diff each controller against its role profile.")(audit_command)
app.add_typer(profile_commands.app, name="profile")
app.add_typer(lab_commands.app, name="lab")
app.command("ocpp", help="Audit the OCPP-J link to a CSMS: scheme, TLS, subprotocols, security profile, duplicate identity.")(ocpp_command)
app.command("history", help="List the sweeps in the store (--store); --migrate upgrades an old store.")(history_commands.history_command)
app.command("drift", help="What changed between two stored sweeps (default: the last two).")(history_commands.drift_command)
app.command("watch", help="Sweep on a schedule (--every 1h) or --once; store, compare, notify a webhook on drift.")(history_commands.watch_command)
app.command("firewall", help="Render firewall rules (nftables, iptables, Cisco ACL) from a role profile and an optional report.")(firewall_commands.firewall_command)


def main() -> None:
    app()
