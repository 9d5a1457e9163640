"""Scan progress: the observer protocol the engine reports to, and its implementations.

The engine never prints (architecture §5.7). It calls a ``ScanObserver`` at these
points, in this order, from the event loop's thread:

    on_scan_started(total_hosts, total_probes)   once, before the first probe
    on_host_started(address)                     once per host
    on_port_done(address, observation)           once per port observation
    on_host_done(result)                         once per host, with its HostResult
    on_scan_finished()                           once, also after an interrupt

Observers must be quick and must not raise: they run inside the scan loop.
Implementations here:

* ``NullObserver`` does nothing (library use, tests, ``--quiet``).
* ``RichProgressObserver`` draws a transient progress bar (hosts done / total, open
  ports so far) on a terminal, only for multi-host sweeps and only when not quiet;
  in a pipe or a CI log it stays silent so the report output stays clean.

No thread-safety: the engine calls observers from one event loop.
"""

from __future__ import annotations


from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from porthole.engine.scanner import NullObserver, ScanObserver
from porthole.model import HostResult, PortObservation, PortState

__all__ = ["ScanObserver", "NullObserver", "RichProgressObserver"]


class RichProgressObserver:
    """A progress bar for long sweeps: ``Scanning ━━━━━  3/12 hosts  open ports: 7  0:00:41``.

    The bar is transient (erased when the scan finishes) so it never ends up above
    the report. ``on_scan_finished`` is idempotent; the CLI may also call it from a
    ``finally`` to be sure the terminal is restored after an error.
    """

    def __init__(self, console: Console, quiet: bool) -> None:
        self._console = console
        self._quiet = quiet
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self.hosts_done = 0
        self.open_ports = 0

    @property
    def active(self) -> bool:
        """True while a bar is being drawn."""
        return self._progress is not None

    def on_scan_started(self, total_hosts: int, total_probes: int) -> None:
        self.hosts_done = 0
        self.open_ports = 0
        # One host finishes in seconds and a bar would only flicker; a pipe or CI
        # log would collect redraw garbage, so draw only on a real terminal.
        if self._quiet or total_hosts <= 1 or not self._console.is_terminal:
            return
        self._progress = Progress(
            TextColumn("[bold]Scanning"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("hosts"),
            TextColumn("open ports: {task.fields[open_ports]}"),
            TimeElapsedColumn(),
            console=self._console,
            transient=True,
        )
        self._task = self._progress.add_task("scan", total=total_hosts, open_ports=0)
        self._progress.start()

    def on_host_started(self, address: str) -> None:
        pass

    def on_port_done(self, address: str, observation: PortObservation) -> None:
        if observation.state is PortState.OPEN:
            self.open_ports += 1
            self._update()

    def on_host_done(self, result: HostResult) -> None:
        self.hosts_done += 1
        # Hosts finish rarely; redraw now rather than at the next auto-refresh tick.
        self._update(refresh=True)

    def on_scan_finished(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
            self._task = None

    def _update(self, *, refresh: bool = False) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=self.hosts_done, open_ports=self.open_ports, refresh=refresh)
