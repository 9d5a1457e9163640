"""OCPP-S (OCPP over SOAP 1.2) charge-point endpoint on 8090, emulated with ``aiohttp.web``.

A charge point that still runs its SOAP server answers a caller it does not know
with a SOAP 1.2 Fault. That Fault (or the WSDL) is what porthole fingerprints
(protocols.md §4). This emulator answers every POST with a Fault and never
performs an operation:

==========================================  ==========  =====================================
request                                     HTTP        Fault Code / Subcode (``cp:`` = service ns)
==========================================  ==========  =====================================
not XML, or not a SOAP 1.2 Envelope         400         Sender / ``cp:ProtocolError``
no ``chargeBoxIdentity`` header             400         Sender / ``cp:ProtocolError``
``chargeBoxIdentity`` not this charge point 400         Sender / ``cp:IdentityMismatch``
this charge point's identity                400         Sender / ``cp:SecurityError`` (caller
                                                        not in the SOAP whitelist)
body above ``max_body`` bytes               413         (plain HTTP, nothing parsed)
``GET /?wsdl``                              200         a small WSDL in the service namespace
any other GET                               405         ``Allow: POST``
==========================================  ==========  =====================================

Options (JSON keys of ``--options``):

========================  ==================================================================
``charge_box_identity``   this charge point's identity (default "CC-<controller name>")
``ocpp_version``          "1.6" (default, ``urn://Ocpp/Cp/2015/10/``), "1.5"
                          (``urn://Ocpp/Cp/2012/06/``) or "1.2" (``urn://Ocpp/Cp/2010/08/``)
``max_body``              largest request body in bytes (default 65536)
========================  ==================================================================

Must not: act on any operation, echo the caller's XML back, or resolve XML
entities (bodies are parsed with ``defusedxml``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from xml.etree import ElementTree
from xml.sax.saxutils import escape

import defusedxml.ElementTree as SafeElementTree
from aiohttp import web
from defusedxml import DefusedXmlException

from lab.services._common import Running, ServiceContext, run_service, serve_web_application
from porthole.model import Protocol as Transport

__all__ = ["OcppVersion", "Options", "SOAP12_NAMESPACE", "service_namespace", "build_application", "serve", "main"]

log = logging.getLogger("lab.services.ocpps")

SOAP12_NAMESPACE = "http://www.w3.org/2003/05/soap-envelope"
_CONTENT_TYPE = "application/soap+xml"


class OcppVersion(StrEnum):
    OCPP_1_6 = "1.6"
    OCPP_1_5 = "1.5"
    OCPP_1_2 = "1.2"


_SERVICE_NAMESPACES = {
    OcppVersion.OCPP_1_6: "urn://Ocpp/Cp/2015/10/",
    OcppVersion.OCPP_1_5: "urn://Ocpp/Cp/2012/06/",
    OcppVersion.OCPP_1_2: "urn://Ocpp/Cp/2010/08/",
}


def service_namespace(version: OcppVersion) -> str:
    return _SERVICE_NAMESPACES[version]


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    charge_box_identity: str | None = None
    ocpp_version: OcppVersion = OcppVersion.OCPP_1_6
    max_body: int = 64 * 1024

    def __post_init__(self) -> None:
        if self.max_body < 1024:
            raise ValueError("option 'max_body' must be at least 1024 bytes")


class FaultSubcode(StrEnum):
    IDENTITY_MISMATCH = "IdentityMismatch"
    PROTOCOL_ERROR = "ProtocolError"
    SECURITY_ERROR = "SecurityError"


def _fault(namespace: str, subcode: FaultSubcode, reason: str) -> web.Response:
    # Built as text: a fixed shape with two escaped values, nothing from the caller.
    document = f"""<?xml version="1.0" encoding="UTF-8"?>
<s:Envelope xmlns:s="{SOAP12_NAMESPACE}" xmlns:cp="{namespace}">
  <s:Body>
    <s:Fault>
      <s:Code>
        <s:Value>s:Sender</s:Value>
        <s:Subcode><s:Value>cp:{subcode.value}</s:Value></s:Subcode>
      </s:Code>
      <s:Reason><s:Text xml:lang="en">{escape(reason)}</s:Text></s:Reason>
    </s:Fault>
  </s:Body>
