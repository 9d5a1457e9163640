"""ModbusProbe against the lab's real pymodbus server and against scripted odd and hostile peers.

Scripted peers (tests/unit/services/modbus_peers.py) record every request, so each
test also asserts what porthole *sent*: which function, which unit, how many
requests, one per connection.
"""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from lab.services._common import Running, ServiceContext
from lab.services.modbus import Options, serve
from porthole.errors import ErrorReason
from porthole.services.base import ProbeFailure, ProbeLimits
from porthole.services.modbus import ModbusProbe
from modbus_peers import Request, SendThenClose, close, frame, modbus_peer, probe_context, raw, reply, stall

#: short waits keep silent-peer tests quick; the default (2 s) is protocols.md's budget
FAST = ModbusProbe(response_wait=0.3)

IDENTIFY_PDU = bytes.fromhex("2b0e0100")


def identification(*objects: tuple[int, bytes], more: bool = False, next_object: int = 0) -> bytes:
    body = b"".join(bytes([object_id, len(value)]) + value for object_id, value in objects)
    return bytes([0x2B, 0x0E, 0x01, 0x01, 0xFF if more else 0x00, next_object, len(objects)]) + body


def exception(request: Request, code: int) -> bytes:
    return bytes([request.function_code | 0x80, code])


def sent(peer_requests: list[Request]) -> list[tuple[int, int, bytes]]:
    """What porthole sent, as (unit id, function code, PDU) per request."""
    return [(request.unit_id, request.function_code, request.pdu) for request in peer_requests]


@pytest.fixture
async def lab_modbus(tmp_path: Path) -> AsyncIterator[Running]:
    running = await serve("127.0.0.1", [0], Options(vendor="Acme Charging", product="CC", revision="5.33"), context=ServiceContext(state_dir=tmp_path / "c", name="misconf"))
    yield running
    await running.close()


# --- the real server ------------------------------------------------------------------


async def test_lab_pymodbus_server_is_identified_with_one_request_to_unit_255(lab_modbus: Running) -> None:
    # Given the lab's pymodbus server with device identification
    probe = ModbusProbe()
    # When probed
    evidence = await probe.run(probe_context(lab_modbus.ports[0]))
    # Then the basic objects come back from unit 255 on the first request
    assert (evidence["modbus"], evidence["basis"], evidence["unit_id"]) == (True, "data", 255)
    identification = evidence["device_identification"]
    assert (identification["vendor_name"], identification["product_code"], identification["revision"]) == ("Acme Charging", "CC", "5.33")
    assert [(item["object_id"], item["name"]) for item in identification["objects"]] == [(0, "VendorName"), (1, "ProductCode"), (2, "MajorMinorRevision")]
    assert identification["conformity_level"] == 0x83
    assert [(exchange["unit_id"], exchange["function"], exchange["outcome"]) for exchange in evidence["exchanges"]] == [(255, "read-device-identification", "response")]
    assert evidence["exchanges"][0]["request_hex"].endswith("0000 0005 ff 2b0e0100".replace(" ", ""))
    assert evidence["holding_registers"] is None and evidence["exception_codes"] == []
    assert probe.summarise(evidence) == "Modbus TCP: Acme Charging CC 5.33 (unit 255)"


async def test_transaction_ids_come_from_the_injected_source_and_are_matched() -> None:
    # Given a peer answering identification, and a probe with pinned transaction ids
    probe = ModbusProbe(transaction_ids=iter([0x1234]).__next__)
    async with modbus_peer(reply(lambda _: identification((0, b"Acme")))) as peer:
        evidence = await probe.run(probe_context(peer.port))
    # Then the request carried it and the matched reply was accepted
    assert peer.requests[0].transaction_id == 0x1234
    assert evidence["exchanges"][0]["transaction_id"] == 0x1234 and evidence["exchanges"][0]["outcome"] == "response"


# --- refusals: exception codes, closed connections, gateways ------------------------------


