"""Mean and Student-t confidence interval over a sweep's replicates.

The replicates of a point are independent runs (their seeds differ), so the mean's
interval is ``mean ± t(1 - α/2, n - 1) · s / √n`` with the sample standard deviation
``s``. The t quantile comes from the closed form of Student's distribution for an
integer number of degrees of freedom (Abramowitz & Stegun 26.7.3 and 26.7.4),
inverted by bisection: no table, no SciPy.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass


def t_two_sided(t: float, df: int) -> float:
    """P(|T| <= t) for Student's T with ``df`` degrees of freedom (A&S 26.7.3/4)."""
    if t <= 0:
        return 0.0
    theta = math.atan(t / math.sqrt(df))
    c2 = math.cos(theta) ** 2
    if df % 2:  # odd: (2/π)(θ + sinθ cosθ (1 + 2/3 cos²θ + 2·4/(3·5) cos⁴θ + ...)), df-3 terms of cos
        term, series = 1.0, 1.0 if df > 1 else 0.0
        for k in range(1, (df - 1) // 2):
            term *= c2 * (2 * k) / (2 * k + 1)
            series += term
        return 2 / math.pi * (theta + math.sin(theta) * math.cos(theta) * series)
    term = series = 1.0  # even: sinθ (1 + 1/2 cos²θ + 1·3/(2·4) cos⁴θ + ...)
    for k in range(1, df // 2):
        term *= c2 * (2 * k - 1) / (2 * k)
        series += term
    return math.sin(theta) * series


def t_quantile(confidence: float, df: int) -> float:
    """The t with P(|T| <= t) = ``confidence``: 2.262 for 95% and 9 degrees of freedom."""
    if not 0 < confidence < 1 or df < 1:
        raise ValueError("confidence in (0, 1) and df >= 1")
    lo, hi = 0.0, 1.0
    while t_two_sided(hi, df) < confidence:
        hi *= 2
    for _ in range(200):  # the CDF is monotone: bisect to the float's precision
        mid = (lo + hi) / 2
        if mid in (lo, hi):
            break
        if t_two_sided(mid, df) < confidence:
            lo = mid
        else:
            hi = mid
    return hi


@dataclass(frozen=True)
class Estimate:
    """A metric over the replicates that have it (a median of no calls is None)."""

    mean: float | None
    half_width: float | None  # of the confidence interval; None with fewer than 2 values
    n: int

    @property
    def low(self) -> float | None:
        return None if self.mean is None or self.half_width is None else self.mean - self.half_width

    @property
    def high(self) -> float | None:
        return None if self.mean is None or self.half_width is None else self.mean + self.half_width


def estimate(values: list[float | None], confidence: float = 0.95) -> Estimate:
    """Mean and the half-width of its Student-t interval over the values that are not None."""
    xs = [float(v) for v in values if v is not None]
    if not xs:
        return Estimate(None, None, 0)
    mean = math.fsum(xs) / len(xs)
    if len(xs) < 2:
        return Estimate(mean, None, 1)
    sd = statistics.stdev(xs)
    return Estimate(mean, t_quantile(confidence, len(xs) - 1) * sd / math.sqrt(len(xs)), len(xs))
