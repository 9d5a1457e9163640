"""OCPP-S (SOAP charge-point service, 8090) probe: see ``probe.py``."""

from porthole.services.ocpps.probe import OcppsProbe

__all__ = ["OcppsProbe"]
