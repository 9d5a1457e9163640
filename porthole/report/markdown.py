"""A report for site managers, as Markdown or as one self-contained HTML page.

Both show, per controller: a summary line (role, profile, open ports, deviations,
findings by severity), a "port picture" (one cell per port: what the profile expects
against what was observed, with a symbol that reads without colour), then the
findings with their fix.

Device strings (hostnames, banners, titles built from them) are hostile input:
Markdown cells escape every character Markdown or an HTML-rendering viewer would
interpret; HTML goes through ``html.escape``. The HTML page has inline CSS only, no
scripts, no external assets, and a Content-Security-Policy that forbids loading any.

Pure: report in, text out.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence

from porthole.model import Expectation, Finding, HostResult, PortState, Report, Severity
from porthole.profiles import Profile
from porthole.report.checks import PortCheck, host_checks

__all__ = ["PortMark", "mark_for", "render_markdown", "render_html"]


class PortMark:
    """The picture's vocabulary: (symbol, css class, meaning)."""

    OK_OPEN = ("●", "ok-open", "open, as expected")
    OK_CLOSED = ("○", "ok-closed", "closed or filtered, as expected")
    FORBIDDEN = ("✖", "bad", "open, but the profile expects it closed")
    MISSING = ("!", "missing", "expected open, but closed or filtered")
    AMBIGUOUS = ("?", "ambiguous", "silent UDP: open or filtered")
    OPEN = ("◆", "open", "open (no expectation)")
    SHUT = ("·", "shut", "closed or filtered (no expectation)")
    UNKNOWN = ("–", "unknown", "not probed")

    ALL = (OK_OPEN, OK_CLOSED, FORBIDDEN, MISSING, AMBIGUOUS, OPEN, SHUT, UNKNOWN)


def mark_for(check: PortCheck) -> tuple[str, str, str]:
    state, expected = check.state, check.expected
    if state is PortState.UNKNOWN:
        return PortMark.UNKNOWN
    if state is PortState.OPEN_FILTERED:
        return PortMark.AMBIGUOUS
    is_open = state is PortState.OPEN
    if check.deviation is not None:
        return PortMark.MISSING if not is_open else PortMark.FORBIDDEN
    if expected is None:
        return PortMark.OPEN if is_open else PortMark.SHUT
    if is_open:
        return PortMark.OK_OPEN if expected in (Expectation.OPEN, Expectation.OPTIONAL) else PortMark.FORBIDDEN
    return PortMark.MISSING if expected is Expectation.OPEN else PortMark.OK_CLOSED


# --------------------------------------------------------------------------- Markdown

# Every character that starts emphasis, code, a link or an image, raw HTML, an entity or
# a table cell. Cells never start a line, so block markers (#, -, +, 1.) stay harmless.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&])")


def _md(text: object) -> str:
    """One line of inert Markdown: specials backslash-escaped, line breaks flattened."""
    flat = " ".join(str(text).split())
    return _MARKDOWN_SPECIAL.sub(r"\\\1", flat)


def render_markdown(report: Report, *, profiles: Mapping[str, Profile] | None = None) -> str:
    lines = ["# porthole exposure report", ""]
    lines.append(f"Scan started {_md(report.started_at)}, {len(report.hosts)} host(s)" + (", **interrupted: partial report**" if report.interrupted else "") + ".")
    lines += ["", "| host | role | profile | open | deviations | findings |", "| --- | --- | --- | --- | --- | --- |"]
    for host in report.hosts:
        lines.append(f"| {_md(_host_label(host))} | {_md(_role(host))} | {_md(_profile(host))} | {_open_count(host)} | {len(host.deviations)} | {_md(_severity_counts(host.findings))} |")
    lines += ["", "Legend: " + ", ".join(f"{symbol} {_md(meaning)}" for symbol, _, meaning in PortMark.ALL), ""]
    for host in report.hosts:
        checks = host_checks(host, profiles)
        lines += [f"## {_md(_host_label(host))}", ""]
        lines.append(f"Status {_md(host.status.value)} ({_md(host.status_reason)}); role {_md(_role(host))}; profile {_md(_profile(host))}.")
        if checks:
            lines += ["", "| " + " | ".join(_md(check.ref) for check in checks) + " |", "|" + " :-: |" * len(checks)]
            lines.append("| " + " | ".join(mark_for(check)[0] for check in checks) + " |")
            lines += ["", "| port | service | expected | observed | reason |", "| --- | --- | --- | --- | --- |"]
            for check in checks:
                service = check.observation.service if check.observation and check.observation.service else ""
                lines.append(
                    f"| {mark_for(check)[0]} {_md(check.ref)} | {_md(service)} | {_md(check.expected.value if check.expected else 'n/a')} "
                    f"| {_md(check.state.value)} | {_md(check.reason.value)} |"
                )
        if host.findings:
            lines += ["", "### Findings", ""]
            for finding in _by_severity(host.findings):
                where = f" ({_md(f'{finding.port}/{finding.protocol.value}')})" if finding.port is not None and finding.protocol else ""
                lines.append(f"- **{_md(finding.severity.value.upper())}** {_md(finding.id)}{where}: {_md(finding.title)}")
                lines.append(f"  - {_md(finding.detail)}")
                if finding.recommendation:
                    lines.append(f"  - Fix: {_md(finding.recommendation)}")
        lines.append("")
    return "\n".join(lines)


