"""ISO 15118 SECC Discovery Protocol on 15118/udp (see ``probe``)."""

from porthole.services.sdp.evidence import SdpEvidence
from porthole.services.sdp.probe import SdpProbe

__all__ = ["SdpProbe", "SdpEvidence"]
