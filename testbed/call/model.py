"""The one call model: what a network's carriage of a plan means for the call (pure).

A network (``testbed.sim`` or ``testbed.emu``) *carries* a ``CallPlan`` and says what
happened on the wire (``Delivery``): per flow what the DPI did (``Seen``), whether the
signalling got its answers, a reset and when, when the ringback arrived, what media
arrived and how. Everything else is decided here, once, for both modes:

- which hit counts for the call: the first flow an action hit, signalling before media;
- the outcome: a reset before the callee answered, signalling that got no answer, the
  callee not answering, a reset after the answer, no media, media too poor to bear
  (the app gives up), or completed; ``answered`` records whether the callee picked up;
- the voice quality: the E-model on the media's loss (late packets included), delay and
  jitter buffer, with the codec's Ie/Bpl and the loss's burstiness;
- how long each outcome occupies the caller (the app's timers, the callee's ring);
- the post-dial delay the wire would show: ``expected_pdd_ms`` (the simulator draws it;
  the emulation measures it on the packets, never falls back to this);
- the record, built by name in ``record`` only.
"""

from __future__ import annotations

from dataclasses import dataclass

from testbed.call.plan import CallPlan, ringback
from testbed.call.records import (
    BUSY,
    CAPACITY,
    COMPLETED,
    DROPPED,
    NO_ANSWER,
    NO_MEDIA,
    RESET,
    SIGNALLING_BLOCKED,
    CallRecord,
    FlowRecord,
)
from testbed.config.scenario import Workload
from testbed.dpi.classifier import Verdict
from testbed.metrics.emodel import mos_for, mouth_to_ear_ms
from testbed.policy.model import ALLOW, DROP, Action
from testbed.policy.model import RESET as RESET_ACTION
from testbed.traffic.apps import SIGNALLING
from testbed.workload.calls import Attempt

NO_ANSWER_RINGS = 4            # the caller gives up after this many ring periods
SIGNALLING_PHASE, MEDIA_PHASE = "signalling", "media"
_ALLOW = Action(ALLOW)


@dataclass(frozen=True, slots=True)
class Seen:
    """What the operator's DPI did to one flow of a call."""

    role: str                 # the flow's role in the plan (signalling | media)
    app: str = ""             # what the DPI named it
    action: Action = _ALLOW
    rule: str = ""
    packets: int = 0          # time-to-block: the flow's packet (both directions, from 1) the action took; 0 none
    ms: float = 0.0           # ... its arrival at the DPI minus the flow's first packet's
    why: str = ""             # the classifier's evidence (``Verdict.why``), for the report's decision traces

    @classmethod
    def of(cls, role: str, v: Verdict) -> Seen:
        """What a classifier's verdict says the DPI did (time-to-block as the classifier counted it)."""
        hit = v.action.hits
        return cls(role, v.app or "", v.action, v.rule or "", v.packet_index if hit else 0,
                   round(v.elapsed * 1000, 3) if hit else 0.0, v.why)

    @property
    def hit(self) -> bool:
        return self.action.hits

    @property
    def stops(self) -> bool:
        """Nothing of the flow passes from ``packets`` on."""
        return self.action.kind in (DROP, RESET_ACTION)


@dataclass(frozen=True, slots=True)
class Media:
    """What a call's media looked like at the receivers, both ways pooled."""

    loss_pct: float           # lost or later than the playout deadline
    late_pct: float           # of which late
    delay_ms: float           # base one-way delay
    buffer_ms: float          # the jitter buffer (testbed.metrics.playout)
    jitter_ms: float          # RFC 3550 interarrival jitter
    burst_r: float = 1.0      # G.107 BurstR of the losses


@dataclass(frozen=True, slots=True)
class Delivery:
    """What a network did with a plan, measured (emulation) or drawn (simulation)."""

    seen: tuple[Seen, ...]            # the flows carried, in plan order
    signalled: bool = True            # every signalling exchange got all its answers
    reset: str = ""                   # "", SIGNALLING_PHASE (before the answer) or MEDIA_PHASE
    pdd_ms: float | None = None       # dial → ringback; None when it never came
    media: Media | None = None        # None: no media came back within the setup timeout
    gave_up: bool = False             # the app hung up on poor media
    held_s: float = 0.0               # seconds the media flowed


def hit_of(seen: tuple[Seen, ...]) -> Seen | None:
    """The hit that counts for the call: the first flow an action hit, signalling before media."""
    hits = [s for s in seen if s.hit]
    if not hits:
        return None
    return next((s for s in hits if s.role == SIGNALLING), hits[0])


def retimed(rec: CallRecord, seen: tuple[Seen, ...]) -> None:
    """The record's time-to-block from flows a network measured after the call (the emulation
    reads its DPI's capture at the end of a cell): the same hit counts, with its new numbers."""
    hit = hit_of(seen)
    if hit is not None and hit.stops:
        rec.ttb_packets, rec.ttb_ms = hit.packets, hit.ms


