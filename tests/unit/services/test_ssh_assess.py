"""SSH findings from hand-built evidence: which ids fire, at which severity, on what evidence."""

from __future__ import annotations

from typing import Any

import pytest

from porthole.findings import finding_table
from porthole.model import PortObservation, PortState, Protocol, Reason, Severity
from porthole.report.encode import to_jsonable
from porthole.services.ssh.assess import assess, weak_algorithms
from porthole.codecs.ssh import Identification
from porthole.services.ssh.evidence import SshAlgorithms, SshAuthMethods, SshEvidence


def observation(port: int = 22) -> PortObservation:
    return PortObservation(port=port, protocol=Protocol.TCP, state=PortState.OPEN, reason=Reason.SYN_ACK, service="ssh")


def algorithms(**overrides: Any) -> SshAlgorithms:
    lists: dict[str, Any] = dict(
        kex_algorithms=("mlkem768x25519-sha256", "sntrup761x25519-sha512@openssh.com", "kex-strict-s-v00@openssh.com"),
        server_host_key_algorithms=("ssh-ed25519",),
        encryption_algorithms_client_to_server=("aes256-gcm@openssh.com",),
        encryption_algorithms_server_to_client=("aes256-gcm@openssh.com",),
        mac_algorithms_client_to_server=("hmac-sha2-256-etm@openssh.com",),
        mac_algorithms_server_to_client=("hmac-sha2-256-etm@openssh.com",),
        compression_algorithms_client_to_server=("none",),
        compression_algorithms_server_to_client=("none",),
        languages_client_to_server=(),
        languages_server_to_client=(),
        first_kex_packet_follows=False,
        solicited=False,
    )
    lists.update(overrides)
    return SshAlgorithms(**lists)


def evidence(*, kexinit: SshAlgorithms | None = None, methods: tuple[str, ...] | None = ("publickey",), none_accepted: bool = False, software: str = "OpenSSH_9.9") -> dict[str, Any]:
    return to_jsonable(
        SshEvidence(
            protocol="ssh",
            identification=Identification(line=f"SSH-2.0-{software}", protocol_version="2.0", software_version=software, comments=None, line_ending="crlf"),
            kexinit=kexinit,
            auth=SshAuthMethods(username="porthole-probe", methods=methods, none_accepted=none_accepted),
        )
    )


def ids(findings) -> list[str]:
    return [item.id for item in findings]


def test_a_modern_server_raises_only_ssh_open() -> None:
    # Given a post-quantum kex, ed25519, AEAD, publickey only
    findings = assess(evidence(kexinit=algorithms()), observation())
    # Then SSH being reachable is the only finding, with the identification as evidence
    assert ids(findings) == ["ssh-open"]
    assert findings[0].severity is Severity.HIGH and findings[0].setting == "SSH access: Off"
    assert findings[0].evidence == ("identification: SSH-2.0-OpenSSH_9.9",)


@pytest.mark.parametrize(("port", "words"), [(23, "master controller's SSH"), (24, "slave controller's SSH")])
def test_ssh_on_a_forwarder_port_names_the_forwarding(port: int, words: str) -> None:
    [found] = assess(evidence(), observation(port))
    assert words in found.detail and found.port == port


