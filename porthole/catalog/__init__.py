"""The port catalogue: the controller's documented ports, loaded from ``ports.toml``.

The loader is strict: an unknown key, a duplicate port or a bad value is a
``CatalogError`` naming the file and the entry, never a silently ignored line.

``select_ports`` applies a ``--ports`` spec to the catalogue:

    502,8888          restrict to these (TCP unless suffixed), catalogue data kept
    53/udp,80-82      suffix /udp or /tcp; ranges allowed
    +8080,+161/udp    add ports to the catalogue set
    -22,-23           remove ports from the set
    all               the whole catalogue (the default)

Restricting and adding can be combined: ``502,+8080`` means 502 and 8080.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from porthole.errors import CatalogError
from porthole.model import PortRef, Protocol

__all__ = ["CatalogPort", "Catalog", "load_catalog", "default_catalog", "select_ports", "parse_port_spec"]

_PORT_KEYS = {"protocol", "number", "service", "purpose", "forwards", "setting", "udp_payload", "note"}
_REQUIRED = {"protocol", "number", "service", "purpose"}
_FORWARDS = {"master", "slave"}
UDP_PAYLOADS = frozenset({"dns", "ssdp", "mdns", "iso15118-sdp", "empty"})


@dataclass(frozen=True, slots=True, kw_only=True)
class CatalogPort:
    protocol: Protocol
    number: int
    service: str
    purpose: str
    forwards: str | None = None
    setting: str | None = None
    udp_payload: str | None = None
    note: str | None = None

    @property
    def ref(self) -> PortRef:
        return PortRef(self.protocol, self.number)


@dataclass(frozen=True, slots=True)
class Catalog:
    meta: Mapping[str, str]
    ports: Mapping[PortRef, CatalogPort]

    def get(self, ref: PortRef) -> CatalogPort | None:
        return self.ports.get(ref)

    def service_of(self, ref: PortRef) -> str | None:
        entry = self.ports.get(ref)
        return entry.service if entry else None


def load_catalog(path: Path | None = None) -> Catalog:
    """Load and validate a catalogue file (the packaged ``ports.toml`` by default)."""
    if path is None:
        text = resources.files(__package__).joinpath("ports.toml").read_text(encoding="utf-8")
        where = "porthole/catalog/ports.toml"
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise CatalogError(f"cannot read port catalogue {path}: {exc.strerror}") from None
        where = str(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{where}: not valid TOML: {exc}") from None
    unknown_top = set(data) - {"meta", "port"}
    if unknown_top:
        raise CatalogError(f"{where}: unknown top-level key(s): {', '.join(sorted(unknown_top))}")
    ports: dict[PortRef, CatalogPort] = {}
    for index, raw in enumerate(data.get("port", []), start=1):
        entry = _parse_entry(raw, f"{where}: [[port]] #{index}")
        if entry.ref in ports:
            raise CatalogError(f"{where}: [[port]] #{index}: {entry.ref} is listed twice")
        ports[entry.ref] = entry
    if not ports:
        raise CatalogError(f"{where}: no [[port]] entries")
    return Catalog(MappingProxyType(dict(data.get("meta", {}))), MappingProxyType(dict(sorted(ports.items()))))


def _parse_entry(raw: object, where: str) -> CatalogPort:
    if not isinstance(raw, dict):
        raise CatalogError(f"{where}: expected a table")
    unknown = set(raw) - _PORT_KEYS
    if unknown:
        raise CatalogError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(_PORT_KEYS))}")
    missing = _REQUIRED - set(raw)
    if missing:
        raise CatalogError(f"{where}: missing key(s) {', '.join(sorted(missing))}")
    try:
        protocol = Protocol(raw["protocol"])
    except ValueError:
        raise CatalogError(f"{where}: protocol must be 'tcp' or 'udp', not {raw['protocol']!r}") from None
    number = raw["number"]
    if not isinstance(number, int) or isinstance(number, bool) or not 1 <= number <= 65535:
        raise CatalogError(f"{where}: number must be an integer 1-65535, not {number!r}")
    forwards = raw.get("forwards")
    if forwards is not None and forwards not in _FORWARDS:
        raise CatalogError(f"{where}: forwards must be 'master' or 'slave', not {forwards!r}")
    payload = raw.get("udp_payload")
    if payload is not None:
        if protocol is not Protocol.UDP:
            raise CatalogError(f"{where}: udp_payload only applies to udp ports")
        if payload not in UDP_PAYLOADS:
            raise CatalogError(f"{where}: udp_payload must be one of {', '.join(sorted(UDP_PAYLOADS))}")
    for key in ("service", "purpose", "setting", "note"):
        if key in raw and not isinstance(raw[key], str):
            raise CatalogError(f"{where}: {key} must be a string")
    return CatalogPort(
        protocol=protocol,
        number=number,
        service=raw["service"],
        purpose=raw["purpose"],
        forwards=forwards,
        setting=raw.get("setting"),
        udp_payload=payload,
        note=raw.get("note"),
    )


@lru_cache(maxsize=1)
def default_catalog() -> Catalog:
    return load_catalog()


def parse_port_spec(item: str) -> list[PortRef]:
    """``"80-82"`` → three TCP refs; ``"53/udp"`` → one UDP ref."""
    text = item.strip().lower()
    protocol = Protocol.TCP
    if "/" in text:
        text, _, proto = text.partition("/")
        try:
            protocol = Protocol(proto)
        except ValueError:
            raise CatalogError(f"--ports: {item!r}: protocol must be tcp or udp") from None
    low, dash, high = text.partition("-")
    try:
        first = int(low)
        last = int(high) if dash else first
    except ValueError:
        raise CatalogError(f"--ports: {item!r} is not a port, range (80-82) or port/proto (53/udp)") from None
    if not (1 <= first <= 65535 and 1 <= last <= 65535):
        raise CatalogError(f"--ports: {item!r}: ports must be between 1 and 65535")
    if last < first:
        raise CatalogError(f"--ports: {item!r}: range ends before it starts")
    return [PortRef(protocol, number) for number in range(first, last + 1)]


def select_ports(spec: str | None, catalog: Catalog | None = None) -> list[CatalogPort]:
    """Apply a ``--ports`` spec (see module docstring) and return the ports to probe.

    Ports not in the catalogue come back as ``CatalogPort`` with service
    ``unknown`` so every port carries the same shape through the engine.
    """
    catalog = catalog or default_catalog()
    if spec is None or spec.strip().lower() in ("", "all", "catalog", "catalogue"):
        return list(catalog.ports.values())
    restrict: list[PortRef] = []
    add: list[PortRef] = []
    remove: set[PortRef] = set()
    for raw_item in spec.split(","):
        item = raw_item.strip()
        if not item:
            continue
        if item.startswith("+"):
            add.extend(parse_port_spec(item[1:]))
        elif item.startswith("-") and item[1:2].isdigit():
            remove.update(parse_port_spec(item[1:]))
        else:
            restrict.extend(parse_port_spec(item))
    base = restrict if restrict else list(catalog.ports)
    chosen: dict[PortRef, CatalogPort] = {}
    for ref in [*base, *add]:
        if ref in remove or ref in chosen:
            continue
        chosen[ref] = catalog.get(ref) or CatalogPort(
            protocol=ref.protocol,
            number=ref.number,
            service="unknown",
            purpose="not a documented controller port",
            udp_payload="empty" if ref.protocol is Protocol.UDP else None,
        )
    if not chosen:
        raise CatalogError(f"--ports {spec!r} leaves no port to probe")
    return sorted(chosen.values(), key=lambda entry: entry.ref)
