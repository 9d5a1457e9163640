"""Modbus TCP: the MBAP framer and the few read-only PDUs porthole may send.

Frame (Modbus Messaging on TCP/IP Implementation Guide v1.0b §3.1.3), big-endian:

    0          2          4          6        7          8
    +----------+----------+----------+--------+----------+------------------+
    | trans id | proto id | length   | unit   | function | data ...         |
    | uint16   | 0x0000   | uint16   | uint8  | uint8    |                  |
    +----------+----------+----------+--------+----------+------------------+
    |<------------- MBAP header (7) -------->|<------- PDU (≤ 253) -------->|

    length = 1 (unit id) + PDU length, so 2..254 (an ADU is at most 260 bytes).

PDUs (Modbus Application Protocol v1.1b3):

    Read Holding Registers (§6.3)         request  03 | address u16 | quantity u16 (1..125)
                                          response 03 | byte count | registers (u16 each)
    Read Device Identification (§6.21)    request  2B 0E | read code | object id
                                          response 2B 0E | read code | conformity | more follows
                                                   (00/FF) | next object id | count |
                                                   count × (object id | length | value)
    Exception response (§7)               function | 0x80, exception code

Safety (architecture.md §5.7 rule 5, protocols.md §6 "Must not"): this module can
only *build* reads. ``build_request`` refuses any PDU whose function code is not in
``READ_ONLY_FUNCTION_CODES`` (and, for 0x2B, any MEI type but 0x0E) and refuses unit
id 0, the broadcast address that gets no reply and would reach every device behind
a gateway. There is no builder for writes or diagnostics, on purpose; a unit test
enumerates the builders and holds them to the allow-list.

Contract: pure (the transaction id is an argument); ``parse_adu`` returns
``NEED_DATA`` for a partial frame and raises ``CodecError`` as soon as the bytes can
never be Modbus TCP (protocol id not 0, length outside 2..254), so a hostile peer
announcing 65 535 bytes is rejected from its header instead of being waited for.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from porthole.codecs._errors import CodecError
from porthole.codecs._framing import NEED_DATA, NeedData

__all__ = [
    "NEED_DATA",
    "NeedData",
    "FunctionCode",
    "ExceptionCode",
    "ReadDeviceIdCode",
    "MEI_READ_DEVICE_IDENTIFICATION",
    "READ_ONLY_FUNCTION_CODES",
    "BROADCAST_UNIT_ID",
    "MBAP_HEADER_SIZE",
    "MAX_ADU",
    "Adu",
    "DeviceObject",
    "DeviceIdentification",
    "RegisterValues",
    "ModbusException",
    "Response",
    "OBJECT_NAMES",
    "build_read_device_identification",
    "build_read_holding_registers",
    "build_request",
    "is_read_only_pdu",
    "parse_adu",
    "parse_response",
    "exception_name",
]


class FunctionCode(IntEnum):
    """The function codes porthole sends: reads only."""

    READ_HOLDING_REGISTERS = 0x03
    READ_INPUT_REGISTERS = 0x04
    ENCAPSULATED_INTERFACE_TRANSPORT = 0x2B


class ExceptionCode(IntEnum):
    """Modbus exception codes (Modbus Application Protocol §7)."""

    ILLEGAL_FUNCTION = 0x01
    ILLEGAL_DATA_ADDRESS = 0x02
    ILLEGAL_DATA_VALUE = 0x03
    SERVER_DEVICE_FAILURE = 0x04
    ACKNOWLEDGE = 0x05
    SERVER_DEVICE_BUSY = 0x06
    MEMORY_PARITY_ERROR = 0x08
    GATEWAY_PATH_UNAVAILABLE = 0x0A
    GATEWAY_TARGET_FAILED_TO_RESPOND = 0x0B


class ReadDeviceIdCode(IntEnum):
    """Read Device ID codes (§6.21): which object category to stream."""

    BASIC = 0x01
    REGULAR = 0x02
    EXTENDED = 0x03
    SPECIFIC = 0x04


#: MEI type of Read Device Identification inside function 0x2B (0x0D is CANopen: never sent)
MEI_READ_DEVICE_IDENTIFICATION: Final = 0x0E
#: every function code a request built here may carry
READ_ONLY_FUNCTION_CODES: Final = frozenset(FunctionCode)
#: unit id 0 is broadcast (Modbus over serial line §2.1): no reply, reaches every device
BROADCAST_UNIT_ID: Final = 0
MBAP_HEADER_SIZE: Final = 7
#: 7-byte MBAP header + 253-byte PDU
MAX_ADU: Final = 260
_MAX_LENGTH_FIELD = MAX_ADU - 6
_MAX_REGISTER_QUANTITY = 125

_MBAP = struct.Struct("!HHHB")

#: object ids of Read Device Identification (§6.21 table); 0x80-0xFF are private
OBJECT_NAMES: Final = {
    0x00: "VendorName",
    0x01: "ProductCode",
    0x02: "MajorMinorRevision",
    0x03: "VendorUrl",
    0x04: "ProductName",
    0x05: "ModelName",
    0x06: "UserApplicationName",
}


def exception_name(code: int) -> str:
    """``2`` → ``"illegal-data-address"``; unknown codes as ``"exception-0x42"``."""
    try:
        return ExceptionCode(code).name.lower().replace("_", "-")
    except ValueError:
        return f"exception-{code:#04x}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Adu:
    """One Modbus TCP frame: MBAP fields and the PDU (function code first)."""

    transaction_id: int
    unit_id: int
    pdu: bytes

    @property
    def function_code(self) -> int:
        return self.pdu[0]


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceObject:
    object_id: int
    value: bytes

    @property
    def name(self) -> str:
        if self.object_id in OBJECT_NAMES:
            return OBJECT_NAMES[self.object_id]
        return f"Private{self.object_id:#04x}" if self.object_id >= 0x80 else f"Reserved{self.object_id:#04x}"


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceIdentification:
    """A Read Device Identification response (one stream segment)."""

    read_code: int
    #: conformity level: 0x01/0x02/0x03 basic/regular/extended, +0x80 = individual access
    conformity_level: int
    #: the server has more objects than fit: ask again from ``next_object_id``
    more_follows: bool
    next_object_id: int
    objects: tuple[DeviceObject, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisterValues:
    function_code: int
    registers: tuple[int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ModbusException:
    """An exception response: the request's function code and the exception code."""

    function_code: int
    exception_code: int

    @property
    def name(self) -> str:
        return exception_name(self.exception_code)


