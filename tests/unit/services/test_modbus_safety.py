"""The Modbus safety interlock: porthole can only ever build, and only ever sends, reads.

architecture.md §5.7 rule 5 and protocols.md §6 "Must not": a charger in service is not
a lab target. Three independent checks:

1. Static: every request builder in ``porthole.codecs.modbus`` and every builder the
   probe modules reference is on the allow-list, and no write or diagnostic builder
   exists at all.
2. Generative: over the builders' whole argument space, every PDU they produce carries
   an allowed function code (0x2B only with MEI 0x0E), and ``build_request`` refuses
   every other function code and unit id 0.
3. Behavioural: the probe, run against peers that identify, refuse, close, stall,
   misbehave or point more-follows anywhere, only ever *sends* allowed requests to
   units 255 and 1, one request per connection, at most a handful per run.
"""

from __future__ import annotations

import ast
import pkgutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import porthole.services
import porthole.services.modbus
from porthole.codecs import CodecError, modbus
from porthole.services.base import ProbeFailure
from porthole.services.modbus import ModbusProbe
from porthole.services.modbus.probe import MAX_IDENTIFICATION_REQUESTS, UNIT_IDS
from modbus_peers import Request, close, frame, modbus_peer, probe_context, raw, reply, stall

#: the only function codes a porthole request may carry (reads)
ALLOWED_FUNCTION_CODES = {0x03, 0x04, 0x2B}
#: the only MEI type allowed inside 0x2B (Read Device Identification; 0x0D is CANopen)
ALLOWED_MEI_TYPES = {0x0E}
#: the PDU builders porthole has; adding one means adding it here, after review
PDU_BUILDERS = {"build_read_device_identification", "build_read_holding_registers"}
#: words that would name a builder of something porthole must never send
FORBIDDEN_WORDS = ("write", "diagnos", "mask", "restart", "listen_only", "report_server", "report_slave", "broadcast", "file_record", "fifo", "coil")


def assert_allowed_pdu(pdu: bytes) -> None:
    assert pdu[0] in ALLOWED_FUNCTION_CODES, f"function {pdu[0]:#04x} is not a read"
    if pdu[0] == 0x2B:
        assert pdu[1] in ALLOWED_MEI_TYPES, f"MEI type {pdu[1]:#04x} is not Read Device Identification"


def assert_allowed_request(adu: bytes) -> None:
    assert adu[6] != 0, "unit id 0 is broadcast"
    assert_allowed_pdu(adu[7:])


# --- 1. static: what can be built, and what the probe refers to -------------------------


def codec_builders() -> set[str]:
    return {name for name, value in vars(modbus).items() if name.startswith("build_") and callable(value)}


def test_the_codec_has_exactly_the_reviewed_builders() -> None:
    # Given every public build_* function in the Modbus codec
    # Then it is the reviewed PDU builders plus the ADU framer, nothing else
    assert codec_builders() == PDU_BUILDERS | {"build_request"}


def test_no_callable_anywhere_in_the_codec_or_probe_is_named_for_a_write_or_diagnostic() -> None:
    # Given every function and class the codec and the probe package define
    modules = [modbus] + [__import__(f"porthole.services.modbus.{info.name}", fromlist=["_"]) for info in pkgutil.iter_modules(porthole.services.modbus.__path__)]
    names = {name.lower() for module in modules for name, value in vars(module).items() if callable(value) and getattr(value, "__module__", "").startswith("porthole")}
    # Then none is named for something porthole must never send
    offenders = sorted(name for name in names if any(word in name for word in FORBIDDEN_WORDS))
    assert offenders == []


def builders_referenced_by_probe_modules() -> set[str]:
    """Every ``modbus.build_*`` the probe package's source refers to (AST, so imports hidden anywhere count)."""
    package_directory = Path(porthole.services.modbus.__file__).parent
    referenced: set[str] = set()
    for path in package_directory.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr.startswith("build_"):
                referenced.add(node.attr)
            elif isinstance(node, ast.ImportFrom) and node.module and "modbus" in node.module:
                referenced.update(alias.name for alias in node.names if alias.name.startswith("build_"))
    return referenced


def test_the_probe_reaches_only_allow_listed_builders() -> None:
    referenced = builders_referenced_by_probe_modules()
    # Guard the guard: the scan does see the builders the probe uses
    assert {"build_request", "build_read_device_identification", "build_read_holding_registers"} <= referenced
    assert referenced <= PDU_BUILDERS | {"build_request"}


def test_every_registered_probe_that_speaks_modbus_is_configured_without_unit_id_0() -> None:
    # Given the registry the engine runs / Then the Modbus probe in it never addresses the broadcast unit
    probes = [probe for probe in porthole.services.registry() if isinstance(probe, ModbusProbe)]
    assert len(probes) == 1
    assert 0 not in probes[0].unit_ids
    assert tuple(probes[0].unit_ids) == UNIT_IDS == (255, 1)


def test_modules_outside_the_modbus_probe_do_not_build_modbus_requests() -> None:
    # Given every service module / Then only the Modbus probe package refers to the Modbus builders
    root = Path(porthole.services.__file__).parent
    users = set()
    for path in root.rglob("*.py"):
        if "modbus" in path.relative_to(root).parts[0]:
            continue
        source = path.read_text(encoding="utf-8")
        if "codecs.modbus" in source or "codecs import modbus" in source:
            users.add(str(path.relative_to(root)))
    assert users == set()


