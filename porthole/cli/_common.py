"""Helpers shared by the CLI commands: error reporting and exit codes."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence
from contextlib import contextmanager
from typing import Iterator, NoReturn

import typer

from porthole.errors import LabError, ScanSetupError, UsageError
from porthole.redact import mask_credential_url, redact_url
from porthole.report.exit_codes import ExitCode

__all__ = ["fail", "errors_as_exit_codes", "recorded_command"]

#: options whose whole URL is a credential (a webhook's token sits in its path or query)
_SECRET_URL_OPTIONS = frozenset({"--webhook"})


def fail(message: str, code: ExitCode) -> NoReturn:
    typer.echo(f"porthole: error: {message}", err=True)
    raise typer.Exit(int(code))


@contextmanager
def errors_as_exit_codes() -> Iterator[None]:
    """Map porthole's exception tree to exit codes with one clear line on stderr."""
    try:
        yield
    except UsageError as exc:
        fail(str(exc), ExitCode.USAGE)
    except (ScanSetupError, LabError) as exc:
        fail(str(exc), ExitCode.SCAN_FAILED)
    except OSError as exc:
        # e.g. too many open files, no such interface: the scan could not run
        fail(f"{exc.strerror or exc}{f' ({exc.filename})' if exc.filename else ''}", ExitCode.SCAN_FAILED)


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty()


def recorded_command(argv: Sequence[str] | None = None) -> str:
    """The command line as reports and the sweep store record it, secrets replaced by ``***``.

    Reports travel (attached to tickets, stored for years, posted to webhooks): a
    ``--store postgresql://user:password@db/...`` password or a ``--webhook`` URL, whose
    path or query is the credential of services such as Slack or Teams, must not travel
    with them. Passwords in any URL are masked; ``--webhook`` keeps only scheme and host.
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    shown: list[str] = []
    secret_next = False
    for argument in arguments:
        option, equals, value = argument.partition("=")
        if secret_next:
            shown.append(mask_credential_url(argument))
        elif equals and option in _SECRET_URL_OPTIONS:
            shown.append(f"{option}={mask_credential_url(value)}")
        elif equals and option.startswith("-") and "://" in value:
            shown.append(f"{option}={redact_url(value)}")
        else:
            shown.append(redact_url(argument) if "://" in argument else argument)
        secret_next = argument in _SECRET_URL_OPTIONS
    return shlex.join(["porthole", *shown])
