"""What the agents' reports say about a call: its outcome and its voice quality (pure).

Outcomes mean what they mean in simulation (``testbed.workload.records``):
signalling that never got its answers is ``signalling-blocked``; a TCP reset or
an ICMP unreachable is ``reset``; media from which nothing came back within the
setup timeout is ``no-media``; media abandoned for loss is ``dropped``.
Quality pools both directions of the call's media flows: loss from the senders'
counts, RFC 3550 jitter and one-way delay from the receivers' stamps, then the
E-model with the mouth-to-ear delay the simulator uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import fmean

from testbed.emu.messages import Report
from testbed.metrics.emodel import mos_for, mouth_to_ear_ms
from testbed.traffic.codecs import Codec
from testbed.workload.records import COMPLETED, DROPPED, NO_MEDIA, RESET, SIGNALLING_BLOCKED

ERRORS = ("refused", "reset")


@dataclass(frozen=True)
class FlowResult:
    role: str
    client: Report
    server: Report


def signalling_outcome(results: list[FlowResult]) -> str | None:
    """None when every signalling exchange got all its answers."""
    for r in results:
        if r.client.error in ERRORS:
            return RESET
        if r.client.aborted is not None:
            return SIGNALLING_BLOCKED
    return None


def media_outcome(results: list[FlowResult]) -> str:
    if any(r.client.error in ERRORS for r in results):
        return RESET
    if any(r.client.aborted == "poor" for r in results):
        return DROPPED
    for r in results:
        if (r.client.recv.packets == 0 or r.client.aborted in ("no-answer", "no-media")
                or (r.client.recv.media == 0 and r.server.sent_media > 0)):
            return NO_MEDIA
    return COMPLETED


@dataclass(frozen=True)
class Quality:
    loss_pct: float
    jitter_ms: float
    delay_ms: float
    r_factor: float
    mos: float


def quality(results: list[FlowResult], codec: Codec) -> Quality:
    """Both directions of every media flow pooled."""
    sent = lost = 0
    jitters, delays, sigmas = [], [], []
    for r in results:
        for sender, receiver in ((r.client, r.server), (r.server, r.client)):
            n = sender.sent_media
            got = min(receiver.recv.media, n)
            sent += n
            lost += n - got
            stats = receiver.recv
            if stats.jitter_ms is not None:
                jitters.append(stats.jitter_ms)
            if stats.delay_ms is not None:
                delays.append(stats.delay_ms)
            if stats.delay_std_ms is not None:
                sigmas.append(stats.delay_std_ms)
    loss = 100.0 * lost / sent if sent else 100.0
    delay = fmean(delays) if delays else 0.0
    sigma = fmean(sigmas) if sigmas else 0.0
    ta = mouth_to_ear_ms(delay, sigma, codec.frame_ms)
    rating, score = mos_for(round(ta), round(loss, 1), codec.ie, codec.bpl)
    return Quality(round(loss, 3), round(fmean(jitters), 3) if jitters else 0.0, round(delay, 3),
                   round(rating, 3), round(score, 3))


def first_answer_ms(result: FlowResult) -> float | None:
    """From the client's start to the first packet back (the post-dial delay we can see)."""
    start, first = result.client.start, result.client.recv.first
    return None if start is None or first is None else round((first - start) * 1000, 3)
