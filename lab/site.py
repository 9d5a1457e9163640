"""Site files: the TOML description of a simulated charger site, loaded strictly.

A site file says which controllers exist, where they sit on the site subnet,
which services each one runs and which ports its firewall drops. ``lab.control``
turns it into network namespaces and processes; tests read it back to know what a
scan *should* see (``expected_port_states``).

Contract:

* The loader is strict. An unknown key, a bad address, a duplicate, a port that
  is both served and filtered: each is a ``LabError`` naming the file, the entry
  and the key, with a hint on how to fix it. Nothing is silently ignored.
* This module only reads and validates. It creates no namespace, starts no
  process and opens no socket.
* Addresses must lie in 198.18.0.0/15 (RFC 2544 benchmarking space): the lab never
  uses an address that could belong to a real network.

Shape (every key is listed in ``_SITE_KEYS`` / ``_CONTROLLER_KEYS`` / ``_SERVICE_KEYS``)::

    [site]
    name = "demo"               # [a-z][a-z0-9]*, at most 6 characters
    subnet = "198.18.0.0/24"
    scanner = "198.18.0.1"      # the auditor's vantage
    link_delay_ms = 0           # one-way delay scanner <-> switch (user-space link)

    [[controller]]
    name = "master"             # [a-z][a-z0-9]*, at most 8 characters
    role = "master"             # master | slave | none
    address = "198.18.0.10"
    host = "normal"             # normal | closed | filtered
    filtered = ["22/tcp", "15118/udp"]
    description = "..."

    [[controller.service]]
    kind = "http"               # sshd, dnsmasq, or a module lab/services/<kind>.py
    ports = [80, "1900/udp"]    # int or "N" = TCP; "N/tcp" or "N/udp" explicit
    options = { redirect_to_https = true }
"""

from __future__ import annotations

import ipaddress
import json
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from porthole.errors import LabError
from porthole.model import PortRef, PortState, Protocol

__all__ = [
    "HostMode",
    "Role",
    "Service",
    "Controller",
    "Site",
    "REAL_DAEMON_KINDS",
    "LAB_ADDRESS_SPACE",
    "load_site",
    "parse_site",
    "parse_port",
    "available_service_kinds",
    "expected_port_states",
]

#: RFC 2544 benchmarking space; every lab address must be inside it.
LAB_ADDRESS_SPACE = ipaddress.IPv4Network("198.18.0.0/15")

#: service kinds served by real system daemons (configured in ``lab.daemons``);
#: every other kind is a Python emulator module ``lab.services.<kind>``.
REAL_DAEMON_KINDS = frozenset({"sshd", "dnsmasq"})

_SERVICES_DIRECTORY = Path(__file__).parent / "services"

_TOP_KEYS = {"site", "controller"}
_SITE_KEYS = {"name", "subnet", "scanner", "link_delay_ms", "description"}
_CONTROLLER_KEYS = {"name", "role", "address", "host", "filtered", "description", "service"}
_SERVICE_KEYS = {"kind", "ports", "options"}

# Namespace names are ph-<site>-<controller>; interface names inside the switch
# namespace are sw-<controller>. Linux caps interface names at 15 characters
# (IFNAMSIZ - 1), so controller names stay at 8; site names are kept short so
# namespace names stay readable in `ip netns list`.
_SITE_NAME = re.compile(r"[a-z][a-z0-9]{0,5}")
_CONTROLLER_NAME = re.compile(r"[a-z][a-z0-9]{0,7}")
_SERVICE_KIND = re.compile(r"[a-z][a-z0-9_]*")
_RESERVED_HOST_NAMES = {"scan", "sw"}
_MAXIMUM_LINK_DELAY_MS = 1000

_EnumT = TypeVar("_EnumT", bound=StrEnum)


class Role(StrEnum):
    """The role profile the integration tests diff this controller against."""

    MASTER = "master"
    SLAVE = "slave"
    NONE = "none"


class HostMode(StrEnum):
    """Whole-host behaviour, mostly for benchmarks."""

    #: services as listed, filtered ports dropped, every other port answers RST / ICMP
    NORMAL = "normal"
    #: no services: every TCP port answers RST, every UDP port ICMP port-unreachable
    CLOSED = "closed"
    #: the firewall drops every inbound packet (ARP still answers: the host is "up")
    FILTERED = "filtered"


