"""A report as JUnit XML, so CI systems show each port check as a test.

* one ``testsuite`` per host (named by its address), one ``testcase`` per port check
  (``porthole.checks``): the name says what was expected and what was observed;
* a check fails when the port deviates from the role profile or carries a finding at
  or above ``fail_on`` (the same threshold as the exit code); the failure message is
  the finding's title, its text the detail, evidence and fix;
* host-level findings (no port) get one extra ``testcase`` named ``host``.

Pure: report in, XML text out (ElementTree escapes every device string).
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping, Sequence

from porthole.model import Finding, HostResult, Report, Severity
from porthole.profiles import Profile
from porthole.report.checks import PortCheck, host_checks, host_level_findings
from porthole.report.exit_codes import DEFAULT_FAIL_ON

__all__ = ["render_junit"]


def render_junit(report: Report, *, fail_on: Severity = DEFAULT_FAIL_ON, profiles: Mapping[str, Profile] | None = None) -> str:
    root = ElementTree.Element("testsuites", name="porthole")
    total_tests = total_failures = 0
    for host in report.hosts:
        suite, tests, failures = _suite(host, fail_on, profiles, timestamp=report.started_at)
        root.append(suite)
        total_tests += tests
        total_failures += failures
    root.set("tests", str(total_tests))
    root.set("failures", str(total_failures))
    root.set("errors", "0")
    root.set("time", f"{report.duration_s:.3f}")
    ElementTree.indent(root)
    return ElementTree.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _suite(host: HostResult, fail_on: Severity, profiles: Mapping[str, Profile] | None, *, timestamp: str) -> tuple[ElementTree.Element, int, int]:
    suite = ElementTree.Element("testsuite", name=host.address, timestamp=timestamp, hostname=host.hostname or host.address)
    classname = f"porthole.{host.address}"
    tests = failures = 0
    for check in host_checks(host, profiles):
        case = ElementTree.SubElement(suite, "testcase", name=_case_name(check), classname=classname, time="0")
        tests += 1
        failing = check.failing_findings(fail_on)
        if check.deviation is not None or failing:
            failures += 1
            _failure(case, check, failing)
        elif check.findings:
            ElementTree.SubElement(case, "system-out").text = "\n".join(_finding_lines(check.findings))
    host_findings = host_level_findings(host)
    if host_findings:
        case = ElementTree.SubElement(suite, "testcase", name="host", classname=classname, time="0")
        tests += 1
        failing = tuple(finding for finding in host_findings if finding.severity.rank >= fail_on.rank)
        if failing:
            failures += 1
            failure = ElementTree.SubElement(case, "failure", message=failing[0].title, type=failing[0].id)
            failure.text = "\n".join(_finding_lines(failing))
        else:
            ElementTree.SubElement(case, "system-out").text = "\n".join(_finding_lines(host_findings))
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    suite.set("skipped", "0")
    return suite, tests, failures


def _case_name(check: PortCheck) -> str:
    expected = check.expected.value if check.expected else "unknown"
    return f"{check.ref} expected {expected}, observed {check.state.value} ({check.reason.value})"


def _failure(case: ElementTree.Element, check: PortCheck, failing: Sequence[Finding]) -> None:
    if failing:
        message, kind = failing[0].title, failing[0].id
    else:
        assert check.deviation is not None
        message = f"{check.ref} {check.deviation.kind.value}: expected {check.deviation.expected.value}, observed {check.deviation.observed.value}"
        kind = f"profile-{check.deviation.kind.value}"
    lines = []
    if check.deviation is not None:
        lines.append(f"deviation {check.deviation.kind.value} ({check.deviation.severity.value}): {check.deviation.reason}")
    lines.extend(_finding_lines(check.findings))
    failure = ElementTree.SubElement(case, "failure", message=message, type=kind)
    failure.text = "\n".join(lines)


def _finding_lines(findings: Sequence[Finding]) -> list[str]:
    lines = []
    for finding in findings:
        lines.append(f"[{finding.severity.value}] {finding.id}: {finding.title}")
        lines.append(f"  {finding.detail}")
        lines.extend(f"  evidence: {line}" for line in finding.evidence)
        if finding.recommendation:
            lines.append(f"  fix: {finding.recommendation}")
    return lines
