"""EEBUS SHIP on 4711/tcp: TLS facts without a client certificate (see ``probe``)."""

from porthole.services.eebus.assess import assess_ski_match
from porthole.services.eebus.evidence import CertificateFacts, EebusEvidence, HandshakeOutcome
from porthole.services.eebus.probe import EebusProbe

__all__ = ["EebusProbe", "EebusEvidence", "CertificateFacts", "HandshakeOutcome", "assess_ski_match"]
