"""The TLS probe against real OpenSSL servers (lab.services.tls) and scripted peers on loopback.

Real servers give the exact accepted sets of a configuration; scripted servers answer
what Debian's OpenSSL 3 no longer serves (3DES, RC4, export) and behave badly on purpose
(garbage, silence, truncation, absurd lengths, wrong versions, alerts everywhere).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from scapy.layers.tls.record import TLS

from lab.certs import CertificateKey, ensure_certificate
from lab.services._common import ServiceContext
from lab.services.tls import Options, TlsVersion, serve
from porthole.catalog import select_ports
from porthole.engine import DiscoveryMode, ScanConfig, Scanner, TimingPolicy
from porthole.errors import ErrorReason
from porthole.services.banner import BannerProbe
from porthole.model import PortObservation, PortState, ProbeStatus, Protocol, Reason
from porthole.services.base import ProbeContext, ProbeFailure, ProbeLimits
from porthole.services.tls import TlsProbe
from porthole.services.tls.probe import MAX_SHORT_HELLO
from porthole.targets import Target

PROBE = TlsProbe()
FAST = ProbeLimits(first_byte=0.5, between_chunks=0.3)

MISCONF_WEB = Options(
    versions=(TlsVersion.TLS_1_0, TlsVersion.TLS_1_1, TlsVersion.TLS_1_2), ciphers="AES128-SHA:@SECLEVEL=0",
    cert="misconf-web", cert_key=CertificateKey.RSA1024, expired=True,
)
MASTER_WEB = Options(versions=(TlsVersion.TLS_1_2, TlsVersion.TLS_1_3), ciphers="ECDHE+AESGCM:ECDHE+CHACHA20", cert="master-web", self_signed=False)
MASTER_DLM = Options(require_client_cert=True, ciphers="ECDHE+AESGCM", cert="master-dlm", self_signed=False)
MISCONF_DLM = Options(cert="misconf-dlm")
TLS13_ONLY_MUTUAL = Options(versions=(TlsVersion.TLS_1_3,), require_client_cert=True, cert="t13")

#: OpenSSL 3.0 DEFAULT suites an RSA-certificate server accepts without DH parameters
OPENSSL_DEFAULT_RSA_TLS12 = {0xC030, 0xCCA8, 0xC02F, 0xC028, 0xC027, 0xC014, 0xC013, 0x009D, 0x009C, 0x003D, 0x003C, 0x0035, 0x002F}
TLS13_DEFAULT = {0x1301, 0x1302, 0x1303}


def context_for(port: int, *, service: str = "https", limits: ProbeLimits = ProbeLimits(), hostname: str | None = None) -> ProbeContext:
    observation = PortObservation(port=port, protocol=Protocol.TCP, state=PortState.OPEN, reason=Reason.SYN_ACK, service=service)
    target = Target(address=ipaddress.ip_address("127.0.0.1"), spec="127.0.0.1", hostname=hostname)
    return ProbeContext(target=target, observation=observation, limits=limits)


@asynccontextmanager
async def lab_server(tmp_path: Path, options: Options) -> AsyncIterator[int]:
    running = await serve("127.0.0.1", [0], options, context=ServiceContext(state_dir=tmp_path / "state" / "unit", name="unit"))
    try:
        yield running.ports[0]
    finally:
        await running.close()


@asynccontextmanager
async def openssl_server(tmp_path: Path, *options: str) -> AsyncIterator[int]:
    """``openssl s_server -www`` with ``options`` on a free loopback port (for what Python's ssl cannot set, e.g. -groups)."""
    paths = ensure_certificate(tmp_path / "certs", "s-server", common_name="s-server")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        ["openssl", "s_server", "-www", "-quiet", "-accept", f"127.0.0.1:{port}", "-cert", str(paths.certificate), "-key", str(paths.private_key), *options],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            break
        yield port
    finally:
        server.terminate()
        server.wait(timeout=5)


def accepted(evidence: dict) -> dict[str, set[int]]:
    return {version["version"]: {suite["code"] for suite in version["suites"]} for version in evidence["versions"] if version["accepted"]}


def finding_ids(evidence: dict, service: str = "https") -> set[str]:
    observation = PortObservation(port=443, protocol=Protocol.TCP, state=PortState.OPEN, reason=Reason.SYN_ACK, service=service)
    return {finding.id for finding in PROBE.assess(evidence, observation)}


# --------------------------------------------------------------------------- real OpenSSL


async def test_weak_legacy_server_accepts_exactly_aes128_sha_on_tls10_to_12(tmp_path: Path) -> None:
    # Given the misconfigured controller's web server (TLS 1.0-1.2, AES128-SHA, RSA-1024, expired)
    async with lab_server(tmp_path, MISCONF_WEB) as port:
        # When porthole enumerates it
        evidence = await PROBE.run(context_for(port))
    # Then exactly that is accepted, and nothing of TLS 1.3 or SSLv3
    assert evidence["tls"] and evidence["complete"]
    assert accepted(evidence) == {"TLSv1.2": {0x002F}, "TLSv1.1": {0x002F}, "TLSv1.0": {0x002F}}
    refusals = {version["version"]: version["refusal"] for version in evidence["versions"] if not version["accepted"]}
    assert refusals == {"TLSv1.3": "alert protocol_version", "SSLv3": "alert handshake_failure"}
    leaf = evidence["certificates"][0]
    assert (leaf["key_type"], leaf["key_bits"], leaf["self_signed"], leaf["signature_hash"]) == ("rsa", 1024, True, "sha256")
    assert evidence["client_certificate"] == "not-requested" and evidence["groups"] == []
    # And the findings name every weakness, graded by the tables
    assert finding_ids(evidence) == {"tls-legacy-version", "tls-no-forward-secrecy", "tls-self-signed-cert", "tls-expired-cert", "tls-weak-key"}
    # And OpenSSL refuses a TLS 1.1 hello carrying TLS_FALLBACK_SCSV (so no downgrade finding)
    assert evidence["fallback_scsv"] == "honoured"
    # far fewer handshakes than one per suite and version (350 suites x 5 versions)
    assert evidence["handshakes"] < 25


async def test_hardened_server_accepts_only_ecdhe_aead_and_raises_no_finding(tmp_path: Path) -> None:
    async with lab_server(tmp_path, MASTER_WEB) as port:
        evidence = await PROBE.run(context_for(port))
    assert accepted(evidence) == {"TLSv1.3": TLS13_DEFAULT, "TLSv1.2": {0xC02F, 0xC030, 0xCCA8}}
    assert all(version["server_preference"] for version in evidence["versions"] if version["accepted"])
    assert [group["name"] for group in evidence["groups"]][:2] == ["x25519", "secp256r1"]
    assert evidence["groups_source"] == "tls1.3-hello-retry"
    # leaf then the lab CA that signed it, in order
    leaf, ca = evidence["certificates"]
    assert (leaf["self_signed"], leaf["issued_by_next"], ca["self_signed"], ca["is_ca"]) == (False, True, True, True)
    assert finding_ids(evidence) == set()
    assert PROBE.summarise(evidence).startswith("TLSv1.3, TLSv1.2; 6 suites; grade A; Mozilla intermediate; CN=unit,O=porthole lab RSA-2048")
    # And OpenSSL's TLS 1.2 ServerHello carries the TLS 1.3 downgrade sentinel
    assert evidence["downgrade_sentinel"] is True and evidence["fallback_scsv"] is None


async def test_a_tls12_only_server_has_its_ecdhe_curves_read_from_server_key_exchange(tmp_path: Path) -> None:
    # Given an OpenSSL server speaking TLS 1.2 only, ECDHE with AES-GCM
    options = Options(versions=(TlsVersion.TLS_1_2,), ciphers="ECDHE+AESGCM", cert="t12")
    async with lab_server(tmp_path, options) as port:
        evidence = await PROBE.run(context_for(port))
    # Then its curves come from the ServerKeyExchange of ECDHE offers, labelled so
    assert accepted(evidence) == {"TLSv1.2": {0xC02F, 0xC030}}
    assert evidence["groups_source"] == "tls1.2-server-key-exchange"
    assert [group["name"] for group in evidence["groups"]][:2] == ["x25519", "secp256r1"]


async def test_tls13_suites_and_groups_are_found_exactly_in_shared_rounds(tmp_path: Path) -> None:
    # Given an OpenSSL server speaking TLS 1.3 only, with 2 suites and 3 groups, choosing by the client's order
    options = ("-tls1_3", "-ciphersuites", "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256", "-groups", "X25519:secp384r1:ffdhe3072")
    async with openssl_server(tmp_path, *options) as port:
        evidence = await PROBE.run(context_for(port))
    # Then exactly those suites and groups are reported
    assert accepted(evidence) == {"TLSv1.3": {0x1302, 0x1303}}
    assert {group["name"] for group in evidence["groups"]} == {"x25519", "secp384r1", "ffdhe3072"}
    assert evidence["groups_source"] == "tls1.3-hello-retry"
    tls13 = next(v for v in evidence["versions"] if v["version"] == "TLSv1.3")
    assert tls13["server_preference"] is False and tls13["complete"]
    # And each round found a suite and a group at once: 2 shared rounds + 1 refused, 1 more
    # group + 1 refused, 1 reversed-pair hello; plus 1 first contact, TLS 1.1 and 1.0 one
    # each, SSLv3 two (its hellos cannot be padded, so they stay short), 1 stdlib handshake
    # for the certificate: 12, where suites and groups apart would cost 15
    assert evidence["handshakes"] == 12


async def test_server_order_is_read_from_the_rounds_without_an_extra_hello(tmp_path: Path) -> None:
    # Given the same server, now enforcing its own order (CHACHA20 before AES-256)
    options = (
        "-tls1_3", "-serverpref", "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384", "-groups", "X25519:secp384r1:ffdhe3072",
    )
    async with openssl_server(tmp_path, *options) as port:
        evidence = await PROBE.run(context_for(port))
    tls13 = next(v for v in evidence["versions"] if v["version"] == "TLSv1.3")
    # Then its picks (CHACHA20 first, though AES-256 stood earlier in the offer) prove it
    assert [suite["code"] for suite in tls13["suites"]] == [0x1303, 0x1302] and tls13["server_preference"] is True
    assert evidence["handshakes"] == 11  # one fewer: no reversed-pair hello


async def test_server_requiring_client_certificates_is_seen_as_requiring_them(tmp_path: Path) -> None:
    async with lab_server(tmp_path, MASTER_DLM) as port:
        evidence = await PROBE.run(context_for(port, service="ocpp-dlm"))
    assert evidence["client_certificate"] == "required"
    assert accepted(evidence) == {"TLSv1.3": TLS13_DEFAULT, "TLSv1.2": {0xC02F, 0xC030}}
    assert finding_ids(evidence, service="ocpp-dlm") == set()


async def test_dlm_port_without_client_certificates_is_a_finding(tmp_path: Path) -> None:
    async with lab_server(tmp_path, MISCONF_DLM) as port:
        evidence = await PROBE.run(context_for(port, service="ocpp-dlm"))
    assert evidence["client_certificate"] == "not-requested"
    assert accepted(evidence) == {"TLSv1.3": TLS13_DEFAULT, "TLSv1.2": OPENSSL_DEFAULT_RSA_TLS12}
    assert finding_ids(evidence, service="ocpp-dlm") == {"tls-no-forward-secrecy", "tls-self-signed-cert", "tls-client-cert-not-required"}


async def test_tls13_only_server_gets_its_certificate_from_one_stdlib_handshake(tmp_path: Path) -> None:
    async with lab_server(tmp_path, TLS13_ONLY_MUTUAL) as port:
        evidence = await PROBE.run(context_for(port, service="ocpp-dlm"))
    assert accepted(evidence) == {"TLSv1.3": TLS13_DEFAULT}
    assert evidence["certificate_source"] == "stdlib-handshake" and len(evidence["certificates"]) == 1
    assert evidence["client_certificate"] == "required"


async def test_no_hello_has_the_length_the_f5_bug_hangs_on(tmp_path: Path) -> None:
    # Given a recording server that answers nothing useful but keeps every hello
    hellos: list[bytes] = []

    async def record(hello: bytes) -> bytes:
        hellos.append(hello)
        return alert(40)

    async with scripted_server(record) as port:
        await PROBE.run(context_for(port, hostname="charger-17.depot.example"))
    # Then no ClientHello message is 256-511 bytes long (RFC 7685 padding takes it past)
    assert hellos and all(TLS(hello).type == 22 for hello in hellos)
    lengths = [len(hello) - 5 for hello in hellos]
    assert not [length for length in lengths if 256 <= length < 512], lengths
    # And the TLS 1.2 offer is one long hello with every candidate suite, not chunks
    assert max(len(offered(hello)[1]) for hello in hellos) > 300


async def test_a_server_refusing_long_hellos_is_enumerated_with_short_ones() -> None:
    # Given a legacy server whose stack drops any record longer than 255 bytes
    inner = legacy_server([0x0005, 0x000A, 0xC013], {0x0301, 0x0302, 0x0303})
    sizes: list[int] = []

    async def answer(hello: bytes) -> bytes | None:
        sizes.append(len(hello))
        return None if len(hello) > MAX_SHORT_HELLO else await inner(hello)

    async with scripted_server(answer) as port:
        evidence = await PROBE.run(context_for(port))
    # Then it is still enumerated exactly, every offer after the first long one short
    assert evidence["short_hellos"] is True
    assert accepted(evidence)["TLSv1.2"] == {0x0005, 0x000A, 0xC013}
    assert accepted(evidence)["TLSv1.0"] == {0x0005, 0x000A, 0xC013}
    assert sizes[0] > MAX_SHORT_HELLO and max(sizes[1:]) <= MAX_SHORT_HELLO
    assert any("cut to hellos of at most 255 bytes" in note for note in evidence["notes"])


# --------------------------------------------------------------------------- scripted peers

Answer = Callable[[bytes], Awaitable[bytes | None]]


@asynccontextmanager
async def scripted_server(answer: Answer, *, close_after: bool = True) -> AsyncIterator[int]:
    """A TCP server that reads one hello per connection and sends ``answer(hello)``."""
    tasks: set[asyncio.Task] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tasks.add(asyncio.current_task())
        try:
            head = await reader.readexactly(5)
            hello = head + await reader.readexactly(int.from_bytes(head[3:5], "big"))
            reply = await answer(hello)
            if reply:
                writer.write(reply)
                await writer.drain()
            if close_after:
                writer.close()
            else:
                await reader.read()  # hold until the client leaves
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await server.wait_closed()


def offered(hello: bytes) -> tuple[int, list[int], list[int]]:
    """client_version, suites and supported_versions of a hello, read with scapy (an independent parser)."""
    client_hello = TLS(hello).msg[0]
    versions = next((list(extension.versions) for extension in client_hello.ext or [] if extension.type == 0x2B), [])
    return client_hello.version, list(client_hello.ciphers), versions


def record(content_type: int, payload: bytes, version: int = 0x0303) -> bytes:
    return bytes([content_type]) + version.to_bytes(2, "big") + len(payload).to_bytes(2, "big") + payload


def handshake(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + len(body).to_bytes(3, "big") + body


def server_hello(version: int, suite: int, *, compression: int = 0) -> bytes:
    return handshake(2, version.to_bytes(2, "big") + bytes(range(32)) + b"\x00" + suite.to_bytes(2, "big") + bytes([compression]))


def alert(description: int, version: int = 0x0303) -> bytes:
    return record(21, bytes([2, description]), version)


def legacy_server(accepts: list[int], versions: set[int], *, compression: int = 0) -> Answer:
    """A TLS <= 1.2 server choosing by its own order among ``accepts``: what OpenSSL 3 cannot serve."""

    async def answer(hello: bytes) -> bytes:
        client_version, suites, supported = offered(hello)
        if supported or client_version not in versions:
            return alert(70, client_version if client_version in versions else 0x0303)
        choice = next((suite for suite in accepts if suite in suites), None)
        if choice is None:
            return alert(40, client_version)
        return record(22, server_hello(client_version, choice, compression=compression) + handshake(14, b""), client_version)

    return answer


async def test_scripted_3des_rc4_export_server_is_enumerated_exactly() -> None:
    # Given a server that still speaks 3DES, RC4 and export suites on TLS 1.0-1.2
    answer = legacy_server([0x0005, 0x000A, 0x0003], {0x0301, 0x0302, 0x0303})
    async with scripted_server(answer) as port:
        evidence = await PROBE.run(context_for(port))
    # Then every one of them is found on every version, in the server's order
    for version in ("TLSv1.0", "TLSv1.1", "TLSv1.2"):
        result = next(v for v in evidence["versions"] if v["version"] == version)
        assert {suite["code"] for suite in result["suites"]} == {0x0005, 0x000A, 0x0003} and result["server_preference"] is True
    assert finding_ids(evidence) >= {"tls-weak-cipher", "tls-legacy-version", "tls-no-forward-secrecy"}
    # And it ignores TLS_FALLBACK_SCSV, as such old stacks do
    assert evidence["fallback_scsv"] == "ignored" and "tls-no-downgrade-protection" in finding_ids(evidence)
    weak = next(f for f in PROBE.assess(evidence, context_for(port).observation) if f.id == "tls-weak-cipher")
    assert weak.severity.value == "critical"  # export suites
    assert any("TLS_RSA_WITH_3DES_EDE_CBC_SHA (0x000a): 64-bit-block" in line for line in weak.evidence)


async def test_client_order_server_is_reported_as_following_the_client() -> None:
    async def answer(hello: bytes) -> bytes:
        client_version, suites, supported = offered(hello)
        if supported or client_version != 0x0303:
            return alert(70)
        choice = next((suite for suite in suites if suite in (0xC02F, 0xC030)), None)
        return alert(40) if choice is None else record(22, server_hello(0x0303, choice) + handshake(14, b""))

    async with scripted_server(answer) as port:
        evidence = await PROBE.run(context_for(port))
    tls12 = next(v for v in evidence["versions"] if v["version"] == "TLSv1.2")
    assert {suite["code"] for suite in tls12["suites"]} == {0xC02F, 0xC030} and tls12["server_preference"] is False


async def test_compression_accepted_is_recorded_and_a_finding() -> None:
    async with scripted_server(legacy_server([0xC02F], {0x0303}, compression=1)) as port:
        evidence = await PROBE.run(context_for(port))
    assert evidence["compression"] == ["DEFLATE"]
    assert "tls-compression" in finding_ids(evidence)


async def test_port_answering_http_is_not_tls() -> None:
    async def answer(_: bytes) -> bytes:
        return b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"

    async with scripted_server(answer) as port:
        evidence = await PROBE.run(context_for(port, service="ocpp-s"))
    assert evidence["tls"] is False and evidence["handshakes"] == 1
    assert "not a TLS record: content type 0x48" in evidence["notes"][0]
    assert PROBE.summarise(evidence) is None and finding_ids(evidence) == set()


async def test_server_that_never_answers_fails_with_a_timeout_not_a_hang() -> None:
    hellos: list[bytes] = []

    async def silent(hello: bytes) -> None:
        hellos.append(hello)
        await asyncio.sleep(3600)

    async with scripted_server(silent) as port:
        with pytest.raises(ProbeFailure) as failure:
            await PROBE.run(context_for(port, limits=FAST))
    assert failure.value.reason == ErrorReason.TIMEOUT.value
    # one hello, one wait: silence earns no second try with a short hello
    assert len(hellos) == 1


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (b"\x16\x03\x03\x00\x50" + bytes(10), "connection closed inside a record (15 bytes pending)"),
        (b"\x16\x03\x03\xff\xff", "record length 65535 exceeds"),
        (record(22, handshake(2, b"\x02\x00" + bytes(38))), "ServerHello version 0x0200 is not SSLv3/TLS"),
        (record(23, b"application data first"), "OpaqueRecord before any ServerHello"),
        (record(22, handshake(11, b"\x00\x00\x00")), "handshake message type 11 before the ServerHello"),
    ],
)
async def test_hostile_first_answers_end_as_not_tls_with_the_reason(reply: bytes, reason: str) -> None:
    async def answer(_: bytes) -> bytes:
        return reply

    async with scripted_server(answer) as port:
        evidence = await PROBE.run(context_for(port, limits=FAST))
    assert evidence["tls"] is False and reason in evidence["notes"][0]