# --- 2. generative: the builders' whole argument space ------------------------------------


@settings(max_examples=300, deadline=None)
@given(read_code=st.sampled_from(list(modbus.ReadDeviceIdCode)), object_id=st.integers(min_value=0, max_value=0xFF))
def test_every_device_identification_pdu_is_an_allowed_read(read_code: modbus.ReadDeviceIdCode, object_id: int) -> None:
    pdu = modbus.build_read_device_identification(read_code=read_code, object_id=object_id)
    assert_allowed_pdu(pdu)


@settings(max_examples=300, deadline=None)
@given(address=st.integers(min_value=0, max_value=0xFFFF), count=st.integers(min_value=1, max_value=125))
def test_every_holding_register_pdu_is_an_allowed_read(address: int, count: int) -> None:
    try:
        pdu = modbus.build_read_holding_registers(address=address, count=count)
    except CodecError:
        return  # address + count beyond 65535: refused, nothing built
    assert_allowed_pdu(pdu)


@settings(max_examples=300, deadline=None)
@given(transaction_id=st.integers(min_value=0, max_value=0xFFFF), unit_id=st.integers(min_value=0, max_value=0xFF), object_id=st.integers(min_value=0, max_value=0xFF))
def test_every_request_built_is_an_allowed_read_to_a_non_broadcast_unit(transaction_id: int, unit_id: int, object_id: int) -> None:
    pdu = modbus.build_read_device_identification(object_id=object_id)
    try:
        adu = modbus.build_request(transaction_id=transaction_id, unit_id=unit_id, pdu=pdu)
    except CodecError:
        assert unit_id == 0
        return
    assert_allowed_request(adu)


def built(pdu: bytes) -> bool:
    try:
        modbus.build_request(transaction_id=1, unit_id=255, pdu=pdu)
    except CodecError as exc:
        assert "porthole only sends reads" in str(exc)
        return False
    return True


def test_build_request_refuses_every_function_code_that_is_not_a_read() -> None:
    # Given, for each of the 253 other function codes (writes, diagnostics, serial-line
    # functions...), PDUs shaped like a bare code, a register request and a 0x2B/0x0E request
    shapes = (b"", b"\x00\x64\x00\x01", b"\x0e\x01\x00")
    accepted = [f"{code:#04x}{shape.hex()}" for code in range(256) if code not in ALLOWED_FUNCTION_CODES for shape in shapes if built(bytes([code]) + shape)]
    # Then not one request is built
    assert accepted == []


def test_build_request_refuses_0x2b_with_any_other_mei_type() -> None:
    accepted = [mei for mei in range(256) if mei not in ALLOWED_MEI_TYPES and built(bytes([0x2B, mei, 0x01, 0x00]))]
    assert accepted == []


# --- 3. behavioural: what the probe sends, whatever the peer does ---------------------------


def identification(*, more: bool = False, next_object: int = 0) -> bytes:
    return bytes([0x2B, 0x0E, 0x01, 0x01, 0xFF if more else 0x00, next_object, 1, 0x00, 4]) + b"Acme"


def refuse(request: Request, code: int) -> bytes:
    return bytes([request.function_code | 0x80, code])


PEER_BEHAVIOURS = {
    "identifies": reply(lambda _: identification()),
    "refuses-with-illegal-function": reply(lambda request: refuse(request, 0x01)),
    "gateway-cannot-reach-any-unit": reply(lambda request: refuse(request, 0x0B)),
    "server-busy": reply(lambda request: refuse(request, 0x06)),
    "closes-after-every-request": close(),
    "never-answers": stall(),
    "more-follows-forever": reply(lambda request: identification(more=True, next_object=(request.pdu[3] + 1) & 0xFF)),
    "more-follows-to-a-random-object": reply(lambda request: identification(more=True, next_object=(request.pdu[3] * 37 + 200) & 0xFF)),
    "wrong-transaction-ids": raw(lambda request: frame((request.transaction_id + 1) & 0xFFFF, request.unit_id, identification())),
    "garbage": raw(lambda _: b"\x00\x00\x00\x00\xff\xff garbage"),
}


@pytest.mark.parametrize("behaviour", PEER_BEHAVIOURS.values(), ids=PEER_BEHAVIOURS.keys())
async def test_the_probe_only_ever_sends_allowed_reads_to_units_255_and_1(behaviour: object) -> None:
    # Given a peer behaving in one of many ways
    async with modbus_peer(behaviour) as peer:  # type: ignore[arg-type]
        try:
            await ModbusProbe(response_wait=0.2).run(probe_context(peer.port))
        except ProbeFailure:
            pass
    # Then every request it received is an allowed read to unit 255 or 1 ...
    assert peer.requests, "the probe sent nothing"
    for request in peer.requests:
        assert_allowed_request(request.raw)
        assert request.unit_id in (255, 1)
    # ... one request per connection, nothing sent after it, and only a handful in all
    assert peer.connections == len(peer.requests)
    assert peer.extra_bytes == []
    assert len(peer.requests) <= 2 * MAX_IDENTIFICATION_REQUESTS + 1
    # and a register read, if any, touched register 100 only (never personal data or control registers)
    for request in peer.requests:
        if request.function_code == 0x03:
            assert request.pdu == bytes.fromhex("03 0064 0001")

