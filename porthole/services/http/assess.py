"""Judging HTTP evidence: pure functions from the ``http`` evidence object to findings.

Findings (documented in ``catalog/findings.toml``; protocols.md §12):

=====================  ========  ==============================================================
id                     severity  fires when
=====================  ========  ==============================================================
``http-no-redirect``   medium    a plain-HTTP port (80/81/82) answers ``GET /`` with anything
                                 but a redirect to an ``https://`` URL
``http-plain-login``   high      a plain-HTTP port serves a login: a ``Basic`` challenge
                                 (credentials cross the network in base64) or a page with a
                                 password input, on ``/`` or ``/legacy/``
``http-legacy-ui``     medium    the legacy configuration interface (Web UI 1.0) is served on
                                 ``/`` or reachable under ``/legacy/`` (any scheme)
``https-no-hsts``      info      an HTTPS port answers without ``Strict-Transport-Security``
=====================  ========  ==============================================================

A port that answered nothing (``silence``) gives no finding: a forwarder without
its peer is not a web server serving anything.

Must not: do I/O, or judge TLS versions and certificates (the TLS probe does).
"""

from __future__ import annotations

from typing import Any

from porthole.findings import finding
from porthole.model import Finding, PortObservation

__all__ = ["assess", "summarise"]


def assess(evidence: dict[str, Any], observation: PortObservation) -> list[Finding]:
    root = evidence.get("root")
    if not root:
        return []
    port = observation.port
    plain = evidence.get("scheme") == "http"
    legacy = evidence.get("legacy") or {}
    legacy_page = legacy.get("page") or {}
    where = f"{port}/tcp"

    def make(finding_id: str, detail: str, lines: list[str]) -> Finding:
        return finding(finding_id, detail=detail, port=port, protocol=observation.protocol, evidence=lines)

    findings: list[Finding] = []
    if plain and not root.get("redirects_to_https"):
        lines = [_status_line(root, where)]
        if root.get("location"):
            detail = f"Port {port} redirects to {root['location']!r}, which is not an https:// URL: the web UI stays on plain HTTP."
            lines.append(f"Location: {root['location']}")
        else:
            detail = f"Port {port} serves the web UI over plain HTTP ({root['status']} {root['reason']}) instead of redirecting to HTTPS."
            lines.append("no Location header")
        if root.get("title") is not None:
            lines.append(f"title: {root['title']!r}")
        findings.append(make("http-no-redirect", detail, lines))

    if plain:
        login_lines = [line for page in (root, legacy_page) if page for line in _login_lines(page, where)]
        if login_lines:
            findings.append(make("http-plain-login", f"Port {port} serves a login over plain HTTP: passwords cross the network readable by anyone on the path.", login_lines))

    if root.get("ui") == "legacy" or legacy.get("verdict") == "reachable":
        lines = []
        if root.get("ui") == "legacy":
            lines.append(f"GET / on {where}: legacy UI markup ({', '.join(root.get('ui_markers', ()))})")
        if legacy.get("verdict") == "reachable" and legacy_page:
            lines.append(_status_line(legacy_page, where))
            if legacy_page.get("ui_markers"):
                lines.append(f"markup: {', '.join(legacy_page['ui_markers'])}")
        findings.append(make("http-legacy-ui", f"Port {port} serves the legacy configuration interface (Web UI 1.0), which uses weak authentication.", lines))

    if not plain and root.get("hsts") is None:
        findings.append(make("https-no-hsts", f"Port {port} answers over HTTPS without Strict-Transport-Security, so browsers may still be led to plain HTTP.", [_status_line(root, where), "no Strict-Transport-Security header"]))
    return findings


def summarise(evidence: dict[str, Any]) -> str | None:
    """``HTTP 301 → https://198.18.0.10/ (aiohttp/3.14)``, ``HTTPS 200 'Charge Controller' TLSv1.3``."""
    label = evidence.get("scheme", "http").upper()
    silence = evidence.get("silence")
    if silence == "closed":
        return f"{label}: closed without a byte (a forwarder without its peer?)"
    if silence == "silent":
        return f"{label}: no answer to GET /"
    root = evidence.get("root")
    if not root:
        return None
    parts = [f"{label} {root['status']}"]
    if root.get("location"):
        parts.append(f"→ {root['location'][:80]}")
    if root.get("title"):
        parts.append(repr(root["title"][:60]))
    if root.get("server"):
        parts.append(f"({root['server'][:60]})")
    tls = evidence.get("tls") or {}
    if tls.get("version"):
        parts.append(tls["version"])
    if root.get("basic_challenge"):
        parts.append("Basic auth")
    elif root.get("password_form"):
        parts.append("login form")
    return " ".join(parts)


def _status_line(page: dict[str, Any], where: str) -> str:
    return f"GET {page['target']} on {where}: {page['http_version']} {page['status']} {page['reason']}".rstrip()


def _login_lines(page: dict[str, Any], where: str) -> list[str]:
    lines = []
    if page.get("basic_challenge"):
        challenge = next((value for value in page.get("www_authenticate", ()) if value.strip().lower().startswith("basic")), "Basic")
        lines.append(f"GET {page['target']} on {where}: {page['status']} with WWW-Authenticate: {challenge}")
    if page.get("password_form"):
        title = f" (title {page['title']!r})" if page.get("title") is not None else ""
        lines.append(f"GET {page['target']} on {where}: page with <input type=\"password\">{title}")
    return lines
