"""The scan engine: concurrency, deadlines, gentleness limits and discovery.

    timing.py    per-host adaptive timeouts (RFC 6298 estimator)
    limits.py    global cap, per-host connection cap and pacing
    reach.py     phase 1: one attempt at one port → state + reason + RTT
    scanner.py   the sweep: lazy targets → discovery → bounded worker pool
"""

from porthole.engine.scanner import DiscoveryMode, ScanConfig, Scanner, ScanObserver, ScanOutcome
from porthole.engine.timing import RttEstimator, TimingPolicy

__all__ = ["DiscoveryMode", "ScanConfig", "Scanner", "ScanObserver", "ScanOutcome", "RttEstimator", "TimingPolicy"]
