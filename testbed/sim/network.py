"""The simulated network: the real classifier decides, a link model does the rest.

For each call the first packets of each of its flows — real bytes from
``testbed.traffic`` — go through the real ``Classifier`` with the cell's policy.
The verdict's action then decides the rest of the call flow-level: drop → the
media never arrives and the app gives up after the setup timeout; reset → the
call fails at once; throttle → the excess over the meter rate is lost; degrade
→ added loss, jitter and delay. Loss, delay and jitter of the path come from the
topology's links. A relay with ``capacity`` N refuses the (N+1)th concurrent call.

Bytes are generated per *variant* (``workload.variants`` random draws per app,
strategy and subscriber host) and their verdicts cached: the classifier is
deterministic in the bytes, so a million calls cost a few hundred classifier
runs. ``variants: 0`` builds and classifies every call's own bytes.
"""

from __future__ import annotations

import math
import random
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import simpy

from testbed.config.scenario import Workload as WorkloadSpec
from testbed.dpi.classifier import Classifier, Verdict
from testbed.metrics.emodel import mos_for, mouth_to_ear_ms
from testbed.metrics.jitter import expected_jitter
from testbed.policy.model import DEGRADE, DROP, RESET, THROTTLE, Policy
from testbed.topo import PathModel, path, server_for, subscriber_hosts
from testbed.traffic.apps import OPENING_PACKETS, PROCESSING_MS, PROFILES, SIGNALLING, FlowPlan
from testbed.traffic.circumvention import STRATEGIES, Strategy
from testbed.traffic.wire import Endpoints, packets
from testbed.workload.calls import Attempt, Subscriber
from testbed.workload.records import (
    CAPACITY,
    COMPLETED,
    DROPPED,
    NO_ANSWER,
    NO_MEDIA,
    SIGNALLING_BLOCKED,
    CallRecord,
    FlowRecord,
)
from testbed.workload.records import RESET as RESET_OUT

NO_ANSWER_RINGS = 4       # the caller gives up after this many ring periods


@dataclass(frozen=True)
class Classified:
    """A variant's flows, what the DPI said of each, and what that means for a call.

    Everything a call needs that does not change from call to call is worked out
    once here, so that placing a call is a few branches and one draw.
    """

    flows: tuple[tuple[FlowPlan, Verdict], ...]
    server: str
    capacity: int                  # of the server (0: unlimited)
    path: PathModel
    hit: Verdict | None            # the verdict the policy acts on (signalling before media)
    setup_s: float                 # post-dial delay
    # what the policy does before the callee answers, and after: (outcome, seconds) or ("", 0)
    refused: tuple[str, float] = ("", 0.0)
    unheard: tuple[str, float] = ("", 0.0)
    # the media of a call that goes ahead
    loss: float = 0.0              # after the action and the strategy's transport
    delay_ms: float = 0.0
    jitter_ms: float = 0.0         # RFC 3550 jitter a receiver would measure
    mouth_to_ear_ms: int = 0       # delay + packetisation + jitter buffer + look-ahead
    packets_per_s: float = 50.0
    ie: float = 0.0
    bpl: float = 25.1
    # for the record
    dpi_app: str = ""
    action: str = "allow"
    rule: str = ""
    ttb_packets: int = 0
    ttb_ms: float = 0.0


def classify(policy: Policy, plan: FlowPlan, ends: Endpoints, classifier: Classifier | None = None) -> Verdict:
    """Feed a flow's opening to a fresh classifier; settle it if the opening ran out first.

    ``classifier`` (with the same policy) is reset and reused: building one costs more
    than classifying a flow.
    """
    if classifier is None:
        classifier = Classifier(policy)
    else:
        classifier.reset()
    for t, packet in packets(plan, ends):
        verdict = classifier.feed(packet, t)
        if verdict is not None:
            return verdict
    return classifier.flush()[0]