@dataclass(frozen=True, slots=True, kw_only=True)
class Service:
    """One service process on a controller."""

    kind: str
    ports: tuple[PortRef, ...]
    options: Mapping[str, Any]

    @property
    def is_real_daemon(self) -> bool:
        return self.kind in REAL_DAEMON_KINDS

    @property
    def label(self) -> str:
        """``http 80/tcp,81/tcp`` — how logs and errors name this service."""
        return f"{self.kind} {','.join(str(port) for port in self.ports)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Controller:
    name: str
    role: Role
    address: ipaddress.IPv4Address
    host: HostMode
    filtered: tuple[str, ...]
    services: tuple[Service, ...]
    description: str

    @property
    def filtered_ports(self) -> tuple[PortRef, ...]:
        return tuple(parse_port(spec, where="filtered") for spec in self.filtered)

    @property
    def served_ports(self) -> tuple[PortRef, ...]:
        return tuple(port for service in self.services for port in service.ports)


@dataclass(frozen=True, slots=True, kw_only=True)
class Site:
    name: str
    subnet: ipaddress.IPv4Network
    scanner: ipaddress.IPv4Address
    link_delay_ms: float
    controllers: tuple[Controller, ...]
    description: str = ""
    #: the file this site was loaded from (``None`` when parsed from text)
    source: Path | None = None

    def controller(self, name: str) -> Controller:
        for controller in self.controllers:
            if controller.name == name:
                return controller
        known = ", ".join(controller.name for controller in self.controllers)
        raise LabError(f"site {self.name!r} has no controller {name!r} (controllers: {known})")


def available_service_kinds() -> frozenset[str]:
    """Real daemons plus every emulator module present under ``lab/services/``."""
    emulators = {
        path.stem
        for path in _SERVICES_DIRECTORY.glob("*.py")
        if not path.stem.startswith("_")
    }
    return REAL_DAEMON_KINDS | emulators


def load_site(path: Path) -> Site:
    """Read and validate a site file; every problem is a ``LabError`` naming ``path``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LabError(f"cannot read site file {path}: {exc.strerror}") from None
    return parse_site(text, where=str(path), source=path)


def parse_site(text: str, *, where: str = "<site>", source: Path | None = None) -> Site:
    """Validate site-file text; ``where`` prefixes every error message."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LabError(f"{where}: not valid TOML: {exc}") from None
    _reject_unknown(data, _TOP_KEYS, where)
    if "site" not in data or not isinstance(data["site"], dict):
        raise LabError(f"{where}: missing the [site] table (name, subnet, scanner)")
    header = data["site"]
    header_where = f"{where}: [site]"
    _reject_unknown(header, _SITE_KEYS, header_where)
    _require(header, {"name", "subnet", "scanner"}, header_where)

    name = _string(header, "name", header_where)
    if not _SITE_NAME.fullmatch(name):
        raise LabError(
            f"{header_where}: name {name!r} must be 1-6 characters of [a-z0-9] starting with a letter "
            "(it becomes part of namespace names such as ph-<name>-scan)"
        )
    subnet = _subnet(_string(header, "subnet", header_where), header_where)
    scanner = _host_address(_string(header, "scanner", header_where), subnet, f"{header_where}: scanner")
    link_delay_ms = header.get("link_delay_ms", 0)
    if (
        not isinstance(link_delay_ms, (int, float))
        or isinstance(link_delay_ms, bool)
        or not 0 <= link_delay_ms <= _MAXIMUM_LINK_DELAY_MS
    ):
        raise LabError(
            f"{header_where}: link_delay_ms must be a number from 0 to {_MAXIMUM_LINK_DELAY_MS}, not {link_delay_ms!r}"
        )
    description = _optional_string(header, "description", header_where)

    raw_controllers = data.get("controller", [])
    if not isinstance(raw_controllers, list):
        raise LabError(f"{where}: controller must be an array of tables ([[controller]])")
    controllers: list[Controller] = []
    used_addresses: dict[ipaddress.IPv4Address, str] = {scanner: "the scanner"}
    for index, raw in enumerate(raw_controllers, start=1):
        controller = _parse_controller(raw, subnet, f"{where}: [[controller]] #{index}")
        entry_where = f"{where}: [[controller]] {controller.name!r}"
        if any(existing.name == controller.name for existing in controllers):
            raise LabError(f"{entry_where}: the name is used twice; controller names must be unique")
        if controller.address in used_addresses:
            raise LabError(
                f"{entry_where}: address {controller.address} is already used by {used_addresses[controller.address]}"
            )
        used_addresses[controller.address] = f"controller {controller.name!r}"
        controllers.append(controller)

    names = {controller.name for controller in controllers}
    for controller in controllers:
        for service in controller.services:
            if service.kind == "forward":
                _check_forward_target(service, controller, names, f"{where}: [[controller]] {controller.name!r}")

    return Site(
        name=name,
        subnet=subnet,
        scanner=scanner,
        link_delay_ms=float(link_delay_ms),
        controllers=tuple(controllers),
        description=description,
        source=source,
    )