# --------------------------------------------------------------------------- HTML

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#1b1b1b}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #bbb;padding:.25em .5em;text-align:left}
.grid td{text-align:center;min-width:4.5em}.grid .port{font-size:.8em;color:#555}
.ok-open{background:#d8f5d8}.ok-closed{background:#f2f2f2}.bad{background:#f8c9c9;font-weight:bold}
.missing{background:#fde6b0}.ambiguous{background:#e4e4fb}.open{background:#dbe9fb}.shut,.unknown{background:#fafafa;color:#888}
.sev-critical,.sev-high{color:#a00000;font-weight:bold}.sev-medium{color:#9a5b00}.sev-low,.sev-info{color:#555}
"""


def _h(text: object) -> str:
    return html.escape(str(text), quote=True)


def render_html(report: Report, *, profiles: Mapping[str, Profile] | None = None) -> str:
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        # No scripts, no remote fetches: the page must be safe to open from an e-mail.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        "<title>porthole exposure report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>porthole exposure report</h1>",
        f"<p>Scan started {_h(report.started_at)}, {len(report.hosts)} host(s)" + (", <strong>interrupted: partial report</strong>" if report.interrupted else "") + ".</p>",
        "<table><tr><th>host</th><th>role</th><th>profile</th><th>open</th><th>deviations</th><th>findings</th></tr>",
    ]
    for host in report.hosts:
        out.append(
            f"<tr><td>{_h(_host_label(host))}</td><td>{_h(_role(host))}</td><td>{_h(_profile(host))}</td>"
            f"<td>{_open_count(host)}</td><td>{len(host.deviations)}</td><td>{_h(_severity_counts(host.findings))}</td></tr>"
        )
    out.append("</table>")
    out.append("<p>Legend: " + " ".join(f'<span class="{css}">{symbol} {_h(meaning)}</span>' for symbol, css, meaning in PortMark.ALL) + "</p>")
    for host in report.hosts:
        checks = host_checks(host, profiles)
        out.append(f"<h2>{_h(_host_label(host))}</h2>")
        out.append(f"<p>Status {_h(host.status.value)} ({_h(host.status_reason)}); role {_h(_role(host))}; profile {_h(_profile(host))}.</p>")
        if checks:
            out.append('<table class="grid"><tr>')
            for check in checks:
                symbol, css, meaning = mark_for(check)
                expected = check.expected.value if check.expected else "n/a"
                title = f"{check.ref}: expected {expected}, observed {check.state.value} ({check.reason.value}); {meaning}"
                out.append(f'<td class="{css}" title="{_h(title)}">{symbol}<br><span class="port">{_h(check.ref)}</span></td>')
            out.append("</tr></table>")
        if host.findings:
            out.append("<h3>Findings</h3><ul>")
            for finding in _by_severity(host.findings):
                where = f" ({finding.port}/{finding.protocol.value})" if finding.port is not None and finding.protocol else ""
                fix = f"<br>Fix: {_h(finding.recommendation)}" if finding.recommendation else ""
                out.append(
                    f'<li><span class="sev-{_h(finding.severity.value)}">{_h(finding.severity.value.upper())}</span> '
                    f"<code>{_h(finding.id)}</code>{_h(where)}: {_h(finding.title)}<br>{_h(finding.detail)}{fix}</li>"
                )
            out.append("</ul>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- shared wording


def _host_label(host: HostResult) -> str:
    return f"{host.address} ({host.hostname})" if host.hostname else host.address


def _role(host: HostResult) -> str:
    if host.role is None or host.role.role is None:
        return "undetermined"
    return f"{host.role.role} ({host.role.method})"


def _profile(host: HostResult) -> str:
    return f"{host.profile.id} v{host.profile.version}" if host.profile else "none"


def _open_count(host: HostResult) -> int:
    return sum(1 for observation in host.ports if observation.state is PortState.OPEN)


def _severity_counts(findings: Sequence[Finding]) -> str:
    counts = [f"{sum(1 for finding in findings if finding.severity is severity)} {severity.value}" for severity in reversed(Severity) if any(finding.severity is severity for finding in findings)]
    return ", ".join(counts) or "none"


def _by_severity(findings: Sequence[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda finding: -finding.severity.rank)