async def test_ten_megabytes_of_records_cost_at_most_the_read_limit() -> None:
    # Given a ServerHello followed by an endless stream of Certificate fragments
    async def flood(_: bytes) -> bytes:
        fragment = record(22, b"\x00" * 16000)
        # a Certificate message claiming 64 KiB: allowed by the codec, cut by the read limit
        return record(22, server_hello(0x0303, 0xC02F)) + record(22, b"\x0b" + (64 * 1024).to_bytes(3, "big")) + fragment * 650

    async with scripted_server(flood) as port:
        evidence = await PROBE.run(context_for(port, limits=ProbeLimits(first_byte=0.5, between_chunks=0.3, max_read=64 * 1024)))
    assert evidence["tls"] is False
    assert "more than 65536 bytes without completing the server flight" in evidence["notes"][0]


async def test_alerts_at_every_step_leave_every_version_refused_with_the_alert() -> None:
    async def internal_error(_: bytes) -> bytes:
        return alert(80)

    async with scripted_server(internal_error) as port:
        evidence = await PROBE.run(context_for(port))
    assert evidence["tls"] is True and accepted(evidence) == {}
    assert {version["refusal"] for version in evidence["versions"]} == {"alert internal_error"}
    assert PROBE.summarise(evidence) == "TLS: no version accepted" and finding_ids(evidence) == set()


