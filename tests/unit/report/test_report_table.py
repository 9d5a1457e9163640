"""The human table: key lines an auditor relies on, at 80 and 100 columns, in a pipe."""

from __future__ import annotations

import io
from dataclasses import replace

from rich.console import Console

from porthole.model import HostResult, HostStatus, PortState, Reason, Report
from porthole.report import render_report

from report_factories import TCP, port


def rendered(report: Report, *, verbose: bool = False, width: int = 100) -> str:
    console = Console(record=True, width=width, file=io.StringIO())
    render_report(report, console, verbose=verbose)
    return console.export_text()


def lines_of(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines()]


def row_starting(text: str, prefix: str) -> str:
    matches = [line for line in lines_of(text) if line.startswith(prefix)]
    assert matches, f"no line starts with {prefix!r} in:\n{text}"
    return matches[0]


def test_host_header_shows_address_hostname_status_role_and_profile(report: Report) -> None:
    # Given the realistic report / When rendered
    text = rendered(report)
    # Then each host opens with address, hostname, status and its reason
    assert "Host 198.18.0.10 (master.lab)  up (syn-ack)" in lines_of(text)
    assert "  role: master (declared: --role master)" in lines_of(text)
    assert "  profile: master v3 (profiles/master.toml, sha256 abababababab…)" in lines_of(text)
    # and an inferred role says what it rests on
    assert "role: slave (inferred: 445/tcp presents the certificate of 443/tcp; 444/tcp presents another certificate)" in " ".join(
        text.split()
    )
    # and a host without a profile check says so
    assert "Host 198.18.0.99  down (no-response)" in lines_of(text)
    assert "  role: none (no profile check)" in lines_of(text)


def test_open_ports_are_listed_with_state_reason_service_rtt_and_catalogue_purpose(report: Report) -> None:
    text = rendered(report)
    assert row_starting(text, "22/tcp").split() == [
        "22/tcp", "open", "syn-ack", "ssh", "1.2", "ms", "SSH", "server", "of", "this", "controller",
    ]
    assert row_starting(text, "1900/udp").split()[:4] == ["1900/udp", "open|filtered", "timeout", "ssdp"]
    assert row_starting(text, "502/tcp").split()[:4] == ["502/tcp", "filtered", "timeout", "modbus"]


def test_closed_ports_are_folded_into_an_nmap_style_not_shown_line(report: Report) -> None:
    # Given a host with three closed tcp ports (reset) and one closed udp port (icmp)
    # When rendered without --verbose
    text = rendered(report)
    # Then they are summarised, not listed
    assert "Not shown: 3 closed tcp ports (reset), 1 closed udp port (icmp)" in lines_of(text)
    assert not any(line.startswith(("23/tcp", "24/tcp", "8090/tcp", "5353/udp")) for line in lines_of(text))
    # and never-probed ports are folded too, by reason
    assert "Not shown: 1 unknown tcp port (not-probed)" in lines_of(text)


def test_verbose_lists_closed_ports_with_reason_detail_and_probe_table(report: Report) -> None:
    text = rendered(report, verbose=True)
    assert "Not shown" not in text
    assert row_starting(text, "23/tcp").split()[:4] == ["23/tcp", "closed", "reset", "ssh"]
    assert row_starting(text, "5353/udp").split()[:4] == ["5353/udp", "closed", "icmp", "(port-unreachable)"]
    assert row_starting(text, "http-head").split()[:5] == ["http-head", "80/tcp", "error", "connection-reset:", "peer"]
    assert row_starting(text, "modbus-device-id").split() == ["modbus-device-id", "502/tcp", "not-scheduled"]


def test_failed_probes_are_named_in_one_line_without_verbose(report: Report) -> None:
    text = rendered(report)
    assert "1 probe failed: http-head on 80/tcp: connection-reset; details with --verbose" in lines_of(text)


def test_deviations_table_shows_kind_port_expectation_observation_reason_and_setting(report: Report) -> None:
    text = rendered(report)
    assert row_starting(text, "forbidden-open").split() == [
        "forbidden-open", "22/tcp", "closed", "open", "SSH", "is", "off", "by", "default", "on", "production", "firmware",
    ]
    assert row_starting(text, "expected-missing").split()[:4] == ["expected-missing", "1600/tcp", "open", "filtered"]
    assert "SSH access: Off" in text and "WAN Router: Off" in text


def test_findings_are_sorted_by_severity_and_show_id_title_setting_and_recommendation(report: Report) -> None:
    text = rendered(report)
    severities = [line.split()[0] for line in lines_of(text) if line.startswith(("HIGH ", "MEDIUM ", "INFO "))]
    assert severities == ["HIGH", "MEDIUM", "INFO"]
    assert row_starting(text, "HIGH").split()[:2] == ["HIGH", "22/tcp"]
    # (wide enough that no cell wraps, to read each cell's text whole)
    wide = rendered(report, width=220)
    high = row_starting(wide, "HIGH")
    assert "SSH reachable although the master profile forbids it" in high
    assert high.endswith("SSH access: Off")
    # the rule id sits under the title and the recommendation under the setting
    second_line = lines_of(wide)[lines_of(wide).index(high) + 1]
    assert second_line.index("profile-forbidden-open") == high.index("SSH reachable")
    assert second_line.index("Switch SSH access off") == high.index("SSH access: Off")
    assert second_line.endswith("Switch SSH access off unless a service technician needs it.")
    # a host-level finding has no port
    assert row_starting(text, "MEDIUM").split()[:2] == ["MEDIUM", "-"]
    # evidence lines only appear with --verbose
    assert "banner SSH-2.0-dropbear_2022.83" not in text
    assert "• banner SSH-2.0-dropbear_2022.83" in rendered(report, verbose=True)


