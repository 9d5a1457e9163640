"""The human report: per-host ports, deviations and findings as rich tables.

Reading order follows nmap's normal output, which auditors already scan by eye:
a host line with status and reason, the interesting ports, a "Not shown:" line for
the uninteresting ones, then what porthole adds (profile deviations and findings
with the setting that fixes each), and a summary footer.

Rules:

* Pure presentation of a ``Report``: no I/O besides writing to the given console,
  no decisions (severities, exit codes) made here.
* Device-controlled text (hostnames, banners, details) is never parsed as rich
  markup and never reaches the terminal raw: control characters such as ESC are
  shown escaped (``\\x1b``), so a hostile device cannot recolour or rewrite the
  auditor's terminal. Every cell is built as ``rich.text.Text``.
* Readable at 80 columns and in a pipe: rich drops colour when the console is not a
  terminal; tables wrap their free-text columns instead of truncating.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from porthole import __version__
from porthole.catalog import Catalog, default_catalog
from porthole.model import (
    SUMMARY_SEPARATOR,
    Deviation,
    Finding,
    HostResult,
    HostStatus,
    PortObservation,
    PortRef,
    PortState,
    ProbeResult,
    ProbeStatus,
    Protocol,
    Report,
    Severity,
)
from porthole.report.build import summarise

__all__ = ["render_report", "STATE_STYLES", "SEVERITY_STYLES"]

STATE_STYLES: dict[PortState, str] = {
    PortState.OPEN: "bold green",
    PortState.CLOSED: "dim",
    PortState.FILTERED: "yellow",
    PortState.OPEN_FILTERED: "yellow",
    PortState.UNKNOWN: "magenta",
}

SEVERITY_STYLES: dict[Severity, str] = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}

#: states folded into the "Not shown:" line unless --verbose (nmap hides closed ports;
#: never-probed ports are as uninteresting and a down host would list every one)
_FOLDED_STATES = (PortState.CLOSED, PortState.UNKNOWN)

#: how many failed probes to name in the one-line summary before "…"
_PROBE_ERRORS_NAMED = 3

_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _clean(value: object) -> str:
    """Device text made safe for a terminal: control characters shown as ``\\xNN``."""
    return _CONTROL_CHARACTERS.sub(lambda match: f"\\x{ord(match.group()):02x}", str(value))


def _text(value: object, style: str = "") -> Text:
    return Text(_clean(value), style=style)


def _summary_lines(summary: str) -> Text:
    """One line per probe that identified something (http, then tls on 443), each cleaned."""
    return Text("\n").join(_text(part) for part in summary.split(SUMMARY_SEPARATOR))


def _port_label(port: int | None, protocol: Protocol | None) -> str:
    if port is None or protocol is None:
        return "-"
    return str(PortRef(protocol, port))


def _sort_key(port: int | None, protocol: Protocol | None) -> tuple[str, int]:
    return (protocol.value if protocol else "~", port if port is not None else 0)


def _new_table(*headers: str, wrap: Iterable[str]) -> Table:
    """A borderless table; only the ``wrap`` columns (free text) may wrap.

    Identifiers (ports, states, kinds, severities) never wrap or truncate: a
    truncated ``expected-miss…`` is worse than a narrower prose column.
    """
    wrapping = set(wrap)
    # box.SIMPLE: a header rule and no cell borders, the most columns left for text
    # at 80 columns, and nothing but spaces and one line of "─" in a pipe.
    table = Table(box=box.SIMPLE, show_edge=False, pad_edge=False, header_style="bold", expand=False)
    for header in headers:
        # fold: a long token (a URL, an ICMP type) breaks across lines, never "…".
        if header in wrapping:
            table.add_column(header, overflow="fold")
        else:
            table.add_column(header, no_wrap=True)
    return table


def render_report(report: Report, console: Console, *, verbose: bool, catalog: Catalog | None = None) -> None:
    """Print ``report`` to ``console``: header, one block per host, errors, summary footer."""
    catalog = catalog if catalog is not None else default_catalog()
    header = Text()
    header.append(f"porthole {_clean(report.tool.get('version', __version__))}", style="bold")
    header.append(f" report, scan started {_clean(report.started_at)}")
    console.print(header)
    if verbose:
        console.print(_text(f"command: {report.command}", "dim"))
    for host in report.hosts:
        console.print()
        _render_host(host, console, verbose=verbose, catalog=catalog)
    if report.errors:
        console.print()
        console.print(Text("Scan errors", style="bold red"))
        for error in report.errors:
            console.print(_text(f"  {error.scope}: {error.message}"))
    console.print()
    _render_footer(report, console)


def _render_host(host: HostResult, console: Console, *, verbose: bool, catalog: Catalog) -> None:
    line = Text()
    line.append("Host ", style="bold")
    line.append(_clean(host.address), style="bold")
    if host.hostname:
        line.append(f" ({_clean(host.hostname)})")
    line.append(f"  {host.status.value}", style="bold green" if host.status is HostStatus.UP else "bold yellow")
    line.append(f" ({_clean(host.status_reason)})")
    if verbose and host.srtt_ms is not None:
        line.append(f"  srtt {host.srtt_ms:.1f} ms", style="dim")
    if not host.complete:
        line.append("  INCOMPLETE: scan interrupted", style="bold yellow")
    console.print(line)
    console.print(_role_line(host))
    console.print(_profile_line(host))

    _render_ports(host.ports, console, verbose=verbose, catalog=catalog)
    _render_probes(host.probes, console, verbose=verbose)
    if host.deviations:
        console.print(Text("Deviations from the profile", style="bold"))
        console.print(_deviations_table(host.deviations))
    if host.findings:
        console.print(Text("Findings", style="bold"))
        console.print(_findings_table(host.findings, verbose=verbose))
    elif host.status is not HostStatus.DOWN:
        console.print(Text("No findings.", style="green"))


def _role_line(host: HostResult) -> Text:
    line = Text("  role: ")
    if host.role is None:
        line.append("none (no profile check)", style="dim")
        return line
    line.append(_clean(host.role.role or "undetermined"), style="bold")
    line.append(f" ({_clean(host.role.method)}")
    if host.role.evidence:
        line.append(": " + "; ".join(_clean(item) for item in host.role.evidence))
    line.append(")")
    return line


def _profile_line(host: HostResult) -> Text:
    line = Text("  profile: ")
    if host.profile is None:
        line.append("none", style="dim")
        return line
    profile = host.profile
    line.append(f"{_clean(profile.id)} v{profile.version}", style="bold")
    line.append(f" ({_clean(profile.path)}, sha256 {_clean(profile.sha256[:12])}…)", style="dim")
    return line


def _render_ports(ports: Sequence[PortObservation], console: Console, *, verbose: bool, catalog: Catalog) -> None:
    if not ports:
        console.print(Text("  No ports probed.", style="dim"))
        return
    ordered = sorted(ports, key=lambda observation: _sort_key(observation.port, observation.protocol))
    shown = [item for item in ordered if verbose or item.state not in _FOLDED_STATES]
    folded = [item for item in ordered if not verbose and item.state in _FOLDED_STATES]
    if shown:
        # WHAT ANSWERS: the probes' one-line identification where there is one (nmap's
        # VERSION column), else the catalogue's purpose of the port, dimmed.
        table = _new_table("PORT", "STATE", "REASON", "SERVICE", "RTT", "WHAT ANSWERS", wrap=("REASON", "WHAT ANSWERS"))
        for observation in shown:
            reason = _text(observation.reason.value)
            if verbose and observation.detail:
                reason.append(f" ({_clean(observation.detail)})", style="dim")
            entry = catalog.get(observation.ref)
            table.add_row(
                _text(_port_label(observation.port, observation.protocol)),
                _text(observation.state.value, STATE_STYLES[observation.state]),
                reason,
                _text(observation.service or ""),
                _text(f"{observation.rtt_ms:.1f} ms" if observation.rtt_ms is not None else ""),
                # one line per probe that identified something (http, then tls on 443)
                _summary_lines(observation.summary) if observation.summary else _text(entry.purpose if entry else "", "dim"),
            )
        console.print(table)
    if folded:
        console.print(_text(f"Not shown: {_folded_summary(folded)}"))


def _folded_summary(folded: Iterable[PortObservation]) -> str:
    """``14 closed tcp ports (reset), 1 closed udp port (icmp)``, nmap's wording."""
    counts = Counter((item.state, item.protocol, item.reason) for item in folded)
    state_order = list(PortState)
    parts = []
    for (state, protocol, reason), count in sorted(
        counts.items(), key=lambda pair: (state_order.index(pair[0][0]), pair[0][1].value, pair[0][2].value)
    ):
        noun = "port" if count == 1 else "ports"
        parts.append(f"{count} {state.value} {protocol.value} {noun} ({reason.value})")
    return ", ".join(parts)


