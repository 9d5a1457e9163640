"""Per-host adaptive probe timeouts (RFC 6298 estimator, as nmap's timing engine uses).

Every answered probe (SYN-ACK, RST, ICMP, UDP reply, ARP reply) is an RTT sample:

    first sample:  srtt = r;  rttvar = r / 2
    later samples: rttvar = 3/4 * rttvar + 1/4 * |srtt - r|
                   srtt   = 7/8 * srtt   + 1/8 * r
    timeout = clamp(srtt + 4 * rttvar, min_timeout, max_timeout)

Before the first sample the timeout is ``initial_timeout``. Silence is not a sample:
a timed-out probe tells nothing about the path's delay. The ``min_timeout`` floor keeps
a fast LAN from turning a slow embedded stack's late answer into "filtered".
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TimingPolicy", "RttEstimator"]


@dataclass(frozen=True, slots=True, kw_only=True)
class TimingPolicy:
    initial_timeout: float = 1.0
    min_timeout: float = 0.05
    max_timeout: float = 3.0

    def __post_init__(self) -> None:
        if not 0 < self.min_timeout <= self.initial_timeout <= self.max_timeout:
            raise ValueError("timeouts must satisfy 0 < min <= initial <= max")


class RttEstimator:
    """Smoothed RTT for one host; ``timeout`` is what the next probe may wait."""

    __slots__ = ("_policy", "srtt", "rttvar", "samples")

    def __init__(self, policy: TimingPolicy) -> None:
        self._policy = policy
        self.srtt: float | None = None
        self.rttvar: float = 0.0
        self.samples = 0

    def observe(self, rtt: float) -> None:
        rtt = max(rtt, 0.0)
        if self.srtt is None:
            self.srtt = rtt
            self.rttvar = rtt / 2
        else:
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - rtt)
            self.srtt = 0.875 * self.srtt + 0.125 * rtt
        self.samples += 1

    @property
    def timeout(self) -> float:
        if self.srtt is None:
            return self._policy.initial_timeout
        raw = self.srtt + 4 * self.rttvar
        return min(max(raw, self._policy.min_timeout), self._policy.max_timeout)
