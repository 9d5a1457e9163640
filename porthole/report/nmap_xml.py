"""A report as nmap-compatible XML (``nmaprun``), for ndiff, python-libnmap and the
tools auditors already feed nmap scans into.

Only the elements those consumers read: ``scaninfo`` per protocol, and per host
``status``, ``address``, ``hostnames`` and ``ports/port`` with ``state`` (nmap's state
and reason words) and ``service``. Ports porthole never probed (state ``unknown``) are
left out: nmap has no word for them and would read any other as a claim.

Pure: report in, XML text out (ElementTree escapes every device string).
"""

from __future__ import annotations

import ipaddress
import xml.etree.ElementTree as ElementTree
from datetime import datetime

from porthole import __version__
from porthole.model import HostResult, HostStatus, PortObservation, PortState, Protocol, Reason, Report

__all__ = ["render_nmap_xml", "NMAP_REASONS"]

#: porthole reason → nmap reason word, per protocol where nmap words differ
NMAP_REASONS: dict[tuple[Protocol, Reason], str] = {
    (Protocol.TCP, Reason.SYN_ACK): "syn-ack",
    (Protocol.TCP, Reason.RESET): "conn-refused",
    (Protocol.TCP, Reason.TIMEOUT): "no-response",
    (Protocol.TCP, Reason.ICMP): "host-prohibited",
    (Protocol.UDP, Reason.REPLY): "udp-response",
    (Protocol.UDP, Reason.ICMP): "port-unreach",
    (Protocol.UDP, Reason.TIMEOUT): "no-response",
}


def render_nmap_xml(report: Report) -> str:
    started = _epoch(report.started_at)
    root = ElementTree.Element(
        "nmaprun",
        scanner="porthole",
        args=report.command,
        start=str(started),
        startstr=report.started_at,
        version=report.tool.get("version", __version__),
        xmloutputversion="1.05",
    )
    probed = [observation for host in report.hosts for observation in host.ports if observation.state is not PortState.UNKNOWN]
    for protocol in Protocol:
        numbers = sorted({observation.port for observation in probed if observation.protocol is protocol})
        if numbers:
            ElementTree.SubElement(
                root, "scaninfo", type="connect" if protocol is Protocol.TCP else "udp", protocol=protocol.value,
                numservices=str(len(numbers)), services=",".join(map(str, numbers)),
            )
    for host in report.hosts:
        root.append(_host(host, started))
    finished = ElementTree.SubElement(root, "runstats")
    ElementTree.SubElement(
        finished, "finished", time=str(_epoch(report.finished_at)), timestr=report.finished_at,
        elapsed=f"{report.duration_s:.2f}", exit="error" if report.interrupted else "success",
    )
    up = sum(1 for host in report.hosts if host.status is not HostStatus.DOWN)
    ElementTree.SubElement(finished, "hosts", up=str(up), down=str(len(report.hosts) - up), total=str(len(report.hosts)))
    ElementTree.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE nmaprun>\n' + ElementTree.tostring(root, encoding="unicode") + "\n"


def _host(host: HostResult, started: int) -> ElementTree.Element:
    element = ElementTree.Element("host", starttime=str(started), endtime=str(started))
    # nmap has no "unknown" host state; a host porthole did not discover was probed anyway.
    state = "down" if host.status is HostStatus.DOWN else "up"
    ElementTree.SubElement(element, "status", state=state, reason=host.status_reason, reason_ttl="0")
    version = ipaddress.ip_address(host.address).version
    ElementTree.SubElement(element, "address", addr=host.address, addrtype=f"ipv{version}")
    hostnames = ElementTree.SubElement(element, "hostnames")
    if host.hostname:
        ElementTree.SubElement(hostnames, "hostname", name=host.hostname, type="user")
    ports = ElementTree.SubElement(element, "ports")
    for observation in sorted(host.ports, key=lambda item: item.ref):
        if observation.state is not PortState.UNKNOWN:
            ports.append(_port(observation))
    return element


def _port(observation: PortObservation) -> ElementTree.Element:
    element = ElementTree.Element("port", protocol=observation.protocol.value, portid=str(observation.port))
    reason = NMAP_REASONS.get((observation.protocol, observation.reason), observation.reason.value)
    ElementTree.SubElement(element, "state", state=observation.state.value, reason=reason, reason_ttl="0")
    if observation.service:
        service = ElementTree.SubElement(element, "service", name=observation.service, method="table", conf="3")
        if observation.summary:
            # What the fingerprint probes saw; nmap puts this in product/version.
            service.set("method", "probed")
            service.set("conf", "10")
            service.set("product", observation.summary)
    return element


def _epoch(timestamp: str) -> int:
    try:
        return int(datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0
