"""mDNS / DNS-SD on 5353/udp, with the EEBUS SHIP announcement (see ``probe``)."""

from porthole.services.mdns.evidence import MdnsEvidence, ShipInstance
from porthole.services.mdns.probe import MdnsProbe

__all__ = ["MdnsProbe", "MdnsEvidence", "ShipInstance"]
