"""A call's delivery from the agents' reports: signalling, PDD on the wire, media pooled both ways."""

from __future__ import annotations

import random

import pytest

from testbed.call.model import MEDIA_PHASE, SIGNALLING_PHASE, Seen
from testbed.call.plan import with_ringback
from testbed.emu.delivery import FlowResult, delivery, media, pdd_ms
from testbed.emu.messages import RecvStats, Report
from testbed.traffic.apps import PROFILES

SIP, RTP = with_ringback(PROFILES["sip"].build(random.Random(1), 24))
SEEN = (Seen("signalling"), Seen("media"))


def _side(sent_media: int = 0, media_in: int = 0, packets: int = 0, error: str | None = None,
          aborted: str | None = None, late: int = 0, arrivals: tuple[float, ...] = ()) -> Report:
    recv = RecvStats(packets=packets, media=media_in, first=arrivals[0] if arrivals else None, delay_ms=40.0,
                     jitter_ms=2.0, arrivals=arrivals, base_ms=40.0, buffer_ms=10.0, late=late, burst_r=1.0)
    return Report("h", "f1", "client", error, aborted, 9.95, 10.0, 20.0, sent_media, 0, sent_media, recv)


def test_pdd_is_the_dial_to_the_ringback_not_100_trying() -> None:
    # SIP: 100 Trying, then 180 Ringing (the ringback: RFC 6076), then 200 OK
    answered = FlowResult(SIP, _side(packets=3, arrivals=(10.1, 10.2, 12.05)), _side(packets=1))
    assert pdd_ms(answered) == pytest.approx(250.0)       # 10.2 - the dial at 9.95
    only_trying = FlowResult(SIP, _side(packets=1, arrivals=(10.1,), aborted="incomplete"), _side())
    assert pdd_ms(only_trying) is None                   # no ringback came: none measured


def test_signalling_unanswered_or_reset() -> None:
    blocked = FlowResult(SIP, _side(aborted="incomplete"), _side())
    d = delivery(SEEN[:1], [blocked], [])
    assert not d.signalled and d.reset == "" and d.pdd_ms is None
    reset = FlowResult(SIP, _side(error="refused", aborted="refused"), _side())
    assert delivery(SEEN[:1], [reset], []).reset == SIGNALLING_PHASE


def test_media_pooled_both_ways_with_late_packets() -> None:
    sig = FlowResult(SIP, _side(packets=3, arrivals=(10.1, 10.2, 12.05)), _side(packets=1))
    good = FlowResult(RTP, _side(500, 490, 500, late=10), _side(500, 480, 500, late=0))
    d = delivery(SEEN, [sig], [good])
    assert d.signalled and d.reset == "" and d.media is not None
    # lost: 10 + 20 of 1000 sent; late: 10 → 4% lost or late for the E-model, 1% of it late
    assert d.media.loss_pct == 4.0 and d.media.late_pct == 1.0 and d.media.delay_ms == 40.0
    assert d.held_s == pytest.approx(10.0 - 0.5)         # start 10, end 20, less the linger


def test_no_media_poor_media_and_a_reset_after_the_answer() -> None:
    nothing = FlowResult(RTP, _side(500, 0, 0, aborted="no-answer"), _side(0, 0, 0))
    assert media([nothing]) is None
    opening_only = FlowResult(RTP, _side(500, 0, 2, aborted="no-media"), _side(500, 0, 12))
    assert media([opening_only]) is None
    poor = FlowResult(RTP, _side(500, 100, 120, aborted="poor"), _side(500, 90, 100))
    assert delivery(SEEN[1:], [], [poor]).gave_up
    reset = FlowResult(RTP, _side(5, 0, 0, error="reset", aborted="reset"), _side())
    assert delivery(SEEN[1:], [], [reset]).reset == MEDIA_PHASE