def _render_probes(probes: Sequence[ProbeResult], console: Console, *, verbose: bool) -> None:
    failed = [probe for probe in probes if probe.status is ProbeStatus.ERROR]
    if verbose and probes:
        table = _new_table("PROBE", "PORT", "STATUS", "ERROR", "TIME", wrap=("ERROR",))
        for probe in sorted(probes, key=lambda item: (_sort_key(item.port, item.protocol), item.probe_id)):
            error = _text(probe.error_reason or "", "red" if probe.error_reason else "")
            if probe.error_detail:
                error.append(f": {_clean(probe.error_detail)}" if probe.error_reason else _clean(probe.error_detail), style="dim")
            table.add_row(
                _text(probe.probe_id),
                _text(_port_label(probe.port, probe.protocol)),
                _text(probe.status.value, "red" if probe.status is ProbeStatus.ERROR else ""),
                error,
                _text(f"{probe.duration_ms:.0f} ms" if probe.duration_ms is not None else ""),
            )
        console.print(Text("Probes", style="bold"))
        console.print(table)
    elif failed:
        named = ", ".join(
            f"{probe.probe_id} on {_port_label(probe.port, probe.protocol)}: {probe.error_reason or 'error'}"
            for probe in failed[:_PROBE_ERRORS_NAMED]
        )
        more = f" and {len(failed) - _PROBE_ERRORS_NAMED} more" if len(failed) > _PROBE_ERRORS_NAMED else ""
        noun = "probe" if len(failed) == 1 else "probes"
        console.print(_text(f"{len(failed)} {noun} failed: {named}{more}; details with --verbose", "yellow"))


