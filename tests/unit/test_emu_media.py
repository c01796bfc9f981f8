"""Stamped media and what a receiver makes of it: loss, RFC 3550 jitter, one-way delay."""

from __future__ import annotations

import random

import pytest

from testbed.emu.media import STAMP_LEN, Receiver, StreamSplitter, media_sizes, read_stamp, record_sizes, stamp, templates
from testbed.traffic.apps import PROFILES


def test_stamp_replaces_the_tail_and_keeps_the_header() -> None:
    rtp = bytes(range(12)) + b"\xaa" * 160
    out = stamp(rtp, 7, 1234.5)
    assert len(out) == len(rtp) and out[:12] == rtp[:12] and read_stamp(out) == (7, 1234.5)
    short = b"\x01\x02"
    assert stamp(short, 1, 2.0)[:2] == short and len(stamp(short, 1, 2.0)) == 2 + STAMP_LEN
    assert read_stamp(b"\x00" * 40) is None and read_stamp(b"x") is None


def test_templates_are_the_last_media_packets_of_one_side() -> None:
    plan = PROFILES["sip"].build(random.Random(1), 24)[1]
    up = templates(plan, True)
    assert len(up) == 4 and all(t in [s.payload for s in plan.segments if s.up] for t in up)
    assert templates(PROFILES["sip"].build(random.Random(1), 24)[0], True) == []   # signalling: none
    assert media_sizes(up) == [len(t) for t in up]


def test_receiver_loss_delay_and_jitter() -> None:
    recv = Receiver()
    rng = random.Random(3)
    for seq in range(100):
        if seq % 10 == 3:
            continue                                           # 10 % lost
        sent = 100 + seq * 0.02
        recv.add(stamp(b"\x80" * 40, seq, sent), sent + 0.030 + rng.uniform(-0.002, 0.002))
    recv.add(stamp(b"\x80" * 40, 5, 0.0), 200.0)              # a duplicate is not counted twice
    recv.add(b"opening", 99.0)
    s = recv.summary()
    assert s.packets == 92 and s.media == 90 and s.max_seq == 99
    assert recv.loss_pct() == pytest.approx(10.0) == s.loss_pct
    assert s.delay_ms == pytest.approx(30.0, abs=0.5)
    assert s.jitter_ms is not None and 0.5 < s.jitter_ms < 2.0   # RFC 3550 J of ±2 ms uniform noise
    # playout: the median delay and the 10 ms minimum buffer (2σ of ±2 ms uniform is 2.3 ms); nothing
    # late; one isolated loss in ten: runs of 1 against 1 / (1 - 0.1) for random loss
    assert s.base_ms == pytest.approx(30.0, abs=0.5) and s.buffer_ms == 10.0 and s.late == 0
    assert s.burst_r == pytest.approx(0.9)


def test_receiver_counts_packets_later_than_its_buffer() -> None:
    recv = Receiver()
    for seq in range(200):
        sent = seq * 0.02
        stall = 0.150 if 50 <= seq < 55 else 0.0                # a TCP stall holds five packets up
        recv.add(stamp(b"\x80" * 40, seq, sent), sent + 0.040 + stall)
    s = recv.summary()
    assert s.base_ms == pytest.approx(40.0) and s.buffer_ms == 10.0
    assert s.late == 5 and s.burst_r == pytest.approx(5 * (1 - 5 / 200))   # one run of five


def test_stream_splitter_cuts_records_across_reads() -> None:
    splitter = StreamSplitter(record_sizes([3, 5], [2]))
    data = b"abc" + b"defgh" + b"ij" + b"kl" + b"mn"
    out = []
    for i in range(0, len(data), 4):
        out += splitter.feed(data[i:i + 4])
    assert out == [b"abc", b"defgh", b"ij", b"kl", b"mn"]
