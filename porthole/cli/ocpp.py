"""``porthole ocpp URL --identity ID``: audit the link from a charge controller to its CSMS.

Parsing and presentation only; the work is ``porthole.ocpp``. The password is read from
an environment variable or a file, never from the command line (it would show in the
process list and shell history), and never printed.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from porthole.cli._common import errors_as_exit_codes
from porthole.errors import UsageError
from porthole.model import Severity
from porthole.report.exit_codes import DEFAULT_FAIL_ON, ExitCode

__all__ = ["ocpp_command"]


def ocpp_command(
    url: Annotated[str, typer.Argument(help="CSMS endpoint URL without the identity, e.g. wss://csms.example/ocpp")],
    *,
    identity: Annotated[str, typer.Option("--identity", help="Charge-point identity dedicated to this audit (never a live station's).")],
    password_env: Annotated[str, typer.Option("--password-env", help="Environment variable holding the Basic-auth password.")] = "PORTHOLE_OCPP_PASSWORD",
    password_file: Annotated[Optional[Path], typer.Option("--password-file", help="File whose first line is the Basic-auth password.")] = None,
    client_cert: Annotated[Optional[Path], typer.Option("--client-cert", envvar="PORTHOLE_OCPP_CLIENT_CERT", help="PEM client certificate (profile 3).")] = None,
    client_key: Annotated[Optional[Path], typer.Option("--client-key", envvar="PORTHOLE_OCPP_CLIENT_KEY", help="PEM key of the client certificate.")] = None,
    ca_file: Annotated[Optional[Path], typer.Option("--ca-file", help="CA bundle the CSMS certificate must validate against (default: system store).")] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds per step (handshake, answer).")] = 5.0,
    duplicate_identity_test: Annotated[bool, typer.Option("--duplicate-identity-test", help="Open a second connection with the same identity (only on endpoints you own; sends BootNotification/Heartbeat).")] = False,
    output_json: Annotated[bool, typer.Option("--json", help="Print the evidence and findings as JSON.")] = False,
    fail_on: Annotated[Severity, typer.Option("--fail-on", help="Exit 1 when a finding is at or above this severity.")] = DEFAULT_FAIL_ON,
) -> None:
    """Audit an OCPP-J backend: scheme, TLS, subprotocols, security profile, duplicate identity."""
    from porthole.ocpp import LinkSettings, assess, enforced_profile, probe_link, render_json, render_text  # only this command pays for websockets

    with errors_as_exit_codes():
        password = _password(password_env, password_file)
        settings = LinkSettings(
            url=url, identity=identity, password=password, client_certificate=client_cert, client_key=client_key,
            ca_file=ca_file, step_budget=timeout, duplicate_identity_test=duplicate_identity_test,
        )
        evidence = asyncio.run(probe_link(settings))
    profile = enforced_profile(evidence)
    findings = assess(evidence)
    if output_json:
        typer.echo(json.dumps(render_json(evidence, profile, findings), indent=2))
    else:
        typer.echo("\n".join(render_text(evidence, profile, findings)))
    if any(item.severity.rank >= fail_on.rank for item in findings):
        raise typer.Exit(int(ExitCode.FINDINGS))


def _password(variable: str, path: Path | None) -> str | None:
    if path is not None:
        try:
            return path.read_text(encoding="utf-8").splitlines()[0]
        except (OSError, IndexError) as exc:
            raise UsageError(f"--password-file {path}: cannot read a first line ({exc}); give a file holding the password") from None
    return os.environ.get(variable) or None
