"""What runs for each service of a site: real daemons (OpenSSH, dnsmasq) and emulators.

``launch_spec`` answers one question for ``lab.control``: given a controller's
service, which argv runs inside the controller's namespace, and which sockets
must be listening before the service counts as ready. For the real daemons it
also writes their configuration (host keys, sshd_config) into the
controller's state directory.

Contract:

* Real daemons are configured so they cannot talk to anything outside the site:
  dnsmasq gets no upstream server at all (``--no-resolv``, no ``--server``), so an
  "open resolver" only ever answers from its own hosts and ``--address`` entries.
* Nothing here starts a process or touches a namespace; ``lab.control`` does.
* Options of the real daemons are validated strictly here (the emulators
  validate their own options).

Emulator contract (``lab/services/<kind>.py``), run as::

    <python> -m lab.services.<kind> --bind 0.0.0.0 --port 80 [--port 1900/udp ...]
        --options '<json>' --state-dir <state>/<controller> --name <controller>

and ready once its ports are bound *and* its log (stdout/stderr) contains
``<kind> serving on`` (``lab.services._common.run_service`` writes it).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from porthole.errors import LabError
from porthole.model import PortRef, Protocol

from lab.site import Controller, Service, Site

__all__ = [
    "LaunchSpec",
    "SSHD_OPTIONS",
    "DNSMASQ_OPTIONS",
    "SSHD_BINARY",
    "DNSMASQ_BINARY",
    "validate_daemon_service",
    "launch_spec",
    "CONTROLLER_INTERFACE",
]

SSHD_BINARY = "/usr/sbin/sshd"
DNSMASQ_BINARY = "/usr/sbin/dnsmasq"
#: sshd refuses to start without its privilege-separation directory
SSHD_PRIVILEGE_SEPARATION_DIRECTORY = Path("/run/sshd")
#: the name of every controller's single interface inside its own namespace
CONTROLLER_INTERFACE = "eth0"

#: sshd options a site file may set, with their meaning
SSHD_OPTIONS: Mapping[str, str] = {
    "password_authentication": "bool: PasswordAuthentication (default false)",
    "version_addendum": "str: VersionAddendum, appended to the SSH identification line",
    "host_key_types": "list of ed25519 | ecdsa | rsa (default [\"ed25519\"])",
    "ciphers": "str: Ciphers line, passed through",
    "kex_algorithms": "str: KexAlgorithms line, passed through",
    "macs": "str: MACs line, passed through",
}

#: dnsmasq options a site file may set
DNSMASQ_OPTIONS: Mapping[str, str] = {
    "open_resolver": "bool: answer recursion-desired queries with RA (default false: REFUSED, no RA)",
    "hosts": "table name -> IPv4: extra host records (localhost -> 127.0.0.1 is always there)",
    "addresses": "table domain -> IPv4: --address=/domain/ip wildcard answers",
}

_HOST_KEY_TYPES = {"ed25519", "ecdsa", "rsa"}


@dataclass(frozen=True, slots=True, kw_only=True)
class LaunchSpec:
    """How to run one service inside its controller's namespace."""

    argv: tuple[str, ...]
    #: sockets that must be listening (seen by ``ss``) before the service is ready
    listens: tuple[PortRef, ...]
    #: text the service logs once it really answers; ``None``: listening is enough.
    #: Emulators bind before they finish starting (zeroconf, for one, probes its
    #: names for ~2 s after binding 5353), so they also log ``<kind> serving on``.
    ready_log_line: str | None = None


