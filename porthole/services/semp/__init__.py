"""SEMP (SMA Simple Energy Management Protocol) on 8888/tcp: read-only GET of the Device2EM document."""

from porthole.services.semp.probe import BASE_PATHS, SempProbe

__all__ = ["SempProbe", "BASE_PATHS"]
