"""Pure judgement of SSH evidence: findings from facts, no I/O.

    telnet-open          the port answered with Telnet negotiation instead of SSH
    ssh-open             any SSH identification line (the checklist says "SSH access: Off")
    ssh-weak-algorithm   one per port: every offered algorithm the grading table marks
                         fail or warn, with its reasons; high if any fails, else medium
    ssh-auth-none        the server accepted user authentication "none"
    ssh-password-auth    the server offers "password" or "keyboard-interactive"

The algorithm verdicts come from ``porthole/grading/tables/ssh_algorithms.toml``;
this module only joins the KEXINIT lists with that table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from porthole.findings import finding
from porthole.grading.tables import GradingTable, Row, Verdict, load_table
from porthole.model import Finding, PortObservation, Severity

__all__ = ["assess", "weak_algorithms", "WeakAlgorithm", "KIND_LISTS", "PASSWORD_METHODS"]

#: which KEXINIT lists hold each kind of algorithm (both directions where there are two)
KIND_LISTS: Mapping[str, tuple[str, ...]] = {
    "kex": ("kex_algorithms",),
    "hostkey": ("server_host_key_algorithms",),
    "cipher": ("encryption_algorithms_client_to_server", "encryption_algorithms_server_to_client"),
    "mac": ("mac_algorithms_client_to_server", "mac_algorithms_server_to_client"),
    "compression": ("compression_algorithms_client_to_server", "compression_algorithms_server_to_client"),
}

#: methods that take a password typed by a person (RFC 4252 §8, RFC 4256)
PASSWORD_METHODS = ("password", "keyboard-interactive")

_TABLE = "ssh_algorithms"
_SEVERITY = {Verdict.FAIL: Severity.HIGH, Verdict.WARN: Severity.MEDIUM}

#: how the vendor's port table describes the forwarders (controller-security-settings-and-ports.txt)
_PORT_ROLE = {
    23: "port 23 forwards to the master controller's SSH (on a master, to its own)",
    24: "port 24 forwards to the slave controller's SSH (on a slave, to its own)",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class WeakAlgorithm:
    kind: str
    name: str
    row: Row


def assess(evidence: Mapping[str, Any], observation: PortObservation) -> list[Finding]:
    port, protocol = observation.port, observation.protocol
    if evidence.get("protocol") == "telnet":
        options = list(evidence.get("telnet_options") or [])
        return [
            finding(
                "telnet-open",
                detail=f"{port}/{protocol.value} answers with Telnet option negotiation, not SSH: a clear-text remote login.",
                port=port,
                protocol=protocol,
                evidence=[f"Telnet negotiation: {', '.join(options) or '(IAC bytes)'}"],
            )
        ]
    identification = evidence.get("identification")
    if not identification:
        return []
    findings = [_ssh_open(identification, observation)]
    table = load_table(_TABLE)
    weak = weak_algorithms(evidence.get("kexinit"), table)
    if weak:
        findings.append(_weak_algorithms(weak, table, observation))
    auth = evidence.get("auth") or {}
    methods = tuple(auth.get("methods") or ())
    method_line = f"methods offered to user {auth.get('username')!r} after a refused \"none\" request: {', '.join(methods)}"
    if auth.get("none_accepted"):
        findings.append(
            finding(
                "ssh-auth-none",
                detail=f"{port}/{protocol.value} accepted user authentication \"none\": anyone who connects is logged in without a credential.",
                port=port,
                protocol=protocol,
                evidence=[f"\"none\" authentication accepted for user {auth.get('username')!r}"],
            )
        )
    offered = [method for method in PASSWORD_METHODS if method in methods]
    if offered:
        findings.append(
            finding(
                "ssh-password-auth",
                detail=f"{port}/{protocol.value} accepts password logins ({', '.join(offered)}): open to password guessing and to default manufacturer credentials.",
                port=port,
                protocol=protocol,
                evidence=[method_line],
            )
        )
    return findings


def weak_algorithms(kexinit: Mapping[str, Any] | None, table: GradingTable | None = None) -> list[WeakAlgorithm]:
    """Offered algorithms graded fail or warn, in the server's order, each once."""
    if not kexinit:
        return []
    table = table or load_table(_TABLE)
    weak: list[WeakAlgorithm] = []
    seen: set[tuple[str, str]] = set()
    for kind, list_names in KIND_LISTS.items():
        for list_name in list_names:
            for name in kexinit.get(list_name) or ():
                if (kind, name) in seen:
                    continue
                seen.add((kind, name))
                row = table.lookup(kind, name)
                if row is not None and row.verdict is not Verdict.OK:
                    weak.append(WeakAlgorithm(kind=kind, name=name, row=row))
    return weak


def _ssh_open(identification: Mapping[str, Any], observation: PortObservation) -> Finding:
    port, protocol = observation.port, observation.protocol
    where = _PORT_ROLE.get(port)
    software = " ".join(part for part in (identification["software_version"], identification.get("comments")) if part)
    detail = f"An SSH server answers on {port}/{protocol.value}" + (f" ({where})" if where else "") + f": {software}."
    lines = [f"identification: {identification['line']}"]
    if identification.get("protocol_version") == "1.99":
        lines.append("protocol version 1.99: the server also accepts the obsolete SSH-1 protocol")
    return finding("ssh-open", detail=detail, port=port, protocol=protocol, evidence=lines)


def _weak_algorithms(weak: Sequence[WeakAlgorithm], table: GradingTable, observation: PortObservation) -> Finding:
    port, protocol = observation.port, observation.protocol
    worst = max((item.row.verdict for item in weak), key=lambda verdict: verdict.rank)
    failing = sum(1 for item in weak if item.row.verdict is Verdict.FAIL)
    counts = f"{failing} fail, {len(weak) - failing} warn"
    # One line per algorithm with its reason ids, then each reason's text once: the
    # same reason (say, no post-quantum component) often covers several algorithms.
    lines = [f"{item.kind} {item.name}: {item.row.verdict.value} ({', '.join(item.row.reasons)})" for item in weak]
    reasons = dict.fromkeys(reason for item in weak for reason in item.row.reasons)
    lines.extend(f"{reason}: {table.reasons[reason].text}" for reason in reasons)
    return finding(
        "ssh-weak-algorithm",
        detail=f"{port}/{protocol.value} offers {len(weak)} weak SSH algorithm{'s' if len(weak) != 1 else ''} ({counts}): {', '.join(item.name for item in weak)}.",
        port=port,
        protocol=protocol,
        evidence=lines,
        severity=_SEVERITY[worst],
        source=f"porthole/grading/tables/{_TABLE}.toml@{table.meta.version}",
    )
