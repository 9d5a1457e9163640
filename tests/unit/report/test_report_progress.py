"""Progress observers: a bar only for multi-host sweeps on a terminal, never in a pipe."""

from __future__ import annotations

import io
import threading

from rich.console import Console

from porthole.model import Report
from porthole.report import NullObserver, RichProgressObserver, ScanObserver


def terminal() -> tuple[Console, io.StringIO]:
    sink = io.StringIO()
    return Console(file=sink, width=100, force_terminal=True, color_system=None), sink


def drive(observer: ScanObserver, report: Report) -> None:
    """Replay a report's hosts through an observer in the engine's documented order."""
    observer.on_scan_started(len(report.hosts), sum(len(host.ports) for host in report.hosts))
    for host in report.hosts:
        observer.on_host_started(host.address)
        for observation in host.ports:
            observer.on_port_done(host.address, observation)
        observer.on_host_done(host)
    observer.on_scan_finished()


def test_both_observers_satisfy_the_engine_protocol() -> None:
    console, _ = terminal()
    assert isinstance(NullObserver(), ScanObserver)
    assert isinstance(RichProgressObserver(console, quiet=False), ScanObserver)


def test_null_observer_accepts_a_whole_scan_silently(report: Report) -> None:
    drive(NullObserver(), report)


def test_multi_host_sweep_on_a_terminal_shows_hosts_done_and_open_ports(report: Report) -> None:
    # Given a terminal console and a three-host sweep
    console, sink = terminal()
    observer = RichProgressObserver(console, quiet=False)
    # When the scan starts
    observer.on_scan_started(total_hosts=3, total_probes=15)
    # Then a bar is drawn
    assert observer.active
    assert "Scanning" in sink.getvalue() and "0/3" in sink.getvalue()
    # When the first host finishes with its open ports
    first = report.hosts[0]
    for observation in first.ports:
        observer.on_port_done(first.address, observation)
    observer.on_host_done(first)
    # Then the bar counts it and the open ports found so far
    assert (observer.hosts_done, observer.open_ports) == (1, 3)
    assert "1/3" in sink.getvalue() and "open ports: 3" in sink.getvalue()
    # When the scan finishes, the bar is gone (its refresh thread too) and finishing twice is harmless
    observer.on_scan_finished()
    observer.on_scan_finished()
    assert not observer.active
    for thread in threading.enumerate():
        if "Refresh" in type(thread).__name__:  # rich's auto-refresh thread, told to stop
            thread.join(timeout=5)
            assert not thread.is_alive()


def test_no_bar_in_a_pipe(report: Report) -> None:
    # Given a console that is not a terminal (CI log, `| tee`)
    sink = io.StringIO()
    observer = RichProgressObserver(Console(file=sink, width=100), quiet=False)
    # When a multi-host scan runs
    observer.on_scan_started(total_hosts=3, total_probes=15)
    assert not observer.active
    drive(observer, report)
    # Then nothing was written, though the counts were kept
    assert sink.getvalue() == ""
    assert observer.open_ports == 4


def test_no_bar_when_quiet(report: Report) -> None:
    console, sink = terminal()
    observer = RichProgressObserver(console, quiet=True)
    observer.on_scan_started(total_hosts=3, total_probes=15)
    assert not observer.active
    drive(observer, report)
    assert sink.getvalue() == ""


def test_no_bar_for_a_single_host(report: Report) -> None:
    console, sink = terminal()
    observer = RichProgressObserver(console, quiet=False)
    observer.on_scan_started(total_hosts=1, total_probes=10)
    assert not observer.active
    observer.on_scan_finished()
    assert sink.getvalue() == ""
