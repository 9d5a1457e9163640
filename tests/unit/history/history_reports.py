"""Small report dicts in the shape ``--format json`` writes, for the history tests."""

from __future__ import annotations

from typing import Any


def port(number: int, state: str = "open", *, service: str = "http", summary: str | None = None, evidence: dict | None = None) -> dict[str, Any]:
    return {"port": number, "protocol": "tcp", "state": state, "reason": "syn-ack", "service": service, "summary": summary, "evidence": evidence or {}}


def tls_evidence(leaf_sha256: str) -> dict[str, Any]:
    return {"tls": {"tls": True, "certificates": [{"position": 0, "sha256": leaf_sha256}, {"position": 1, "sha256": "ca" * 32}]}}


def ssh_evidence(line: str, kex: list[str]) -> dict[str, Any]:
    return {"ssh": {"identification": {"line": line}, "kexinit": {"kex_algorithms": kex, "server_host_key_algorithms": ["ssh-ed25519"], "solicited": False}}}


def finding(identifier: str, severity: str = "high", port_number: int | None = None) -> dict[str, Any]:
    return {"id": identifier, "severity": severity, "title": identifier.replace("-", " "), "detail": "", "port": port_number, "protocol": "tcp" if port_number else None}


def host(address: str, *ports: dict[str, Any], status: str = "up", findings: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    return {"address": address, "status": status, "ports": list(ports), "findings": list(findings)}


def report(*hosts: dict[str, Any], started_at: str = "2025-01-01T00:00:00Z", interrupted: bool = False, duration_s: float = 2.5) -> dict[str, Any]:
    return {
        "schema_version": "1", "command": "porthole audit 198.18.0.0/24", "started_at": started_at, "finished_at": "2025-01-01T00:00:02.500Z",
        "duration_s": duration_s, "interrupted": interrupted, "hosts": list(hosts), "summary": {}, "errors": [],
    }
