"""The behavioural detector on shaped traffic: a conversation yes; streams, ticks, bulk and STUN no."""

from __future__ import annotations

import random

from testbed.dpi.behaviour import HORIZON, MediaTracker
from testbed.packets import stun


def feed(tracker: MediaTracker, packets: list[tuple[float, int, int]]) -> MediaTracker:
    """(time, direction, size) in time order."""
    for ts, direction, size in sorted(packets):
        tracker.add(b"\x90" * size, ts, direction)
    return tracker


def conversation(frames: int, gap: float = 0.02, jitter: float = 0.002, size: tuple[int, int] = (60, 120),
                 seed: int = 1) -> list[tuple[float, int, int]]:
    rng = random.Random(seed)
    return [(i * gap + d * 0.007 + rng.uniform(-jitter, jitter), d, rng.randint(*size))
            for i in range(frames) for d in (0, 1)]


def test_a_jittery_opus_conversation_is_voice() -> None:
    tracker = feed(MediaTracker(), conversation(10))
    assert tracker.detected and not tracker.ruled_out
    assert tracker.why().startswith("voice-like media: 6 up and 5 down packets of 20-300 B, up every 20 ms")


def test_one_talker_with_silence_suppression_on_the_other_side() -> None:
    talk = [(i * 0.02, 0, 80) for i in range(12)] + [(0.05, 1, 40), (0.13, 1, 40), (0.21, 1, 40)]
    assert feed(MediaTracker(), talk).detected


def test_not_voice() -> None:
    one_way = feed(MediaTracker(), [(i * 0.02, 0, 172) for i in range(HORIZON)])
    game_ticks = feed(MediaTracker(), [(i * 0.033, 0, 50) for i in range(60)] + [(1.0, 1, 133), (2.0, 1, 133)])
    bulk = feed(MediaTracker(), conversation(20, size=(900, 1400)))
    slow = feed(MediaTracker(), conversation(40, gap=0.1))
    rpc_10ms = feed(MediaTracker(), conversation(40, gap=0.01, jitter=0.0005))
    for tracker in (one_way, game_ticks, bulk, slow, rpc_10ms):
        assert not tracker.detected
    assert one_way.ruled_out and bulk.ruled_out and slow.ruled_out


def test_stun_checks_and_duplicates_do_not_break_the_pace() -> None:
    tracker = MediaTracker()
    check = stun.build(stun.BINDING_REQUEST, b"t" * 12, [(stun.PRIORITY, b"\0\0\0\1")])
    for ts, direction, size in conversation(10):
        tracker.add(b"\x90" * size, ts, direction)
        tracker.add(check, ts + 0.001, direction)             # ICE consent checks between frames
        tracker.add(b"\x90" * size, ts + 0.0002, direction)   # a duplicated packet
    assert tracker.detected and 0.018 < tracker.median[0] < 0.022
