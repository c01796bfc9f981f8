"""Behavioural media detector: RTP-like packet sizes and timing, no signature needed.

The kind of rule an operator turns to when apps obfuscate: small datagrams at a
steady codec pace (10-60 ms), both ways. It names no app, and it has false
positives (games, some streaming); they are measured like everything else.
"""

from __future__ import annotations

MIN_PACKETS = 8          # per flow before deciding
MIN_SIZE, MAX_SIZE = 20, 300   # UDP payload bytes of voice frames
MIN_GAP, MAX_GAP = 0.008, 0.065  # seconds between frames one way
MAX_SPREAD = 0.5         # (p75 - p25) / median of the gaps


class MediaTracker:
    """Per-flow sizes and gaps of UDP packets; ``detected`` once they look like voice."""

    __slots__ = ("sizes_ok", "count", "last_ts", "gaps", "directions", "detected", "ruled_out")

    def __init__(self) -> None:
        self.sizes_ok = 0
        self.count = 0
        self.last_ts: list[float | None] = [None, None]
        self.gaps: list[float] = []
        self.directions = [0, 0]
        self.detected = False
        self.ruled_out = False

    def add(self, size: int, ts: float, direction: int) -> None:
        if self.detected or self.ruled_out:
            return
        self.count += 1
        self.directions[direction] += 1
        if MIN_SIZE <= size <= MAX_SIZE:
            self.sizes_ok += 1
        last = self.last_ts[direction]
        if last is not None:
            self.gaps.append(ts - last)
        self.last_ts[direction] = ts
        if self.count >= MIN_PACKETS:
            self._judge()

    def _judge(self) -> None:
        if self.sizes_ok < 0.8 * self.count:
            self.ruled_out = True
            return
        gaps = sorted(self.gaps)
        if len(gaps) < MIN_PACKETS - 2:
            return
        median = gaps[len(gaps) // 2]
        spread = gaps[3 * len(gaps) // 4] - gaps[len(gaps) // 4]
        if MIN_GAP <= median <= MAX_GAP and spread <= MAX_SPREAD * median:
            self.detected = True
        elif self.count >= 3 * MIN_PACKETS:
            self.ruled_out = True

    def why(self) -> str:
        gaps = sorted(self.gaps)
        median = gaps[len(gaps) // 2] * 1000 if gaps else 0.0
        return (f"{self.count} packets of 20-300 B every {median:.0f} ms "
                f"({self.directions[0]} up, {self.directions[1]} down)")
