"""Outcomes and voice quality from the agents' reports."""

from __future__ import annotations

from testbed.emu.messages import RecvStats, Report
from testbed.emu.outcome import FlowResult, first_answer_ms, media_outcome, quality, signalling_outcome
from testbed.traffic.codecs import G711


def _side(sent_media: int = 0, media: int = 0, packets: int = 0, error=None, aborted=None,
          delay: float | None = 40.0, jitter: float | None = 2.0, std: float | None = 3.0) -> Report:
    recv = RecvStats(packets=packets, media=media, first=10.15 if packets else None,
                     delay_ms=delay, jitter_ms=jitter, delay_std_ms=std)
    return Report("h", "f1", "client", error, aborted, 10.0, 20.0, sent_media, 0, sent_media, recv)


def test_signalling() -> None:
    ok = FlowResult("signalling", _side(packets=3), _side(packets=1))
    assert signalling_outcome([ok]) is None
    assert signalling_outcome([FlowResult("signalling", _side(aborted="incomplete"), _side())]) == \
        "signalling-blocked"
    assert signalling_outcome([FlowResult("signalling", _side(error="reset", aborted="reset"), _side())]) == "reset"
    assert first_answer_ms(ok) == 150.0


def test_media_outcomes() -> None:
    good = FlowResult("media", _side(500, 495, 510), _side(500, 498, 510))
    assert media_outcome([good]) == "completed"
    nothing = FlowResult("media", _side(500, 0, 0, aborted="no-answer"), _side(0, 0, 0))
    assert media_outcome([nothing]) == "no-media"
    opening_only = FlowResult("media", _side(500, 0, 2, aborted="no-media"), _side(500, 0, 12))
    assert media_outcome([opening_only]) == "no-media"
    assert media_outcome([FlowResult("media", _side(500, 100, 120, aborted="poor"), _side(500, 90, 100))]) == \
        "dropped"
    assert media_outcome([FlowResult("media", _side(5, 0, 0, error="refused", aborted="refused"),
                                     _side())]) == "reset"


def test_quality_pools_both_directions() -> None:
    q = quality([FlowResult("media", _side(500, 490, 500), _side(500, 480, 500))], G711)
    assert q.loss_pct == 3.0 and q.delay_ms == 40.0 and q.jitter_ms == 2.0
    assert 4.0 < q.mos < 4.4 and 80 < q.r_factor < 90
    worse = quality([FlowResult("media", _side(500, 350, 400), _side(500, 350, 400))], G711)
    assert worse.loss_pct == 30.0 and worse.mos < q.mos
