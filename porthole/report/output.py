"""Putting a report somewhere: the terminal (table or JSON) or a file, atomically.

* ``render`` writes a report to a rich ``Console`` as the human table or as JSON.
  JSON goes out raw (no wrapping, no highlighting) so ``porthole scan --format json |
  jq`` always receives valid JSON, whatever the terminal width.
* ``render_to_string`` is the same for ``--output FILE``: no colour, fixed width.
* ``render_document``: SARIF, JUnit XML, CSV, Markdown, HTML and nmap XML (the
  renderers in this package, docs/outputs.md), always written raw.
* ``write_atomic`` replaces a file so that a reader never sees half a report and a
  failed write leaves any previous report untouched: write a temporary file in the
  same directory, fsync it, ``os.replace`` it over the target, fsync the directory.
  Problems the user can fix (missing directory, a file where a directory should
  be, no permission, disk full) raise ``UsageError`` saying so.

This module writes only where it is told to; it never decides exit codes.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from rich.console import Console

from porthole.errors import UsageError
from porthole.model import Report, Severity
from porthole.report.encode import dumps_report
from porthole.report.exit_codes import DEFAULT_FAIL_ON
from porthole.report.table import render_report

if TYPE_CHECKING:
    from porthole.profiles import Profile

__all__ = ["Format", "DOCUMENT_FORMATS", "render", "render_to_string", "render_document", "write_atomic"]

Format = Literal["table", "json", "sarif", "junit", "csv", "markdown", "html", "nmap-xml"]

#: formats that are documents for other tools: written raw, never through rich
DOCUMENT_FORMATS = frozenset({"sarif", "junit", "csv", "markdown", "html", "nmap-xml"})

#: width of table reports written to files: fits a review diff, not a tiny terminal
FILE_WIDTH = 100


def render(
    report: Report,
    fmt: Format,
    console: Console,
    *,
    verbose: bool = False,
    fail_on: Severity = DEFAULT_FAIL_ON,
    profiles: Mapping[str, Profile] | None = None,
) -> None:
    """Write ``report`` to ``console`` in the requested format."""
    if fmt in DOCUMENT_FORMATS:
        console.out(render_document(report, fmt, fail_on=fail_on, profiles=profiles), highlight=False, end="")
    elif fmt == "json":
        # console.out: no markup, no wrapping, no highlighting; JSON must stay JSON.
        console.out(dumps_report(report), highlight=False, end="")
    elif fmt == "table":
        render_report(report, console, verbose=verbose)
    else:
        raise UsageError(f"unknown report format {fmt!r}; use 'table' or 'json'")


def render_to_string(
    report: Report,
    fmt: Format,
    *,
    verbose: bool = False,
    width: int = FILE_WIDTH,
    fail_on: Severity = DEFAULT_FAIL_ON,
    profiles: Mapping[str, Profile] | None = None,
) -> str:
    """The report as text for a file: plain (no ANSI colour), ``width`` columns for tables.

    ``fail_on`` decides JUnit failures; ``profiles`` (keyed by the path reports show)
    lets the document formats show every expectation and anchor SARIF results."""
    if fmt == "json":
        return dumps_report(report)
    if fmt in DOCUMENT_FORMATS:
        return render_document(report, fmt, fail_on=fail_on, profiles=profiles)
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, force_terminal=False, highlight=False)
    render(report, fmt, console, verbose=verbose)
    return buffer.getvalue()


def render_document(
    report: Report, fmt: Format, *, fail_on: Severity = DEFAULT_FAIL_ON, profiles: Mapping[str, Profile] | None = None
) -> str:
    """The report in one of ``DOCUMENT_FORMATS`` (renderers imported on demand)."""
    if fmt == "sarif":
        from porthole.report.sarif import render_sarif

        return render_sarif(report, profiles=profiles)
    if fmt == "junit":
        from porthole.report.junit import render_junit

        return render_junit(report, fail_on=fail_on, profiles=profiles)
    if fmt == "csv":
        from porthole.report.csv_out import render_csv

        return render_csv(report, profiles=profiles)
    if fmt == "markdown":
        from porthole.report.markdown import render_markdown

        return render_markdown(report, profiles=profiles)
    if fmt == "html":
        from porthole.report.markdown import render_html

        return render_html(report, profiles=profiles)
    if fmt == "nmap-xml":
        from porthole.report.nmap_xml import render_nmap_xml

        return render_nmap_xml(report)
    raise UsageError(f"unknown report format {fmt!r}; use one of table, json, {', '.join(sorted(DOCUMENT_FORMATS))}")


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8) atomically; ``UsageError`` if it cannot be written."""
    path = Path(path)
    directory = path.parent
    if path.is_dir():
        raise UsageError(f"cannot write report to {path}: it is a directory; give a file name, e.g. {path / 'report.json'}")
    # A random name in the target's directory: os.replace is only atomic within one
    # file system, and O_EXCL refuses to follow a planted file or symlink.
    temporary = directory / f".{path.name}.{secrets.token_hex(6)}.tmp"
    try:
        # Mode 0o666 lets the process umask decide the final permissions, exactly as
        # for a file opened with open(path, "w").
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        raise UsageError(_explain(path, exc)) from None
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileNotFoundError):
            # Keep an existing report's permissions when overwriting it.
            os.chmod(temporary, path.stat().st_mode & 0o7777)
        os.replace(temporary, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise UsageError(_explain(path, exc)) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable. Some file systems refuse fsync on a directory;
    # the report is already complete and in place, so that is not worth an error.
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _explain(path: Path, exc: OSError) -> str:
    parent = path.parent
    if isinstance(exc, FileNotFoundError):
        return f"cannot write report to {path}: directory {parent} does not exist; create it or choose another --output path"
    if isinstance(exc, NotADirectoryError):
        return f"cannot write report to {path}: {parent} is not a directory; choose another --output path"
    if isinstance(exc, IsADirectoryError):
        return f"cannot write report to {path}: it is a directory; give a file name"
    if isinstance(exc, PermissionError):
        return f"cannot write report to {path}: permission denied; choose a directory you can write to"
    return f"cannot write report to {path}: {exc.strerror or exc}; choose another --output path"