async def test_alert_right_after_server_hello_still_counts_the_suite_as_accepted() -> None:
    async def answer(hello: bytes) -> bytes:
        client_version, suites, supported = offered(hello)
        if supported or client_version != 0x0303 or 0xC02F not in suites:
            return alert(70) if supported or client_version != 0x0303 else alert(40)
        return record(22, server_hello(0x0303, 0xC02F)) + alert(80)

    async with scripted_server(answer) as port:
        evidence = await PROBE.run(context_for(port))
    assert accepted(evidence) == {"TLSv1.2": {0xC02F}}


async def test_server_answering_with_another_version_refuses_the_offered_one() -> None:
    # Given a server that answers every hello with a TLS 1.0 ServerHello (it only knows 1.0)
    async def answer(hello: bytes) -> bytes:
        _, suites, _ = offered(hello)
        return record(22, server_hello(0x0301, 0x002F) + handshake(14, b""), 0x0301) if 0x002F in suites else alert(40, 0x0301)

    async with scripted_server(answer) as port:
        evidence = await PROBE.run(context_for(port))
    assert accepted(evidence) == {"TLSv1.0": {0x002F}}
    refusals = {version["version"]: version["refusal"] for version in evidence["versions"] if not version["accepted"]}
    assert refusals["TLSv1.2"] == refusals["TLSv1.1"] == refusals["SSLv3"] == "negotiated TLSv1.0"