def validate_daemon_service(kind: str, ports: tuple[PortRef, ...], options: Mapping[str, Any], where: str) -> None:
    """Reject site-file entries a real daemon cannot honour (called by the site loader)."""
    if kind == "sshd":
        _reject_unknown_options(options, SSHD_OPTIONS, where)
        if any(port.protocol is not Protocol.TCP for port in ports):
            raise LabError(f"{where}: sshd only listens on TCP ports")
        for key in ("password_authentication",):
            if key in options and not isinstance(options[key], bool):
                raise LabError(f"{where}: options.{key} must be true or false")
        for key in ("version_addendum", "ciphers", "kex_algorithms", "macs"):
            if key in options and (not isinstance(options[key], str) or "\n" in options[key]):
                raise LabError(f"{where}: options.{key} must be a single-line string")
        key_types = options.get("host_key_types", ["ed25519"])
        if not isinstance(key_types, list) or not key_types or not set(key_types) <= _HOST_KEY_TYPES:
            raise LabError(f"{where}: options.host_key_types must be a non-empty list of {sorted(_HOST_KEY_TYPES)}")
    elif kind == "dnsmasq":
        _reject_unknown_options(options, DNSMASQ_OPTIONS, where)
        numbers = {port.number for port in ports}
        expected = {PortRef(Protocol.UDP, number) for number in numbers} | {
            PortRef(Protocol.TCP, number) for number in numbers
        }
        if len(numbers) != 1 or set(ports) != expected:
            raise LabError(
                f"{where}: dnsmasq serves one port number over both UDP and TCP; "
                "write ports = [\"53/udp\", \"53/tcp\"]"
            )
        if "open_resolver" in options and not isinstance(options["open_resolver"], bool):
            raise LabError(f"{where}: options.open_resolver must be true or false")
        for key in ("hosts", "addresses"):
            table = options.get(key, {})
            if not isinstance(table, dict) or not all(
                isinstance(name, str) and isinstance(value, str) and _is_ipv4(value) and "/" not in name
                for name, value in table.items()
            ):
                raise LabError(f"{where}: options.{key} must be a table of name = \"IPv4 address\"")


def launch_spec(site: Site, controller: Controller, service: Service, state_directory: Path, python: str) -> LaunchSpec:
    """Prepare ``service`` (config files for daemons) and return how to run it.

    ``state_directory`` is the controller's own directory (``<state>/<controller>``).
    """
    if service.kind == "sshd":
        return _sshd(service, state_directory)
    if service.kind == "dnsmasq":
        return _dnsmasq(controller, service)
    return _emulator(site, controller, service, state_directory, python)


# --- OpenSSH ---------------------------------------------------------------------


def _sshd(service: Service, state_directory: Path) -> LaunchSpec:
    SSHD_PRIVILEGE_SEPARATION_DIRECTORY.mkdir(mode=0o755, exist_ok=True)
    first_port = service.ports[0].number
    directory = state_directory / f"sshd-{first_port}"
    directory.mkdir(parents=True, exist_ok=True)
    options = service.options
    host_keys = []
    for key_type in options.get("host_key_types", ["ed25519"]):
        key_path = directory / f"ssh_host_{key_type}_key"
        if not key_path.exists():
            _run_tool(["ssh-keygen", "-q", "-t", key_type, "-N", "", "-C", "porthole-lab", "-f", str(key_path)])
        host_keys.append(key_path)
    lines = [
        "# written by lab.daemons for one lab controller; never used outside its namespace",
        *(f"Port {port.number}" for port in service.ports),
        "ListenAddress 0.0.0.0",
        *(f"HostKey {key}" for key in host_keys),
        f"PidFile {directory / 'sshd.pid'}",
        "UsePAM no",
        # the state directory lives under /run, owned by root: fine, but do not
        # let StrictModes trip over a world-readable parent in odd setups
        "StrictModes no",
        f"PasswordAuthentication {'yes' if options.get('password_authentication', False) else 'no'}",
        "KbdInteractiveAuthentication no",
        "PermitRootLogin no",
        # nobody may actually log in: the lab only needs the pre-auth surface
        "AuthorizedKeysFile none",
        "AllowUsers porthole-lab-nobody",
        "LogLevel INFO",
    ]
    if "version_addendum" in options:
        lines.append(f"VersionAddendum {options['version_addendum']}")
    for key, directive in (("ciphers", "Ciphers"), ("kex_algorithms", "KexAlgorithms"), ("macs", "MACs")):
        if key in options:
            lines.append(f"{directive} {options[key]}")
    config = directory / "sshd_config"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    # -t validates the configuration now, so a bad option fails `up` with sshd's
    # own message instead of a readiness timeout
    _run_tool([SSHD_BINARY, "-t", "-f", str(config)])
    return LaunchSpec(argv=(SSHD_BINARY, "-D", "-e", "-f", str(config)), listens=service.ports)


