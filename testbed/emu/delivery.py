"""What the agents' reports say the emulated network did with a call: its ``Delivery`` (pure).

Everything here is measured on the packets: whether every signalling exchange got
its answers, a TCP reset or ICMP unreachable (and whether before or after the
answer), the post-dial delay (the client's dial to the arrival of the ringback
packet; none when it never came — no model fallback), and the media as both
receivers saw it: loss from the senders' counts against the receivers', lateness
from each receiver's playout buffer (``testbed.metrics.playout``), delay, RFC 3550
jitter and the burstiness of what was lost or late. What that means for the call is
``testbed.call.model``'s to say.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import fmean

from testbed.call.model import MEDIA_PHASE, SIGNALLING_PHASE, Delivery, Media, Seen
from testbed.emu.messages import Report
from testbed.emu.placement import LINGER_S
from testbed.traffic.apps import FlowPlan

ERRORS = ("refused", "reset")
NOTHING_BACK = ("no-answer", "no-media")


@dataclass(frozen=True)
class FlowResult:
    plan: FlowPlan         # the flow as sent
    client: Report
    server: Report


def signalled(results: list[FlowResult]) -> tuple[bool, str]:
    """(every signalling exchange got all its answers, the phase of a reset if one came)."""
    for r in results:
        if r.client.error in ERRORS:
            return False, SIGNALLING_PHASE
        if r.client.aborted is not None:
            return False, ""
    return True, ""


def pdd_ms(result: FlowResult) -> float | None:
    """The client's dial to the arrival of the ringback (the flow's marked answer)."""
    answers = sorted((s for s in result.plan.segments if not s.up), key=lambda s: s.t)
    rank = next((i for i, s in enumerate(answers) if s.ringback), None)
    c = result.client
    if rank is None or c.opened is None or rank >= len(c.recv.arrivals):
        return None
    return round((c.recv.arrivals[rank] - c.opened) * 1000, 3)


def media(results: list[FlowResult]) -> Media | None:
    """Both directions of every media flow pooled; None when no media came back to the caller."""
    for r in results:
        c = r.client
        if c.recv.packets == 0 or c.aborted in NOTHING_BACK or (c.recv.media == 0 and r.server.sent_media > 0):
            return None
    sent = lost = late = 0
    delays, buffers, jitters, bursts = [], [], [], []
    for r in results:
        for sender, receiver in ((r.client, r.server), (r.server, r.client)):
            stats = receiver.recv
            sent += sender.sent_media
            lost += max(0, sender.sent_media - stats.media)
            late += stats.late
            if stats.base_ms is not None and stats.buffer_ms is not None:
                delays.append(stats.base_ms)
                buffers.append(stats.buffer_ms)
                bursts.append(stats.burst_r)
            if stats.jitter_ms is not None:
                jitters.append(stats.jitter_ms)
    if not sent or not delays:
        return None
    return Media(round(100 * (lost + late) / sent, 3), round(100 * late / sent, 3), round(fmean(delays), 3),
                 round(fmean(buffers), 3), round(fmean(jitters), 3) if jitters else 0.0, fmean(bursts))


def delivery(seen: tuple[Seen, ...], signalling: list[FlowResult], media_flows: list[FlowResult]) -> Delivery:
    """A call's delivery from its flows' reports (signalling, then media, in plan order)."""
    first = (signalling or media_flows)[0]
    pdd = pdd_ms(first)
    ok, reset = signalled(signalling)
    if not ok:
        return Delivery(seen, False, reset, pdd)
    if any(r.client.error in ERRORS for r in media_flows):
        return Delivery(seen, True, MEDIA_PHASE, pdd)
    c = media_flows[0].client
    held = round(max(0.0, c.end - c.start - LINGER_S), 3) if c.start is not None else 0.0
    return Delivery(seen, True, "", pdd, media(media_flows), any(r.client.aborted == "poor" for r in media_flows),
                    held)
