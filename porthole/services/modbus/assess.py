"""Pure judgement of Modbus evidence (the JSON form ``ModbusProbe.run`` returned).

``modbus-open`` whenever a Modbus TCP server answers this vantage, whatever it
answered: Modbus TCP has no authentication and no TLS, so whoever can read device
identification can also write the current-limit registers (protocols.md §6, §12:
"Modbus TCP Server" Off). Data and exception replies count alike; a connection
closed right after each well-formed request counts too ("Modbus present, request
unsupported", protocols.md §6), and the finding's detail says which basis it rests on.
"""

from __future__ import annotations

from typing import Any

from porthole.findings import finding
from porthole.model import Finding, PortObservation

__all__ = ["assess", "summarise"]

_BASIS_TEXT = {
    "data": "answered a read without authentication",
    "exception": "answered with a Modbus exception, which proves a server just as data would",
    "closed-after-request": "closed the connection right after each well-formed Modbus request, as Modbus servers do for requests they do not support",
}


def assess(evidence: dict[str, Any], observation: PortObservation) -> list[Finding]:
    if not evidence.get("modbus"):
        return []
    basis = evidence.get("basis") or "data"
    lines = [_exchange_line(exchange) for exchange in evidence.get("exchanges", [])]
    identification = evidence.get("device_identification")
    if identification and identification.get("objects"):
        lines.append("device identification: " + ", ".join(f"{item['name']} {item['value']!r}" for item in identification["objects"]))
    registers = evidence.get("holding_registers")
    if registers:
        lines.append(f"holding register {registers.get('address')}: " + " ".join(f"{value:#06x}" for value in registers.get("values", [])))
    return [
        finding(
            "modbus-open",
            port=observation.port,
            protocol=observation.protocol,
            detail=f"A Modbus TCP server on port {observation.port} (unit {evidence.get('unit_id')}) {_BASIS_TEXT.get(basis, basis)}; Modbus has no password and no TLS",
            evidence=lines,
        )
    ]


def summarise(evidence: dict[str, Any]) -> str | None:
    if not evidence.get("modbus"):
        return None
    unit = f"unit {evidence.get('unit_id')}"
    identification = evidence.get("device_identification")
    if identification:
        identity = " ".join(part for part in (identification.get("vendor_name"), identification.get("product_code"), identification.get("revision")) if part)
        return f"Modbus TCP: {identity or 'device identification without objects'} ({unit})"
    registers = evidence.get("holding_registers")
    if registers:
        values = " ".join(f"{value:#06x}" for value in registers.get("values", []))
        return f"Modbus TCP ({unit}): register {registers.get('address')} = {values}, no device identification"
    if evidence.get("basis") == "exception":
        first = next((exchange for exchange in evidence.get("exchanges", []) if exchange.get("exception")), {})
        return f"Modbus TCP ({unit}): exception {first.get('exception')} to {first.get('function')}"
    return f"Modbus TCP ({unit}): connection closed after each request"


def _exchange_line(exchange: dict[str, Any]) -> str:
    asked = f"unit {exchange.get('unit_id')} {exchange.get('function')} (transaction {exchange.get('transaction_id')})"
    if exchange.get("object_id") is not None:
        asked += f" from object {exchange['object_id']:#04x}"
    if exchange.get("address") is not None:
        asked += f" register {exchange['address']} x{exchange.get('count')}"
    outcome = exchange.get("outcome")
    if outcome == "exception":
        return f"{asked} -> exception {exchange.get('exception_code'):#04x} {exchange.get('exception')}"
    if outcome == "response":
        return f"{asked} -> response {exchange.get('reply_hex')}"
    return f"{asked} -> {outcome}{': ' + exchange['detail'] if exchange.get('detail') else ''}"
