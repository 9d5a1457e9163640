"""Helpers shared by the CLI commands: error reporting and exit codes."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator, NoReturn

import typer

from porthole.errors import LabError, ScanSetupError, UsageError
from porthole.report.exit_codes import ExitCode

__all__ = ["fail", "errors_as_exit_codes"]


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
