"""Lab site lifecycle: ``up`` builds a site in network namespaces, ``down`` removes it.

``up(site.toml)`` creates one namespace per host (scanner, switch, each
controller; see ``lab.netns`` for the picture), starts every service inside its
controller's namespace, and returns only once every service is listening.
``down`` undoes exactly what ``up`` recorded. ``status`` reads the record back.

Contract:

* **Bookkeeping first.** Every namespace is written to
  ``<state_root>/<site>/state.json`` *before* it is created, and every process
  right after it starts, so ``down`` can always finish what a half-failed (or
  killed) ``up`` began. ``up`` cleans up after itself when it fails.
* **Only what we recorded.** ``down`` signals only recorded PIDs whose start
  time still matches (a recycled PID is left alone) and deletes only recorded
  namespaces. It is idempotent: a site that is not up is a no-op.
* **``up`` twice is an error**, not a silent no-op: the second call raises
  ``LabError`` saying the site is already up and how to take it down. A second
  site with another name can run beside it.
* **Readiness without traffic.** A service is ready when ``ss`` shows its
  sockets (and, for emulators, once it has logged ``<kind> serving on``);
  nothing is sent to it (the fragile emulator counts connections).
* Services run in their own sessions, so they outlive the ``up`` command
  (``make demo`` runs ``lab up``, then the audit, then ``lab down``).

State root: ``/run/porthole-lab`` (override with ``PORTHOLE_LAB_STATE``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType

from porthole.errors import LabError
from porthole.model import PortRef

from lab import daemons, netns
from lab.site import Controller, HostMode, Service, Site, load_site

__all__ = [
    "DEFAULT_SITE",
    "STATE_ROOT_ENVIRONMENT",
    "DEFAULT_STATE_ROOT",
    "LabPhase",
    "ProcessRecord",
    "LabState",
    "load_site",
    "up",
    "down",
    "status",
    "state_root",
    "scanner_prefix",
    "controller_prefix",
]

DEFAULT_SITE = Path(__file__).parent / "site.toml"
STATE_ROOT_ENVIRONMENT = "PORTHOLE_LAB_STATE"
DEFAULT_STATE_ROOT = Path("/run/porthole-lab")

#: how long every service together may take to start listening
READY_TIMEOUT_SECONDS = 45.0
#: SIGTERM, then this long, then SIGKILL
STOP_GRACE_SECONDS = 3.0
_POLL_SECONDS = 0.05
_LOG_TAIL_LINES = 15
_REPOSITORY_ROOT = Path(__file__).resolve().parent.parent

#: sysctls of every controller namespace: no ICMP rate limiting, so every closed
#: UDP port answers port-unreachable even when a scan probes many at once
_CONTROLLER_SYSCTLS = {"net.ipv4.icmp_ratelimit": "0", "net.ipv6.icmp.ratelimit": "0"}
#: newer kernels also keep the global ICMP token bucket per namespace; older ones
#: do not expose it inside a namespace, so these are best effort
_OPTIONAL_CONTROLLER_SYSCTLS = {"net.ipv4.icmp_msgs_per_sec": "100000", "net.ipv4.icmp_msgs_burst": "10000"}

# Popen objects of the services this interpreter started, by PID. Holding them
# lets `down` in the same process reap its children (no zombies in tests); a CLI
# `up` simply exits and the services, in their own sessions, live on.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class LabPhase(StrEnum):
    #: ``up`` is running, or died before the site was ready (``down`` cleans it up)
    STARTING = "starting"
    #: every service is ready
    UP = "up"


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessRecord:
    """One process ``up`` started: a service, or the delay link."""

    #: controller name, or ``scan`` for the delay link
    host: str
    kind: str
    ports: tuple[str, ...]
    #: namespace the process runs in (``None``: root namespace, e.g. the delay link)
    namespace: str | None
    pid: int
    #: the process's start time in clock ticks (/proc/PID/stat field 22): tells
    #: our process apart from a later one that reused the PID
    start_ticks: int
    log: Path
    argv: tuple[str, ...]

    def is_running(self) -> bool:
        return _process_start_ticks(self.pid) == self.start_ticks


@dataclass(frozen=True, slots=True, kw_only=True)
class LabState:
    """What ``up`` created, as recorded in ``state.json``."""

    site_name: str
    site_file: str | None
    state_directory: Path
    phase: LabPhase
    started_at: str
    scanner_namespace: str
    namespaces: tuple[str, ...]
    #: host (``scan`` or a controller name) -> address
    addresses: Mapping[str, str]
    processes: tuple[ProcessRecord, ...] = field(default=())


def state_root() -> Path:
    return Path(os.environ.get(STATE_ROOT_ENVIRONMENT, str(DEFAULT_STATE_ROOT)))


def scanner_prefix(site: Site) -> list[str]:
    """argv prefix that runs a command from the scanner's vantage."""
    return ["ip", "netns", "exec", netns.namespace_name(site.name, "scan")]


