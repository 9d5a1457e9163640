"""One "check" per host and port: what the profile expected, what was observed, what it means.

The JUnit, CSV, Markdown and HTML renderers all present a report as a list of port
checks. This module builds that list once, so they agree on what "expected" and
"deviation" mean:

* ``expected`` comes from the host's ``Profile`` when the caller has it (the CLI passes
  the profiles it diffed against), else from the host's deviations (a deviation
  records the expectation it broke), else it is unknown (``None``);
* ports the profile expects open but the scan never listed still get a check, so a
  missing service is visible in every format.

Pure: no I/O, never loads a profile itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from porthole.model import Deviation, Expectation, Finding, HostResult, PortObservation, PortRef, PortState, Reason, Report, Severity
from porthole.profiles import Profile

__all__ = ["PortCheck", "port_checks", "host_checks", "profile_for", "host_level_findings"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PortCheck:
    host: HostResult
    ref: PortRef
    #: ``None`` when the port was not in the scan (listed only by the profile)
    observation: PortObservation | None
    #: ``None`` when no profile applies to the host
    expected: Expectation | None
    deviation: Deviation | None
    findings: tuple[Finding, ...]

    @property
    def state(self) -> PortState:
        return self.observation.state if self.observation else PortState.UNKNOWN

    @property
    def reason(self) -> Reason:
        return self.observation.reason if self.observation else Reason.NOT_PROBED

    def failing_findings(self, fail_on: Severity) -> tuple[Finding, ...]:
        return tuple(finding for finding in self.findings if finding.severity.rank >= fail_on.rank)


def profile_for(host: HostResult, profiles: Mapping[str, Profile] | None) -> Profile | None:
    """The loaded profile the host was diffed against, matched by path and checksum."""
    if host.profile is None or not profiles:
        return None
    profile = profiles.get(host.profile.path)
    # A different file behind the same path would put wrong expectations in the report.
    return profile if profile is not None and profile.sha256 == host.profile.sha256 else None


def host_checks(host: HostResult, profiles: Mapping[str, Profile] | None = None) -> tuple[PortCheck, ...]:
    """The host's port checks in ``PortRef`` order (TCP then UDP, each by number)."""
    profile = profile_for(host, profiles)
    observed = {observation.ref: observation for observation in host.ports}
    deviations = {PortRef(deviation.protocol, deviation.port): deviation for deviation in host.deviations}
    refs = set(observed)
    if profile is not None:
        refs |= {ref for ref, rule in profile.ports.items() if rule.expect is Expectation.OPEN}
    checks = []
    for ref in sorted(refs):
        deviation = deviations.get(ref)
        if profile is not None:
            expected: Expectation | None = profile.expectation_for(ref)
        else:
            expected = deviation.expected if deviation else None
        findings = tuple(finding for finding in host.findings if finding.port == ref.number and finding.protocol in (None, ref.protocol))
        checks.append(PortCheck(host=host, ref=ref, observation=observed.get(ref), expected=expected, deviation=deviation, findings=findings))
    return tuple(checks)


def port_checks(report: Report, profiles: Mapping[str, Profile] | None = None) -> tuple[PortCheck, ...]:
    return tuple(check for host in report.hosts for check in host_checks(host, profiles))


def host_level_findings(host: HostResult) -> tuple[Finding, ...]:
    """Findings about the host as a whole (no port), e.g. a role mismatch."""
    return tuple(finding for finding in host.findings if finding.port is None)