# --- dnsmasq ---------------------------------------------------------------------


def _dnsmasq(controller: Controller, service: Service) -> LaunchSpec:
    port = service.ports[0].number
    options = service.options
    hosts = {"localhost": "127.0.0.1", **options.get("hosts", {})}
    argv = [
        DNSMASQ_BINARY,
        "--keep-in-foreground",
        "--conf-file=/dev/null",
        # no upstream servers at all: nothing is ever forwarded off the site
        "--no-resolv",
        "--no-poll",
        "--no-hosts",
        # --host-record, not an --addn-hosts file: option records exist before the
        # sockets open, whereas hosts files are read after start-up, so a query
        # right after readiness would be REFUSED
        *(f"--host-record={name},{address}" for name, address in hosts.items()),
        f"--listen-address={controller.address}",
        "--bind-interfaces",
        f"--port={port}",
        "--pid-file=",
        "--log-facility=-",
    ]
    if options.get("open_resolver", False):
        argv += [f"--address=/{domain}/{address}" for domain, address in options.get("addresses", {}).items()]
    else:
        # Authoritative-only mode for an empty private zone: every query outside it
        # (localhost included) is REFUSED without RA, which is what a resolver that is
        # closed to this vantage looks like.
        argv += [
            f"--auth-server=ns.{controller.name}.lab.invalid,{controller.address}",
            f"--auth-zone={controller.name}.lab.invalid",
        ]
    return LaunchSpec(argv=tuple(argv), listens=service.ports)


# --- emulators -------------------------------------------------------------------


def _emulator(site: Site, controller: Controller, service: Service, state_directory: Path, python: str) -> LaunchSpec:
    options: dict[str, Any] = dict(service.options)
    if service.kind == "forward":
        # emulators do not read the site file: hand them the peer's address
        options["to_address"] = str(site.controller(options["to"]).address)
    if service.kind == "fragile":
        # the fragile card watches its interface's traffic to decide when to hang
        options["interface"] = CONTROLLER_INTERFACE
    argv = [python, "-m", f"lab.services.{service.kind}", "--bind", "0.0.0.0"]
    for port in service.ports:
        argv += ["--port", str(port.number) if port.protocol is Protocol.TCP else str(port)]
    argv += [
        "--options",
        json.dumps(options, sort_keys=True),
        "--state-dir",
        str(state_directory),
        "--name",
        controller.name,
    ]
    return LaunchSpec(argv=tuple(argv), listens=service.ports, ready_log_line=f"{service.kind} serving on")


# --- helpers -----------------------------------------------------------------------


def _reject_unknown_options(options: Mapping[str, Any], allowed: Mapping[str, str], where: str) -> None:
    unknown = set(options) - set(allowed)
    if unknown:
        described = "; ".join(f"{key} ({meaning})" for key, meaning in allowed.items())
        raise LabError(f"{where}: unknown option(s) {', '.join(sorted(unknown))}; allowed: {described}")


def _is_ipv4(text: str) -> bool:
    parts = text.split(".")
    return len(parts) == 4 and all(part.isdigit() and 0 <= int(part) <= 255 for part in parts)


def _run_tool(argv: list[str]) -> None:
    try:
        completed = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LabError(f"cannot run {argv[0]}: {exc}; is it installed (openssh-server / dnsmasq-base)?") from None
    if completed.returncode != 0:
        raise LabError(f"{' '.join(argv)} failed: {completed.stderr.strip() or completed.stdout.strip()}")
