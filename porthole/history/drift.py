"""What changed between two sweeps: a pure diff over two reports in their JSON form.

``diff_reports(before, after)`` compares hosts, ports, service summaries, identity
fingerprints (TLS leaf certificate, SSH KEXINIT and identification line) and findings.
It does no I/O and never judges: a change is a fact ("443/tcp certificate changed"),
whether it matters is the reader's (or the webhook receiver's) call.

Rules, chosen so a drift report never claims more than both sweeps observed:
* a host is *present* when it was up or had an open port; appearing and disappearing
  are host-level changes, and their ports and findings are not listed one by one;
* a port is compared only when both sweeps observed it: a port one sweep did not probe
  (different ``--ports``) is not "closed";
* a fingerprint is compared only when both sweeps recorded it: a probe that failed once
  is not a rotated certificate.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from porthole.history.store import fingerprints_of

__all__ = ["ChangeKind", "Change", "Drift", "diff_reports", "drift_to_json"]


class ChangeKind(StrEnum):
    HOST_APPEARED = "host-appeared"
    HOST_DISAPPEARED = "host-disappeared"
    PORT_OPENED = "port-opened"
    PORT_CLOSED = "port-closed"
    SERVICE_CHANGED = "service-changed"
    FINGERPRINT_CHANGED = "fingerprint-changed"
    FINDING_NEW = "finding-new"
    FINDING_RESOLVED = "finding-resolved"


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    kind: ChangeKind
    host: str
    port: int | None = None
    protocol: str | None = None
    #: what changed within the kind: a finding id, a fingerprint kind ("tls-certificate")
    subject: str | None = None
    before: str | None = None
    after: str | None = None

    @property
    def where(self) -> str:
        return self.host if self.port is None else f"{self.host} {self.port}/{self.protocol}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Drift:
    before_sweep: int | None
    after_sweep: int | None
    changes: tuple[Change, ...]

    def __bool__(self) -> bool:
        return bool(self.changes)


def diff_reports(before: Mapping[str, Any], after: Mapping[str, Any], *, before_sweep: int | None = None, after_sweep: int | None = None) -> Drift:
    old_hosts = _hosts(before)
    new_hosts = _hosts(after)
    changes: list[Change] = []
    for address in sorted(old_hosts.keys() | new_hosts.keys(), key=_address_key):
        old, new = old_hosts.get(address), new_hosts.get(address)
        was_present, is_present = _present(old), _present(new)
        if is_present and not was_present:
            changes.append(Change(kind=ChangeKind.HOST_APPEARED, host=address, after=_open_ports_text(new)))
        elif was_present and not is_present:
            changes.append(Change(kind=ChangeKind.HOST_DISAPPEARED, host=address, before=_open_ports_text(old)))
        elif was_present and is_present:
            assert old is not None and new is not None
            changes.extend(_port_changes(address, old, new))
            changes.extend(_finding_changes(address, old, new))
    return Drift(before_sweep=before_sweep, after_sweep=after_sweep, changes=tuple(changes))


def drift_to_json(drift: Drift) -> dict[str, Any]:
    return {
        "before_sweep": drift.before_sweep,
        "after_sweep": drift.after_sweep,
        "changes": [
            {
                "kind": change.kind.value, "host": change.host, "port": change.port, "protocol": change.protocol,
                "subject": change.subject, "before": change.before, "after": change.after,
            }
            for change in drift.changes
        ],
    }


# --- helpers ---------------------------------------------------------------------------


def _hosts(report: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {host["address"]: host for host in report.get("hosts", [])}


def _address_key(address: str) -> tuple[int, int, str]:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return (2, 0, address)
    return (parsed.version, int(parsed), address)


def _present(host: Mapping[str, Any] | None) -> bool:
    if host is None:
        return False
    return host.get("status") == "up" or any(port.get("state") == "open" for port in host.get("ports", []))


def _open_ports_text(host: Mapping[str, Any] | None) -> str:
    ports = [f"{port['port']}/{port['protocol']}" for port in (host or {}).get("ports", []) if port.get("state") == "open"]
    return ", ".join(ports) if ports else "no open ports"


def _ports(host: Mapping[str, Any]) -> dict[tuple[int, str], Mapping[str, Any]]:
    return {(port["port"], port["protocol"]): port for port in host.get("ports", [])}


def _service_text(port: Mapping[str, Any]) -> str:
    return port.get("summary") or port.get("service") or "unknown"


def _port_changes(address: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> Iterable[Change]:
    old_ports, new_ports = _ports(old), _ports(new)
    for key in sorted(old_ports.keys() & new_ports.keys()):
        before, after = old_ports[key], new_ports[key]
        where = {"host": address, "port": key[0], "protocol": key[1]}
        was_open, is_open = before.get("state") == "open", after.get("state") == "open"
        if is_open and not was_open:
            yield Change(kind=ChangeKind.PORT_OPENED, **where, before=before.get("state"), after=_service_text(after))
        elif was_open and not is_open:
            yield Change(kind=ChangeKind.PORT_CLOSED, **where, before=_service_text(before), after=after.get("state"))
        elif was_open and is_open:
            if _service_text(before) != _service_text(after):
                yield Change(kind=ChangeKind.SERVICE_CHANGED, **where, before=_service_text(before), after=_service_text(after))
            old_prints, new_prints = fingerprints_of(before), fingerprints_of(after)
            for kind in sorted(old_prints.keys() & new_prints.keys()):
                if old_prints[kind] != new_prints[kind]:
                    yield Change(kind=ChangeKind.FINGERPRINT_CHANGED, **where, subject=kind, before=old_prints[kind], after=new_prints[kind])


def _finding_keys(host: Mapping[str, Any]) -> dict[tuple[str, int, str], Mapping[str, Any]]:
    # port -1 / protocol "" for host-wide findings, so the keys sort
    return {(finding["id"], finding.get("port") or -1, finding.get("protocol") or ""): finding for finding in host.get("findings", [])}


def _finding_changes(address: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> Iterable[Change]:
    old_findings, new_findings = _finding_keys(old), _finding_keys(new)
    for kind, keys, source in (
        (ChangeKind.FINDING_RESOLVED, old_findings.keys() - new_findings.keys(), old_findings),
        (ChangeKind.FINDING_NEW, new_findings.keys() - old_findings.keys(), new_findings),
    ):
        for key in sorted(keys):
            finding = source[key]
            port = finding.get("port")
            text = f"{finding.get('severity')}: {finding.get('title')}"
            yield Change(
                kind=kind, host=address, port=port, protocol=finding.get("protocol") if port is not None else None, subject=finding["id"],
                before=text if kind is ChangeKind.FINDING_RESOLVED else None, after=text if kind is ChangeKind.FINDING_NEW else None,
            )