def _deviations_table(deviations: Sequence[Deviation]) -> Table:
    table = _new_table("KIND", "PORT", "EXPECTED", "OBSERVED", "WHY / SETTING", wrap=("WHY / SETTING",))
    for deviation in sorted(deviations, key=lambda item: (-item.severity.rank, _sort_key(item.port, item.protocol))):
        # The setting shares the reason's cell (as in the findings' FIX column):
        # two narrow prose columns would wrap to a word per line at 80 columns.
        why = _text(deviation.reason)
        if deviation.setting:
            why.append(f"\n{_clean(deviation.setting)}", style="bold")
        table.add_row(
            _text(deviation.kind.value, SEVERITY_STYLES[deviation.severity]),
            _text(_port_label(deviation.port, deviation.protocol)),
            _text(deviation.expected.value),
            _text(deviation.observed.value, STATE_STYLES[deviation.observed]),
            why,
        )
    return table


def _findings_table(findings: Sequence[Finding], *, verbose: bool) -> Table:
    # Four columns, not six: id, title, detail and evidence share one cell and the
    # setting shares one with the recommendation, so 80 columns stay readable.
    table = _new_table("SEVERITY", "PORT", "FINDING", "FIX", wrap=("FINDING", "FIX"))
    for finding in sorted(findings, key=lambda item: (-item.severity.rank, _sort_key(item.port, item.protocol), item.id)):
        what = _text(finding.title, "bold")
        what.append(f"\n{_clean(finding.id)}", style="dim")
        if verbose:
            if finding.detail:
                what.append(f"\n{_clean(finding.detail)}")
            for line in finding.evidence:
                what.append(f"\n• {_clean(line)}", style="dim")
            if finding.source:
                what.append(f"\nsource: {_clean(finding.source)}", style="dim")
        fix = Text()
        if finding.setting:
            fix.append(_clean(finding.setting), style="bold")
        if finding.recommendation:
            fix.append(("\n" if finding.setting else "") + _clean(finding.recommendation))
        table.add_row(
            _text(finding.severity.value.upper(), SEVERITY_STYLES[finding.severity]),
            _text(_port_label(finding.port, finding.protocol)),
            what,
            fix,
        )
    return table


def _render_footer(report: Report, console: Console) -> None:
    summary = summarise(report.hosts)
    hosts = Text("Summary: ", style="bold")
    noun = "host" if summary["hosts_total"] == 1 else "hosts"
    hosts.append(f"{summary['hosts_total']} {noun} ({summary['hosts_up']} up, {summary['hosts_down']} down")
    if summary["hosts_unknown"]:
        hosts.append(f", {summary['hosts_unknown']} unknown")
    hosts.append(")")
    open_ports = summary["ports_by_state"][PortState.OPEN.value]
    hosts.append(f", {open_ports} open {'port' if open_ports == 1 else 'ports'}")
    hosts.append(f", {summary['deviations']} {'deviation' if summary['deviations'] == 1 else 'deviations'}")
    hosts.append(f", scanned in {report.duration_s:.1f} s")
    console.print(hosts)

    findings = Text("Findings: ", style="bold")
    counts = [
        (severity, summary["findings_by_severity"][severity.value])
        for severity in sorted(Severity, key=lambda item: -item.rank)
    ]
    present = [(severity, count) for severity, count in counts if count]
    if not present:
        findings.append("none", style="green")
    for index, (severity, count) in enumerate(present):
        if index:
            findings.append(", ")
        findings.append(f"{count} {severity.value}", style=SEVERITY_STYLES[severity])
    console.print(findings)

    if report.interrupted:
        not_probed = summary["ports_by_state"][PortState.UNKNOWN.value]
        console.print(
            Text(
                f"WARNING: scan interrupted; results are partial "
                f"({summary['hosts_incomplete']} incomplete {'host' if summary['hosts_incomplete'] == 1 else 'hosts'}, "
                f"{not_probed} {'port' if not_probed == 1 else 'ports'} not probed)",
                style="bold yellow",
            )
        )
