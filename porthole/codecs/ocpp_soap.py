"""OCPP-S (OCPP 1.x over SOAP 1.2): the one harmless probe envelope, and a bounded reply parser.

The probe envelope (protocols.md §4; OCPP-S 1.6 §3 mandatory headers) addresses a
made-up charge point and asks for ``/Heartbeat``, an operation of the *central
system* service that a charge point does not implement, with an empty Body::

    <s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"
                xmlns:a="http://www.w3.org/2005/08/addressing" xmlns:cp="urn://Ocpp/Cp/2015/10/">
      <s:Header>
        <cp:chargeBoxIdentity s:mustUnderstand="true">porthole-probe-<hex></cp:chargeBoxIdentity>
        <a:Action s:mustUnderstand="true">/Heartbeat</a:Action>
        <a:MessageID>urn:uuid:<uuid></a:MessageID>
        <a:To s:mustUnderstand="true">http://ADDR:8090/</a:To>
      </s:Header>
      <s:Body/>
    </s:Envelope>

A charge point answers it with a SOAP 1.2 Fault (SOAP 1.2 Part 1 §5.4)::

    Envelope/Body/Fault/Code/Value              s:Sender | s:Receiver | ...
    Envelope/Body/Fault/Code/Subcode/Value      cp:IdentityMismatch, cp:SecurityError,
                                                cp:ProtocolError, cp:InternalError, cp:NotSupported
    Envelope/Body/Fault/Reason/Text             free text

The subcode is a QName in element *text*, so its prefix is resolved against the
namespace declarations in scope, which is why the parser records every
``xmlns`` declaration (``iterparse`` "start-ns" events) and not only element tags.

Parsing uses ``defusedxml`` (no entity expansion, no external references, and no
DTD at all: SOAP 1.2 Part 1 §5 forbids a DTD in a SOAP message) after a size cap,
and raises only ``CodecError``. The identity and MessageID are arguments (the
probe draws them at random), so fixtures reproduce byte for byte.

Must not: build any charge-point operation (Reset, RemoteStart/StopTransaction,
UnlockConnector, ChangeConfiguration, GetConfiguration...). ``build_probe_envelope``
has no parameter for the action: it can only ever say ``/Heartbeat``.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from xml.etree import ElementTree
from xml.sax.saxutils import escape

import defusedxml.ElementTree as SafeElementTree
from defusedxml import DefusedXmlException

from porthole.codecs._errors import CodecError

__all__ = [
    "SOAP12_NAMESPACE",
    "SOAP11_NAMESPACE",
    "ADDRESSING_NAMESPACE",
    "OCPP_NAMESPACE_PREFIX",
    "OCPP_FAULT_SUBCODES",
    "PROBE_ACTION",
    "CONTENT_TYPE",
    "MAX_REPLY",
    "SoapReply",
    "build_probe_envelope",
    "parse_reply",
    "ocpp_version_of",
]

SOAP12_NAMESPACE = "http://www.w3.org/2003/05/soap-envelope"
SOAP11_NAMESPACE = "http://schemas.xmlsoap.org/soap/envelope/"
ADDRESSING_NAMESPACE = "http://www.w3.org/2005/08/addressing"
CHARGE_POINT_NAMESPACE_1_6 = "urn://Ocpp/Cp/2015/10/"
OCPP_NAMESPACE_PREFIX = "urn://Ocpp/"
#: OCPP-S fault subcodes (OCPP-S 1.6 §4)
OCPP_FAULT_SUBCODES = frozenset({"IdentityMismatch", "SecurityError", "ProtocolError", "InternalError", "NotSupported"})
PROBE_ACTION = "/Heartbeat"
CONTENT_TYPE = "application/soap+xml; charset=utf-8"
MAX_REPLY = 64 * 1024

_OCPP_VERSIONS = {"2015/10": "1.6", "2012/06": "1.5", "2010/08": "1.2"}
_IDENTITY = re.compile(r"porthole-probe-[0-9a-f]{4,32}")
_MESSAGE_ID = re.compile(r"urn:uuid:[0-9a-f-]{36}")
_MAX_TEXT = 256
_MAX_NAMESPACES = 64


@dataclass(frozen=True, slots=True, kw_only=True)
class SoapReply:
    """What a reply document says; namespaces are the URIs declared or used, in order."""

    #: the root element's namespace URI and local name (``Envelope`` for SOAP)
    root_namespace: str | None
    root_name: str
    #: ``1.2``, ``1.1`` or ``None`` (not a SOAP envelope)
    soap_version: str | None
    is_fault: bool
    #: ``Code/Value`` local name (``Sender``...), for a SOAP 1.2 fault
    fault_code: str | None
    #: ``Code/Subcode/Value`` local name and the namespace its prefix resolves to
    fault_subcode: str | None
    fault_subcode_namespace: str | None
    fault_reason: str | None
    namespaces: tuple[str, ...]

    @property
    def ocpp_namespaces(self) -> tuple[str, ...]:
        return tuple(uri for uri in self.namespaces if uri.startswith(OCPP_NAMESPACE_PREFIX))


def build_probe_envelope(*, identity: str, message_id: str, to_url: str) -> bytes:
    """The harmless Heartbeat envelope above, UTF-8 encoded.

    ``identity`` must look like ``porthole-probe-<hex>`` (never a real charge
    point's identity) and ``message_id`` like ``urn:uuid:<uuid>``.
    """
    if not _IDENTITY.fullmatch(identity):
        raise CodecError(f"probe identity {identity!r} must be 'porthole-probe-' followed by 4-32 lowercase hex digits")
    if not _MESSAGE_ID.fullmatch(message_id):
        raise CodecError(f"message id {message_id!r} must be 'urn:uuid:' followed by a UUID")
    if any(character in to_url for character in "<>&\"'\r\n") or not to_url.isascii():
        raise CodecError(f"To URL {to_url!r} must be plain ASCII without markup characters")
    document = f"""<?xml version="1.0" encoding="UTF-8"?>
<s:Envelope xmlns:s="{SOAP12_NAMESPACE}" xmlns:a="{ADDRESSING_NAMESPACE}" xmlns:cp="{CHARGE_POINT_NAMESPACE_1_6}">
  <s:Header>
    <cp:chargeBoxIdentity s:mustUnderstand="true">{identity}</cp:chargeBoxIdentity>
    <a:Action s:mustUnderstand="true">{PROBE_ACTION}</a:Action>
    <a:MessageID>{message_id}</a:MessageID>
    <a:To s:mustUnderstand="true">{escape(to_url)}</a:To>
  </s:Header>
  <s:Body/>
</s:Envelope>
"""
    return document.encode("utf-8")


def parse_reply(document: bytes, *, max_size: int = MAX_REPLY) -> SoapReply:
    """Parse a reply body (any XML); ``CodecError`` if it is not safe, well-formed XML."""
    if len(document) > max_size:
        raise CodecError(f"reply document larger than {max_size} bytes", offset=max_size)
    if not document.strip():
        raise CodecError("empty reply document", offset=0)
    namespaces: list[str] = []
    # prefix -> URI for every declaration seen; a fault's subcode prefix is looked up
    # here (faults declare their prefixes on the Envelope in practice)
    prefixes: dict[str, str] = {}
    root: ElementTree.Element | None = None
    try:
        for event, item in SafeElementTree.iterparse(io.BytesIO(document), events=("start-ns", "start"), forbid_dtd=True):
            if event == "start-ns":
                prefix, uri = item
                prefixes.setdefault(prefix, uri)
                if uri not in namespaces and len(namespaces) < _MAX_NAMESPACES:
                    namespaces.append(uri)
            elif root is None:
                root = item
    except (ElementTree.ParseError, DefusedXmlException, ValueError) as exc:
        raise CodecError(f"reply is not safe, well-formed XML: {type(exc).__name__}: {exc}") from None
    assert root is not None  # iterparse raises on a document without an element
    root_namespace, root_name = _split(root.tag)
    for element in root.iter():
        namespace, _ = _split(element.tag)
        if namespace and namespace not in namespaces and len(namespaces) < _MAX_NAMESPACES:
            namespaces.append(namespace)
    soap_version = {SOAP12_NAMESPACE: "1.2", SOAP11_NAMESPACE: "1.1"}.get(root_namespace or "") if root_name == "Envelope" else None
    fault = None
    if soap_version is not None:
        body = root.find(f"{{{root_namespace}}}Body")
        fault = body.find(f"{{{root_namespace}}}Fault") if body is not None else None
    fault_code = fault_subcode = subcode_namespace = fault_reason = None
    if fault is not None and soap_version == "1.2":
        ns = f"{{{SOAP12_NAMESPACE}}}"
        fault_code = _qname_local(fault.findtext(f"{ns}Code/{ns}Value"))
        subcode_text = fault.findtext(f"{ns}Code/{ns}Subcode/{ns}Value")
        if subcode_text:
            prefix, _, local = subcode_text.strip().rpartition(":")
            fault_subcode = _bounded(local)
            subcode_namespace = prefixes.get(prefix) if prefix else prefixes.get("")
        fault_reason = _bounded(fault.findtext(f"{ns}Reason/{ns}Text"))
    elif fault is not None:
        # SOAP 1.1 fault: faultcode / faultstring, unqualified children
        fault_code = _qname_local(fault.findtext("faultcode"))
        fault_reason = _bounded(fault.findtext("faultstring"))
    return SoapReply(
        root_namespace=root_namespace,
        root_name=_bounded(root_name) or "",
        soap_version=soap_version,
        is_fault=fault is not None,
        fault_code=fault_code,
        fault_subcode=fault_subcode,
        fault_subcode_namespace=subcode_namespace,
        fault_reason=fault_reason,
        namespaces=tuple(namespaces),
    )


def ocpp_version_of(namespace: str | None) -> str | None:
    """``urn://Ocpp/Cp/2015/10/`` → ``1.6`` (also for ``/Cs/``); ``None`` if unknown."""
    if not namespace or not namespace.startswith(OCPP_NAMESPACE_PREFIX):
        return None
    match = re.search(r"(\d{4}/\d{2})", namespace)
    return _OCPP_VERSIONS.get(match.group(1)) if match else None


def _split(tag: str) -> tuple[str | None, str]:
    if tag.startswith("{"):
        namespace, _, local = tag[1:].partition("}")
        return namespace, local
    return None, tag


def _qname_local(text: str | None) -> str | None:
    if not text:
        return None
    return _bounded(text.strip().rpartition(":")[2])


def _bounded(text: str | None) -> str | None:
    if text is None:
        return None
    return " ".join(text.split())[:_MAX_TEXT]
