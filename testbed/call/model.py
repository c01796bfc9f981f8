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

from dataclasses import dataclass, field
from typing import NamedTuple

from testbed.call.plan import CallPlan, Shape, ringback
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
KEPT_PER_SHAPE = 4096          # what is remembered per shape or its flows, at most (variants: 0 makes one a call)
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


class Media(NamedTuple):
    """What a call's media looked like at the receivers, both ways pooled (a named tuple: immutable,
    and the simulator builds one a call at a tuple's cost)."""

    loss_pct: float           # lost or later than the playout deadline
    late_pct: float           # of which late
    delay_ms: float           # base one-way delay
    buffer_ms: float          # the jitter buffer (testbed.metrics.playout)
    jitter_ms: float          # RFC 3550 interarrival jitter
    burst_r: float = 1.0      # G.107 BurstR of the losses


class Delivery(NamedTuple):
    """What a network did with a plan, measured (emulation) or drawn (simulation); a named tuple,
    as ``Media``. The simulator gives the calls of a variant that carry no media one."""

    seen: tuple[Seen, ...]            # the flows carried, in plan order
    signalled: bool = True            # every signalling exchange got all its answers
    reset: str = ""                   # "", SIGNALLING_PHASE (before the answer) or MEDIA_PHASE
    pdd_ms: float | None = None       # dial → ringback; None when it never came
    media: Media | None = None        # None: no media came back within the setup timeout
    gave_up: bool = False             # the app hung up on poor media
    held_s: float = 0.0               # seconds the media flowed
    shared: bool = False              # the same for every call of the plan's shape (``CallModel.conclude``)


def hit_of(seen: tuple[Seen, ...]) -> Seen | None:
    """The hit that counts for the call: the first flow an action hit, signalling before media."""
    hits = [s for s in seen if s.hit]
    if not hits:
        return None
    return next((s for s in hits if s.role == SIGNALLING), hits[0])


def retimed(rec: CallRecord, seen: tuple[Seen, ...]) -> CallRecord:
    """The record with its time-to-block from flows a network measured after the call (the
    emulation reads its DPI's capture at the end of a cell): the same hit counts, with its new numbers."""
    hit = hit_of(seen)
    if hit is not None and hit.stops:
        return rec._replace(ttb_packets=hit.packets, ttb_ms=hit.ms)
    return rec


def expected_pdd_ms(plan: CallPlan) -> float:
    """Dial → ringback as the wire carries it: the strategy's own round trips to its first hop,
    a TCP handshake if the app's first flow is TCP, then the answer, which the far end sends
    ``t`` after the call's first packet reached it (the plan's timing): 2 × one way + t."""
    shape = plan.shape
    route, first = shape.route, shape.variant.inner[0]
    found = ringback(first)
    answer_s = found.t if found else 0.0
    rtts = shape.strategy.setup_rtts * 2 * route.first_leg.delay_ms
    connect = 2 * route.path.delay_ms if first.l4 == "tcp" else 0.0
    return rtts + connect + 2 * route.path.delay_ms + answer_s * 1000


def flow_record(t_start: float, subscriber: int, app: str, category: str, seen: Seen) -> FlowRecord:
    """A non-VoIP flow's record: only what the DPI did to it matters (collateral damage)."""
    return FlowRecord(t_start, subscriber, app, category, seen.app, seen.action.kind, seen.rule)


