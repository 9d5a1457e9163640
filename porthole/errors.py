"""porthole's exception tree.

Library code raises these; only ``cli`` turns them into exit codes and messages.
Probe failures are *not* exceptions past the engine: the engine turns them into
``ProbeResult``/``PortObservation`` data (see ``engine``).

    PortholeError
    ├── UsageError             bad input from the user → exit 2
    │   ├── TargetError        a target, range, @file or --exclude that cannot be parsed
    │   ├── ScopeError         a target outside --scope, or public without --allow-public
    │   ├── ProfileError       a profile that cannot be loaded (unknown key, bad value)
    │   ├── CatalogError       a --ports spec or catalogue file that cannot be used
    │   └── ReportInputError   a report file (for ``profile capture``) that cannot be read
    ├── ScanSetupError         the scan cannot run at all (no permission for --syn...) → exit 3
    └── LabError               the lab site cannot be started or stopped
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "PortholeError",
    "UsageError",
    "TargetError",
    "ScopeError",
    "ProfileError",
    "CatalogError",
    "ReportInputError",
    "ScanSetupError",
    "LabError",
    "ErrorReason",
]


class PortholeError(Exception):
    """Base of every error porthole raises on purpose."""


class UsageError(PortholeError):
    """The user asked for something porthole cannot do as asked (exit 2)."""


class TargetError(UsageError):
    pass


class ScopeError(UsageError):
    pass


class ProfileError(UsageError):
    pass


class CatalogError(UsageError):
    pass


class ReportInputError(UsageError):
    pass


class ScanSetupError(PortholeError):
    """The scan could not run (exit 3)."""


class LabError(PortholeError):
    pass


class ErrorReason(StrEnum):
    """Why a probe failed, as recorded in ``ProbeResult.error_reason``."""

    TIMEOUT = "timeout"
    CONNECTION_REFUSED = "connection-refused"
    CONNECTION_RESET = "connection-reset"
    HANDSHAKE_FAILED = "handshake-failed"
    MALFORMED = "malformed"
    UNRECOGNISED = "unrecognised"
    TOO_LARGE = "too-large"
    NOT_APPLICABLE = "not-applicable"
    BUG = "bug"
