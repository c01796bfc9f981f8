"""The simulated network: the real classifier decides, a link model does the rest.

For each call the first packets of each of its flows — real bytes from
``testbed.traffic`` — go through the real ``Classifier`` with the cell's policy.
The verdict's action then decides the rest of the call flow-level: drop → the
media never arrives and the app gives up after the setup timeout; reset → the
call fails at once; throttle → the excess over the meter rate is lost; degrade
→ added loss, jitter and delay. Loss, delay and jitter of the path come from the
topology's links. A relay with ``capacity`` N refuses the (N+1)th concurrent call.

Bytes are generated per *variant* (``workload.variants`` random draws per app
and strategy) and their verdicts cached: the classifier is deterministic in the
bytes, so a million calls cost a few hundred classifications. ``variants: 0``
builds and classifies every call's own bytes.
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
from testbed.metrics.emodel import mos_for
from testbed.metrics.jitter import expected_jitter
from testbed.policy.model import DEGRADE, DROP, RESET, THROTTLE, Policy
from testbed.topo import PathModel, path
from testbed.traffic.apps import CALL, PROFILES, SIGNALLING, FlowPlan
from testbed.traffic.circumvention import STRATEGIES, Strategy
from testbed.traffic.wire import Endpoints, packets
from testbed.workload.calls import Attempt, Subscriber
from testbed.workload.records import (CAPACITY, COMPLETED, DROPPED, NO_ANSWER, NO_MEDIA, SIGNALLING_BLOCKED,
                                      CallRecord, FlowRecord)
from testbed.workload.records import RESET as RESET_OUT

OPENING_PACKETS = 24      # packets built per flow: more than any inspection window we ship
PROCESSING_MS = 40.0      # server-side call processing in the post-dial delay
CODEC_LOOKAHEAD_MS = 5.0


@dataclass(frozen=True)
class Classified:
    """A variant's flows, what the DPI said of each, and what that means for a call.

    Everything a call needs that does not change from call to call is worked out
    once here, so that placing a call is a few branches and one draw.
    """

    flows: tuple[tuple[FlowPlan, Verdict], ...]
    server: str
    path: PathModel
    hit: Verdict | None            # the verdict the policy acts on (signalling before media)
    hit_role: str = ""
    pdd_ms: float = 0.0
    loss: float = 0.0              # media loss after the action and the strategy's transport
    delay_ms: float = 0.0
    sigma_ms: float = 0.0          # std of the media's delay variation
    # the same for every call of this variant, ready for its record
    dpi_app: str = ""
    action: str = "allow"
    rule: str = ""
    ttb_packets: int = 0
    ttb_ms: float = 0.0
    jitter_ms: float = 0.0         # RFC 3550 jitter a receiver would measure
    mouth_to_ear_ms: int = 0       # delay + packetisation + jitter buffer + look-ahead


def classify(policy: Policy, plan: FlowPlan, ends: Endpoints) -> Verdict:
    """Feed a flow's opening to a fresh classifier; settle it if the opening ran out first."""
    classifier = Classifier(policy)
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
        self.capacity = {h: int(i.get("capacity") or 0) for h, i in self.info.items()}
        self._paths: dict[tuple[str, str], PathModel] = {}
        self._cache: dict[tuple[str, str, str, int], Classified] = {}
        self.classifications = 0

    def subscriber_hosts(self) -> list[tuple[str, str]]:
        return [(h, str(i.get("operator", ""))) for h, i in self.info.items() if i.get("role") == "subscriber"]

    def server_for(self, profile: str, operator: str) -> str:
        """The host serving a profile: the subscriber's own operator's if there is one."""
        hosts = [h for h, i in self.info.items() if profile in i.get("serves", ())]
        if not hosts:
            raise ValueError(f"topology {type(self.topo).__name__} has no server for '{profile}'")
        own = [h for h in hosts if self.info[h].get("operator") == operator]
        return (own or hosts)[0]

    def path(self, src: str, dst: str) -> PathModel:
        key = (src, dst)
        if key not in self._paths:
            self._paths[key] = path(self.topo, src, dst)
        return self._paths[key]

    def _variant(self, call_id: int) -> int:
        variants = self.spec.variants
        return call_id if variants == 0 else int(self.rng.random() * variants)

    def classified(self, app: str, strategy_name: str, sub: Subscriber, variant: int) -> Classified:
        key = (app, strategy_name, sub.host, variant)
        found = self._cache.get(key)
        if found is not None:
            return found
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
            flows.append((plan, classify(self.policy, plan, ends)))
            self.classifications += 1
        result = media_effects(app, strategy, tuple(flows), server, media_path)
        if self.spec.variants:
            self._cache[key] = result
        return result

    def flow(self, env: simpy.Environment, sub: Subscriber, app: str) -> FlowRecord:
        """A non-VoIP flow: only what the DPI does to it matters (collateral damage)."""
        found = self.classified(app, "none", sub, self._variant(0))
        _, verdict = found.flows[0]
        return FlowRecord(env.now, sub.ident, app, PROFILES[app].category, verdict.app or "",
                          verdict.action.kind, verdict.rule or "")

    def call(self, env: simpy.Environment, att: Attempt) -> Generator[Any, Any, CallRecord]:
        spec, sub = self.spec, att.subscriber
        c = self.classified(att.app, att.strategy, sub, self._variant(att.call_id))
        action = c.action
        record = CallRecord(att.call_id, att.intent_id, att.attempt, env.now, sub.ident, sub.operator, att.app,
                            att.strategy, COMPLETED, c.pdd_ms, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, c.dpi_app, action,
                            c.rule, c.ttb_packets, c.ttb_ms)
        setup = c.pdd_ms / 1000
        wait = 0.0
        if action in (DROP, RESET) and c.hit_role == SIGNALLING:
            record.outcome = SIGNALLING_BLOCKED if action == DROP else RESET_OUT
            wait = spec.setup_timeout_s if action == DROP else c.path.delay_ms / 500
        elif self._full(c.server):
            record.outcome = CAPACITY
            wait = setup
        elif spec.answer_probability < 1 and self.rng.random() >= spec.answer_probability:
            record.outcome = NO_ANSWER
            wait = setup + spec.ring_s * 4
        elif action in (DROP, RESET):
            record.outcome = NO_MEDIA if action == DROP else RESET_OUT
            wait = setup + spec.ring_s + (spec.setup_timeout_s if action == DROP else 0)
        if wait:
            yield env.timeout(wait)
            return record
        self._quality(record, c, att.holding_s)
        hold = att.holding_s
        if record.loss_pct > spec.max_call_loss_pct:
            record.outcome = DROPPED
            hold = spec.setup_timeout_s
        record.duration_s = hold
        busy = self.busy
        busy[c.server] = busy.get(c.server, 0) + 1
        yield env.timeout(setup + spec.ring_s + hold)
        busy[c.server] -= 1
        return record

    def _full(self, server: str) -> bool:
        capacity = self.capacity.get(server, 0)
        return capacity > 0 and self.busy.get(server, 0) >= capacity

    def _quality(self, record: CallRecord, c: Classified, holding_s: float) -> None:
        """This call's loss, drawn around the variant's loss rate, and the E-model R and MOS."""
        codec = PROFILES[record.app].codec
        assert codec is not None
        loss = c.loss
        if 0 < loss < 1:
            n = max(1, int(holding_s * codec.packets_per_s))
            lost = n * loss + math.sqrt(n * loss * (1 - loss)) * self.rng.gauss(0, 1)
            loss_pct = min(100.0, max(0.0, 100 * lost / n))
        else:
            loss_pct = 100 * loss
        record.r_factor, record.mos = mos_for(c.mouth_to_ear_ms, int(loss_pct * 10 + 0.5) / 10, codec.ie, codec.bpl)
        record.loss_pct = loss_pct
        record.jitter_ms = c.jitter_ms
        record.delay_ms = c.delay_ms


