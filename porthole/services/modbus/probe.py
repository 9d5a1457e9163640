"""Modbus TCP on 502: who answers, with what identity, without writing anything.

What it sends (protocols.md §6), each request on its own short-lived connection
(nmap's shape: a held-open connection can take the slot an energy manager needs):

1. Read Device Identification (0x2B / MEI 0x0E, basic objects from VendorName) to
   unit 255, the default unit id of these controllers (evcc's ``bender.go``). If the
   reply says more objects follow, ask again from the next object id, at most
   ``MAX_IDENTIFICATION_REQUESTS`` requests in all and only ever forward.
2. If unit 255 *refuses* (an exception other than the gateway ones, or the
   connection closes right after the request, which some firmwares do for what they
   do not support): a single Read Holding Registers of one register, 100 (the
   firmware version register of this register map), on the same unit. Then stop.
3. If unit 255 is not there (gateway exception 0x0A/0x0B, silence, a reply for
   another transaction): the same steps for unit 1, the usual id of single devices.

So a controller sees at most three requests plus continuations. Unit id 0 is never
used, although the issue suggested "1, then 255, then 0": 0 is the broadcast
address (Modbus over serial line §2.1), which a server must not answer, so it can
only cost a timeout; and were a request ever to write, a broadcast would reach every
device behind a gateway. The codec refuses to build it.

Evidence: any well-formed reply with our transaction id proves a Modbus server
(data or exception alike); a connection closed right after a well-formed request is
recorded as "Modbus present, request unsupported" (protocols.md §6). Silence alone
is not proof of absence (servers may drop requests), so it ends as a ``timeout``
failure, not as "no Modbus".

Must not: any function outside ``porthole.codecs.modbus.READ_ONLY_FUNCTION_CODES``
(no writes 0x05/0x06/0x0F/0x10/0x16/0x17, no diagnostics 0x08, no 0x2B/0x0D), unit
id 0, a sweep of unit ids, or registers with personal data (720-729 RFID, 741-746
EVCCID) or the control registers (1000-1002).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, ClassVar, Final

from porthole.codecs import CodecError, modbus
from porthole.errors import ErrorReason
from porthole.model import Finding, PortObservation, PortState, Protocol
from porthole.jsonable import to_jsonable
from porthole.services.base import ProbeContext, ProbeFailure, close_stream, read_bounded
from porthole.services.modbus import assess as assess_module
from porthole.services.modbus.evidence import (
    DeviceIdentificationEvidence,
    DeviceObjectEvidence,
    ExchangeOutcome,
    ModbusEvidence,
    ModbusExchange,
    PresenceBasis,
    RegisterEvidence,
)

__all__ = ["ModbusProbe", "UNIT_IDS", "IDENTIFICATION_REGISTER", "MAX_IDENTIFICATION_REQUESTS"]

#: tried in this order; 255 is these controllers' default, 1 the common single-device id
UNIT_IDS: Final = (255, 1)
#: the one holding register read when device identification is refused (firmware version)
IDENTIFICATION_REGISTER: Final = 100
#: the first Read Device Identification plus at most two more-follows continuations
MAX_IDENTIFICATION_REQUESTS: Final = 3
#: exceptions a gateway sends for a unit id it cannot reach: try the next unit id
_GATEWAY_EXCEPTIONS = frozenset({modbus.ExceptionCode.GATEWAY_PATH_UNAVAILABLE, modbus.ExceptionCode.GATEWAY_TARGET_FAILED_TO_RESPOND})
#: bytes read per request: one maximum-size reply plus room for a few stray frames
_MAX_READ = 4 * modbus.MAX_ADU


class ModbusProbe:
    id: ClassVar[str] = "modbus"

    def __init__(
        self,
        *,
        response_wait: float = 2.0,
        unit_ids: Sequence[int] = UNIT_IDS,
        transaction_ids: Callable[[], int] = lambda: random.randrange(1, 0x10000),
    ) -> None:
        if modbus.BROADCAST_UNIT_ID in unit_ids:
            raise ValueError("unit id 0 is the Modbus broadcast address; porthole never sends to it")
        #: wait for one reply (protocols.md §0: 2 s, as nmap's modbus-discover)
        self.response_wait = response_wait
        self.unit_ids = tuple(unit_ids)
        self.transaction_ids = transaction_ids

    def claims(self, observation: PortObservation) -> bool:
        return observation.service == "modbus" and observation.protocol is Protocol.TCP and observation.state is PortState.OPEN

    async def run(self, context: ProbeContext) -> dict[str, Any]:
        return to_jsonable(await self.collect(context))

    async def collect(self, context: ProbeContext) -> ModbusEvidence:
        exchanges: list[ModbusExchange] = []
        for unit_id in self.unit_ids:
            identification = await self._identify(context, unit_id, exchanges)
            if identification is not None:
                return _conclude(exchanges, identification=identification, unit_id=unit_id)
            first = next(exchange for exchange in exchanges if exchange.unit_id == unit_id)
            if first.outcome in (ExchangeOutcome.MALFORMED, ExchangeOutcome.INCOMPLETE, ExchangeOutcome.STALLED, ExchangeOutcome.CONNECTION_FAILED):
                break  # not Modbus, or broken: asking more only costs the device
            if _refused(first):
                registers = await self._read_register(context, unit_id, exchanges)
                return _conclude(exchanges, registers=registers, unit_id=unit_id)
        return _conclude(exchanges)

    def assess(self, evidence: dict[str, Any], observation: PortObservation) -> list[Finding]:
        return assess_module.assess(evidence, observation)

    def summarise(self, evidence: dict[str, Any]) -> str | None:
        return assess_module.summarise(evidence)

    # --- requests ----------------------------------------------------------------------

    async def _identify(self, context: ProbeContext, unit_id: int, exchanges: list[ModbusExchange]) -> DeviceIdentificationEvidence | None:
        """Read Device Identification, following more-follows forward only, bounded."""
        objects: list[modbus.DeviceObject] = []
        conformity: int | None = None
        object_id = 0x00
        for _ in range(MAX_IDENTIFICATION_REQUESTS):
            pdu = modbus.build_read_device_identification(object_id=object_id)
            _, response = await self._exchange(context, unit_id, pdu, exchanges, object_id=object_id)
            if not isinstance(response, modbus.DeviceIdentification):
                break
            conformity = response.conformity_level if conformity is None else conformity
            objects.extend(response.objects)
            if not response.more_follows or response.next_object_id <= object_id:
                break  # done, or a server pointing backwards (a loop): stop either way
            object_id = response.next_object_id
        if conformity is None:
            return None
        return _identification(conformity, objects)

    async def _read_register(self, context: ProbeContext, unit_id: int, exchanges: list[ModbusExchange]) -> RegisterEvidence | None:
        pdu = modbus.build_read_holding_registers(address=IDENTIFICATION_REGISTER, count=1)
        _, response = await self._exchange(context, unit_id, pdu, exchanges, address=IDENTIFICATION_REGISTER, count=1)
        if isinstance(response, modbus.RegisterValues):
            return RegisterEvidence(address=IDENTIFICATION_REGISTER, values=response.registers)
        return None

    async def _exchange(self, context: ProbeContext, unit_id: int, pdu: bytes, exchanges: list[ModbusExchange], **asked: int) -> tuple[ModbusExchange, modbus.Response | None]:
        """One request on a fresh connection; the exchange is appended to ``exchanges``."""
        transaction_id = self.transaction_ids()
        request = modbus.build_request(transaction_id=transaction_id, unit_id=unit_id, pdu=pdu)
        common: dict[str, Any] = {
            "function": "read-device-identification" if pdu[0] == modbus.FunctionCode.ENCAPSULATED_INTERFACE_TRANSPORT else "read-holding-registers",
            "function_code": pdu[0],
            "unit_id": unit_id,
            "transaction_id": transaction_id,
            "request_hex": request.hex(),
            **asked,
        }
        try:
            reader, writer = await context.open_stream()
        except OSError as exc:
            if not exchanges:
                raise  # the engine names it (connection refused, reset...)
            exchange = ModbusExchange(**common, outcome=ExchangeOutcome.CONNECTION_FAILED, detail=f"{type(exc).__name__}: {exc}")
            exchanges.append(exchange)
            return exchange, None
        try:
            writer.write(request)
            await writer.drain()
            data, ended = await read_bounded(
                reader,
                limit=min(context.limits.max_read, _MAX_READ),
                first_byte=self.response_wait,
                between_chunks=min(context.limits.between_chunks, self.response_wait),
                until=partial(_settled, transaction_id=transaction_id),
            )
        finally:
            await close_stream(writer)
        exchange, response = _interpret(common, pdu, data, ended)
        exchanges.append(exchange)
        return exchange, response


# --- interpretation (pure) -------------------------------------------------------------


def _settled(data: bytes, *, transaction_id: int) -> bool:
    """Stop reading at our reply, or at bytes that can never be one."""
    offset = 0
    while True:
        try:
            frame = modbus.parse_adu(data[offset:])
        except CodecError:
            return True
        if frame is modbus.NEED_DATA:
            return False
        consumed, adu = frame
        if adu.transaction_id == transaction_id:
            return True
        offset += consumed


def _interpret(common: dict[str, Any], pdu: bytes, data: bytes, ended: str) -> tuple[ModbusExchange, modbus.Response | None]:
    reply_hex = data[: modbus.MAX_ADU].hex() or None
    offset = 0
    other_transactions: list[int] = []
    while True:
        try:
            frame = modbus.parse_adu(data[offset:])
        except CodecError as exc:
            return ModbusExchange(**common, outcome=ExchangeOutcome.MALFORMED, reply_hex=reply_hex, detail=f"not a Modbus TCP frame: {exc}"), None
        if frame is modbus.NEED_DATA:
            break
        consumed, adu = frame
        offset += consumed
        if adu.transaction_id != common["transaction_id"]:
            other_transactions.append(adu.transaction_id)
            continue
        reply_hex = data[offset - consumed : offset].hex()
        try:
            response = modbus.parse_response(adu.pdu, request_function=pdu[0])
        except CodecError as exc:
            return ModbusExchange(**common, outcome=ExchangeOutcome.MALFORMED, reply_hex=reply_hex, detail=f"reply PDU: {exc}"), None
        if isinstance(response, modbus.ModbusException):
            return ModbusExchange(**common, outcome=ExchangeOutcome.EXCEPTION, exception_code=response.exception_code, exception=response.name, reply_hex=reply_hex), response
        if isinstance(response, modbus.RegisterValues) and len(response.registers) != common.get("count"):
            detail = f"asked for {common.get('count')} register(s), got {len(response.registers)}"
            return ModbusExchange(**common, outcome=ExchangeOutcome.MALFORMED, reply_hex=reply_hex, detail=detail), None
        detail = None if adu.unit_id == common["unit_id"] else f"reply names unit {adu.unit_id}"
        return ModbusExchange(**common, outcome=ExchangeOutcome.RESPONSE, reply_hex=reply_hex, detail=detail), response
    leftover = len(data) - offset
    if ended == "limit":
        return ModbusExchange(**common, outcome=ExchangeOutcome.MALFORMED, reply_hex=reply_hex, detail=f"{len(data)} bytes without a reply to transaction {common['transaction_id']}"), None
    if leftover:
        outcome = ExchangeOutcome.INCOMPLETE if ended == "eof" else ExchangeOutcome.STALLED
        then = "the connection closed" if ended == "eof" else "silence"
        return ModbusExchange(**common, outcome=outcome, reply_hex=reply_hex, detail=f"{leftover} bytes of a frame, then {then}"), None
    if other_transactions:
        ids = ", ".join(str(transaction) for transaction in other_transactions)
        detail = f"reply frames carried transaction id {ids}, not {common['transaction_id']}"
        return ModbusExchange(**common, outcome=ExchangeOutcome.TRANSACTION_MISMATCH, reply_hex=reply_hex, detail=detail), None
    if ended == "eof":
        return ModbusExchange(**common, outcome=ExchangeOutcome.CONNECTION_CLOSED, detail="closed right after the request, no reply"), None
    return ModbusExchange(**common, outcome=ExchangeOutcome.NO_REPLY, detail="no reply within the wait"), None


def _refused(exchange: ModbusExchange) -> bool:
    """The unit is there but will not identify itself (vs. "no such unit here")."""
    if exchange.outcome is ExchangeOutcome.CONNECTION_CLOSED:
        return True
    return exchange.outcome is ExchangeOutcome.EXCEPTION and exchange.exception_code not in _GATEWAY_EXCEPTIONS


def _identification(conformity: int, objects: list[modbus.DeviceObject]) -> DeviceIdentificationEvidence:
    described = tuple(DeviceObjectEvidence(object_id=item.object_id, name=item.name, value=item.value.decode("ascii", errors="backslashreplace")) for item in objects)
    by_id = {item.object_id: item.value for item in described}
    return DeviceIdentificationEvidence(conformity_level=conformity, objects=described, vendor_name=by_id.get(0x00), product_code=by_id.get(0x01), revision=by_id.get(0x02))


def _conclude(
    exchanges: list[ModbusExchange],
    *,
    identification: DeviceIdentificationEvidence | None = None,
    registers: RegisterEvidence | None = None,
    unit_id: int | None = None,
) -> ModbusEvidence:
    exception_codes = tuple(exchange.exception_code for exchange in exchanges if exchange.exception_code is not None)
    common = {"exception_codes": exception_codes, "exchanges": tuple(exchanges)}
    if identification is not None or registers is not None:
        return ModbusEvidence(modbus=True, basis=PresenceBasis.DATA, unit_id=unit_id, device_identification=identification, holding_registers=registers, **common)
    excepted = next((exchange for exchange in exchanges if exchange.outcome is ExchangeOutcome.EXCEPTION), None)
    if excepted is not None:
        return ModbusEvidence(modbus=True, basis=PresenceBasis.EXCEPTION, unit_id=excepted.unit_id, **common)
    closed = next((exchange for exchange in exchanges if exchange.outcome is ExchangeOutcome.CONNECTION_CLOSED), None)
    if closed is not None:
        return ModbusEvidence(modbus=True, basis=PresenceBasis.CLOSED_AFTER_REQUEST, unit_id=closed.unit_id, **common)
    raise _failure(exchanges)


def _failure(exchanges: list[ModbusExchange]) -> ProbeFailure:
    """No Modbus evidence at all: the most telling exchange names the reason."""
    for outcome, reason in (
        (ExchangeOutcome.MALFORMED, ErrorReason.MALFORMED),
        (ExchangeOutcome.INCOMPLETE, ErrorReason.MALFORMED),
        (ExchangeOutcome.TRANSACTION_MISMATCH, ErrorReason.MALFORMED),
        (ExchangeOutcome.STALLED, ErrorReason.TIMEOUT),
        (ExchangeOutcome.CONNECTION_FAILED, ErrorReason.CONNECTION_REFUSED),
    ):
        culprit = next((exchange for exchange in exchanges if exchange.outcome is outcome), None)
        if culprit is not None:
            return ProbeFailure(reason, f"unit {culprit.unit_id} {culprit.function}: {culprit.outcome.value}: {culprit.detail}")
    units = " or ".join(str(unit) for unit in dict.fromkeys(exchange.unit_id for exchange in exchanges))
    return ProbeFailure(ErrorReason.TIMEOUT, f"no Modbus reply from unit {units} ({len(exchanges)} request(s)); a server may drop requests silently, so this does not prove there is none")
