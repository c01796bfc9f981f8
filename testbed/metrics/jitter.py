"""RFC 3550 §6.4.1 interarrival jitter, as a receiver computes it."""

from __future__ import annotations

import math


class JitterEstimator:
    """J += (|D(i-1, i)| - J) / 16, with D the change in transit time (seconds here)."""

    __slots__ = ("jitter", "_last_transit")

    def __init__(self) -> None:
        self.jitter = 0.0
        self._last_transit: float | None = None

    def add(self, sent: float, received: float) -> float:
        transit = received - sent
        if self._last_transit is not None:
            self.jitter += (abs(transit - self._last_transit) - self.jitter) / 16
        self._last_transit = transit
        return self.jitter


def expected_jitter(delay_std_ms: float) -> float:
    """Steady-state RFC 3550 jitter for independent normal delay variation of std σ.

    E|D| for the difference of two independent N(0, σ²) is 2σ/√π.
    """
    return 2 * delay_std_ms / math.sqrt(math.pi)
