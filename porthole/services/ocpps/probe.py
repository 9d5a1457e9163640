"""The OCPP-S probe (SOAP charge-point service, 8090 by default): protocols.md §4.

Two steps, at most two connections:

1. **TLS sniff.** A stdlib handshake with a non-verifying context. If it completes,
   the port runs in "SSL mode as server" and step 2 uses this very connection.
   A plain answer (OpenSSL: wrong version number), a close or silence means plain
   HTTP; a TLS alert means TLS that refused porthole's hello, and nothing is posted.
2. **One POST** of the harmless envelope (``codecs.ocpp_soap.build_probe_envelope``:
   identity ``porthole-probe-<random hex>``, Action ``/Heartbeat``, empty Body) to
   ``/``, and a bounded read of the reply, parsed with ``defusedxml`` under a size
   cap. A SOAP 1.2 Fault with an OCPP-S subcode, or any ``urn://Ocpp/`` namespace,
   identifies OCPP-S.

Must not: send any charge-point operation, reuse a real chargeBoxIdentity, retry
with another path or namespace, or fetch the WSDL (one POST is enough evidence).
"""

from __future__ import annotations

import asyncio
import secrets
import ssl
import uuid
from typing import Any, ClassVar

from porthole.codecs import CodecError
from porthole.codecs.http1 import Method, build_request
from porthole.codecs.ocpp_soap import CONTENT_TYPE, MAX_REPLY, OCPP_FAULT_SUBCODES, build_probe_envelope, ocpp_version_of, parse_reply
from porthole.errors import ErrorReason
from porthole.model import Finding, PortObservation
from porthole.jsonable import to_jsonable
from porthole.services.base import ProbeContext, ProbeFailure, close_stream
from porthole.services.http.evidence import TlsSession
from porthole.services.http.exchange import exchange
from porthole.services.http.probe import evidence_tls_context
from porthole.services.ocpps import assess as assess_module
from porthole.services.ocpps.evidence import OcppsEvidence, SoapFacts

__all__ = ["OcppsProbe", "SERVICE"]

SERVICE = "ocpp-s"
#: a plain server answers a ClientHello at once (or never); 3 s leaves the POST its 5 s
_SNIFF_WAIT = 3.0


class OcppsProbe:
    id: ClassVar[str] = "ocpp-s"

    def claims(self, observation: PortObservation) -> bool:
        return observation.service == SERVICE

    async def run(self, context: ProbeContext) -> dict[str, Any]:
        sniff, detail, stream = await _sniff_tls(context)
        if sniff == "handshake-refused":
            return to_jsonable(OcppsEvidence(port=context.port, tls_sniff=sniff, tls_detail=detail, transport="tls"))
        if stream is None:
            stream = await context.open_stream()
        reader, writer = stream
        identity = f"porthole-probe-{secrets.token_hex(4)}"
        transport = "tls" if sniff == "handshake-completed" else "plain"
        try:
            tls = None
            if transport == "tls":
                ssl_object = writer.get_extra_info("ssl_object")
                cipher = ssl_object.cipher() if ssl_object is not None else None
                tls = TlsSession(version=ssl_object.version() if ssl_object else None, cipher=cipher[0] if cipher else None)
            scheme = "https" if transport == "tls" else "http"
            envelope = build_probe_envelope(
                identity=identity,
                message_id=f"urn:uuid:{uuid.uuid4()}",
                to_url=f"{scheme}://{context.host_header}:{context.port}/",
            )
            request = build_request(
                method=Method.POST,
                target="/",
                host=f"{context.host_header}:{context.port}",
                user_agent=f"porthole/{context.version}",
                accept="application/soap+xml, text/xml;q=0.9, */*;q=0.1",
                headers=[("Content-Type", CONTENT_TYPE)],
                body=envelope,
            )
            result = await exchange(reader, writer, request, limits=context.limits, request_method=Method.POST, max_body=MAX_REPLY)
        finally:
            await close_stream(writer)
        common: dict[str, Any] = {"port": context.port, "tls_sniff": sniff, "tls_detail": detail, "transport": transport, "tls": tls, "probe_identity": identity}
        if result.silence is not None:
            return to_jsonable(OcppsEvidence(**common, silence=result.silence))
        assert result.head is not None and result.body is not None
        head, body = result.head, result.body
        soap = None
        document_error = None
        if body.data.strip():
            try:
                reply = parse_reply(body.data)
            except CodecError as exc:
                document_error = str(exc) if body.end.value == "complete" else f"reply not read completely ({body.end.value}): {exc}"
            else:
                subcode_version = ocpp_version_of(reply.fault_subcode_namespace)
                soap = SoapFacts(
                    root=reply.root_name,
                    soap_version=reply.soap_version,
                    is_fault=reply.is_fault,
                    fault_code=reply.fault_code,
                    fault_subcode=reply.fault_subcode,
                    fault_subcode_namespace=reply.fault_subcode_namespace,
                    fault_reason=reply.fault_reason,
                    ocpp_namespaces=reply.ocpp_namespaces,
                    ocpp_version=subcode_version or next((v for v in map(ocpp_version_of, reply.ocpp_namespaces) if v), None),
                )
        recognised = soap is not None and (
            (soap.soap_version == "1.2" and soap.is_fault and soap.fault_subcode in OCPP_FAULT_SUBCODES) or bool(soap.ocpp_namespaces)
        )
        return to_jsonable(
            OcppsEvidence(
                **common,
                status=head.status,
                reason=head.reason,
                server=head.header("server"),
                content_type=head.header("content-type"),
                body_bytes=len(body.data),
                body_end="stalled" if result.body_stalled else body.end.value,
                soap=soap,
                document_error=document_error,
                recognised=recognised,
            )
        )

    def assess(self, evidence: dict[str, Any], observation: PortObservation) -> list[Finding]:
        return assess_module.assess(evidence, observation)

    def summarise(self, evidence: dict[str, Any]) -> str | None:
        return assess_module.summarise(evidence)


async def _sniff_tls(context: ProbeContext) -> tuple[str, str | None, tuple[asyncio.StreamReader, asyncio.StreamWriter] | None]:
    """(verdict, detail, the open TLS stream when the handshake completed)."""
    wait = min(_SNIFF_WAIT, context.limits.first_byte)
    try:
        stream = await context.wait(context.open_stream(tls=evidence_tls_context(), server_hostname=context.target.hostname), wait)
    except TimeoutError:
        return "not-tls", f"no TLS answer to a ClientHello within {wait:g} s", None
    except ssl.SSLError as exc:
        reason = exc.reason or type(exc).__name__
        if "ALERT" in reason:
            # a TLS stack answered with an alert: TLS mode that refused this hello
            return "handshake-refused", reason, None
        return "not-tls", reason, None
    except (ConnectionResetError, EOFError) as exc:
        return "not-tls", f"closed on a ClientHello ({type(exc).__name__})", None
    except ConnectionRefusedError:
        raise ProbeFailure(ErrorReason.CONNECTION_REFUSED, "the port refused the connection (it was open in the reachability phase)") from None
    ssl_object = stream[1].get_extra_info("ssl_object")
    return "handshake-completed", ssl_object.version() if ssl_object is not None else None, stream