def media_effects(app: str, strategy: Strategy, flows: tuple[tuple[FlowPlan, Verdict], ...], server: str,
                  p: PathModel) -> Classified:
    """What the path, the policy's action and the strategy's transport do to a call's media."""
    profile = PROFILES[app]
    hits = sorted((pv for pv in flows if pv[1].action.hits), key=lambda pv: pv[0].role != SIGNALLING)
    hit_plan, hit = hits[0] if hits else (None, None)
    pdd = profile.setup_rtts * 2 * p.delay_ms + PROCESSING_MS
    shown = hit if hit is not None else flows[-1][1]
    verdict_fields = dict(dpi_app=shown.app or "", action=hit.action.kind if hit else "allow",
                          rule=hit.rule or "" if hit else "", ttb_packets=hit.packet_index if hit else 0,
                          ttb_ms=round(hit.elapsed * 1000, 3) if hit else 0.0)
    if profile.kind != CALL or profile.codec is None:
        return Classified(flows, server, p, hit, hit_plan.role if hit_plan else "", pdd, **verdict_fields)
    loss, delay, sigma = p.loss, p.delay_ms, p.jitter_ms
    action = hit.action if hit is not None else None
    media_kbps = max(pl.kbps for pl, _ in flows) + strategy.overhead_bytes * 8 * profile.codec.packets_per_s / 1000
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
    codec = profile.codec
    mouth_to_ear = delay + codec.frame_ms + max(2 * sigma, 10.0) + CODEC_LOOKAHEAD_MS
    return Classified(flows, server, p, hit, hit_plan.role if hit_plan else "", pdd, loss, delay, sigma,
                      jitter_ms=expected_jitter(sigma), mouth_to_ear_ms=round(mouth_to_ear), **verdict_fields)