class SimNetwork:
    """Implements ``testbed.workload.calls.Network`` in simulated time."""

    def __init__(self, topo: Any, policy: Policy, spec: WorkloadSpec, rng: random.Random, seed: int) -> None:
        self.topo, self.policy, self.spec, self.rng, self.seed = topo, policy, spec, rng, seed
        self.info = {h: topo.nodeInfo(h) for h in topo.hosts()}
        self.busy: dict[str, int] = {}
        self._paths: dict[tuple[str, str], PathModel] = {}
        self._variants: dict[tuple[str, str, str], list[Classified | None]] = {}
        self._classifier = Classifier(policy)
        self.classifications = 0

    def subscriber_hosts(self) -> list[tuple[str, str]]:
        return subscriber_hosts(self.info)

    def server_for(self, profile: str, operator: str) -> str:
        return server_for(self.topo, self.info, profile, operator)

    def path(self, src: str, dst: str) -> PathModel:
        key = (src, dst)
        if key not in self._paths:
            self._paths[key] = path(self.topo, src, dst)
        return self._paths[key]

    def pick(self, app: str, strategy: str, sub: Subscriber, call_id: int) -> Classified:
        """One of the app's variants at random (built and classified on first use)."""
        count = self.spec.variants
        if count == 0:
            return self.classified(app, strategy, sub, call_id)
        key = (app, strategy, sub.host)
        slots = self._variants.get(key)
        if slots is None:
            slots = self._variants[key] = [None] * count
        i = int(self.rng.random() * count)
        found = slots[i]
        if found is None:
            found = slots[i] = self.classified(app, strategy, sub, i)
        return found

    def classified(self, app: str, strategy_name: str, sub: Subscriber, variant: int) -> Classified:
        """Build a variant's first packets and run them through the classifier."""
        strategy = STRATEGIES[strategy_name]
        tag = f"{self.seed}:{app}:{strategy_name}:{variant}"
        plans = PROFILES[app].build(random.Random("build:" + tag), OPENING_PACKETS)
        plans = strategy.transform(plans, random.Random("wrap:" + tag))
        ports = random.Random("ports:" + tag)
        server = self.server_for(app, sub.operator)
        media_path = self.path(sub.host, server)
        first_hop = server
        if strategy.via is not None:
            first_hop = self.server_for(strategy.via, sub.operator)
            media_path = self.path(sub.host, first_hop).via(self.path(first_hop, server))
        client_ip = str(self.info[sub.host]["ip"]).split("/")[0]
        server_ip = str(self.info[first_hop]["ip"]).split("/")[0]
        flows = []
        for plan in plans:
            ends = Endpoints(client_ip, ports.randint(32768, 60999), server_ip, plan.server_port)
            flows.append((plan, classify(self.policy, plan, ends, self._classifier)))
            self.classifications += 1
        capacity = int(self.info[server].get("capacity") or 0)
        return effects(app, strategy, tuple(flows), server, capacity, media_path, self.spec)

    def flow(self, env: simpy.Environment, sub: Subscriber, app: str) -> FlowRecord:
        """A non-VoIP flow: only what the DPI does to it matters (collateral damage)."""
        _, verdict = self.pick(app, "none", sub, 0).flows[0]
        return FlowRecord(env.now, sub.ident, app, PROFILES[app].category, verdict.app or "",
                          verdict.action.kind, verdict.rule or "")

    def call(self, env: simpy.Environment, att: Attempt) -> Generator[Any, Any, CallRecord]:
        spec, sub = self.spec, att.subscriber
        c = self.pick(att.app, att.strategy, sub, att.call_id)
        record = CallRecord(att.call_id, att.intent_id, att.attempt, env.now, sub.ident, sub.operator, att.app,
                            att.strategy, COMPLETED, c.setup_s * 1000, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, c.dpi_app,
                            c.action, c.rule, c.ttb_packets, c.ttb_ms)
        outcome, wait = c.refused
        if not outcome:
            if c.capacity and self.busy.get(c.server, 0) >= c.capacity:
                outcome, wait = CAPACITY, c.setup_s
            elif spec.answer_probability < 1 and self.rng.random() >= spec.answer_probability:
                outcome, wait = NO_ANSWER, c.setup_s + spec.ring_s * NO_ANSWER_RINGS
            else:
                outcome, wait = c.unheard
        if outcome:
            record.outcome = outcome
            yield env.timeout(wait)
            return record
        loss_pct = self._loss_pct(c, att.holding_s)
        record.r_factor, record.mos = mos_for(c.mouth_to_ear_ms, int(loss_pct * 10 + 0.5) / 10, c.ie, c.bpl)
        record.loss_pct, record.jitter_ms, record.delay_ms = loss_pct, c.jitter_ms, c.delay_ms
        hold = att.holding_s
        if loss_pct > spec.max_call_loss_pct:
            record.outcome = DROPPED
            hold = spec.setup_timeout_s
        record.duration_s = hold
        busy = self.busy
        busy[c.server] = busy.get(c.server, 0) + 1
        yield env.timeout(c.setup_s + spec.ring_s + hold)
        busy[c.server] -= 1
        return record

    def _loss_pct(self, c: Classified, holding_s: float) -> float:
        """This call's media loss, drawn around the variant's loss rate (normal ≈ binomial)."""
        loss = c.loss
        if not 0 < loss < 1:
            return 100 * loss
        n = max(1, int(holding_s * c.packets_per_s))
        lost = n * loss + math.sqrt(n * loss * (1 - loss)) * self.rng.gauss(0, 1)
        return min(100.0, max(0.0, 100 * lost / n))


