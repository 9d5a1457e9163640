"""Judgements on EEBUS SHIP evidence (pure; no I/O).

* ``assess_eebus``: the 4711/tcp evidence alone → ``eebus-no-client-auth`` when the
  TLS handshake completed without a client certificate (SHIP requires mutual TLS).
  A refused handshake, or one that ended before the question was decided, raises
  nothing: only a completed handshake proves the absence of client authentication.
* ``assess_ski_match``: a host assessor (``services.host_assessors()``) comparing the
  SKI each ``_ship._tcp`` instance advertises in mDNS TXT (the ``mdns`` evidence on
  5353/udp) with the SubjectKeyIdentifier of the certificate served on the instance's
  SRV port (the ``eebus`` evidence there; 4711 when the SRV port is unknown) →
  ``eebus-ski-mismatch``. SHIP peers pin each other by SKI, so a mismatch means a
  peer that trusts the advertisement is talking to some other key (a replaced
  certificate that was never re-announced, or a second node answering on the port).

Evidence here is the JSON form the probes return (dicts), so the assessors also
judge a report read back from disk.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from porthole.findings import finding
from porthole.model import Finding, HostResult, PortObservation, Protocol

__all__ = ["assess_eebus", "summarise_eebus", "assess_ski_match", "SHIP_DEFAULT_PORT"]

SHIP_DEFAULT_PORT = 4711


def assess_eebus(evidence: Mapping[str, Any], observation: PortObservation) -> list[Finding]:
    if evidence.get("handshake") != "completed":
        return []
    lines = [
        f"{evidence.get('negotiated_version') or 'TLS'} handshake completed without a client certificate"
        f" ({evidence.get('negotiated_cipher_suite') or 'suite unknown'})",
        "CertificateRequest sent, but the handshake went on without a certificate (asked, not required)"
        if evidence.get("certificate_requested")
        else "no CertificateRequest in the server's flight",
    ]
    certificate = evidence.get("certificate") or {}
    if certificate.get("subject"):
        lines.append(f"server certificate: {certificate['subject']}, SHA-256 {certificate.get('sha256_fingerprint')}")
    return [
        finding(
            "eebus-no-client-auth",
            port=observation.port,
            protocol=observation.protocol,
            detail=f"The EEBUS SHIP TLS server on {observation.port}/tcp accepts a client without a certificate; SHIP requires mutual TLS, so any host on the network can open a SHIP connection.",
            evidence=lines,
        )
    ]


def summarise_eebus(evidence: Mapping[str, Any]) -> str | None:
    certificate = evidence.get("certificate") or {}
    ski = certificate.get("subject_key_identifier")
    tail = f", SKI {ski}" if ski else ""
    match evidence.get("handshake"):
        case "completed":
            return f"EEBUS SHIP TLS, no client certificate required{tail}"
        case "refused-without-client-certificate":
            return f"EEBUS SHIP TLS, client certificate required{tail}"
        case _:
            return f"TLS handshake {evidence.get('handshake')}{tail}" if evidence.get("handshake") else None


def assess_ski_match(host: HostResult) -> list[Finding]:
    by_port = {(observation.protocol, observation.port): observation for observation in host.ports}
    findings: list[Finding] = []
    for mdns_observation in host.ports:
        mdns = mdns_observation.evidence.get("mdns")
        if mdns_observation.protocol is not Protocol.UDP or not isinstance(mdns, Mapping):
            continue
        for instance in mdns.get("ship_instances") or ():
            advertised = instance.get("ski")
            if not instance.get("ski_valid") or not advertised:
                continue
            addresses = instance.get("addresses") or []
            if addresses and host.address not in addresses:
                continue  # the instance lives on another host (an mDNS proxy): not this host's certificate
            port = instance.get("port") or SHIP_DEFAULT_PORT
            ship_observation = by_port.get((Protocol.TCP, port))
            eebus = ship_observation.evidence.get("eebus") if ship_observation is not None else None
            certificate = (eebus or {}).get("certificate") if isinstance(eebus, Mapping) else None
            if not certificate:
                continue  # no certificate seen on that port: nothing to compare
            served = certificate.get("subject_key_identifier")
            if served == advertised:
                continue
            lines = [
                f"mDNS {mdns_observation.port}/udp: instance {instance.get('name')!r} advertises ski={advertised}",
                f"{port}/tcp certificate {certificate.get('subject')}: SubjectKeyIdentifier "
                + (served if served else "absent (SHIP peers reject such a certificate)"),
                f"{port}/tcp certificate SHA-256 {certificate.get('sha256_fingerprint')}",
            ]
            findings.append(
                finding(
                    "eebus-ski-mismatch",
                    port=port,
                    protocol=Protocol.TCP,
                    detail=f"The SKI advertised over mDNS for {instance.get('name')!r} is not the SubjectKeyIdentifier of the certificate served on {port}/tcp: SHIP peers that pin the advertised SKI cannot trust this node, or trust the wrong key.",
                    evidence=lines,
                )
            )
    return findings