def controller_prefix(site: Site, name: str) -> list[str]:
    """argv prefix that runs a command inside controller ``name``'s namespace."""
    site.controller(name)  # raises LabError for an unknown controller
    return ["ip", "netns", "exec", netns.namespace_name(site.name, name)]


# --- up ----------------------------------------------------------------------------


def up(site_path: Path, *, python: str = sys.executable) -> LabState:
    """Build the site described by ``site_path``; return once every service listens."""
    _require_root()
    site = load_site(Path(site_path))
    directory = state_root() / site.name
    if (directory / "state.json").exists():
        raise LabError(
            f"lab site {site.name!r} is already up (state in {directory}); "
            f"take it down first with: python -m lab down --site {site.name}"
        )
    prefix = netns.namespace_name(site.name, "")
    strays = sorted(name for name in netns.list_namespaces() if name.startswith(prefix))
    if strays:
        raise LabError(
            f"namespace(s) {', '.join(strays)} already exist but no lab state records them; "
            "if they are leftovers of an earlier run, remove them with `ip netns delete NAME`"
        )
    recorder = _Recorder(site, directory)
    try:
        _build_network(site, recorder, python)
        pending = _start_services(site, recorder, python)
        _wait_until_ready(pending)
        recorder.mark_up()
    except BaseException as failure:
        cleanup_note = ""
        try:
            down(site.name)
        except LabError as cleanup_error:
            cleanup_note = f" (cleanup also failed: {cleanup_error})"
        if isinstance(failure, LabError):
            raise LabError(f"{failure}{cleanup_note}") from None
        if isinstance(failure, Exception):
            raise LabError(f"lab site {site.name!r} failed to start: {failure!r}{cleanup_note}") from failure
        raise
    return recorder.snapshot()


class _Recorder:
    """Accumulates what ``up`` created and rewrites ``state.json`` after every change."""

    def __init__(self, site: Site, directory: Path) -> None:
        self._site = site
        self._directory = directory
        self._processes: list[ProcessRecord] = []
        self._phase = LabPhase.STARTING
        self._started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self._namespaces = (
            netns.namespace_name(site.name, "sw"),
            netns.namespace_name(site.name, "scan"),
            *(netns.namespace_name(site.name, controller.name) for controller in site.controllers),
        )
        directory.mkdir(parents=True, exist_ok=True)
        # every namespace is recorded before any is created: `down` deletes the
        # ones that exist and skips the rest
        self._save()

    @property
    def directory(self) -> Path:
        return self._directory

    def add_process(self, record: ProcessRecord) -> None:
        self._processes.append(record)
        self._save()

    def mark_up(self) -> None:
        self._phase = LabPhase.UP
        self._save()

    def snapshot(self) -> LabState:
        addresses = {"scan": str(self._site.scanner)}
        addresses.update({controller.name: str(controller.address) for controller in self._site.controllers})
        return LabState(
            site_name=self._site.name,
            site_file=str(self._site.source.resolve()) if self._site.source else None,
            state_directory=self._directory,
            phase=self._phase,
            started_at=self._started_at,
            scanner_namespace=netns.namespace_name(self._site.name, "scan"),
            namespaces=self._namespaces,
            addresses=MappingProxyType(addresses),
            processes=tuple(self._processes),
        )

    def _save(self) -> None:
        _write_state(self.snapshot())


def _build_network(site: Site, recorder: _Recorder, python: str) -> None:
    switch = netns.namespace_name(site.name, "sw")
    scan = netns.namespace_name(site.name, "scan")
    prefix_length = site.subnet.prefixlen
    netns.create_namespace(switch)
    netns.create_bridge(switch)
    netns.create_namespace(scan)
    if site.link_delay_ms > 0:
        _start_delay_link(site, recorder, python, scan=scan, switch=switch)
    else:
        netns.connect_to_switch(switch, scan, "scan")
    netns.configure_host_interface(scan, f"{site.scanner}/{prefix_length}")

    def build_controller(controller: Controller) -> None:
        namespace = netns.namespace_name(site.name, controller.name)
        netns.create_namespace(namespace)
        netns.set_sysctls(namespace, _CONTROLLER_SYSCTLS)
        try:
            netns.set_sysctls(namespace, _OPTIONAL_CONTROLLER_SYSCTLS)
        except LabError:
            pass  # older kernel: the global ICMP bucket is not per namespace; leave it alone
        netns.connect_to_switch(switch, namespace, controller.name)
        netns.configure_host_interface(namespace, f"{controller.address}/{prefix_length}")
        if controller.host is HostMode.FILTERED or controller.filtered:
            netns.apply_firewall(
                namespace,
                netns.firewall_ruleset(
                    filtered=controller.filtered_ports, drop_everything=controller.host is HostMode.FILTERED
                ),
            )

    # each controller is a handful of `ip` calls; a bench site has ~20 of them
    with ThreadPoolExecutor(max_workers=8) as pool:
        for future in [pool.submit(build_controller, controller) for controller in site.controllers]:
            future.result()


