"""What the Modbus probe saw on 502/tcp: facts only, one entry per request sent."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["ExchangeOutcome", "PresenceBasis", "ModbusExchange", "DeviceObjectEvidence", "DeviceIdentificationEvidence", "RegisterEvidence", "ModbusEvidence"]


class ExchangeOutcome(StrEnum):
    #: a well-formed reply with our transaction id carrying data
    RESPONSE = "response"
    #: a well-formed exception reply with our transaction id
    EXCEPTION = "exception"
    #: the server closed the connection without a byte of reply (some firmwares do
    #: this for requests they do not support: protocols.md §6)
    CONNECTION_CLOSED = "connection-closed"
    #: nothing within the wait (servers may drop requests silently: not proof of absence)
    NO_REPLY = "no-reply"
    #: only well-formed frames carrying another transaction id
    TRANSACTION_MISMATCH = "transaction-id-mismatch"
    #: bytes that are not a Modbus TCP reply (bad MBAP header, bad PDU)
    MALFORMED = "malformed"
    #: part of a frame, then the connection closed
    INCOMPLETE = "incomplete"
    #: part of a frame, then silence
    STALLED = "stalled"
    #: a later request could not connect (the first one's failure is the probe's)
    CONNECTION_FAILED = "connection-failed"


class PresenceBasis(StrEnum):
    #: a reply carrying data (device identification or registers)
    DATA = "data"
    #: a well-formed exception reply: a Modbus server, refusing the request
    EXCEPTION = "exception"
    #: only connections closed right after well-formed requests
    CLOSED_AFTER_REQUEST = "closed-after-request"


@dataclass(frozen=True, slots=True, kw_only=True)
class ModbusExchange:
    #: ``read-device-identification`` or ``read-holding-registers``
    function: str
    function_code: int
    unit_id: int
    transaction_id: int
    outcome: ExchangeOutcome
    #: device identification: the first object asked for (more-follows continues there)
    object_id: int | None = None
    #: register reads: the address and count asked for
    address: int | None = None
    count: int | None = None
    exception_code: int | None = None
    #: ``illegal-function``, ``illegal-data-address``...
    exception: str | None = None
    request_hex: str = ""
    #: what came back, at most one maximum-size ADU (260 bytes)
    reply_hex: str | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceObjectEvidence:
    object_id: int
    #: ``VendorName``, ``ProductCode``, ``MajorMinorRevision``, ...
    name: str
    #: the value as text (undecodable bytes backslash-escaped)
    value: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceIdentificationEvidence:
    #: 0x01/0x02/0x03 basic/regular/extended; +0x80 when objects are also readable one by one
    conformity_level: int
    objects: tuple[DeviceObjectEvidence, ...]
    vendor_name: str | None = None
    product_code: str | None = None
    revision: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisterEvidence:
    address: int
    values: tuple[int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ModbusEvidence:
    #: a Modbus TCP server answers here (see ``basis``)
    modbus: bool
    basis: PresenceBasis | None
    #: the unit id whose reply the evidence rests on
    unit_id: int | None = None
    device_identification: DeviceIdentificationEvidence | None = None
    holding_registers: RegisterEvidence | None = None
    #: every exception code seen, in the order received
    exception_codes: tuple[int, ...] = ()
    exchanges: tuple[ModbusExchange, ...] = ()
