"""Exit codes: the documented table and the --fail-on boundaries."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from porthole.model import Finding, Report, Severity
from porthole.report import DEFAULT_FAIL_ON, ExitCode, exit_code_for


def with_findings(report: Report, *severities: Severity, interrupted: bool = False) -> Report:
    findings = tuple(
        Finding(id=f"test-{index}", severity=severity, title="t", detail="d") for index, severity in enumerate(severities)
    )
    # spread the findings over hosts: the rule must look at every host
    hosts = (replace(report.hosts[0], findings=()), replace(report.hosts[1], findings=findings))
    return replace(report, hosts=hosts, interrupted=interrupted)


def test_exit_code_values_are_the_documented_ones() -> None:
    assert {code.name: int(code) for code in ExitCode} == {
        "CLEAN": 0,
        "FINDINGS": 1,
        "USAGE": 2,
        "SCAN_FAILED": 3,
        "INTERRUPTED": 130,
    }


def test_default_fail_on_is_high() -> None:
    assert DEFAULT_FAIL_ON is Severity.HIGH


def test_a_report_without_findings_is_clean(report: Report) -> None:
    assert exit_code_for(with_findings(report), Severity.INFO) is ExitCode.CLEAN


@pytest.mark.parametrize(
    ("worst", "fail_on", "expected"),
    [
        # at the threshold fails, just below passes
        (Severity.HIGH, Severity.HIGH, ExitCode.FINDINGS),
        (Severity.MEDIUM, Severity.HIGH, ExitCode.CLEAN),
        (Severity.CRITICAL, Severity.HIGH, ExitCode.FINDINGS),
        (Severity.INFO, Severity.INFO, ExitCode.FINDINGS),
        (Severity.INFO, Severity.LOW, ExitCode.CLEAN),
        (Severity.LOW, Severity.LOW, ExitCode.FINDINGS),
        (Severity.MEDIUM, Severity.MEDIUM, ExitCode.FINDINGS),
        (Severity.HIGH, Severity.CRITICAL, ExitCode.CLEAN),
        (Severity.CRITICAL, Severity.CRITICAL, ExitCode.FINDINGS),
    ],
)
def test_findings_at_or_above_fail_on_give_exit_1(
    report: Report, worst: Severity, fail_on: Severity, expected: ExitCode
) -> None:
    # Given findings whose worst severity is `worst` (plus an info one)
    scanned = with_findings(report, Severity.INFO, worst)
    # When mapped with --fail-on / Then
    assert exit_code_for(scanned, fail_on) is expected


def test_without_fail_on_a_high_finding_fails_and_a_medium_one_does_not(report: Report) -> None:
    assert exit_code_for(with_findings(report, Severity.HIGH)) is ExitCode.FINDINGS
    assert exit_code_for(with_findings(report, Severity.MEDIUM)) is ExitCode.CLEAN


def test_an_interrupted_scan_exits_130_even_with_findings(report: Report) -> None:
    # Given an interrupted scan, with and without a critical finding
    # Then 130: a partial scan is neither clean nor a normal findings result
    assert exit_code_for(with_findings(report, interrupted=True)) is ExitCode.INTERRUPTED
    assert exit_code_for(with_findings(report, Severity.CRITICAL, interrupted=True)) is ExitCode.INTERRUPTED


def test_deviations_alone_do_not_fail_the_scan(report: Report) -> None:
    # Given the realistic host's high-severity forbidden-open deviation, but no findings
    scanned = replace(report, hosts=(replace(report.hosts[0], findings=()),), interrupted=False)
    assert scanned.hosts[0].deviations
    # Then only findings decide
    assert exit_code_for(scanned, Severity.INFO) is ExitCode.CLEAN


def test_the_documented_exit_code_table_matches_the_enum() -> None:
    # Given the exit-code table in docs/report.md (rows like "| 1 | `FINDINGS` | ...")
    document = (Path(__file__).resolve().parents[3] / "docs" / "report.md").read_text(encoding="utf-8")
    documented = {name: int(code) for code, name in re.findall(r"^\| (\d+) \| `([A-Z_]+)` \|", document, re.MULTILINE)}
    # Then every code is documented with its value, and nothing else
    assert documented == {code.name: int(code) for code in ExitCode}
