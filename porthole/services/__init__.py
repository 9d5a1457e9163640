"""Fingerprint probes: one package per service, registered in ``REGISTRY``.

Adding a service touches one new package here and one line in ``REGISTRY`` (plus a
codec in ``porthole.codecs`` if the wire format is new). See ``base.py`` for the
contract every probe follows.
"""

from porthole.services.base import ServiceProbe

#: Every fingerprint probe porthole can run, in the order the engine schedules them.
#: An explicit tuple (no import-time registration side effects).
REGISTRY: tuple[ServiceProbe, ...] = ()

__all__ = ["REGISTRY", "ServiceProbe"]
