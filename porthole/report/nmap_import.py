"""Read an nmap XML scan (``nmap -oX``) into porthole's model, for ``audit --from-nmap``.

The file is untrusted input: it is parsed with defusedxml (no entities, no external
DTDs), refused above ``MAX_BYTES`` and ``MAX_PORTS``, and every problem raises
``ReportInputError`` (exit 2) naming the file and what to do. nmap's words map onto
porthole's reduced vocabulary (``porthole.model``):

    open / closed / filtered / open|filtered      same state
    closed|filtered                               filtered (nothing proves it is open)
    unfiltered                                    unknown (an ACK scan cannot tell)
    syn-ack · conn-refused/reset · no-response    syn-ack · reset · timeout
    udp-response · port-unreach · *-prohibited    reply · icmp · icmp

Ports nmap folded into ``extraports`` are expanded from ``scaninfo`` when that is
unambiguous (one protocol scanned), so a profile's "must be closed" ports are judged.

Reads one file; builds data only (the CLI applies profiles and renders).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import defusedxml.ElementTree as SafeElementTree
from defusedxml import DefusedXmlException

from porthole.catalog import default_catalog
from porthole.errors import ReportInputError
from porthole.model import HostResult, HostStatus, PortObservation, PortRef, PortState, Protocol, Reason, Report

if TYPE_CHECKING:
    from porthole.audit import ProfileSelection

__all__ = ["MAX_BYTES", "MAX_PORTS", "NmapScan", "read_nmap_xml", "parse_nmap_xml", "report_from_nmap"]

MAX_BYTES = 64 * 1024 * 1024
MAX_PORTS = 2_000_000

_STATES = {
    "open": PortState.OPEN,
    "closed": PortState.CLOSED,
    "filtered": PortState.FILTERED,
    "open|filtered": PortState.OPEN_FILTERED,
    "closed|filtered": PortState.FILTERED,
    "unfiltered": PortState.UNKNOWN,
}
_REASONS = {
    "syn-ack": Reason.SYN_ACK,
    "conn-refused": Reason.RESET,
    "reset": Reason.RESET,
    "no-response": Reason.TIMEOUT,
    "udp-response": Reason.REPLY,
    "port-unreach": Reason.ICMP,
    "host-unreach": Reason.ICMP,
    "net-unreach": Reason.ICMP,
    "host-prohibited": Reason.ICMP,
    "net-prohibited": Reason.ICMP,
    "admin-prohibited": Reason.ICMP,
    "proto-unreach": Reason.ICMP,
}


class NmapScan:
    """What an nmap XML file says: the hosts, and the nmap command that produced it."""

    __slots__ = ("hosts", "args", "started", "finished")

    def __init__(self, *, hosts: tuple[HostResult, ...], args: str, started: int | None, finished: int | None) -> None:
        self.hosts = hosts
        self.args = args
        self.started = started
        self.finished = finished


def read_nmap_xml(path: Path) -> NmapScan:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ReportInputError(f"--from-nmap {path}: cannot read it ({exc.strerror or exc}); give an nmap XML file (nmap -oX)") from None
    return parse_nmap_xml(data, origin=str(path))


def parse_nmap_xml(data: bytes, *, origin: str = "nmap XML") -> NmapScan:
    if len(data) > MAX_BYTES:
        raise ReportInputError(f"{origin}: larger than {MAX_BYTES // (1024 * 1024)} MiB; split the scan (one nmap run per site)")
    try:
        root = SafeElementTree.fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except (SafeElementTree.ParseError, DefusedXmlException, ValueError) as exc:
        raise ReportInputError(f"{origin}: not well-formed or unsafe XML ({exc}); give the file nmap wrote with -oX") from None
    if root.tag != "nmaprun":
        raise ReportInputError(f"{origin}: root element is <{root.tag}>, not <nmaprun>; give the file nmap wrote with -oX")
    scanned = _scanned_ports(root)
    hosts = []
    budget = MAX_PORTS
    for element in root.findall("host"):
        host = _host(element, scanned, origin)
        budget -= len(host.ports)
        if budget < 0:
            raise ReportInputError(f"{origin}: more than {MAX_PORTS} ports; split the scan")
        hosts.append(host)
    finished = root.find("runstats/finished")
    return NmapScan(
        hosts=tuple(hosts),
        args=root.get("args", "nmap"),
        started=_int(root.get("start")),
        finished=_int(finished.get("time")) if finished is not None else None,
    )


def _scanned_ports(root) -> dict[Protocol, tuple[int, ...]]:  # noqa: ANN001 - ElementTree element
    scanned: dict[Protocol, tuple[int, ...]] = {}
    for info in root.findall("scaninfo"):
        try:
            protocol = Protocol(info.get("protocol", ""))
        except ValueError:
            continue  # sctp/ip scans: porthole has no model for them
        numbers: list[int] = []
        for item in (info.get("services") or "").split(","):
            if not item:
                continue
            low, _, high = item.partition("-")
            if low.isdigit() and (not high or high.isdigit()):
                numbers.extend(range(int(low), int(high or low) + 1))
        scanned[protocol] = tuple(numbers)
    return scanned


def _host(element, scanned: dict[Protocol, tuple[int, ...]], origin: str) -> HostResult:  # noqa: ANN001
    address = next((item.get("addr") for item in element.findall("address") if item.get("addrtype") in ("ipv4", "ipv6")), None)
    if not address:
        raise ReportInputError(f"{origin}: a <host> has no IPv4/IPv6 <address>; porthole diffs hosts by address")
    status = element.find("status")
    state_word = status.get("state") if status is not None else None
    host_status = {"up": HostStatus.UP, "down": HostStatus.DOWN}.get(state_word or "", HostStatus.UNKNOWN)
    hostname = next((item.get("name") for item in element.findall("hostnames/hostname") if item.get("name")), None)
    catalog = default_catalog()
    ports: dict[PortRef, PortObservation] = {}
    for port in element.findall("ports/port"):
        try:
            protocol = Protocol(port.get("protocol", ""))
            number = int(port.get("portid", ""))
        except ValueError:
            continue
        if not 0 < number < 65536:
            raise ReportInputError(f"{origin}: port {number} of {address} is out of range 1-65535")
        state = port.find("state")
        state_text = state.get("state", "") if state is not None else ""
        reason_text = state.get("reason", "") if state is not None else ""
        ref = PortRef(protocol, number)
        service = port.find("service")
        summary = " ".join(filter(None, (service.get(key) for key in ("product", "version", "extrainfo")))) if service is not None else ""
        ports[ref] = PortObservation(
            port=number,
            protocol=protocol,
            state=_STATES.get(state_text, PortState.UNKNOWN),
            reason=_REASONS.get(reason_text, Reason.ERROR),
            service=catalog.service_of(ref),
            detail=f"nmap: {state_text} ({reason_text})" if reason_text not in _REASONS else None,
            summary=summary or None,
        )
    extra = element.findall("ports/extraports")
    if len(extra) == 1 and len(scanned) == 1:
        # One protocol, one extraports state: every scanned port not listed has that state.
        (protocol, numbers), = scanned.items()
        state_text = extra[0].get("state", "")
        reason_element = extra[0].find("extrareasons")
        reason_text = reason_element.get("reason", "") if reason_element is not None else ""
        for number in numbers:
            ref = PortRef(protocol, number)
            if ref not in ports:
                ports[ref] = PortObservation(
                    port=number, protocol=protocol, state=_STATES.get(state_text, PortState.UNKNOWN),
                    reason=_REASONS.get(reason_text.removesuffix("s"), Reason.ERROR), service=catalog.service_of(ref),
                )
    return HostResult(
        address=address,
        hostname=hostname,
        status=host_status,
        status_reason=(status.get("reason") if status is not None else None) or "nmap",
        ports=tuple(sorted(ports.values(), key=lambda item: item.ref)),
    )


def _int(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None


def report_from_nmap(scan: NmapScan, *, selection: ProfileSelection, command: str, origin: str) -> Report:
    """The porthole report of an imported scan: the hosts diffed against ``selection``
    (``audit.apply_profiles``, as for a live audit), no fingerprints, nmap's clock."""
    from datetime import UTC, datetime

    from porthole.audit import apply_profiles
    from porthole.report.build import new_report

    started = datetime.fromtimestamp(scan.started or 0, UTC)
    finished = datetime.fromtimestamp(scan.finished or scan.started or 0, UTC)
    hosts = apply_profiles(scan.hosts, selection)
    return new_report(
        command=command,
        started_at=started,
        finished_at=finished,
        duration_s=max(0.0, (finished - started).total_seconds()),
        hosts=hosts,
        vantage={"source": "nmap", "nmap_args": scan.args},
        config={"fingerprint": False, "imported_from": origin, "profiles": selection.describe()},
        targets={"specs": [host.address for host in scan.hosts], "excluded": [], "scope": [], "count": len(scan.hosts), "down": [], "not_scanned": []},
    )
