"""The EEBUS host assessor (SKI in mDNS TXT vs the certificate on the SHIP port), on hand-built evidence."""

from __future__ import annotations

from typing import Any

from porthole import services
from porthole.model import HostResult, PortObservation, PortState, Protocol, Reason
from porthole.services.eebus import assess_ski_match

CERTIFICATE_SKI = "a1" * 20
OTHER_SKI = "5e" * 20


def ship_instance(**overrides: Any) -> dict[str, Any]:
    instance = {"name": "CC-misconf._ship._tcp.local.", "host": "cc-misconf.local.", "port": 4711, "addresses": ["198.18.0.12"], "ski": CERTIFICATE_SKI, "ski_valid": True, "register": False}
    return {**instance, **overrides}


def eebus_evidence(ski: str | None = CERTIFICATE_SKI) -> dict[str, Any]:
    return {
        "handshake": "refused-without-client-certificate",
        "certificate": {"subject": "CN=misconf,O=porthole lab", "subject_key_identifier": ski, "sha256_fingerprint": "ab" * 32},
    }


def host(*instances: dict[str, Any], eebus: dict[str, Any] | None = None, eebus_port: int = 4711) -> HostResult:
    ports = [PortObservation(port=5353, protocol=Protocol.UDP, state=PortState.OPEN, reason=Reason.REPLY, service="mdns", evidence={"mdns": {"ship_instances": list(instances)}})]
    if eebus is not None:
        ports.append(PortObservation(port=eebus_port, protocol=Protocol.TCP, state=PortState.OPEN, reason=Reason.SYN_ACK, service="eebus-ship", evidence={"eebus": eebus}))
    return HostResult(address="198.18.0.12", ports=tuple(ports))


def test_matching_ski_raises_nothing() -> None:
    assert assess_ski_match(host(ship_instance(), eebus=eebus_evidence())) == []


def test_mismatching_ski_is_a_finding_on_the_ship_port_with_both_values() -> None:
    # Given mDNS advertising another SKI than the certificate's
    (finding,) = assess_ski_match(host(ship_instance(ski=OTHER_SKI), eebus=eebus_evidence()))
    # Then the finding sits on 4711/tcp and shows both values and the certificate
    assert (finding.id, finding.port, finding.protocol) == ("eebus-ski-mismatch", 4711, Protocol.TCP)
    assert finding.evidence == (
        f"mDNS 5353/udp: instance 'CC-misconf._ship._tcp.local.' advertises ski={OTHER_SKI}",
        f"4711/tcp certificate CN=misconf,O=porthole lab: SubjectKeyIdentifier {CERTIFICATE_SKI}",
        f"4711/tcp certificate SHA-256 {'ab' * 32}",
    )


def test_certificate_without_ski_extension_is_a_mismatch_saying_so() -> None:
    (finding,) = assess_ski_match(host(ship_instance(), eebus=eebus_evidence(ski=None)))
    assert "absent (SHIP peers reject such a certificate)" in finding.evidence[1]


def test_srv_port_decides_which_certificate_is_compared() -> None:
    # Given SHIP announced on 4712 while only 4711 was probed: nothing to compare
    assert assess_ski_match(host(ship_instance(port=4712, ski=OTHER_SKI), eebus=eebus_evidence())) == []
    # and with the certificate seen on 4712, the comparison happens there
    (finding,) = assess_ski_match(host(ship_instance(port=4712, ski=OTHER_SKI), eebus=eebus_evidence(), eebus_port=4712))
    assert finding.port == 4712


def test_instance_without_srv_is_compared_with_the_default_ship_port() -> None:
    (finding,) = assess_ski_match(host(ship_instance(port=None, addresses=[], ski=OTHER_SKI), eebus=eebus_evidence()))
    assert finding.port == 4711


def test_instance_announced_for_another_host_is_not_compared() -> None:
    # Given an mDNS proxy announcing a node at another address
    assert assess_ski_match(host(ship_instance(addresses=["198.18.0.99"], ski=OTHER_SKI), eebus=eebus_evidence())) == []


def test_invalid_or_missing_ski_and_missing_certificate_raise_nothing() -> None:
    assert assess_ski_match(host(ship_instance(ski="xyz", ski_valid=False), eebus=eebus_evidence())) == []
    assert assess_ski_match(host(ship_instance(ski=None, ski_valid=False), eebus=eebus_evidence())) == []
    assert assess_ski_match(host(ship_instance(ski=OTHER_SKI))) == []
    assert assess_ski_match(host(ship_instance(ski=OTHER_SKI), eebus={"handshake": "failed", "certificate": None})) == []


def test_the_assessor_is_registered_and_runs_in_assess_host() -> None:
    # Given the host of the misconfigured lab controller: TLS without client auth, wrong SKI, register=true
    evidence = {**eebus_evidence(), "handshake": "completed", "certificate_requested": False, "negotiated_version": "TLSv1.2", "negotiated_cipher_suite": "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"}
    result = host(ship_instance(ski=OTHER_SKI, register=True, register_raw="true"), eebus=evidence)
    # When every registered assessor runs
    findings = services.assess_host(result)
    # Then all three EEBUS findings are there
    assert sorted(finding.id for finding in findings) == ["eebus-auto-accept", "eebus-no-client-auth", "eebus-ski-mismatch"]
