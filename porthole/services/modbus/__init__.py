"""Modbus TCP on 502: read-only device identification, a single register read if refused."""

from porthole.services.modbus.probe import ModbusProbe

__all__ = ["ModbusProbe"]
