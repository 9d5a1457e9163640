"""Modbus assess and summary on hand-built evidence: what becomes modbus-open, and what the ports table says."""

from __future__ import annotations

from typing import Any

import pytest

from porthole.findings import finding_table
from porthole.model import PortObservation, PortState, Protocol, Reason, Severity
from porthole.services.modbus.assess import assess, summarise

OBSERVATION = PortObservation(port=502, protocol=Protocol.TCP, state=PortState.OPEN, reason=Reason.SYN_ACK, service="modbus")


def exchange(**fields: Any) -> dict[str, Any]:
    base = {"function": "read-device-identification", "function_code": 0x2B, "unit_id": 255, "transaction_id": 7, "outcome": "response", "object_id": 0, "address": None, "count": None, "exception_code": None, "exception": None, "request_hex": "", "reply_hex": "00", "detail": None}
    return base | fields


def evidence(**fields: Any) -> dict[str, Any]:
    base = {"modbus": True, "basis": "data", "unit_id": 255, "device_identification": None, "holding_registers": None, "exception_codes": [], "exchanges": [exchange()]}
    return base | fields


IDENTIFIED = evidence(
    device_identification={
        "conformity_level": 0x83,
        # a hostile device name: non-ASCII escaped by the probe, quotes and all kept verbatim
        "objects": [{"object_id": 0, "name": "VendorName", "value": "Acme \\xff 'Ünï'"}, {"object_id": 1, "name": "ProductCode", "value": "CC"}],
        "vendor_name": "Acme \\xff 'Ünï'",
        "product_code": "CC",
        "revision": None,
    }
)


def test_identified_server_is_modbus_open_with_the_table_severity_and_setting() -> None:
    # Given a server that answered device identification
    findings = assess(IDENTIFIED, OBSERVATION)
    # Then one modbus-open finding, high, naming the vendor setting, resting on the exchange and the objects
    assert [item.id for item in findings] == ["modbus-open"]
    (found,) = findings
    assert (found.severity, found.setting, found.port, found.protocol) == (Severity.HIGH, "Modbus TCP Server: Off", 502, Protocol.TCP)
    assert found.setting == finding_table()["modbus-open"].setting
    assert "unit 255" in found.detail and "answered a read without authentication" in found.detail
    assert found.evidence[0].startswith("unit 255 read-device-identification (transaction 7) from object 0x00 -> response")
    assert found.evidence[-1] == "device identification: VendorName \"Acme \\\\xff 'Ünï'\", ProductCode 'CC'"


@pytest.mark.parametrize(
    ("basis", "phrase"),
    [("exception", "answered with a Modbus exception"), ("closed-after-request", "closed the connection right after each well-formed Modbus request")],
)
def test_exception_or_close_based_presence_is_still_modbus_open_and_says_its_basis(basis: str, phrase: str) -> None:
    outcome = "exception" if basis == "exception" else "connection-closed"
    found = assess(evidence(basis=basis, exchanges=[exchange(outcome=outcome, exception_code=1 if basis == "exception" else None, exception="illegal-function" if basis == "exception" else None)]), OBSERVATION)
    assert [item.id for item in found] == ["modbus-open"]
    assert phrase in found[0].detail
    if basis == "exception":
        assert found[0].evidence[0].endswith("-> exception 0x01 illegal-function")
    else:
        assert found[0].evidence[0].endswith("-> connection-closed")


def test_no_modbus_no_finding_and_no_summary() -> None:
    assert assess(evidence(modbus=False, basis=None), OBSERVATION) == []
    assert summarise(evidence(modbus=False, basis=None)) is None


@pytest.mark.parametrize(
    ("fields", "summary"),
    [
        ({"device_identification": IDENTIFIED["device_identification"]}, "Modbus TCP: Acme \\xff 'Ünï' CC (unit 255)"),
        ({"device_identification": {"objects": [], "vendor_name": None, "product_code": None, "revision": None}}, "Modbus TCP: device identification without objects (unit 255)"),
        ({"holding_registers": {"address": 100, "values": [0x352E]}}, "Modbus TCP (unit 255): register 100 = 0x352e, no device identification"),
        ({"basis": "exception", "unit_id": 1, "exchanges": [exchange(outcome="exception", exception_code=11, exception="gateway-target-failed-to-respond")]}, "Modbus TCP (unit 1): exception gateway-target-failed-to-respond to read-device-identification"),
        ({"basis": "closed-after-request"}, "Modbus TCP (unit 255): connection closed after each request"),
    ],
)
def test_summary_names_what_answers(fields: dict[str, Any], summary: str) -> None:
    assert summarise(evidence(**fields)) == summary