async def test_refused_identification_leads_to_a_single_register_read_on_the_same_unit() -> None:
    # Given a server that has no FC 0x2B (exception 01) but serves register 100
    def answer(request: Request) -> bytes:
        return exception(request, 0x01) if request.function_code == 0x2B else bytes([0x03, 0x02]) + b"5."

    async with modbus_peer(reply(answer)) as peer:
        evidence = await FAST.run(probe_context(peer.port))
    # Then porthole read exactly one holding register, 100, on unit 255, after the refusal
    assert sent(peer.requests) == [(255, 0x2B, IDENTIFY_PDU), (255, 0x03, bytes.fromhex("03 0064 0001"))]
    assert (evidence["modbus"], evidence["basis"], evidence["unit_id"]) == (True, "data", 255)
    assert evidence["holding_registers"] == {"address": 100, "values": [0x352E]}
    assert evidence["exception_codes"] == [1]
    assert evidence["exchanges"][0]["exception"] == "illegal-function"
    assert FAST.summarise(evidence) == "Modbus TCP (unit 255): register 100 = 0x352e, no device identification"


async def test_exceptions_to_both_requests_still_prove_a_modbus_server() -> None:
    # Given a server refusing everything with well-formed exceptions (01, then 02)
    async with modbus_peer(reply(lambda request: exception(request, 0x01 if request.function_code == 0x2B else 0x02))) as peer:
        evidence = await FAST.run(probe_context(peer.port))
    # Then Modbus is present on the basis of the exceptions, both codes recorded in order
    assert len(peer.requests) == 2
    assert (evidence["modbus"], evidence["basis"], evidence["unit_id"], evidence["exception_codes"]) == (True, "exception", 255, [1, 2])
    assert FAST.summarise(evidence) == "Modbus TCP (unit 255): exception illegal-function to read-device-identification"


async def test_connection_closed_after_each_request_means_modbus_present_request_unsupported() -> None:
    # Given firmware that drops the connection on requests it does not support (protocols.md §6)
    async with modbus_peer(close()) as peer:
        evidence = await FAST.run(probe_context(peer.port))
    # Then identification then one register read were tried, each on its own connection, and Modbus is recorded present
    assert [(unit, function) for unit, function, _ in sent(peer.requests)] == [(255, 0x2B), (255, 0x03)]
    assert peer.connections == 2
    assert (evidence["modbus"], evidence["basis"], evidence["unit_id"]) == (True, "closed-after-request", 255)
    assert [exchange["outcome"] for exchange in evidence["exchanges"]] == ["connection-closed", "connection-closed"]


async def test_gateway_exception_for_unit_255_moves_on_to_unit_1() -> None:
    # Given a gateway that cannot reach unit 255 (exception 0x0B) but has a device at unit 1
    def answer(request: Request) -> bytes:
        return exception(request, 0x0B) if request.unit_id == 255 else identification((0, b"Acme"), (1, b"CC"), (2, b"1.0"))

    async with modbus_peer(reply(answer)) as peer:
        evidence = await FAST.run(probe_context(peer.port))
    # Then unit 1 was asked next and identified; no register read was needed
    assert sent(peer.requests) == [(255, 0x2B, IDENTIFY_PDU), (1, 0x2B, IDENTIFY_PDU)]
    assert (evidence["unit_id"], evidence["device_identification"]["vendor_name"], evidence["exception_codes"]) == (1, "Acme", [0x0B])


async def test_silence_from_every_unit_is_a_timeout_not_proof_of_absence() -> None:
    # Given a server that accepts and never answers
    async with modbus_peer(stall()) as peer:
        with pytest.raises(ProbeFailure) as failure:
            await FAST.run(probe_context(peer.port))
    # Then both unit ids were asked once each (no register read, no third unit) and the failure says why
    assert sent(peer.requests) == [(255, 0x2B, IDENTIFY_PDU), (1, 0x2B, IDENTIFY_PDU)]
    assert failure.value.reason == ErrorReason.TIMEOUT.value
    assert "no Modbus reply from unit 255 or 1" in str(failure.value) and "does not prove there is none" in str(failure.value)


# --- more-follows -------------------------------------------------------------------------