@dataclass(frozen=True)
class CallModel:
    """The app's and the user's rules, from the scenario's workload (timers, patience). What
    does not change from call to call is remembered: the DPI's part of a record per ``seen``
    tuple, the expected post-dial delay per shape, a shared delivery's conclusion."""

    spec: Workload
    _dpi_parts: dict[int, tuple[tuple[Seen, ...], tuple[str, str, str, int, float]]] = field(
        default_factory=dict, init=False, repr=False, compare=False)
    _pdds: dict[Shape, float] = field(default_factory=dict, init=False, repr=False, compare=False)
    _concluded: dict[tuple[int, bool], tuple[Delivery, str, bool, float]] = field(
        default_factory=dict, init=False, repr=False, compare=False)

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

    def conclude(self, plan: CallPlan, d: Delivery) -> tuple[str, bool, float]:
        """(outcome, answered, seconds the attempt occupies its caller): ``decide`` then ``elapsed_s``.
        Remembered for a shared delivery, with whether the callee answers: then nothing else of
        the attempt matters (its holding time only to a completed call, which has media of its own)."""
        if not d.shared:
            outcome, answered = self.decide(plan, d)
            return outcome, answered, self.elapsed_s(plan, outcome, d)
        key = (id(d), plan.attempt.answers)
        found = self._concluded.get(key)
        if found is None or found[0] is not d:
            outcome, answered = self.decide(plan, d)
            assert outcome != COMPLETED, "a shared delivery with media"
            if len(self._concluded) >= KEPT_PER_SHAPE:
                self._concluded.clear()
            found = self._concluded[key] = (d, outcome, answered, self.elapsed_s(plan, outcome, d))
        return found[1], found[2], found[3]

    def elapsed_s(self, plan: CallPlan, outcome: str, d: Delivery | None = None) -> float:
        """How long an attempt with this outcome occupies the caller, by the apps' timers."""
        spec = self.spec
        if outcome == BUSY:
            return 0.0
        if outcome == SIGNALLING_BLOCKED:
            return spec.setup_timeout_s
        if outcome == RESET and not (d is not None and d.reset == MEDIA_PHASE):
            return 2 * plan.shape.route.first_leg.delay_ms / 1000
        pdd = d.pdd_ms if d is not None else None
        if pdd is None:
            pdd = self._pdds.get(plan.shape) or self._expected_pdd_ms(plan)
        pdd /= 1000
        if outcome == COMPLETED:
            return pdd + spec.ring_s + plan.attempt.holding_s
        if outcome in (NO_MEDIA, DROPPED):   # the app's timer: no (bearable) media by then
            return pdd + spec.ring_s + spec.setup_timeout_s
        if outcome == NO_ANSWER:
            return pdd + spec.ring_s * NO_ANSWER_RINGS
        if outcome == CAPACITY:
            return pdd
        assert outcome == RESET   # after the answer
        return pdd + spec.ring_s

    def record(self, att: Attempt, t_start: float, outcome: str, plan: CallPlan | None = None,
               d: Delivery | None = None, answered: bool = False) -> CallRecord:
        """The call's record: the only place one is built."""
        sub = att.subscriber
        if d is None or plan is None:   # nothing carried it (busy, the relay full)
            return CallRecord(call_id=att.call_id, intent_id=att.intent_id, attempt=att.attempt, t_start=t_start,
                              subscriber=sub.ident, operator=sub.operator, app=att.app, strategy=att.strategy,
                              outcome=outcome, answered=answered)
        found = self._dpi_parts.get(id(d.seen))
        dpi_app, action, rule, ttb_packets, ttb_ms = (found[1] if found is not None and found[0] is d.seen
                                                      else self._dpi_part(d.seen))
        m, codec = d.media, plan.shape.profile.codec
        if m is None or codec is None or (outcome != COMPLETED and outcome != DROPPED):
            return CallRecord(call_id=att.call_id, intent_id=att.intent_id, attempt=att.attempt, t_start=t_start,
                              subscriber=sub.ident, operator=sub.operator, app=att.app, strategy=att.strategy,
                              outcome=outcome, answered=answered, pdd_ms=d.pdd_ms, dpi_app=dpi_app, action=action,
                              rule=rule, ttb_packets=ttb_packets, ttb_ms=ttb_ms)
        r, mos = mos_for(round(mouth_to_ear_ms(m.delay_ms, m.buffer_ms, codec.frame_ms)), round(m.loss_pct, 1),
                         codec.ie, codec.bpl, round(m.burst_r, 1))
        return CallRecord(call_id=att.call_id, intent_id=att.intent_id, attempt=att.attempt, t_start=t_start,
                          subscriber=sub.ident, operator=sub.operator, app=att.app, strategy=att.strategy,
                          outcome=outcome, answered=answered, pdd_ms=d.pdd_ms,
                          duration_s=d.held_s if outcome == COMPLETED or d.gave_up else self.spec.setup_timeout_s,
                          loss_pct=m.loss_pct, late_pct=m.late_pct, jitter_ms=m.jitter_ms, delay_ms=m.delay_ms,
                          r_factor=r, mos=mos, dpi_app=dpi_app, action=action, rule=rule, ttb_packets=ttb_packets,
                          ttb_ms=ttb_ms)

    def _expected_pdd_ms(self, plan: CallPlan) -> float:
        """``expected_pdd_ms``, remembered per shape (the plan's all but its attempt)."""
        found = self._pdds.get(plan.shape)
        if found is None:
            if len(self._pdds) >= KEPT_PER_SHAPE:
                self._pdds.clear()
            found = self._pdds[plan.shape] = expected_pdd_ms(plan)
        return found

    def _dpi_part(self, seen: tuple[Seen, ...]) -> tuple[str, str, str, int, float]:
        """(dpi_app, action, rule, ttb_packets, ttb_ms) of a record: the hit that counts shows, or
        else the last flow; time-to-block is what blocks, not what passes degraded or metered.
        Remembered per ``seen`` tuple, which a network shares among the calls of a variant."""
        hit = hit_of(seen)
        shown = hit if hit is not None else (seen[-1] if seen else None)
        stops = hit is not None and hit.stops
        part = (shown.app if shown else "", shown.action.kind if shown else ALLOW, hit.rule if hit else "",
                hit.packets if stops else 0, hit.ms if stops else 0.0)   # type: ignore[union-attr]
        if len(self._dpi_parts) >= KEPT_PER_SHAPE:
            self._dpi_parts.clear()
        self._dpi_parts[id(seen)] = (seen, part)   # holding ``seen``: its id cannot be reused meanwhile
        return part