def effects(app: str, strategy: Strategy, flows: tuple[tuple[FlowPlan, Verdict], ...], server: str,
            capacity: int, p: PathModel, spec: WorkloadSpec) -> Classified:
    """What the path, the policy's action and the strategy's transport do to a call of this variant."""
    profile = PROFILES[app]
    hits = sorted((pv for pv in flows if pv[1].action.hits), key=lambda pv: pv[0].role != SIGNALLING)
    hit_plan, hit = hits[0] if hits else (None, None)
    setup_s = (profile.setup_rtts * 2 * p.delay_ms + PROCESSING_MS) / 1000
    shown = hit if hit is not None else flows[-1][1]
    record: dict[str, Any] = dict(dpi_app=shown.app or "", action=hit.action.kind if hit else "allow",
                                  rule=hit.rule or "" if hit else "", ttb_packets=hit.packet_index if hit else 0,
                                  ttb_ms=round(hit.elapsed * 1000, 3) if hit else 0.0)
    action = hit.action if hit is not None else None
    refused = unheard = ("", 0.0)
    if action is not None and action.kind in (DROP, RESET):
        if hit_plan is not None and hit_plan.role == SIGNALLING:
            refused = ((SIGNALLING_BLOCKED, spec.setup_timeout_s) if action.kind == DROP
                       else (RESET_OUT, p.delay_ms / 500))
        else:  # the callee answers; then no media (drop: the app times out) or a reset
            unheard = ((NO_MEDIA, setup_s + spec.ring_s + spec.setup_timeout_s) if action.kind == DROP
                       else (RESET_OUT, setup_s + spec.ring_s))
    codec = profile.codec
    if codec is None:  # not a call: only the verdict matters
        return Classified(flows, server, capacity, p, hit, setup_s, refused, unheard, **record)
    loss, delay, sigma = p.loss, p.delay_ms, p.jitter_ms
    media_kbps = max(pl.kbps for pl, _ in flows) + strategy.overhead_bytes * 8 * codec.packets_per_s / 1000
    if action is not None and action.kind == THROTTLE and media_kbps > action.kbps:
        loss = 1 - (1 - loss) * (action.kbps / media_kbps)  # the meter drops the excess
    if action is not None and action.kind == DEGRADE:
        loss = 1 - (1 - loss) * (1 - action.loss_pct / 100)
        sigma = math.hypot(sigma, action.jitter_ms)
        delay += action.delay_ms
    if strategy.over_tcp:  # retransmitted, not lost: each loss stalls the stream one round trip
        rtt = 2 * delay
        delay += loss * rtt
        sigma = math.hypot(sigma, rtt * math.sqrt(loss))
        loss = 0.0
    mouth_to_ear = mouth_to_ear_ms(delay, sigma, codec.frame_ms)
    return Classified(flows, server, capacity, p, hit, setup_s, refused, unheard, loss, delay,
                      expected_jitter(sigma), round(mouth_to_ear), codec.packets_per_s, codec.ie, codec.bpl,
                      **record)
