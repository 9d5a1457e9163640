"""Judging OCPP-S evidence: pure functions from the ``ocpp-s`` evidence object to findings.

==================  ========  ==================================================================
id                  severity  fires when
==================  ========  ==================================================================
``ocpp-s-open``     high      the POST got an OCPP-S answer (``recognised``: SOAP 1.2 Fault with
                              an OCPP-S subcode, or an ``urn://Ocpp/`` namespace). Lowered to
                              medium when the endpoint runs TLS *and* refused the caller with
                              ``SecurityError`` (a whitelist at work; protocols.md §12: "WARN if
                              TLS and a whitelist are observed")
==================  ========  ==================================================================

OCPP-S ("ASKI over OCPP-S") is discontinued since firmware 5.32; an answering
endpoint means old firmware or a setting left on.

Must not: do I/O.
"""

from __future__ import annotations

from typing import Any

from porthole.findings import finding
from porthole.model import Finding, PortObservation, Severity

__all__ = ["assess", "summarise"]


def assess(evidence: dict[str, Any], observation: PortObservation) -> list[Finding]:
    if not evidence.get("recognised"):
        return []
    port = observation.port
    soap = evidence.get("soap") or {}
    transport = evidence.get("transport")
    lines = [f"POST / on {port}/tcp over {'TLS' if transport == 'tls' else 'plain HTTP'}: {evidence.get('status')} {evidence.get('reason') or ''}".rstrip()]
    if soap.get("is_fault"):
        lines.append(f"SOAP {soap.get('soap_version')} Fault {soap.get('fault_code')}/{soap.get('fault_subcode')}" + (f" in {soap['fault_subcode_namespace']}" if soap.get("fault_subcode_namespace") else ""))
    if soap.get("ocpp_namespaces"):
        lines.append(f"OCPP namespaces: {', '.join(soap['ocpp_namespaces'])}")
    whitelisted = transport == "tls" and soap.get("fault_subcode") == "SecurityError"
    version = f" (OCPP {soap['ocpp_version']})" if soap.get("ocpp_version") else ""
    detail = (
        f"Port {port} runs the OCPP-S SOAP charge-point service{version} over "
        + ("TLS" if transport == "tls" else "plain HTTP, without TLS")
        + ". OCPP-S is outdated and insecure and has been discontinued since firmware 5.32."
    )
    return [
        finding(
            "ocpp-s-open",
            detail=detail,
            port=port,
            protocol=observation.protocol,
            evidence=lines,
            severity=Severity.MEDIUM if whitelisted else None,
        )
    ]


def summarise(evidence: dict[str, Any]) -> str | None:
    """``OCPP-S 1.6 SOAP (plain HTTP): Fault Sender/IdentityMismatch``."""
    sniff = evidence.get("tls_sniff")
    if sniff == "handshake-refused":
        return f"TLS, refused porthole's hello ({evidence.get('tls_detail')})"
    transport = "TLS" if evidence.get("transport") == "tls" else "plain HTTP"
    if evidence.get("silence"):
        return f"no answer to the SOAP POST ({transport}, {evidence['silence']})"
    soap = evidence.get("soap") or {}
    if evidence.get("recognised"):
        version = f" {soap['ocpp_version']}" if soap.get("ocpp_version") else ""
        fault = f": Fault {soap.get('fault_code')}/{soap.get('fault_subcode')}" if soap.get("is_fault") else ""
        return f"OCPP-S{version} SOAP ({transport}){fault}"
    server = f" ({evidence['server'][:60]})" if evidence.get("server") else ""
    return f"HTTP {evidence.get('status')} to a SOAP POST, not OCPP-S ({transport}){server}"
