"""The plain ISO 15118 V2G port 15119/tcp (see ``probe``)."""

from porthole.services.v2g.evidence import V2gEvidence
from porthole.services.v2g.probe import V2gProbe

__all__ = ["V2gProbe", "V2gEvidence"]
