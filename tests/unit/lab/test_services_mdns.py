"""lab.services.mdns: python-zeroconf's SHIP announcement, queried by legacy unicast (RFC 6762 §6.7).

The query is a plain DNS message from an ephemeral port to 127.0.0.1:5353 over a
raw UDP socket; the answer is decoded with scapy's DNS layer, an implementation
independent of both zeroconf and porthole.

zeroconf always binds port 5353, so each test runs in a throw-away network
namespace of its own (only ``lo`` inside): no clash with an mDNS responder of the
machine or another test run, and zeroconf's multicast announcements never leave
that namespace. The test body runs in a thread that entered the namespace with
setns(2) (network namespaces are per thread), with its own event loop.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import struct
import subprocess
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import asyncio_dgram
import pytest
from scapy.layers.dns import DNS

from lab.certs import load_certificate, subject_key_identifier
from lab.services._common import ServiceContext
from lab.services.mdns import MDNS_PORT, Options, serve

QUERY_ID = 0x4D2E
CLONE_NEWNET = 0x40000000
T = TypeVar("T")


@pytest.fixture
def namespace() -> Iterator[str]:
    name = f"t-mdns-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)


def run_in_namespace(name: str, body: Callable[[], Awaitable[T]]) -> T:
    """Run ``body`` on a fresh event loop in a thread that lives in namespace ``name``."""
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            with open(f"/run/netns/{name}") as handle:
                if libc.setns(handle.fileno(), CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns into {name} failed")
            outcome["value"] = asyncio.run(body())  # type: ignore[arg-type]
        except BaseException as exc:  # handed to the test thread below
            outcome["error"] = exc

    thread = threading.Thread(target=target, name=f"in-{name}")
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive(), "namespace thread did not finish"
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


def ptr_query(name: bytes = b"_ship._tcp.local", *, query_id: int = QUERY_ID) -> bytes:
    labels = b"".join(bytes([len(label)]) + label for label in name.split(b".")) + b"\x00"
    # ID, flags 0 (standard query), QDCOUNT 1; question PTR (12) class IN (1)
    return struct.pack(">HHHHHH", query_id, 0, 1, 0, 0, 0) + labels + struct.pack(">HH", 12, 1)


async def ask(payload: bytes, *, wait: float = 3.0) -> tuple[bytes, tuple[str, int]] | None:
    client = await asyncio_dgram.bind(("127.0.0.1", 0))
    try:
        await client.send(payload, ("127.0.0.1", MDNS_PORT))
        try:
            async with asyncio.timeout(wait):
                return await client.recv()
        except TimeoutError:
            return None
    finally:
        client.close()


def records(message: DNS) -> dict[int, list]:
    """Resource records of all sections by type (12 PTR, 16 TXT, 33 SRV, 1 A)."""
    found: dict[int, list] = {}
    for section in (message.an, message.ar):
        for record in section or []:
            found.setdefault(record.type, []).append(record)
    return found


def txt_entries(message: DNS) -> dict[str, str]:
    (txt,) = records(message)[16]
    return dict(entry.decode().split("=", 1) for entry in txt.rdata)


@pytest.fixture
def context(tmp_path: Path) -> ServiceContext:
    return ServiceContext(state_dir=tmp_path / "site" / "master", name="master")


async def with_announcement(context: ServiceContext, options: dict[str, object], body: Callable[[], Awaitable[T]]) -> T:
    running = await serve("127.0.0.1", [MDNS_PORT], Options(address="127.0.0.1", **options), context=context)  # type: ignore[arg-type]
    try:
        return await body()
    finally:
        await running.close()


def test_legacy_unicast_query_gets_the_ship_records(namespace: str, context: ServiceContext) -> None:
    # Given the SHIP announcement with its default certificate
    options = {"brand": "Acme", "model": "CC613", "register": True}
    # When a legacy unicast PTR query for _ship._tcp.local. comes from an ephemeral port
    answer = run_in_namespace(namespace, lambda: with_announcement(context, options, lambda: ask(ptr_query())))
    # Then zeroconf answers that port from 5353 with the query id echoed
    assert answer is not None
    data, source = answer
    assert source == ("127.0.0.1", MDNS_PORT)
    message = DNS(data)
    assert message.id == QUERY_ID and message.qr == 1
    by_type = records(message)
    assert [record.rdata for record in by_type[12]] == [b"CC-master._ship._tcp.local."]
    (service,) = by_type[33]
    assert (service.port, service.target) == (4711, b"cc-master.local.")
    assert [record.rdata for record in by_type[1]] == ["127.0.0.1"]
    # and the TXT record carries the SHIP keys, with the SKI of the lab certificate
    certificate = load_certificate(context.cert_dir / "master-ship.cert.pem")
    assert txt_entries(message) == {
        "txtvers": "1",
        "id": "ChargeCtl-CC-master",
        "path": "/ship/",
        "ski": subject_key_identifier(certificate).hex(),
        "register": "true",
        "brand": "Acme",
        "model": "CC613",
        "type": "EVSE",
    }


def test_ski_mismatch_advertises_a_wrong_ski(namespace: str, context: ServiceContext) -> None:
    # Given an announcement told to lie about its SKI, When it is queried
    answer = run_in_namespace(
        namespace, lambda: with_announcement(context, {"ski_mismatch": True}, lambda: ask(ptr_query()))
    )
    assert answer is not None
    advertised = txt_entries(DNS(answer[0]))["ski"]
    # Then the advertised SKI is 40 hex digits, the complement of the certificate's
    real = subject_key_identifier(load_certificate(context.cert_dir / "master-ship.cert.pem")).hex()
    assert len(advertised) == 40 and advertised != real
    assert bytes.fromhex(advertised) == bytes(byte ^ 0xFF for byte in bytes.fromhex(real))


def test_explicit_ski_option_is_advertised_normalised(namespace: str, context: ServiceContext) -> None:
    answer = run_in_namespace(
        namespace, lambda: with_announcement(context, {"ski": "AB-CD " + "0" * 36}, lambda: ask(ptr_query()))
    )
    assert answer is not None
    assert txt_entries(DNS(answer[0]))["ski"] == "abcd" + "0" * 36


def test_garbage_and_foreign_queries_get_no_reply_and_the_responder_survives(
    namespace: str, context: ServiceContext
) -> None:
    # Given the announcement
    async def body() -> list[object]:
        # When garbage and a query for another service type arrive, then the SHIP query
        return [
            await ask(b"\x00\x01garbage", wait=0.5),
            await ask(ptr_query(b"_http._tcp.local"), wait=0.5),
            await ask(ptr_query()),
        ]

    garbage, foreign, ship = run_in_namespace(namespace, lambda: with_announcement(context, {}, body))
    # Then neither of the first two is answered, and the SHIP query still is
    assert garbage is None and foreign is None
    assert ship is not None


async def test_only_port_5353_is_accepted(context: ServiceContext) -> None:
    from porthole.errors import LabError

    with pytest.raises(LabError, match="5353"):
        await serve("127.0.0.1", [0], Options(address="127.0.0.1"), context=context)