Response = DeviceIdentification | RegisterValues | ModbusException


# --- building (reads only) -------------------------------------------------------------


def build_read_device_identification(*, read_code: ReadDeviceIdCode = ReadDeviceIdCode.BASIC, object_id: int = 0x00) -> bytes:
    """PDU ``2B 0E <read code> <object id>``; basic objects from VendorName by default."""
    try:
        read_code = ReadDeviceIdCode(read_code)
    except ValueError:
        raise CodecError(f"read device id code {read_code!r} is not 1-4") from None
    if not 0 <= object_id <= 0xFF:
        raise CodecError(f"device identification object id {object_id} does not fit a byte")
    return bytes([FunctionCode.ENCAPSULATED_INTERFACE_TRANSPORT, MEI_READ_DEVICE_IDENTIFICATION, read_code, object_id])


def build_read_holding_registers(*, address: int, count: int) -> bytes:
    """PDU ``03 <address> <quantity>``; quantity 1..125 (§6.3)."""
    if not 0 <= address <= 0xFFFF:
        raise CodecError(f"register address {address} is outside 0..65535")
    if not 1 <= count <= _MAX_REGISTER_QUANTITY or address + count > 0x10000:
        raise CodecError(f"register quantity {count} must be 1..{_MAX_REGISTER_QUANTITY} and stay below address 65536")
    return struct.pack("!BHH", FunctionCode.READ_HOLDING_REGISTERS, address, count)


def is_read_only_pdu(pdu: bytes) -> bool:
    """True for the PDUs porthole may send: register reads and device identification."""
    if not pdu or pdu[0] not in READ_ONLY_FUNCTION_CODES:
        return False
    if pdu[0] == FunctionCode.ENCAPSULATED_INTERFACE_TRANSPORT:
        return len(pdu) == 4 and pdu[1] == MEI_READ_DEVICE_IDENTIFICATION
    return len(pdu) == 5


def build_request(*, transaction_id: int, unit_id: int, pdu: bytes) -> bytes:
    """The ADU: MBAP header + ``pdu``. Refuses anything but a read, and unit id 0."""
    if not 0 <= transaction_id <= 0xFFFF:
        raise CodecError(f"transaction id {transaction_id} does not fit 16 bits")
    if unit_id == BROADCAST_UNIT_ID:
        raise CodecError("unit id 0 is the broadcast address: it gets no reply and reaches every device behind a gateway")
    if not 1 <= unit_id <= 0xFF:
        raise CodecError(f"unit id {unit_id} is outside 1..255")
    if not is_read_only_pdu(pdu):
        function = f"{pdu[0]:#04x}" if pdu else "(empty)"
        raise CodecError(f"refusing to build a request with function {function}: porthole only sends reads (0x03, 0x04, 0x2B/0x0E)")
    return _MBAP.pack(transaction_id, 0, 1 + len(pdu), unit_id) + pdu