async def test_more_follows_continues_from_the_next_object_on_a_new_connection() -> None:
    # Given a server that streams VendorName and ProductCode, then says "more from object 2"
    def answer(request: Request) -> bytes:
        if request.pdu[3] == 0:
            return identification((0, b"Acme"), (1, b"CC"), more=True, next_object=2)
        return identification((2, b"5.33"))

    async with modbus_peer(reply(answer)) as peer:
        evidence = await FAST.run(probe_context(peer.port))
    # Then the second request asked from object 2, and all three objects are in the evidence
    assert [request.pdu for request in peer.requests] == [IDENTIFY_PDU, bytes.fromhex("2b0e0102")]
    assert peer.connections == 2 and peer.extra_bytes == []
    assert [item["value"] for item in evidence["device_identification"]["objects"]] == ["Acme", "CC", "5.33"]


async def test_more_follows_pointing_backwards_stops_after_one_request() -> None:
    # Given a server whose "next object" never moves forward (a loop)
    async with modbus_peer(reply(lambda _: identification((0, b"Acme"), more=True, next_object=0))) as peer:
        evidence = await FAST.run(probe_context(peer.port))
    assert len(peer.requests) == 1
    assert evidence["device_identification"]["vendor_name"] == "Acme"


async def test_endless_more_follows_is_capped() -> None:
    # Given a server that always has "more", one object further each time
    async with modbus_peer(reply(lambda request: identification((request.pdu[3], b"x"), more=True, next_object=request.pdu[3] + 1))) as peer:
        evidence = await FAST.run(probe_context(peer.port))
    # Then porthole stops at three requests
    assert [request.pdu[3] for request in peer.requests] == [0, 1, 2]
    assert len(evidence["device_identification"]["objects"]) == 3


# --- hostile peers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("behaviour", "detail"),
    [
        pytest.param(raw(lambda request: struct.pack("!HHH", request.transaction_id, 0, 0xFFFF) + b"\xff" * 20), "length 65535", id="mbap-length-0xffff"),
        pytest.param(raw(lambda request: frame(request.transaction_id, 255, bytes.fromhex("2b0e01"), protocol_id=1)), "protocol id is 0x0001", id="protocol-id-not-0"),
        pytest.param(raw(lambda _: b"HTTP/1.1 400 Bad Request\r\n\r\n"), "not Modbus TCP", id="http-garbage"),
        pytest.param(reply(lambda _: bytes.fromhex("2b0e01014200 00")), "more-follows byte 0x42", id="bad-identification-pdu"),
        pytest.param(reply(lambda _: bytes.fromhex("06 0064 0003")), "does not answer request function 0x2b", id="reply-with-another-function"),
    ],
)
async def test_malformed_replies_end_the_probe_as_malformed_after_one_request(behaviour: object, detail: str) -> None:
    # Given a peer whose first reply can never be a Modbus answer
    async with modbus_peer(behaviour) as peer:  # type: ignore[arg-type]
        with pytest.raises(ProbeFailure) as failure:
            await FAST.run(probe_context(peer.port))
    # Then porthole asks nothing more and names the defect
    assert len(peer.requests) == 1
    assert failure.value.reason == ErrorReason.MALFORMED.value
    assert detail in str(failure.value)


async def test_replies_with_another_transaction_id_are_never_accepted() -> None:
    # Given a peer answering every request with transaction id + 1 (a stale or spoofed reply)
    async with modbus_peer(raw(lambda request: frame((request.transaction_id + 1) & 0xFFFF, request.unit_id, identification((0, b"Evil"))))) as peer:
        with pytest.raises(ProbeFailure) as failure:
            await FAST.run(probe_context(peer.port))
    # Then neither unit's "answer" counts, and the failure names the mismatch
    assert len(peer.requests) == 2
    assert failure.value.reason == ErrorReason.MALFORMED.value
    assert f"transaction id {peer.requests[0].transaction_id + 1}, not {peer.requests[0].transaction_id}" in str(failure.value)


