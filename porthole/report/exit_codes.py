"""porthole's exit codes and the rule that maps a finished report to one.

    0    CLEAN         the scan ran; no finding at or above --fail-on
    1    FINDINGS      at least one finding at or above --fail-on (default: high)
    2    USAGE         bad arguments or input files (any porthole.errors.UsageError)
    3    SCAN_FAILED   the scan could not run at all (porthole.errors.ScanSetupError)
    130  INTERRUPTED   the scan was interrupted (Ctrl-C); the report is partial

The same table is in docs/report.md. ``exit_code_for`` only decides between 0, 1
and 130 from a report; 2 and 3 come from exceptions, which are the CLI's business
(library code never calls ``sys.exit``).
"""

from __future__ import annotations

from enum import IntEnum

from porthole.model import Report, Severity

__all__ = ["ExitCode", "exit_code_for", "DEFAULT_FAIL_ON"]

DEFAULT_FAIL_ON = Severity.HIGH


class ExitCode(IntEnum):
    CLEAN = 0
    FINDINGS = 1
    USAGE = 2
    SCAN_FAILED = 3
    #: 128 + SIGINT, the shell convention for "stopped by Ctrl-C"
    INTERRUPTED = 130


def exit_code_for(report: Report, fail_on: Severity = DEFAULT_FAIL_ON) -> ExitCode:
    """0, 1 or 130 for a report that was produced.

    Interruption wins over findings: a partial scan must not pass a CI gate as
    "clean", and reporting it as "findings" would hide that it is incomplete.
    Only findings count, not deviations: the profile diff emits a finding for every
    deviation that matters, with its own severity.
    """
    if report.interrupted:
        return ExitCode.INTERRUPTED
    threshold = fail_on.rank
    for host in report.hosts:
        if any(finding.severity.rank >= threshold for finding in host.findings):
            return ExitCode.FINDINGS
    return ExitCode.CLEAN
