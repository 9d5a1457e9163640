"""Evidence of the OCPP-S probe: facts about the SOAP endpoint on 8090, no judgements.

Serialised into ``evidence["ocpp-s"]``:

* ``tls_sniff``: what a TLS ClientHello got: ``handshake-completed`` (TLS mode, the
  POST went over that connection), ``not-tls`` (a plain answer or a close: the POST
  went over a new plain connection) or ``handshake-refused`` (a TLS alert: TLS mode
  that refused porthole's hello, so nothing was posted); ``tls_detail`` says why;
* ``transport``: ``tls`` or ``plain``; ``tls``: version and suite when it completed;
* ``silence``: the POST got no response byte (``closed`` or ``silent``), e.g. a
  SOAP whitelist that drops unknown callers (protocols.md §4, unverified);
* ``status``/``reason``/``server``/``content_type``: the HTTP answer to the POST;
* ``soap``: what the reply document says; ``document_error`` when it was not
  safe, well-formed XML;
* ``recognised``: the reply is a SOAP 1.2 Fault with an OCPP-S subcode, or names
  an ``urn://Ocpp/`` namespace: an OCPP-S endpoint answers here;
* ``probe_identity``: the made-up ``chargeBoxIdentity`` porthole sent (so the
  controller's log entry can be matched to the audit).
"""

from __future__ import annotations

from dataclasses import dataclass

from porthole.services.http.evidence import TlsSession

__all__ = ["SoapFacts", "OcppsEvidence"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SoapFacts:
    root: str
    soap_version: str | None
    is_fault: bool
    fault_code: str | None
    fault_subcode: str | None
    fault_subcode_namespace: str | None
    fault_reason: str | None
    ocpp_namespaces: tuple[str, ...]
    #: ``1.6`` / ``1.5`` / ``1.2`` from the OCPP namespace, when it tells
    ocpp_version: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class OcppsEvidence:
    port: int
    tls_sniff: str
    tls_detail: str | None = None
    transport: str | None = None
    tls: TlsSession | None = None
    probe_identity: str | None = None
    silence: str | None = None
    status: int | None = None
    reason: str | None = None
    server: str | None = None
    content_type: str | None = None
    body_bytes: int = 0
    body_end: str | None = None
    soap: SoapFacts | None = None
    document_error: str | None = None
    recognised: bool = False