def expected_pdd_ms(plan: CallPlan) -> float:
    """Dial → ringback as the wire carries it: the strategy's own round trips to its first hop,
    a TCP handshake if the app's first flow is TCP, then the answer, which the far end sends
    ``t`` after the call's first packet reached it (the plan's timing): 2 × one way + t."""
    route, first = plan.route, plan.variant.inner[0]
    found = ringback(first)
    answer_s = found.t if found else 0.0
    rtts = plan.strategy.setup_rtts * 2 * route.first_leg.delay_ms
    connect = 2 * route.path.delay_ms if first.l4 == "tcp" else 0.0
    return rtts + connect + 2 * route.path.delay_ms + answer_s * 1000


def flow_record(t_start: float, subscriber: int, app: str, category: str, seen: Seen) -> FlowRecord:
    """A non-VoIP flow's record: only what the DPI did to it matters (collateral damage)."""
    return FlowRecord(t_start=t_start, subscriber=subscriber, app=app, category=category, dpi_app=seen.app,
                      action=seen.action.kind, rule=seen.rule)


@dataclass(frozen=True)
class CallModel:
    """The app's and the user's rules, from the scenario's workload (timers, patience)."""

    spec: Workload

    def decide(self, plan: CallPlan, d: Delivery) -> tuple[str, bool]:
        """(outcome, answered) of a carried call."""
        if d.reset == SIGNALLING_PHASE:
            return RESET, False
        if not d.signalled:
            return SIGNALLING_BLOCKED, False
        if not plan.attempt.answers:
            return NO_ANSWER, False
        if d.reset == MEDIA_PHASE:
            return RESET, True
        if d.media is None:
            return NO_MEDIA, True
        if d.gave_up or d.media.loss_pct > self.spec.max_call_loss_pct:
            return DROPPED, True
        return COMPLETED, True

    def elapsed_s(self, plan: CallPlan, outcome: str, d: Delivery | None = None) -> float:
        """How long an attempt with this outcome occupies the caller, by the apps' timers."""
        spec = self.spec
        pdd = (d.pdd_ms if d is not None and d.pdd_ms is not None else expected_pdd_ms(plan)) / 1000
        if outcome == BUSY:
            return 0.0
        if outcome == CAPACITY:
            return pdd
        if outcome == SIGNALLING_BLOCKED:
            return spec.setup_timeout_s
        if outcome == RESET:
            after_answer = d is not None and d.reset == MEDIA_PHASE
            return pdd + spec.ring_s if after_answer else 2 * plan.route.first_leg.delay_ms / 1000
        if outcome == NO_ANSWER:
            return pdd + spec.ring_s * NO_ANSWER_RINGS
        if outcome in (NO_MEDIA, DROPPED):   # the app's timer: no (bearable) media by then
            return pdd + spec.ring_s + spec.setup_timeout_s
        return pdd + spec.ring_s + plan.attempt.holding_s

    def record(self, att: Attempt, t_start: float, outcome: str, plan: CallPlan | None = None,
               d: Delivery | None = None, answered: bool = False) -> CallRecord:
        """The call's record: the only place one is built."""
        sub = att.subscriber
        rec = CallRecord(call_id=att.call_id, intent_id=att.intent_id, attempt=att.attempt, t_start=t_start,
                         subscriber=sub.ident, operator=sub.operator, app=att.app, strategy=att.strategy,
                         outcome=outcome, answered=answered)
        if d is None or plan is None:
            return rec
        rec.pdd_ms = d.pdd_ms
        hit = hit_of(d.seen)
        shown = hit if hit is not None else (d.seen[-1] if d.seen else None)
        if shown is not None:
            rec.dpi_app, rec.action = shown.app, shown.action.kind
        if hit is not None:
            rec.rule = hit.rule
            if hit.stops:   # time-to-block: what blocks, not what passes degraded or metered
                rec.ttb_packets, rec.ttb_ms = hit.packets, hit.ms
        m, codec = d.media, plan.profile.codec
        if m is not None and codec is not None and outcome in (COMPLETED, DROPPED):
            ta = mouth_to_ear_ms(m.delay_ms, m.buffer_ms, codec.frame_ms)
            rec.r_factor, rec.mos = mos_for(round(ta), round(m.loss_pct, 1), codec.ie, codec.bpl,
                                            round(m.burst_r, 1))
            rec.loss_pct, rec.late_pct, rec.jitter_ms, rec.delay_ms = m.loss_pct, m.late_pct, m.jitter_ms, m.delay_ms
            rec.duration_s = d.held_s if outcome == COMPLETED or d.gave_up else self.spec.setup_timeout_s
        return rec