async def test_server_choosing_a_suite_never_offered_is_recorded_not_trusted() -> None:
    async def answer(hello: bytes) -> bytes:
        client_version, _, supported = offered(hello)
        if supported or client_version != 0x0303:
            return alert(70)
        return record(22, server_hello(0x0303, 0xFEFE) + handshake(14, b""))

    async with scripted_server(answer) as port:
        evidence = await PROBE.run(context_for(port))
    tls12 = next(v for v in evidence["versions"] if v["version"] == "TLSv1.2")
    assert tls12["accepted"] is False and tls12["refusal"] == "chose a suite that was not offered"
    assert any("0xfefe, which was not offered" in note for note in evidence["notes"])


async def test_server_stalling_after_the_first_answers_ends_enumeration_as_incomplete() -> None:
    answered = 0

    async def answer(hello: bytes) -> bytes | None:
        nonlocal answered
        answered += 1
        if answered > 2:
            await asyncio.sleep(3600)
        return alert(40)

    async with scripted_server(answer) as port:
        evidence = await PROBE.run(context_for(port, limits=FAST))
    assert evidence["tls"] is True and evidence["complete"] is False
    assert any("no answer (enumeration of this version stopped)" in note for note in evidence["notes"])
    assert any("the server stopped answering (2 hellos in a row without a reply)" in note for note in evidence["notes"])


