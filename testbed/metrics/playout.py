"""The receiver's playout buffer: which packets come too late to be played (pure).

A receiver plays each voice packet at ``base + buffer`` after it was sent: ``base`` is
the typical one-way delay (the median) and ``buffer`` the jitter buffer, sized to 2σ of
the delay variation and never under 10 ms. σ is estimated robustly (1.4826 × the median
absolute deviation, which is σ for normal variation), so the rare long stalls of a TCP
stream cannot stretch the buffer to cover themselves. A packet later than its playout
deadline is discarded as a real jitter buffer would: the E-model counts it as lost.

Both modes use these rules: the emulation's receivers on the delays they measured, the
simulator on the delay distribution of its link model (normal, as netem and our
NFQUEUE delayer draw it).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

BUFFER_SIGMAS = 2.0
MIN_BUFFER_MS = 10.0
MAD_TO_SIGMA = 1.4826


def buffer_ms(sigma_ms: float) -> float:
    """The jitter buffer for a delay variation of standard deviation ``sigma_ms``."""
    return max(BUFFER_SIGMAS * sigma_ms, MIN_BUFFER_MS)


def normal_late_fraction(sigma_ms: float) -> float:
    """Share of packets later than the buffer when delays vary normally with σ: 1 - Φ(B/σ)."""
    if sigma_ms <= 0:
        return 0.0
    return 0.5 * math.erfc(buffer_ms(sigma_ms) / sigma_ms / math.sqrt(2))


@dataclass(frozen=True)
class Playout:
    base_ms: float      # median one-way delay
    sigma_ms: float     # robust standard deviation of the delay
    buffer_ms: float
    late: int           # packets after base + buffer


def playout(delays_ms: Sequence[float]) -> Playout | None:
    """The playout of packets that arrived with these one-way delays (None: none arrived)."""
    if not delays_ms:
        return None
    base = statistics.median(delays_ms)
    sigma = MAD_TO_SIGMA * statistics.median(abs(d - base) for d in delays_ms) if len(delays_ms) > 1 else 0.0
    buf = buffer_ms(sigma)
    deadline = base + buf
    return Playout(base, sigma, buf, sum(d > deadline for d in delays_ms))


def burst_ratio(bad: Sequence[bool]) -> float:
    """G.107's BurstR of a run of packets (True: lost or late): the mean length of the runs of
    bad packets over the mean a random loss of the same rate gives, 1 / (1 - Ppl). 1 if none."""
    n_bad = sum(bad)
    if n_bad == 0 or n_bad == len(bad):
        return 1.0
    runs = sum(1 for i, b in enumerate(bad) if b and (i == 0 or not bad[i - 1]))
    return n_bad / runs * (1 - n_bad / len(bad))