def test_weak_algorithms_become_one_finding_with_one_line_each_and_reason_texts() -> None:
    # Given a server offering a failing kex, a failing host key, a CBC cipher (warn) in one direction only
    kexinit = algorithms(
        kex_algorithms=("curve25519-sha256", "diffie-hellman-group1-sha1"),
        server_host_key_algorithms=("ssh-ed25519", "ssh-rsa"),
        encryption_algorithms_server_to_client=("aes256-gcm@openssh.com", "aes128-cbc"),
    )
    # When assessed
    [weak] = [item for item in assess(evidence(kexinit=kexinit), observation()) if item.id == "ssh-weak-algorithm"]
    # Then the worst verdict (fail) makes it high, each algorithm has a line, each reason its text once
    assert weak.severity is Severity.HIGH
    assert weak.evidence[:4] == (
        "kex curve25519-sha256: warn (not-post-quantum)",
        "kex diffie-hellman-group1-sha1: fail (dh-1024-modulus, sha1-hash)",
        "hostkey ssh-rsa: fail (sha1-signature)",
        "cipher aes128-cbc: warn (cbc-mode)",
    )
    assert [line.split(":")[0] for line in weak.evidence[4:]] == ["not-post-quantum", "dh-1024-modulus", "sha1-hash", "sha1-signature", "cbc-mode"]
    assert "4 weak SSH algorithms (2 fail, 2 warn)" in weak.detail
    assert weak.source == "porthole/grading/tables/ssh_algorithms.toml@2026.1"


def test_warnings_only_make_the_finding_medium() -> None:
    kexinit = algorithms(mac_algorithms_client_to_server=("umac-64-etm@openssh.com",))
    [weak] = [item for item in assess(evidence(kexinit=kexinit), observation()) if item.id == "ssh-weak-algorithm"]
    assert weak.severity is Severity.MEDIUM


def test_an_algorithm_in_both_directions_is_listed_once() -> None:
    kexinit = algorithms(mac_algorithms_client_to_server=("hmac-sha1",), mac_algorithms_server_to_client=("hmac-sha1",))
    assert [(item.kind, item.name) for item in weak_algorithms(to_jsonable(kexinit))] == [("mac", "hmac-sha1")]


def test_none_as_a_cipher_fails_but_none_as_compression_does_not() -> None:
    # Given "none" in the cipher list and in the compression list
    kexinit = algorithms(encryption_algorithms_client_to_server=("none",), compression_algorithms_client_to_server=("none",))
    # Then only the cipher is weak: the table grades names per kind
    assert [(item.kind, item.name) for item in weak_algorithms(to_jsonable(kexinit))] == [("cipher", "none")]


def test_unknown_algorithm_names_are_not_flagged() -> None:
    kexinit = algorithms(kex_algorithms=("vendor-kex@example.com",))
    assert weak_algorithms(to_jsonable(kexinit)) == []


@pytest.mark.parametrize("methods", [("publickey", "password"), ("keyboard-interactive",)])
def test_password_methods_raise_ssh_password_auth(methods: tuple[str, ...]) -> None:
    findings = assess(evidence(methods=methods), observation())
    [password] = [item for item in findings if item.id == "ssh-password-auth"]
    assert password.evidence == (f"methods offered to user 'porthole-probe' after a refused \"none\" request: {', '.join(methods)}",)


def test_unknown_methods_raise_no_password_finding() -> None:
    assert ids(assess(evidence(methods=None), observation())) == ["ssh-open"]


def test_none_authentication_accepted_is_critical() -> None:
    findings = assess(evidence(methods=("none",), none_accepted=True), observation())
    assert ids(findings) == ["ssh-open", "ssh-auth-none"]
    assert findings[1].severity is Severity.CRITICAL


def test_ssh_1_99_is_noted_in_the_open_finding() -> None:
    data = evidence()
    data["identification"]["protocol_version"] = "1.99"
    [found] = assess(data, observation())
    assert "obsolete SSH-1" in found.evidence[1]


def test_telnet_evidence_raises_telnet_open_only() -> None:
    data = to_jsonable(SshEvidence(protocol="telnet", telnet_options=("WILL ECHO",)))
    [found] = assess(data, observation(23))
    assert found.id == "telnet-open" and found.severity is Severity.CRITICAL
    assert found.evidence == ("Telnet negotiation: WILL ECHO",)


def test_every_id_the_assessor_can_emit_is_documented() -> None:
    assert {"ssh-open", "ssh-weak-algorithm", "ssh-password-auth", "ssh-auth-none", "telnet-open"} <= set(finding_table())