# --- parsing ---------------------------------------------------------------------------


def parse_adu(data: bytes) -> tuple[int, Adu] | NeedData:
    """``(bytes consumed, frame)`` for the first frame in ``data``, or ``NEED_DATA``.

    Fails fast: the protocol id is checked as soon as 4 bytes are in and the length as
    soon as 6 are, so garbage never makes the caller wait for more.
    """
    if len(data) >= 4:
        (protocol_id,) = struct.unpack_from("!H", data, 2)
        if protocol_id != 0:
            raise CodecError(f"MBAP protocol id is {protocol_id:#06x}, not 0: not Modbus TCP", offset=2)
    if len(data) >= 6:
        (length,) = struct.unpack_from("!H", data, 4)
        if not 2 <= length <= _MAX_LENGTH_FIELD:
            raise CodecError(f"MBAP length {length} is outside 2..{_MAX_LENGTH_FIELD} (unit id + a PDU of at most 253 bytes)", offset=4)
    if len(data) < MBAP_HEADER_SIZE:
        return NEED_DATA
    transaction_id, _, length, unit_id = _MBAP.unpack_from(data)
    end = 6 + length
    if len(data) < end:
        return NEED_DATA
    return end, Adu(transaction_id=transaction_id, unit_id=unit_id, pdu=bytes(data[MBAP_HEADER_SIZE:end]))


def parse_response(pdu: bytes, *, request_function: int) -> Response:
    """Decode a reply PDU to a request with function ``request_function``.

    Offsets in errors are within the PDU (add 7 for the ADU).
    """
    if not pdu:
        raise CodecError("empty Modbus PDU", offset=0)
    function = pdu[0]
    if function == request_function | 0x80:
        if len(pdu) != 2:
            raise CodecError(f"exception response must be 2 bytes, got {len(pdu)}", offset=0)
        return ModbusException(function_code=request_function, exception_code=pdu[1])
    if function != request_function:
        raise CodecError(f"reply function {function:#04x} does not answer request function {request_function:#04x}", offset=0)
    if function == FunctionCode.ENCAPSULATED_INTERFACE_TRANSPORT:
        return _parse_device_identification(pdu)
    if function in (FunctionCode.READ_HOLDING_REGISTERS, FunctionCode.READ_INPUT_REGISTERS):
        return _parse_registers(pdu)
    raise CodecError(f"no parser for function {function:#04x}: porthole never sends it", offset=0)


def _parse_registers(pdu: bytes) -> RegisterValues:
    if len(pdu) < 2:
        raise CodecError("register response cut off before its byte count", offset=len(pdu))
    byte_count = pdu[1]
    if byte_count % 2 or byte_count == 0:
        raise CodecError(f"register byte count {byte_count} is not a positive even number", offset=1)
    if len(pdu) != 2 + byte_count:
        raise CodecError(f"register response declares {byte_count} data bytes, carries {len(pdu) - 2}", offset=1)
    registers = struct.unpack_from(f"!{byte_count // 2}H", pdu, 2)
    return RegisterValues(function_code=pdu[0], registers=tuple(registers))


def _parse_device_identification(pdu: bytes) -> DeviceIdentification:
    if len(pdu) < 7:
        raise CodecError(f"device identification response of {len(pdu)} bytes is shorter than its 7-byte head", offset=len(pdu))
    if pdu[1] != MEI_READ_DEVICE_IDENTIFICATION:
        raise CodecError(f"MEI type {pdu[1]:#04x} is not Read Device Identification (0x0E)", offset=1)
    read_code, conformity, more_follows, next_object_id, count = pdu[2:7]
    if more_follows not in (0x00, 0xFF):
        raise CodecError(f"more-follows byte {more_follows:#04x} is neither 0x00 nor 0xFF", offset=4)
    objects = []
    position = 7
    for index in range(count):
        if position + 2 > len(pdu):
            raise CodecError(f"device object {index + 1} of {count} cut off before its id and length", offset=position)
        object_id, length = pdu[position], pdu[position + 1]
        value = pdu[position + 2 : position + 2 + length]
        if len(value) < length:
            raise CodecError(f"device object {object_id:#04x} declares {length} bytes, carries {len(value)}", offset=position + 1)
        objects.append(DeviceObject(object_id=object_id, value=bytes(value)))
        position += 2 + length
    if position != len(pdu):
        raise CodecError(f"{len(pdu) - position} bytes after the {count} device objects", offset=position)
    return DeviceIdentification(
        read_code=read_code,
        conformity_level=conformity,
        more_follows=more_follows == 0xFF,
        next_object_id=next_object_id,
        objects=tuple(objects),
    )
