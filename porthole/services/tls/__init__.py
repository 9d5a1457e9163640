"""The TLS audit probe: versions, suites, groups, certificate and client-auth facts, graded."""

from porthole.services.tls.probe import TlsProbe

__all__ = ["TlsProbe"]