async def test_a_stray_frame_before_the_matching_reply_is_skipped() -> None:
    # Given a peer that first sends a frame for another transaction, then the real reply
    def stream(request: Request) -> bytes:
        return frame((request.transaction_id + 7) & 0xFFFF, 255, bytes([0xAB, 0x01])) + frame(request.transaction_id, 255, identification((0, b"Acme")))

    async with modbus_peer(raw(stream)) as peer:
        evidence = await FAST.run(probe_context(peer.port))
    # Then the reply matching our transaction id is the one used
    assert evidence["device_identification"]["vendor_name"] == "Acme"
    assert evidence["exception_codes"] == []


async def test_ten_megabytes_of_other_transactions_are_read_only_up_to_the_cap() -> None:
    # Given a peer that floods well-formed frames for someone else's transaction
    flood = frame(0, 255, bytes.fromhex("0302 0001")) * (10 * 1024 * 1024 // 11)
    async with modbus_peer(raw(lambda request: flood if request.transaction_id else flood[11:])) as peer:
        with pytest.raises(ProbeFailure) as failure:
            await FAST.run(probe_context(peer.port))
    # Then the probe stopped at its read cap (four maximum-size ADUs), not at 10 MB
    assert failure.value.reason == ErrorReason.MALFORMED.value
    assert "1040 bytes without a reply" in str(failure.value)
    assert len(peer.requests) == 1


async def test_a_reply_stalled_mid_frame_is_a_timeout_after_one_request() -> None:
    # Given a peer that sends 5 bytes of a frame and then nothing
    async with modbus_peer(stall(), stall_prefix=lambda request: frame(request.transaction_id, 255, identification((0, b"Acme")))[:5]) as peer:
        with pytest.raises(ProbeFailure) as failure:
            await FAST.run(probe_context(peer.port))
    assert len(peer.requests) == 1
    assert failure.value.reason == ErrorReason.TIMEOUT.value
    assert "5 bytes of a frame, then silence" in str(failure.value)


async def test_a_reply_cut_by_a_close_mid_frame_is_malformed() -> None:
    # Given a peer that sends 9 bytes of a frame and closes
    async with modbus_peer(raw(lambda request: SendThenClose(frame(request.transaction_id, 255, identification((0, b"Acme")))[:9]))) as peer:  # type: ignore[arg-type,return-value]
        with pytest.raises(ProbeFailure) as failure:
            await FAST.run(probe_context(peer.port))
    assert failure.value.reason == ErrorReason.MALFORMED.value
    assert "9 bytes of a frame, then the connection closed" in str(failure.value)


async def test_a_register_reply_with_the_wrong_count_is_malformed_but_the_exception_still_proves_modbus() -> None:
    # Given identification refused (01) and a register read answered with two registers instead of one
    def answer(request: Request) -> bytes:
        return exception(request, 0x01) if request.function_code == 0x2B else bytes.fromhex("0304 0001 0002")

    async with modbus_peer(reply(answer)) as peer:
        evidence = await FAST.run(probe_context(peer.port))
    assert (evidence["basis"], evidence["holding_registers"]) == ("exception", None)
    assert evidence["exchanges"][1]["outcome"] == "malformed" and "asked for 1 register(s), got 2" in evidence["exchanges"][1]["detail"]


async def test_a_closed_port_raises_the_connection_error_for_the_engine_to_name() -> None:
    # Given a port nothing listens on (bound then released)
    async with modbus_peer(close()) as peer:
        port = peer.port
    # Then the OS error surfaces (the engine maps it to connection-refused)
    with pytest.raises(ConnectionRefusedError):
        await FAST.run(probe_context(port))


async def test_small_read_limits_are_honoured() -> None:
    # Given the engine's limits cap a read at 16 bytes, and a peer flooding other transactions
    async with modbus_peer(raw(lambda _: frame(0, 255, bytes.fromhex("0302 0001")) * 100)) as peer:
        with pytest.raises(ProbeFailure) as failure:
            await FAST.run(probe_context(peer.port, limits=ProbeLimits(max_read=16)))
    assert "16 bytes without a reply" in str(failure.value)


def test_unit_id_zero_cannot_be_configured() -> None:
    with pytest.raises(ValueError, match="broadcast"):
        ModbusProbe(unit_ids=(255, 0))