</s:Envelope>
"""
    return web.Response(status=400, body=document.encode("utf-8"), content_type=_CONTENT_TYPE, charset="utf-8")


def _wsdl(namespace: str) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"
    xmlns:soap12="http://schemas.xmlsoap.org/wsdl/soap12/"
    xmlns:tns="{namespace}" targetNamespace="{namespace}" name="ChargePointService">
  <wsdl:portType name="ChargePointService">
    <wsdl:operation name="Reset"/>
    <wsdl:operation name="RemoteStartTransaction"/>
    <wsdl:operation name="RemoteStopTransaction"/>
    <wsdl:operation name="GetConfiguration"/>
  </wsdl:portType>
  <wsdl:binding name="ChargePointServiceSoap" type="tns:ChargePointService">
    <soap12:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
  </wsdl:binding>
  <wsdl:service name="ChargePointService">
    <wsdl:port name="ChargePointServiceSoap12" binding="tns:ChargePointServiceSoap">
      <soap12:address location="/"/>
    </wsdl:port>
  </wsdl:service>
</wsdl:definitions>
""".encode("utf-8")


def _charge_box_identity(envelope: ElementTree.Element) -> str | None:
    """The text of ``Header/chargeBoxIdentity`` (name matched case-insensitively, any namespace)."""
    header = envelope.find(f"{{{SOAP12_NAMESPACE}}}Header")
    if header is None:
        return None
    for child in header:
        local_name = child.tag.rsplit("}", 1)[-1]
        if local_name.lower() == "chargeboxidentity":
            return (child.text or "").strip()
    return None


def build_application(options: Options, context: ServiceContext) -> web.Application:
    namespace = service_namespace(options.ocpp_version)
    own_identity = options.charge_box_identity or f"CC-{context.name}"
    application = web.Application(client_max_size=options.max_body)

    async def soap(request: web.Request) -> web.Response:
        body = await request.read()  # aiohttp answers 413 above client_max_size
        try:
            envelope = SafeElementTree.fromstring(body)
        except (ElementTree.ParseError, DefusedXmlException, ValueError):
            return _fault(namespace, FaultSubcode.PROTOCOL_ERROR, "The request is not a SOAP 1.2 envelope")
        if envelope.tag != f"{{{SOAP12_NAMESPACE}}}Envelope":
            return _fault(namespace, FaultSubcode.PROTOCOL_ERROR, "The request is not a SOAP 1.2 envelope")
        identity = _charge_box_identity(envelope)
        if identity is None:
            return _fault(namespace, FaultSubcode.PROTOCOL_ERROR, "Missing chargeBoxIdentity header")
        if identity.lower() != own_identity.lower():
            log.info("SOAP call for unknown chargeBoxIdentity from %s", request.remote)
            return _fault(namespace, FaultSubcode.IDENTITY_MISMATCH, "chargeBoxIdentity does not match")
        log.info("SOAP call with this charge point's identity from %s refused", request.remote)
        return _fault(namespace, FaultSubcode.SECURITY_ERROR, "Caller is not in the SOAP whitelist")

    async def wsdl_or_refuse(request: web.Request) -> web.Response:
        if "wsdl" in request.query:
            return web.Response(body=_wsdl(namespace), content_type="text/xml", charset="utf-8")
        raise web.HTTPMethodNotAllowed(method="GET", allowed_methods=["POST"])

    application.router.add_post("/", soap)
    application.router.add_get("/", wsdl_or_refuse)
    return application


async def serve(bind: str, ports: Sequence[int], options: Options, *, context: ServiceContext) -> Running:
    """Serve the SOAP endpoint on every port of ``ports`` (0 = any)."""
    return await serve_web_application(build_application(options, context), bind, ports, logger=log)


def main(argv: list[str] | None = None) -> int:
    return run_service(argv, kind="ocpps", transport=Transport.TCP, options_type=Options, serve=serve)


if __name__ == "__main__":
    raise SystemExit(main())