def parse_port(spec: object, *, where: str) -> PortRef:
    """``80`` / ``"80"`` / ``"80/tcp"`` → TCP 80; ``"53/udp"`` → UDP 53."""
    protocol = Protocol.TCP
    if isinstance(spec, bool):
        raise LabError(f"{where}: {spec!r} is not a port")
    if isinstance(spec, int):
        number = spec
    elif isinstance(spec, str):
        text, slash, protocol_text = spec.strip().lower().partition("/")
        if slash:
            try:
                protocol = Protocol(protocol_text)
            except ValueError:
                raise LabError(f"{where}: {spec!r}: protocol must be tcp or udp (e.g. \"53/udp\")") from None
        if not text.isdigit():
            raise LabError(f"{where}: {spec!r} is not a port; write 80, \"80/tcp\" or \"53/udp\"")
        number = int(text)
    else:
        raise LabError(f"{where}: {spec!r} is not a port; write 80, \"80/tcp\" or \"53/udp\"")
    if not 1 <= number <= 65535:
        raise LabError(f"{where}: port {spec!r} must be between 1 and 65535")
    return PortRef(protocol, number)


def expected_port_states(
    controller: Controller, ports: Iterable[PortRef | tuple[str, int]]
) -> dict[tuple[Protocol, int], PortState]:
    """What a scan from the scanner namespace should report for ``ports``.

    Served ports are ``open`` (UDP too: the lab services answer their own
    protocol's probe); firewall-dropped ports are ``filtered`` (UDP:
    ``open|filtered``, silence is ambiguous); everything else is ``closed`` (RST,
    or ICMP port-unreachable: controller namespaces disable ICMP rate limiting).
    """
    served = set(controller.served_ports)
    filtered = set(controller.filtered_ports)
    states: dict[tuple[Protocol, int], PortState] = {}
    for port in ports:
        ref = port if isinstance(port, PortRef) else PortRef(Protocol(port[0]), int(port[1]))
        silent = PortState.FILTERED if ref.protocol is Protocol.TCP else PortState.OPEN_FILTERED
        if controller.host is HostMode.FILTERED:
            state = silent
        elif controller.host is HostMode.CLOSED:
            state = PortState.CLOSED
        elif ref in served:
            state = PortState.OPEN
        elif ref in filtered:
            state = silent
        else:
            state = PortState.CLOSED
        states[(ref.protocol, ref.number)] = state
    return states


# --- helpers -----------------------------------------------------------------------


def _parse_controller(raw: object, subnet: ipaddress.IPv4Network, where: str) -> Controller:
    if not isinstance(raw, dict):
        raise LabError(f"{where}: expected a table")
    if isinstance(raw.get("name"), str):
        # name the entry the way its author knows it: [[controller]] 'master'
        where = f"{where} ({raw['name']!r})"
    _reject_unknown(raw, _CONTROLLER_KEYS, where)
    _require(raw, {"name", "address"}, where)
    name = _string(raw, "name", where)
    if not _CONTROLLER_NAME.fullmatch(name) or name in _RESERVED_HOST_NAMES:
        raise LabError(
            f"{where}: name {name!r} must be 1-8 characters of [a-z0-9] starting with a letter, "
            f"and not {' or '.join(sorted(_RESERVED_HOST_NAMES))} (it becomes an interface name, max 15 chars)"
        )
    where = f"{where.rsplit(' #', 1)[0]} {name!r}"
    address = _host_address(_string(raw, "address", where), subnet, f"{where}: address")
    role = _enum(Role, raw.get("role", Role.NONE.value), "role", where)
    host = _enum(HostMode, raw.get("host", HostMode.NORMAL.value), "host", where)
    description = _optional_string(raw, "description", where)

    filtered_raw = raw.get("filtered", [])
    if not isinstance(filtered_raw, list):
        raise LabError(f"{where}: filtered must be a list such as [\"22/tcp\", \"15118/udp\"]")
    filtered_refs = [parse_port(spec, where=f"{where}: filtered") for spec in filtered_raw]
    if len(set(filtered_refs)) != len(filtered_refs):
        raise LabError(f"{where}: filtered lists a port twice")

    services_raw = raw.get("service", [])
    if not isinstance(services_raw, list):
        raise LabError(f"{where}: service must be an array of tables ([[controller.service]])")
    services = tuple(
        _parse_service(item, f"{where}: [[controller.service]] #{number}")
        for number, item in enumerate(services_raw, start=1)
    )
    if host is not HostMode.NORMAL and (services or filtered_refs):
        raise LabError(
            f"{where}: host = {host.value!r} describes the whole host; remove its services and filtered "
            "ports, or use host = \"normal\""
        )
    seen: dict[PortRef, str] = {}
    for service in services:
        for port in service.ports:
            if port in seen:
                raise LabError(f"{where}: port {port} is served twice ({seen[port]} and {service.kind})")
            seen[port] = service.kind
    both = sorted(set(seen) & set(filtered_refs))
    if both:
        raise LabError(
            f"{where}: {', '.join(map(str, both))} is both served and filtered; a dropped port cannot be "
            "reached, so remove it from one list"
        )
    return Controller(
        name=name,
        role=role,
        address=address,
        host=host,
        filtered=tuple(str(ref) for ref in filtered_refs),
        services=services,
        description=description,
    )


