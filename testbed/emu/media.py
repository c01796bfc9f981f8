"""Media after a flow's opening: stamped copies of the app's own packets, and receive stats.

A call's opening (``testbed.traffic.apps``) is sent byte for byte. After it, each
side keeps sending at the codec's frame interval copies of its own last media
packets (same headers, same sizes) whose last 16 bytes are replaced by a stamp:
magic, sequence number and send time. The receiver reads the stamps: loss (from
the sequence), RFC 3550 jitter and one-way delay (sender and receiver share the
host's clock). The stamp sits where the apps carry encrypted or voice bytes, so
the DPI sees the app's framing unchanged.
"""

from __future__ import annotations

import math
import statistics
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

from testbed.emu.messages import RecvStats
from testbed.metrics.jitter import JitterEstimator
from testbed.metrics.playout import burst_ratio, playout
from testbed.traffic.apps import MEDIA, FlowPlan

MAGIC = b"\xe6\x75\x1a\xb5"
_STAMP = struct.Struct("!4sId")
STAMP_LEN = _STAMP.size  # 16
TEMPLATES = 4            # the last media packets of the opening each side repeats
ARRIVALS_KEPT = 8        # arrival times kept of a flow's first packets (PDD: when the ringback came)


def stamp(template: bytes, seq: int, sent: float) -> bytes:
    """The template with its tail replaced by the stamp (appended if it is too short)."""
    tail = _STAMP.pack(MAGIC, seq & 0xFFFFFFFF, sent)
    if len(template) < STAMP_LEN + 4:
        return template + tail
    return template[:-STAMP_LEN] + tail


def read_stamp(payload: bytes) -> tuple[int, float] | None:
    if len(payload) < STAMP_LEN or payload[-STAMP_LEN:-STAMP_LEN + 4] != MAGIC:
        return None
    _, seq, sent = _STAMP.unpack_from(payload, len(payload) - STAMP_LEN)
    return seq, sent


def templates(plan: FlowPlan, up: bool) -> list[bytes]:
    """What one side repeats after the opening: its last few opening packets."""
    if plan.role != MEDIA:
        return []
    mine = [s.payload for s in plan.segments if s.up == up]
    return mine[-TEMPLATES:]


def media_sizes(tmpls: list[bytes]) -> list[int]:
    return [len(stamp(t, 0, 0.0)) for t in tmpls]


@dataclass
class Receiver:
    """What one side received on one flow."""

    packets: int = 0
    octets: int = 0
    media: int = 0
    max_seq: int = -1
    max_seq_sent: float | None = None   # the send stamp of the highest sequence number
    first: float | None = None
    last: float | None = None
    arrivals: list[float] = field(default_factory=list)
    _delays: dict[int, float] = field(default_factory=dict)   # sequence number → one-way delay (ms)
    _jitter: JitterEstimator = field(default_factory=JitterEstimator)

    def add(self, payload: bytes, now: float) -> None:
        self.packets += 1
        self.octets += len(payload)
        if self.first is None:
            self.first = now
        self.last = now
        if len(self.arrivals) < ARRIVALS_KEPT:
            self.arrivals.append(now)
        found = read_stamp(payload)
        if found is None:
            return
        seq, sent = found
        if seq in self._delays:
            return
        self._delays[seq] = (now - sent) * 1000
        self.media += 1
        if seq > self.max_seq:
            self.max_seq, self.max_seq_sent = seq, sent
        self._jitter.add(sent, now)

    def loss_pct(self) -> float:
        """Loss seen so far from the sequence numbers (the sender's count is better, at the end)."""
        expected = self.max_seq + 1
        return 100.0 * (expected - self.media) / expected if expected > 0 else 0.0

    def summary(self) -> RecvStats:
        """What arrived, and its playout (lost or late as far as the sequence numbers tell)."""
        delays = list(self._delays.values())
        play = playout(delays)
        n = self.max_seq + 1
        deadline = play.base_ms + play.buffer_ms if play else 0.0
        bad = [self._delays.get(i, math.inf) > deadline for i in range(n)]
        return RecvStats(packets=self.packets, octets=self.octets, media=self.media, max_seq=self.max_seq,
                         max_seq_sent=self.max_seq_sent, first=self.first, last=self.last,
                         loss_pct=round(self.loss_pct(), 3),
                         jitter_ms=round(self._jitter.jitter * 1000, 3) if self.media > 1 else None,
                         delay_ms=round(statistics.fmean(delays), 3) if delays else None,
                         arrivals=tuple(self.arrivals),
                         base_ms=round(play.base_ms, 3) if play else None,
                         buffer_ms=round(play.buffer_ms, 3) if play else None,
                         late=play.late if play else 0, burst_r=round(burst_ratio(bad), 3) if n else 1.0)


class StreamSplitter:
    """Cuts a TCP byte stream back into the sender's records, whose sizes both sides know."""

    def __init__(self, sizes: Iterator[int]) -> None:
        self._sizes = sizes
        self._buf = b""
        self._want = next(self._sizes, None)

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        out = []
        while self._want is not None and len(self._buf) >= self._want:
            out.append(self._buf[:self._want])
            self._buf = self._buf[self._want:]
            self._want = next(self._sizes, None)
        return out


def record_sizes(opening: list[int], media: list[int]) -> Iterator[int]:
    """The sizes a side sends: its opening, then its media templates over and over."""
    yield from opening
    while media:
        yield from media
