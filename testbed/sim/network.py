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
from testbed.workload.records import (CAPACITY, COMPLETED, DROPPED, NO_ANSWER, NO_MEDIA, RESET as RESET_OUT,
                                      SIGNALLING_BLOCKED, CallRecord, FlowRecord)

OPENING_PACKETS = 24      # packets built per flow: more than any inspection window we ship
PROCESSING_MS = 40.0      # server-side call processing in the post-dial delay
CODEC_LOOKAHEAD_MS = 5.0


@dataclass(frozen=True)
class Classified:
    """A variant's flows, what the DPI said of each, and the path its media takes."""

    flows: tuple[tuple[FlowPlan, Verdict], ...]
    path: PathModel
    server: str

    @property
    def hit(self) -> tuple[FlowPlan, Verdict] | None:
        """The flow the policy acts on first: signalling before media."""
        hits = [(p, v) for p, v in self.flows if v.action.hits]
        hits.sort(key=lambda pv: pv[0].role != SIGNALLING)
        return hits[0] if hits else None


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
        return call_id if self.spec.variants == 0 else self.rng.randrange(self.spec.variants)

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
        result = Classified(tuple(flows), media_path, server)
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
        spec, rng = self.spec, self.rng
        profile = PROFILES[att.app]
        assert profile.kind == CALL and profile.codec is not None
        strategy = STRATEGIES[att.strategy]
        found = self.classified(att.app, att.strategy, att.subscriber, self._variant(att.call_id))
        p = found.path
        rtt = 2 * p.delay_ms
        pdd = profile.setup_rtts * rtt + PROCESSING_MS
        hit = found.hit
        verdict = hit[1] if hit else found.flows[-1][1]
        action = verdict.action if hit else None
        record = CallRecord(att.call_id, att.intent_id, att.attempt, env.now, att.subscriber.ident,
                            att.subscriber.operator, att.app, att.strategy, COMPLETED, pdd, 0.0,
                            0.0, 0.0, 0.0, 0.0, 0.0, verdict.app or "", action.kind if action else "allow",
                            verdict.rule or "" if hit else "", verdict.packet_index if hit else 0,
                            round(verdict.elapsed * 1000, 3) if hit else 0.0)
        wait = 0.0
        if hit and hit[0].role == SIGNALLING and action is not None and action.kind in (DROP, RESET):
            record.outcome = SIGNALLING_BLOCKED if action.kind == DROP else RESET_OUT
            wait = spec.setup_timeout_s if action.kind == DROP else rtt / 1000
        elif found.server and self._full(found.server):
            record.outcome = CAPACITY
            wait = pdd / 1000
        elif spec.answer_probability < 1 and rng.random() >= spec.answer_probability:
            record.outcome = NO_ANSWER
            wait = pdd / 1000 + spec.ring_s * 4
        elif action is not None and action.kind in (DROP, RESET):
            record.outcome = NO_MEDIA if action.kind == DROP else RESET_OUT
            wait = pdd / 1000 + spec.ring_s + (spec.setup_timeout_s if action.kind == DROP else 0)
        if wait:
            record.duration_s = 0.0
            yield env.timeout(wait)
            return record
        self._quality(record, found, strategy, action, att.holding_s)
        if record.loss_pct > spec.max_call_loss_pct:
            record.outcome = DROPPED
            hold = spec.setup_timeout_s
        else:
            hold = att.holding_s
        record.duration_s = hold
        server = found.server
        self.busy[server] = self.busy.get(server, 0) + 1
        try:
            yield env.timeout(pdd / 1000 + spec.ring_s + hold)
        finally:
            self.busy[server] -= 1
        return record

    def _full(self, server: str) -> bool:
        capacity = int(self.info[server].get("capacity") or 0)
        return capacity > 0 and self.busy.get(server, 0) >= capacity

    def _quality(self, record: CallRecord, found: Classified, strategy: Strategy, action: Any,
                 holding_s: float) -> None:
        """Loss, jitter, delay and E-model MOS of the media, drawn for this call."""
        profile = PROFILES[record.app]
        codec = profile.codec
        assert codec is not None
        p = found.path
        loss = p.loss
        delay = p.delay_ms
        sigma = p.jitter_ms
        media_kbps = max(pl.kbps for pl, _ in found.flows) + strategy.overhead_bytes * 8 * codec.packets_per_s / 1000
        if action is not None and action.kind == THROTTLE and media_kbps > action.kbps:
            loss = 1 - (1 - loss) * (action.kbps / media_kbps)
        if action is not None and action.kind == DEGRADE:
            loss = 1 - (1 - loss) * (1 - action.loss_pct / 100)
            sigma = math.hypot(sigma, action.jitter_ms)
            delay += action.delay_ms
        if strategy.over_tcp:  # retransmitted, not lost: each loss stalls the stream one round trip
            rtt = 2 * delay
            delay += loss * rtt
            sigma = math.hypot(sigma, rtt * math.sqrt(loss))
            loss = 0.0
        n = max(1, int(holding_s * codec.packets_per_s))
        lost = n * loss + math.sqrt(n * loss * (1 - loss)) * self.rng.gauss(0, 1) if 0 < loss < 1 else n * loss
        loss_pct = min(100.0, max(0.0, 100 * lost / n))
        buffer = max(2 * sigma, 10.0)
        ta = delay + codec.frame_ms + buffer + CODEC_LOOKAHEAD_MS
        r, m = mos_for(round(ta), round(loss_pct, 1), codec.ie, codec.bpl)
        record.loss_pct = round(loss_pct, 3)
        record.jitter_ms = round(expected_jitter(sigma), 3)
        record.delay_ms = round(delay, 3)
        record.r_factor = round(r, 3)
        record.mos = round(m, 3)