def _parse_service(raw: object, where: str) -> Service:
    if not isinstance(raw, dict):
        raise LabError(f"{where}: expected a table")
    _reject_unknown(raw, _SERVICE_KEYS, where)
    _require(raw, {"kind", "ports"}, where)
    kind = _string(raw, "kind", where)
    kinds = available_service_kinds()
    if not _SERVICE_KIND.fullmatch(kind) or kind not in kinds:
        raise LabError(
            f"{where}: unknown service kind {kind!r}; available: {', '.join(sorted(kinds))} "
            "(a new emulator is a module lab/services/<kind>.py)"
        )
    where = f"{where} ({kind})"
    ports_raw = raw["ports"]
    if not isinstance(ports_raw, list) or not ports_raw:
        raise LabError(f"{where}: ports must be a non-empty list such as [80, 81] or [\"53/udp\"]")
    ports = tuple(parse_port(spec, where=f"{where}: ports") for spec in ports_raw)
    if len(set(ports)) != len(ports):
        raise LabError(f"{where}: ports lists a port twice")
    options = raw.get("options", {})
    if not isinstance(options, dict):
        raise LabError(f"{where}: options must be a table such as {{ redirect_to_https = true }}")
    try:
        # options travel to emulators as JSON: reject TOML dates and times up front
        json.dumps(options)
    except TypeError as exc:
        raise LabError(f"{where}: options must be JSON-compatible (no TOML dates): {exc}") from None
    if kind in REAL_DAEMON_KINDS:
        # imported lazily: lab.daemons imports this module for the data types
        from lab.daemons import validate_daemon_service

        validate_daemon_service(kind, ports, options, where)
    return Service(kind=kind, ports=ports, options=MappingProxyType(dict(options)))


def _check_forward_target(service: Service, controller: Controller, names: set[str], where: str) -> None:
    target = service.options.get("to")
    if not isinstance(target, str) or target not in names or target == controller.name:
        others = ", ".join(sorted(names - {controller.name})) or "none"
        raise LabError(
            f"{where}: forward service needs options.to naming another controller of this site "
            f"(one of: {others}), not {target!r}"
        )
    port = service.options.get("port")
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise LabError(f"{where}: forward service needs options.port, the TCP port on {target!r} (1-65535)")


def _reject_unknown(table: Mapping[str, object], allowed: set[str], where: str) -> None:
    unknown = set(table) - allowed
    if unknown:
        raise LabError(
            f"{where}: unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(allowed))}"
        )


def _require(table: Mapping[str, object], required: set[str], where: str) -> None:
    missing = required - set(table)
    if missing:
        raise LabError(f"{where}: missing key(s) {', '.join(sorted(missing))}")


def _string(table: Mapping[str, object], key: str, where: str) -> str:
    value = table[key]
    if not isinstance(value, str):
        raise LabError(f"{where}: {key} must be a string, not {value!r}")
    return value


def _optional_string(table: Mapping[str, object], key: str, where: str) -> str:
    if key not in table:
        return ""
    return _string(table, key, where)


def _enum(enum: type[_EnumT], value: object, key: str, where: str) -> _EnumT:
    try:
        return enum(value)
    except ValueError:
        allowed = " | ".join(member.value for member in enum)
        raise LabError(f"{where}: {key} must be one of {allowed}, not {value!r}") from None


def _subnet(text: str, where: str) -> ipaddress.IPv4Network:
    try:
        subnet = ipaddress.IPv4Network(text)
    except ValueError as exc:
        raise LabError(f"{where}: subnet {text!r} is not an IPv4 network with host bits zero: {exc}") from None
    if not subnet.subnet_of(LAB_ADDRESS_SPACE):
        raise LabError(
            f"{where}: subnet {text} must lie inside {LAB_ADDRESS_SPACE} (RFC 2544 benchmarking space), "
            "so the lab can never collide with a real network"
        )
    if not 16 <= subnet.prefixlen <= 29:
        raise LabError(f"{where}: subnet {text} must be between a /16 and a /29 (a /24 is typical)")
    return subnet


def _host_address(text: str, subnet: ipaddress.IPv4Network, where: str) -> ipaddress.IPv4Address:
    try:
        address = ipaddress.IPv4Address(text)
    except ValueError:
        raise LabError(f"{where}: {text!r} is not an IPv4 address") from None
    if address not in subnet or address in (subnet.network_address, subnet.broadcast_address):
        raise LabError(f"{where}: {address} is not a host address inside the site subnet {subnet}")
    return address