def _start_delay_link(site: Site, recorder: _Recorder, python: str, *, scan: str, switch: str) -> None:
    port = netns.switch_port_name("scan")
    argv = netns.delay_link_command(
        python, delay_ms=site.link_delay_ms, scan_namespace=scan, switch_namespace=switch, switch_port=port
    )
    log = recorder.directory / "delay-link.log"
    process = _spawn(argv, log)
    recorder.add_process(
        ProcessRecord(
            host="scan", kind="delay-link", ports=(), namespace=None, pid=process.pid,
            start_ticks=_start_ticks_of_new(process), log=log, argv=tuple(argv),
        )
    )
    alive = lambda: process.poll() is None  # noqa: E731
    try:
        netns.wait_for_link(scan, netns.HOST_INTERFACE, timeout=10, alive=alive)
        netns.wait_for_link(switch, port, timeout=10, alive=alive)
    except LabError as exc:
        raise LabError(f"{exc}; delay-link log:\n{_tail(log)}") from None
    netns.attach_to_bridge(switch, port)


@dataclass(frozen=True, slots=True)
class _Pending:
    controller: str
    service: Service
    namespace: str
    listens: tuple[PortRef, ...]
    ready_log_line: str | None
    process: subprocess.Popen[bytes]
    log: Path

    def is_ready(self, listening: set[PortRef]) -> bool:
        if not set(self.listens) <= listening:
            return False
        return self.ready_log_line is None or self.ready_log_line in _read_text(self.log)


def _start_services(site: Site, recorder: _Recorder, python: str) -> list[_Pending]:
    pending: list[_Pending] = []
    for controller in site.controllers:
        namespace = netns.namespace_name(site.name, controller.name)
        controller_directory = recorder.directory / controller.name
        controller_directory.mkdir(parents=True, exist_ok=True)
        for service in controller.services:
            spec = daemons.launch_spec(site, controller, service, controller_directory, python)
            log = controller_directory / f"{service.kind}-{service.ports[0].number}.log"
            argv = ["ip", "netns", "exec", namespace, *spec.argv]
            process = _spawn(argv, log)
            recorder.add_process(
                ProcessRecord(
                    host=controller.name, kind=service.kind, ports=tuple(str(port) for port in service.ports),
                    namespace=namespace, pid=process.pid, start_ticks=_start_ticks_of_new(process),
                    log=log, argv=tuple(argv),
                )
            )
            pending.append(_Pending(controller.name, service, namespace, spec.listens, spec.ready_log_line, process, log))
    return pending


def _spawn(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    environment = dict(os.environ)
    # emulators are `python -m lab.services.<kind>`: make `lab` importable even
    # when the interpreter is not the project's editable-installed venv
    environment["PYTHONPATH"] = os.pathsep.join(
        part for part in (str(_REPOSITORY_ROOT), environment.get("PYTHONPATH", "")) if part
    )
    environment["PYTHONUNBUFFERED"] = "1"
    with log.open("ab") as log_file:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=_REPOSITORY_ROOT,
            env=environment,
            # own session: survives the `up` command, and `down` can signal the
            # whole process group (sshd and dnsmasq fork per connection)
            start_new_session=True,
        )
    _CHILDREN[process.pid] = process
    return process


