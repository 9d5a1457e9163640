"""A report as SARIF 2.1.0, for GitHub code scanning and other SARIF consumers.

* one ``run``; its driver's ``rules`` are the documented finding table
  (``catalog/findings.toml``) plus any id a report carries that the table lacks;
* one ``result`` per finding: ``ruleId`` = finding id, ``level`` from the severity,
  the message names the host and port;
* the location is the line of the role profile whose expectation the finding breaks
  (``source`` = ``profiles/master.toml:128#502/tcp``), so code scanning shows the alert
  on the profile line a reviewer would change. A finding that is not a profile finding
  is anchored to its port's line in the host's profile when the caller passes the
  profile and it lists the port; otherwise it carries only a logical location
  (``host:port/protocol``);
* ``partialFingerprints`` keep an alert stable across scans (host, port, rule).

Pure: report in, JSON text out.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from porthole import __version__
from porthole.findings import finding_table
from porthole.model import Finding, HostResult, PortRef, Report, Severity
from porthole.profiles import Profile, split_profile_source
from porthole.report.checks import profile_for

__all__ = ["SARIF_VERSION", "SARIF_SCHEMA_URI", "render_sarif", "sarif_document"]

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"

_LEVELS = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
#: GitHub ranks security alerts by this CVSS-like number (critical > 9, high > 7 ...)
_SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "0.0",
}


def render_sarif(report: Report, *, profiles: Mapping[str, Profile] | None = None) -> str:
    return json.dumps(sarif_document(report, profiles=profiles), indent=2, ensure_ascii=False) + "\n"


def sarif_document(report: Report, *, profiles: Mapping[str, Profile] | None = None) -> dict[str, Any]:
    rules = _rules(report)
    rule_index = {rule["id"]: index for index, rule in enumerate(rules)}
    results = [
        _result(host, finding, rule_index[finding.id], profile_for(host, profiles))
        for host in report.hosts
        for finding in host.findings
    ]
    return {
        "$schema": SARIF_SCHEMA_URI,
        "version": SARIF_VERSION,
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "porthole",
                        "version": report.tool.get("version", __version__),
                        "rules": rules,
                    }
                },
                "originalUriBaseIds": {"%SRCROOT%": {"description": {"text": "the repository that holds the role profiles"}}},
                "invocations": [
                    {
                        "commandLine": report.command,
                        "startTimeUtc": report.started_at,
                        "endTimeUtc": report.finished_at,
                        # SARIF: false when the tool did not finish its work.
                        "executionSuccessful": not report.interrupted,
                    }
                ],
                "results": results,
            }
        ],
    }


def _rules(report: Report) -> list[dict[str, Any]]:
    rules = [
        _rule(spec.id, spec.title, spec.severity, spec.recommendation)
        for spec in finding_table().values()
    ]
    known = {rule["id"] for rule in rules}
    for host in report.hosts:
        for finding in host.findings:
            if finding.id not in known:
                known.add(finding.id)
                rules.append(_rule(finding.id, finding.title, finding.severity, finding.recommendation))
    return rules


def _rule(rule_id: str, title: str, severity: Severity, recommendation: str | None) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "id": rule_id,
        "name": "".join(part.capitalize() for part in rule_id.split("-")),
        "shortDescription": {"text": title},
        "defaultConfiguration": {"level": _LEVELS[severity]},
        "properties": {"security-severity": _SECURITY_SEVERITY[severity], "tags": ["security", "network-exposure"]},
    }
    if recommendation:
        rule["help"] = {"text": recommendation}
    return rule


def _result(host: HostResult, finding: Finding, rule_index: int, profile: Profile | None) -> dict[str, Any]:
    target = f"{host.address}:{finding.port}/{finding.protocol.value}" if finding.port is not None and finding.protocol else host.address
    lines = [f"{target}: {finding.title}.", finding.detail]
    if finding.recommendation:
        lines.append(f"Fix: {finding.recommendation}")
    location: dict[str, Any] = {"logicalLocations": [{"name": target, "fullyQualifiedName": target, "kind": "resource"}]}
    anchor = _anchor(host, finding, profile)
    if anchor is not None:
        path, line = anchor
        physical: dict[str, Any] = {"artifactLocation": {"uri": path, "uriBaseId": "%SRCROOT%"}}
        if line is not None:
            physical["region"] = {"startLine": line}
        location["physicalLocation"] = physical
    fingerprint = hashlib.sha256(f"{host.address}|{target}|{finding.id}".encode()).hexdigest()
    return {
        "ruleId": finding.id,
        "ruleIndex": rule_index,
        "level": _LEVELS[finding.severity],
        "message": {"text": "\n".join(lines)},
        "locations": [location],
        "partialFingerprints": {"porthole/host-port-rule/v1": fingerprint},
        "properties": {"severity": finding.severity.value, "host": host.address, "evidence": list(finding.evidence)},
    }


def _anchor(host: HostResult, finding: Finding, profile: Profile | None) -> tuple[str, int | None] | None:
    """(profile path, line) the finding is about, or ``None`` for a logical location only."""
    source = _profile_source(finding.source)
    if source is not None:
        return source
    if finding.port is None or finding.protocol is None:
        return None
    ref = PortRef(finding.protocol, finding.port)
    if profile is not None:
        rule = profile.rule_for(ref)
        if rule is not None:
            return profile.display_path, rule.line
    # The profile finding on the same port already names the line.
    for other in host.findings:
        if other.port == ref.number and other.protocol is ref.protocol:
            source = _profile_source(other.source)
            if source is not None:
                return source
    return None


def _profile_source(source: str | None) -> tuple[str, int | None] | None:
    if not source or not source.endswith(("/tcp", "/udp")) or "#" not in source:
        return None
    try:
        path, line, _ = split_profile_source(source)
    except ValueError:
        return None
    # Table-row sources (porthole/catalog/findings.toml#id) are not profile lines.
    return (path, line) if path.endswith(".toml") and "catalog/" not in path else None
