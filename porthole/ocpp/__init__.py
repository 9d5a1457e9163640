"""OCPP-J backend (CSMS) link audit: ``probe_link`` (I/O) → ``OcppEvidence`` → ``assess`` (pure)."""

from porthole.ocpp.assess import SecurityProfile, assess, enforced_profile
from porthole.ocpp.client import LinkSettings, connection_url, probe_link
from porthole.ocpp.evidence import DuplicateOutcome, HandshakeOutcome, OcppEvidence
from porthole.ocpp.render import render_json, render_text

__all__ = [
    "DuplicateOutcome", "HandshakeOutcome", "LinkSettings", "OcppEvidence", "SecurityProfile",
    "assess", "connection_url", "enforced_profile", "probe_link", "render_json", "render_text",
]
