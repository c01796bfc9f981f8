"""Behavioural media detector: voice-like packet sizes and timing, no signature needed.

The kind of rule an operator turns to when apps obfuscate: small datagrams at a
steady codec pace (a frame every 10-60 ms) at least one way while the other way
talks too — a conversation, not a one-way stream or a game's client ticks. STUN/ICE checks and
tiny keep-alives interleaved with the media are signalling and are skipped. It
names no app, and it has false positives (in-game voice, some games); the corpus
tests measure them.
"""

from __future__ import annotations

import struct

MIN_STEADY = 6                   # voice-sized packets the steady direction needs
MIN_OTHER = 3                    # ... and the other direction (talk goes both ways)
SAME_INSTANT = 0.001             # a gap below this is a duplicate or a bundled packet
MIN_SIZE, MAX_SIZE = 20, 300     # UDP payload bytes of voice frames (codec frame + RTP/SRTP)
MIN_GAP, MAX_GAP = 0.015, 0.065  # seconds between frames one way (20-60 ms packetization)
MAX_SPREAD = 0.5                 # (p75 - p25) / median of the gaps: steady pace
MIN_SIZE_SHARE = 0.8             # share of the packets that must be voice-sized
HORIZON = 64                     # packets (both ways) watched before giving up
_COOKIE = struct.pack("!I", 0x2112A442)


def _steady(gaps: list[float]) -> float | None:
    """The median gap when the gaps keep a codec's pace, else None."""
    ordered = sorted(gaps)
    n = len(ordered)
    median = ordered[n // 2]
    spread = ordered[3 * n // 4] - ordered[n // 4]
    if MIN_GAP <= median <= MAX_GAP and spread <= MAX_SPREAD * median:
        return median
    return None


class MediaTracker:
    """Per-flow sizes and gaps of UDP packets; ``detected`` once they look like a voice call."""

    __slots__ = ("packets", "voice", "big", "last_ts", "gaps", "detected", "ruled_out", "median")

    def __init__(self) -> None:
        self.packets = 0                                # every packet seen, both ways
        self.voice = [0, 0]                             # voice-sized packets per direction
        self.big = 0                                    # packets too big for voice
        self.last_ts: list[float | None] = [None, None]
        self.gaps: tuple[list[float], list[float]] = ([], [])
        self.detected = False
        self.ruled_out = False
        self.median = [0.0, 0.0]

    def add(self, payload: bytes, ts: float, direction: int) -> None:
        if self.detected or self.ruled_out:
            return
        self.packets += 1
        size = len(payload)
        if size < MIN_SIZE or payload[4:8] == _COOKIE:
            return  # keep-alive or STUN/ICE check: signalling, not voice
        if size > MAX_SIZE:
            self.big += 1
        else:
            self.voice[direction] += 1
            last = self.last_ts[direction]
            if last is not None and ts - last >= SAME_INSTANT:
                self.gaps[direction].append(ts - last)
            self.last_ts[direction] = ts
        self._judge()

    def _judge(self) -> None:
        voice = self.voice
        if self.big > (1 - MIN_SIZE_SHARE) * (voice[0] + voice[1] + self.big) and self.big >= 4:
            self.ruled_out = True   # bulk data or video, not voice
        elif min(voice) >= MIN_OTHER and max(voice) >= MIN_STEADY:
            steady = [_steady(g) if len(g) >= MIN_STEADY - 1 else None for g in self.gaps]
            if steady[0] is not None or steady[1] is not None:
                self.detected = True
                self.median = [m or 0.0 for m in steady]
        if not self.detected and self.packets >= HORIZON:
            self.ruled_out = True

    def why(self) -> str:
        pace = " and ".join(f"{'up' if d == 0 else 'down'} every {m * 1000:.0f} ms"
                            for d, m in enumerate(self.median) if m)
        return (f"voice-like media: {self.voice[0]} up and {self.voice[1]} down packets of "
                f"{MIN_SIZE}-{MAX_SIZE} B, {pace}")
