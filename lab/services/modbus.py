"""The Modbus TCP server on 502: a real pymodbus server with the controller's register map.

Holding registers (the "Ebee/Bender/MENNEKES" map that evcc reads, protocols.md §6);
every other address answers exception 02 (illegal data address):

======  =====  ==========================================================
address count  content
======  =====  ==========================================================
100     2      firmware version, ASCII (``firmware``, e.g. "5.33")
104     1      OCPP charge-point status (0 = available)
120     2      Modbus server protocol version, ASCII ("0.60")
122     1      control-pilot state (``cp_state``: 1 = A, no vehicle)
140     1      relay state (0 = off)
142     10     charge-point model, ASCII NUL-padded (``model``)
======  =====  ==========================================================

Read Device Identification (FC 0x2B / MEI 0x0E) returns VendorName, ProductCode,
MajorMinorRevision and ModelName from the options.

Options (JSON keys of ``--options``):

=============  ====================================================
``vendor``     VendorName (default "ChargeCtl Lab")
``product``    ProductCode (default "CC-LAB")
``revision``   MajorMinorRevision (default "5.33")
``firmware``   4 ASCII characters at register 100 (default "5.33")
``model``      at most 20 ASCII characters at register 142 (default "CC-LAB-2x22kW")
``cp_state``   register 122 (default 1)
``unit_id``    the unit id that serves the map (default 255, evcc's default); any
               other unit id gets exception 04 (server device failure)
=============  ====================================================

Read-only by intent: porthole never writes (its Modbus requests are allow-listed
reads), and every register is declared ``readonly`` so pymodbus answers writes
with exception 02 instead of storing them. Nothing in the lab depends on that:
the map is static either way.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from pymodbus.pdu.device import ModbusDeviceIdentification
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from lab.services._common import Running, ServiceContext, run_service
from porthole.errors import LabError
from porthole.model import Protocol as Transport

__all__ = ["Options", "register_map", "serve", "main"]

log = logging.getLogger("lab.services.modbus")

FIRMWARE_REGISTER = 100
OCPP_STATUS_REGISTER = 104
PROTOCOL_VERSION_REGISTER = 120
CONTROL_PILOT_REGISTER = 122
RELAY_STATE_REGISTER = 140
MODEL_REGISTER = 142
_MODEL_CHARACTERS = 20


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    vendor: str = "ChargeCtl Lab"
    product: str = "CC-LAB"
    revision: str = "5.33"
    firmware: str = "5.33"
    model: str = "CC-LAB-2x22kW"
    cp_state: int = 1
    unit_id: int = 255

    def __post_init__(self) -> None:
        if len(self.firmware) != 4 or not self.firmware.isascii():
            raise ValueError(f"option 'firmware' {self.firmware!r} must be 4 ASCII characters (2 registers)")
        if not 1 <= len(self.model) <= _MODEL_CHARACTERS or not self.model.isascii():
            raise ValueError(f"option 'model' {self.model!r} must be 1-{_MODEL_CHARACTERS} ASCII characters")
        if not 1 <= self.unit_id <= 255:
            raise ValueError(f"option 'unit_id' {self.unit_id} is outside 1..255 (0 is broadcast)")
        if not 0 <= self.cp_state <= 0xFFFF:
            raise ValueError(f"option 'cp_state' {self.cp_state} does not fit a register")


def _ascii(address: int, text: str) -> SimData:
    return SimData(address=address, values=text, datatype=DataType.STRING, string_encoding="ascii", readonly=True)


def _register(address: int, value: int) -> SimData:
    return SimData(address=address, values=value, datatype=DataType.REGISTERS, readonly=True)


def register_map(options: Options) -> list[SimData]:
    """The holding-register blocks; addresses not listed are invalid (exception 02)."""
    return [
        _ascii(FIRMWARE_REGISTER, options.firmware),
        _register(OCPP_STATUS_REGISTER, 0),
        _ascii(PROTOCOL_VERSION_REGISTER, "0.60"),
        _register(CONTROL_PILOT_REGISTER, options.cp_state),
        _register(RELAY_STATE_REGISTER, 0),
        _ascii(MODEL_REGISTER, options.model.ljust(_MODEL_CHARACTERS, "\0")),
    ]


class _UnknownUnitNoise(logging.Filter):
    """Drop pymodbus 3.16's traceback for a request to another unit id.

    Its simulator core raises ``KeyError(0)`` (not ``NoSuchIdException``) for an
    unknown unit id, which the request handler logs at ERROR with a traceback and
    answers with exception 04. The answer is a fine device behaviour; a traceback
    per scan in the lab log is not.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Datastore unable to fulfill request: 0;")


logging.getLogger("pymodbus.logging").addFilter(_UnknownUnitNoise())


def _identity(options: Options) -> ModbusDeviceIdentification:
    return ModbusDeviceIdentification(
        info_name={
            "VendorName": options.vendor,
            "ProductCode": options.product,
            "MajorMinorRevision": options.revision,
            "ProductName": "Charge Controller",
            "ModelName": options.model,
        }
    )


async def serve(bind: str, ports: Sequence[int], options: Options, *, context: ServiceContext) -> Running:
    """Serve Modbus TCP on every port of ``ports`` (0 = any); one pymodbus server per port."""
    servers: list[ModbusTcpServer] = []
    bound: list[int] = []

    async def close() -> None:
        for server in servers:
            await server.shutdown()

    try:
        for port in ports:
            device = SimDevice(id=options.unit_id, simdata=register_map(options))
            server = ModbusTcpServer(
                device,
                address=(bind, port),
                identity=_identity(options),
            )
            servers.append(server)
            try:
                await server.serve_forever(background=True)
            except RuntimeError as exc:
                # pymodbus reports a failed bind (port in use...) this way
                raise LabError(f"modbus: cannot listen on {bind}:{port}: {exc}") from None
            if server.transport is None:
                raise LabError(f"modbus: pymodbus did not start listening on {bind}:{port}")
            bound.append(server.transport.sockets[0].getsockname()[1])  # type: ignore[attr-defined]
    except BaseException:
        await close()
        raise
    return Running(ports=bound, close=close)


def main(argv: list[str] | None = None) -> int:
    return run_service(argv, kind="modbus", transport=Transport.TCP, options_type=Options, serve=serve)


if __name__ == "__main__":
    raise SystemExit(main())
