"""lab.services.ocpps: SOAP 1.2 Faults and the WSDL, read with aiohttp + defusedxml."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import defusedxml.ElementTree as SafeElementTree
import pytest

from lab.services._common import ServiceContext
from lab.services.ocpps import SOAP12_NAMESPACE, OcppVersion, Options, serve

CP16 = "urn://Ocpp/Cp/2015/10/"
SOAP = {"s": SOAP12_NAMESPACE}


def envelope(identity: str | None, namespace: str = CP16) -> bytes:
    identity_header = (
        f'<cp:chargeBoxIdentity s:mustUnderstand="true">{identity}</cp:chargeBoxIdentity>' if identity else ""
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<s:Envelope xmlns:s="{SOAP12_NAMESPACE}" xmlns:a="http://www.w3.org/2005/08/addressing" xmlns:cp="{namespace}">
  <s:Header>{identity_header}<a:Action s:mustUnderstand="true">/Heartbeat</a:Action>
  <a:MessageID>urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950e</a:MessageID></s:Header>
  <s:Body/>
</s:Envelope>""".encode()


@pytest.fixture
async def url(tmp_path: Path) -> AsyncIterator[str]:
    context = ServiceContext(state_dir=tmp_path / "site" / "master", name="master")
    running = await serve("127.0.0.1", [0], Options(), context=context)
    yield f"http://127.0.0.1:{running.ports[0]}/"
    await running.close()


async def post(url: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
    async with aiohttp.ClientSession() as session:
        async with session.post(
            url, data=body, headers={"Content-Type": "application/soap+xml; charset=utf-8"}
        ) as response:
            return response.status, dict(response.headers), await response.read()


def fault_subcode(body: bytes) -> tuple[str | None, str | None]:
    root = SafeElementTree.fromstring(body)
    code = root.find("s:Body/s:Fault/s:Code", SOAP)
    assert code is not None
    return code.findtext("s:Value", namespaces=SOAP), code.findtext("s:Subcode/s:Value", namespaces=SOAP)


async def test_unknown_charge_box_identity_gets_an_identity_mismatch_fault(url: str) -> None:
    # Given the probe's harmless envelope with a made-up identity
    # When it is POSTed
    status, headers, body = await post(url, envelope("porthole-probe-7f3a"))
    # Then a SOAP 1.2 Sender fault with the OCPP-S subcode IdentityMismatch comes back
    assert status == 400
    assert headers["Content-Type"].startswith("application/soap+xml")
    assert fault_subcode(body) == ("s:Sender", "cp:IdentityMismatch")
    # and the subcode's prefix is bound to the OCPP-S 1.6 charge-point namespace
    assert f'xmlns:cp="{CP16}"'.encode() in body


async def test_own_identity_is_refused_with_security_error_not_acted_on(url: str) -> None:
    # Given an envelope carrying the charge point's own identity (case differs)
    status, _headers, body = await post(url, envelope("cc-MASTER"))
    # Then it is still a fault: the caller is not whitelisted
    assert status == 400
    assert fault_subcode(body) == ("s:Sender", "cp:SecurityError")


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not xml at all",
        b"<html><body>hi</body></html>",
        envelope(None),
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>',
    ],
    ids=["empty", "garbage", "not-soap", "no-identity", "entity"],
)
async def test_malformed_requests_get_a_protocol_error_fault(url: str, body: bytes) -> None:
    # Given a request that is not a usable SOAP envelope, When it is POSTed
    status, _headers, answer = await post(url, body)
    # Then a ProtocolError fault comes back (entities are refused, never expanded)
    assert status == 400
    assert fault_subcode(answer) == ("s:Sender", "cp:ProtocolError")


async def test_request_body_is_bounded(url: str) -> None:
    # Given a body above 64 KiB, When it is POSTed, Then aiohttp refuses it with 413
    status, _headers, _body = await post(url, b"<x>" + b"a" * (70 * 1024) + b"</x>")
    assert status == 413


async def test_wsdl_is_served_in_the_charge_point_namespace(url: str) -> None:
    # When GET /?wsdl is fetched
    async with aiohttp.ClientSession() as session:
        async with session.get(url + "?wsdl") as response:
            status, body = response.status, await response.read()
    # Then a WSDL whose targetNamespace is the OCPP-S 1.6 charge-point URN comes back
    root = SafeElementTree.fromstring(body)
    assert status == 200
    assert root.tag == "{http://schemas.xmlsoap.org/wsdl/}definitions"
    assert root.get("targetNamespace") == CP16


async def test_plain_get_is_405_allowing_post(url: str) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as response:
            assert response.status == 405
            assert response.headers["Allow"] == "POST"


async def test_ocpp_version_option_selects_the_namespace(tmp_path: Path) -> None:
    # Given an OCPP 1.5 charge point
    context = ServiceContext(state_dir=tmp_path / "site" / "master", name="master")
    running = await serve("127.0.0.1", [0], Options(ocpp_version=OcppVersion.OCPP_1_5), context=context)
    try:
        # When an unknown identity calls
        _status, _headers, body = await post(f"http://127.0.0.1:{running.ports[0]}/", envelope("x"))
    finally:
        await running.close()
    # Then the fault's subcode lives in the 1.5 namespace
    assert b'xmlns:cp="urn://Ocpp/Cp/2012/06/"' in body
