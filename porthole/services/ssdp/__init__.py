"""UPnP/SSDP on 1900/udp: unicast M-SEARCH and the target's own device description."""

from porthole.services.ssdp.probe import SsdpProbe

__all__ = ["SsdpProbe"]