def _wait_until_ready(pending: list[_Pending]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    waiting = list(pending)
    while waiting:
        for item in waiting:
            if item.process.poll() is not None:
                raise LabError(
                    f"{item.controller}: service {item.service.label} exited with status "
                    f"{item.process.returncode} before listening; its log ({item.log}) ends with:\n{_tail(item.log)}"
                )
        listening = {namespace: netns.listening_ports(namespace) for namespace in {item.namespace for item in waiting}}
        waiting = [item for item in waiting if not item.is_ready(listening[item.namespace])]
        if not waiting:
            return
        if time.monotonic() > deadline:
            item = waiting[0]
            missing = sorted(set(item.listens) - listening[item.namespace])
            problem = (
                f"is not listening on {', '.join(map(str, missing))}"
                if missing
                else f"listens but never logged {item.ready_log_line!r}"
            )
            others = f" ({len(waiting) - 1} other service(s) not ready either)" if len(waiting) > 1 else ""
            raise LabError(
                f"{item.controller}: service {item.service.label} {problem} after {READY_TIMEOUT_SECONDS:.0f} s"
                f"{others}; its log ({item.log}) ends with:\n{_tail(item.log)}"
            )
        time.sleep(_POLL_SECONDS)


# --- down / status -----------------------------------------------------------------


def down(site_path_or_name: Path | str) -> None:
    """Stop what ``up`` recorded for this site and delete its namespaces and state.

    Idempotent: a site that is not up (no state) is left as it is.
    """
    _require_root()
    name = _site_name(site_path_or_name)
    directory = state_root() / name
    state = _read_state(directory)
    if state is None:
        # nothing recorded: no namespace or process to remove, only stray files
        shutil.rmtree(directory, ignore_errors=True)
        return
    _stop_processes(state.processes)
    problems: list[str] = []
    for namespace in reversed(state.namespaces):
        try:
            netns.delete_namespace(namespace)
        except LabError as exc:
            problems.append(str(exc))
    if problems:
        # keep the state so a second `down` can retry what is left
        raise LabError(f"lab site {name!r} was only partly removed: " + "; ".join(problems))
    shutil.rmtree(directory, ignore_errors=True)


def status(site_path_or_name: Path | str) -> LabState | None:
    """The recorded state of a site, or ``None`` when it is not up."""
    return _read_state(state_root() / _site_name(site_path_or_name))


def _stop_processes(records: tuple[ProcessRecord, ...]) -> None:
    running = [record for record in records if record.is_running()]
    for record in running:
        _signal_group(record, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    while running and time.monotonic() < deadline:
        time.sleep(_POLL_SECONDS)
        running = [record for record in running if _still_running(record)]
    for record in running:
        _signal_group(record, signal.SIGKILL)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    while running and time.monotonic() < deadline:
        time.sleep(_POLL_SECONDS)
        running = [record for record in running if _still_running(record)]


def _signal_group(record: ProcessRecord, signal_number: signal.Signals) -> None:
    """Signal the recorded process and, if it still leads its own group, its children."""
    try:
        if os.getpgid(record.pid) == record.pid:
            os.killpg(record.pid, signal_number)
        else:
            os.kill(record.pid, signal_number)
    except ProcessLookupError:
        pass


def _still_running(record: ProcessRecord) -> bool:
    child = _CHILDREN.get(record.pid)
    if child is not None and child.poll() is not None:
        del _CHILDREN[record.pid]
        return False
    if child is None:
        try:
            os.waitpid(record.pid, os.WNOHANG)  # reap it if it is our child after all
        except ChildProcessError:
            pass
    return record.is_running()


def _site_name(site_path_or_name: Path | str) -> str:
    if isinstance(site_path_or_name, Path) or "/" in site_path_or_name or site_path_or_name.endswith(".toml"):
        return load_site(Path(site_path_or_name)).name
    return site_path_or_name


# --- state file ----------------------------------------------------------------------


def _write_state(state: LabState) -> None:
    data = {
        "site_name": state.site_name,
        "site_file": state.site_file,
        "state_directory": str(state.state_directory),
        "phase": state.phase,
        "started_at": state.started_at,
        "scanner_namespace": state.scanner_namespace,
        "namespaces": list(state.namespaces),
        "addresses": dict(state.addresses),
        "processes": [{**asdict(record), "log": str(record.log)} for record in state.processes],
    }
    path = state.state_directory / "state.json"
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    temporary.replace(path)


def _read_state(directory: Path) -> LabState | None:
    path = directory / "state.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise LabError(f"cannot read lab state {path}: {exc}; remove the lab by hand (ip netns delete ph-...)") from None
    processes = tuple(
        ProcessRecord(**{**record, "log": Path(record["log"]), "ports": tuple(record["ports"]), "argv": tuple(record["argv"])})
        for record in data.pop("processes")
    )
    return LabState(
        **{
            **data,
            "state_directory": Path(data["state_directory"]),
            "phase": LabPhase(data["phase"]),
            "namespaces": tuple(data["namespaces"]),
            "addresses": MappingProxyType(data["addresses"]),
            "processes": processes,
        }
    )


# --- helpers -------------------------------------------------------------------------


def _require_root() -> None:
    if os.geteuid() != 0:
        raise LabError("the lab creates network namespaces and needs root: run it as root (e.g. with sudo)")


def _process_start_ticks(pid: int) -> int | None:
    """Start time of a live (non-zombie) process, ``None`` if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may contain spaces and parentheses: split after the last ')'
    fields = text[text.rindex(")") + 2 :].split()
    if fields[0] == "Z":
        return None
    return int(fields[19])


def _start_ticks_of_new(process: subprocess.Popen[bytes]) -> int:
    ticks = _process_start_ticks(process.pid)
    if ticks is None:
        # exited at once; record 0 so it never matches a live process
        return 0
    return ticks


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _tail(log: Path) -> str:
    lines = _read_text(log).splitlines()
    return "\n".join(lines[-_LOG_TAIL_LINES:]) or "(empty log)"