def test_footer_summarises_hosts_open_ports_findings_and_warns_about_interruption(report: Report) -> None:
    text = rendered(report)
    assert "Summary: 3 hosts (2 up, 1 down), 4 open ports, 3 deviations, scanned in 40.8 s" in lines_of(text)
    assert "Findings: 1 high, 1 medium, 1 info" in lines_of(text)
    assert "WARNING: scan interrupted; results are partial (1 incomplete host, 3 ports not probed)" in lines_of(text)
    assert "Host 198.18.0.11  up (reset)  INCOMPLETE: scan interrupted" in lines_of(text)
    assert "  discovery: ARP discovery needs CAP_NET_RAW; used TCP ping instead" in lines_of(text)


def test_a_clean_complete_scan_has_no_warning_and_says_no_findings(report: Report) -> None:
    # Given an uninterrupted scan of one host without findings or deviations
    host = replace(report.hosts[0], findings=(), deviations=())
    clean = replace(report, hosts=(host,), interrupted=False, errors=())
    # When rendered
    text = rendered(clean)
    # Then
    assert "WARNING" not in text
    assert "No findings." in lines_of(text)
    assert "Findings: none" in lines_of(text)
    assert "Summary: 1 host (1 up, 0 down), 3 open ports, 0 deviations, scanned in 40.8 s" in lines_of(text)


def test_output_fits_80_columns(report: Report) -> None:
    for verbose in (False, True):
        text = rendered(report, verbose=verbose, width=80)
        assert max(len(line) for line in text.splitlines()) <= 80
        # identifiers are never truncated, even when prose columns have to wrap
        assert "…" not in text.replace("abababababab…", "").replace("cdcdcdcdcdcd…", "")
        assert "expected-missing" in text


def test_a_pipe_gets_no_ansi_escape_sequences(report: Report) -> None:
    # Given a console writing to a non-terminal file, as in `porthole scan ... | less`
    sink = io.StringIO()
    console = Console(file=sink, width=80)
    assert not console.is_terminal
    # When rendered
    render_report(report, console, verbose=True)
    # Then the text is plain
    assert "\x1b" not in sink.getvalue()
    assert "Not shown" not in sink.getvalue()  # verbose
    assert "22/tcp" in sink.getvalue()


def test_a_terminal_gets_colour_for_states_and_severities(report: Report) -> None:
    sink = io.StringIO()
    console = Console(file=sink, width=100, force_terminal=True, color_system="standard")
    render_report(report, console, verbose=False)
    assert "\x1b[" in sink.getvalue()


def test_device_controlled_text_cannot_inject_markup_or_terminal_escapes(report: Report) -> None:
    # Given a hostile device whose name carries rich markup and an ANSI escape
    hostile = HostResult(
        address="198.18.0.66",
        hostname="[bold red]evil[/] \x1b[2J\x1b]0;pwned\x07",
        status=HostStatus.UP,
        status_reason="syn-ack",
        ports=(port(80, TCP, PortState.OPEN, Reason.SYN_ACK, service="http", detail="\x1b[31mred"),),
    )
    sink = io.StringIO()
    console = Console(file=sink, width=120, force_terminal=True, color_system="standard")
    # When rendered to a colour terminal, verbose (so the detail is shown)
    render_report(replace(report, hosts=(hostile,)), console, verbose=True)
    output = sink.getvalue()
    # Then the markup is printed literally and the escapes are shown, not executed
    assert "[bold red]evil[/]" in output
    assert "\\x1b[2J" in output and "\\x07" in output and "\\x1b[31mred" in output
    assert "\x1b[2J" not in output and "\x07" not in output and "\x1b]0;" not in output


def test_a_host_without_ports_says_no_ports_probed(report: Report) -> None:
    host = HostResult(address="198.18.0.12", status=HostStatus.UNKNOWN, status_reason="user-set")
    text = rendered(replace(report, hosts=(host,), interrupted=False))
    assert "Host 198.18.0.12  unknown (user-set)" in lines_of(text)
    assert "  No ports probed." in lines_of(text)


def test_a_probe_summary_replaces_the_catalogue_purpose_for_its_port(report: Report) -> None:
    # Given the SSH port identified by a probe
    host = report.hosts[0]
    ports = tuple(replace(p, summary="OpenSSH_9.2p1 Debian-2") if p.port == 22 and p.protocol.value == "tcp" else p for p in host.ports)
    identified = replace(report, hosts=(replace(host, ports=ports), *report.hosts[1:]))
    # When rendered
    text = rendered(identified)
    # Then the row names what answers instead of what the port is for
    assert row_starting(text, "22/tcp").split()[6:] == ["OpenSSH_9.2p1", "Debian-2"]
