"""Judging a banner: nothing to judge, on purpose.

The banner grab runs only on ports the catalogue does not document. That such a
port is open is already a finding of the profile diff (``profile-unexpected-open``,
with the setting and severity the profile gives it); a second finding from the
same fact would count it twice. What answers there is shown in the ports table
(``summarise``) and the evidence, for the auditor to judge.
"""

from __future__ import annotations

from typing import Any

from porthole.codecs.banner import SIGNATURES, find_ssh_identification, first_line, preview
from porthole.model import Finding, PortObservation

__all__ = ["assess", "summarise"]

#: longest excerpt of the first line shown in the ports table
SUMMARY_LINE = 60

_SILENT = {"eof": "closes on connect without a word", "reset": "resets on connect"}


def assess(evidence: dict[str, Any], observation: PortObservation) -> list[Finding]:
    return []


def summarise(evidence: dict[str, Any]) -> str | None:
    """``SSH-2.0-OpenSSH_9.2p1`` / ``speaks first: 220 mail ESMTP`` / ``silent on connect``."""
    if not evidence.get("speaks_first"):
        return _SILENT.get(evidence.get("stopped", ""), "silent on connect")
    data = bytes.fromhex(evidence.get("received_hex", ""))
    signature = next((row for row in SIGNATURES if row.protocol == evidence.get("protocol")), None)
    if signature is not None and not signature.textual:
        return f"speaks first: {signature.label}"
    if signature is not None and signature.protocol == "ssh":
        # the identification line says it all, even behind other lines (RFC 4253 §4.2)
        offset = find_ssh_identification(data)
        if offset is not None:
            return _excerpt(data[offset:])
    # leading blank lines (some telnet-style services open with one) say nothing
    text = data.lstrip(b"\r\n")
    return f"speaks first: {_excerpt(text)}"


def _excerpt(data: bytes) -> str:
    line, complete = first_line(data, SUMMARY_LINE)
    return preview(line) + ("" if complete else "…")
