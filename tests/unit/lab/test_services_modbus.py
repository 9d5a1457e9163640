"""lab.services.modbus: the pymodbus server, read with pymodbus's own client and with raw MBAP bytes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pymodbus.client import AsyncModbusTcpClient

from lab.services._common import Running, ServiceContext
from lab.services.modbus import Options, serve


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Running]:
    context = ServiceContext(state_dir=tmp_path / "site" / "master", name="master")
    options = Options(vendor="Acme Charging", product="CC", revision="5.33", model="CC613-ELM")
    running = await serve("127.0.0.1", [0], options, context=context)
    yield running
    await running.close()


@pytest.fixture
async def client(server: Running) -> AsyncIterator[AsyncModbusTcpClient]:
    modbus_client = AsyncModbusTcpClient("127.0.0.1", port=server.ports[0], timeout=2, retries=0)
    assert await modbus_client.connect()
    yield modbus_client
    modbus_client.close()


def ascii_of(registers: list[int]) -> str:
    return b"".join(register.to_bytes(2, "big") for register in registers).decode("ascii")


async def test_firmware_registers_hold_the_version_as_ascii(client: AsyncModbusTcpClient) -> None:
    # When registers 100-101 of unit 255 are read
    response = await client.read_holding_registers(100, count=2, device_id=255)
    # Then they spell the firmware version
    assert not response.isError()
    assert ascii_of(response.registers) == "5.33"


async def test_control_pilot_state_reads_a_no_vehicle(client: AsyncModbusTcpClient) -> None:
    response = await client.read_holding_registers(122, count=1, device_id=255)
    assert response.registers == [1]


async def test_model_registers_hold_the_nul_padded_model(client: AsyncModbusTcpClient) -> None:
    response = await client.read_holding_registers(142, count=10, device_id=255)
    assert ascii_of(response.registers).rstrip("\0") == "CC613-ELM"


async def test_unmapped_register_is_illegal_data_address(client: AsyncModbusTcpClient) -> None:
    # When a register outside the map is read, Then exception 02 comes back
    response = await client.read_holding_registers(1000, count=1, device_id=255)
    assert response.isError()
    assert response.exception_code == 0x02


async def test_writes_are_refused(client: AsyncModbusTcpClient) -> None:
    # When a register is written, Then exception 02 answers and the value is unchanged
    response = await client.write_register(122, 3, device_id=255)
    assert response.isError()
    assert (await client.read_holding_registers(122, count=1, device_id=255)).registers == [1]


async def test_device_identification_reports_the_configured_objects(client: AsyncModbusTcpClient) -> None:
    # When basic device identification (FC 0x2B / 0x0E, code 01) is read
    response = await client.read_device_information(read_code=0x01, object_id=0x00, device_id=255)
    # Then VendorName, ProductCode and MajorMinorRevision come back
    assert not response.isError()
    assert response.information == {0x00: b"Acme Charging", 0x01: b"CC", 0x02: b"5.33"}


async def test_raw_mbap_device_identification_request_gets_a_well_formed_reply(server: Running) -> None:
    # Given the exact probe bytes from protocols.md §6, sent over a plain socket
    reader, writer = await asyncio.open_connection("127.0.0.1", server.ports[0])
    writer.write(bytes.fromhex("000100000005FF2B0E0100"))
    await writer.drain()
    async with asyncio.timeout(2):
        header = await reader.readexactly(7)
        body = await reader.readexactly(int.from_bytes(header[4:6], "big") - 1)
    writer.close()
    await writer.wait_closed()
    # Then the reply echoes the transaction and unit ids and carries the objects
    assert header[:4] == bytes.fromhex("00010000") and header[6] == 0xFF
    assert body[:3] == bytes.fromhex("2B0E01")
    assert body[6] == 3  # object count
    assert body[7:9] == b"\x00\x0d" and body[9:22] == b"Acme Charging"


async def test_other_unit_ids_get_server_device_failure(client: AsyncModbusTcpClient) -> None:
    # Given the map served for unit 255 only, When unit 1 is read
    response = await client.read_holding_registers(100, count=2, device_id=1)
    # Then exception 04 (server device failure) answers: still proof of a Modbus server
    assert response.isError()
    assert response.exception_code == 0x04