# --------------------------------------------------------------------------- uncatalogued ports


async def test_an_uncatalogued_silent_port_that_answers_tls_is_audited_as_tls(tmp_path: Path) -> None:
    # Given 127.0.0.92 with three uncatalogued ports: a TLS server (silent on connect, as
    # TLS servers are), a silent plain TCP service, and a service that speaks first
    address = "127.0.0.92"
    tls_server = await serve(address, [8443], MISCONF_WEB, context=ServiceContext(state_dir=tmp_path / "state" / "u", name="u"))
    hellos_to_the_talker: list[bytes] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(65536):  # takes the hello, says nothing, until the client leaves
            pass
        writer.close()

    async def talker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 device ready\r\n")
        await writer.drain()
        data = await reader.read(65536)
        if data:
            hellos_to_the_talker.append(data)
        writer.close()

    quiet = await asyncio.start_server(silent, address, 9000)
    chatty = await asyncio.start_server(talker, address, 9001)
    config = ScanConfig(
        ports=tuple(select_ports("+8443,+9000,+9001")),
        timing=TimingPolicy(initial_timeout=0.3, min_timeout=0.05, max_timeout=0.5),
        discovery=DiscoveryMode.NONE,
        per_host_rate=1000.0,
        fingerprint=True,
        probe_budget=15.0,
    )
    try:
        # When the host is audited with the banner and TLS probes
        outcome = await Scanner(config, probes=[BannerProbe(), TlsProbe()]).run([Target(address=ipaddress.ip_address(address), spec=address)], total=1)
    finally:
        await tls_server.close()
        for server in (quiet, chatty):
            server.close()
            await server.wait_closed()
    (host,) = outcome.hosts
    ports = {port.port: port for port in host.ports}
    # Then 8443 carries a full TLS enumeration, summarised as TLS
    tls = ports[8443].evidence["tls"]
    assert tls["tls"] is True and accepted(tls) == {"TLSv1.2": {0x002F}, "TLSv1.1": {0x002F}, "TLSv1.0": {0x002F}}
    assert ports[8443].summary.startswith("TLSv1.2, TLSv1.1, TLSv1.0; 3 suites")
    assert "tls-legacy-version" in finding_ids(tls)
    # And the silent plain port got one hello, no answer, recorded as "not TLS", not as an error
    quiet_tls = ports[9000].evidence["tls"]
    assert quiet_tls["tls"] is False and quiet_tls["handshakes"] == 1 and "does not speak TLS" in quiet_tls["notes"][0]
    assert ports[9000].summary == "silent on connect"  # the banner's summary (TLS adds none)
    assert all(probe.status is ProbeStatus.COMPLETED for probe in host.probes)
    # And the port that spoke first was never sent a hello
    assert "tls" not in ports[9001].evidence and hellos_to_the_talker == []
