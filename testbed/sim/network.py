"""The simulated network: the real classifier decides, the link model carries the rest.

It carries a call's plan (``testbed.call.plan``) flow-level. The first packets of each
of the call's flows — real bytes — go through the real ``Classifier`` with the cell's
policy, one classifier for the whole call (so what one flow taught it names the next),
timed as the DPI switch on the path sees them. Then ``testbed.sim.physics`` and
``testbed.sim.links`` draw what the path, the load on its links and the policy's action
do to the rest: whether the signalling got its answers, the ringback, the media's loss,
lateness and delay. What that means for the call is ``testbed.call.model``'s to say.

Verdicts are cached per policy, variant of the bytes and subscriber host (the plan's
``Shape``): the classifier is deterministic in the bytes and the addresses. So is everything
about a call's carriage but its attempt and the load on its links: a call with no media gets
its shape's one ``Delivery``, a call with media a queue lookup and one draw.

Each operator's DPI runs its own policy (``policies``, by operator; ``set_policies`` changes
them between calls, as a phase of a timeline does): a call or flow meets the policy of its
subscriber's operator when it starts, and keeps what was decided then.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import simpy

from testbed.call.model import MEDIA_PHASE, SIGNALLING_PHASE, Delivery, Media, Seen, expected_pdd_ms
from testbed.call.plan import CallPlan, Planner, Route, Shape, Variant, ringback
from testbed.call.records import CallRecord
from testbed.config.phases import ALL
from testbed.config.scenario import Workload as WorkloadSpec
from testbed.dpi.classifier import Classifier, Verdict
from testbed.metrics.jitter import expected_jitter
from testbed.metrics.playout import buffer_ms, normal_late_fraction
from testbed.policy.model import DEGRADE, RESET, THROTTLE, Policy
from testbed.probe.ooni import Reached
from testbed.probe.reach import ReachPlan, classify_with
from testbed.sim import physics
from testbed.sim.links import Links
from testbed.timeline import Policies, policy_for
from testbed.topo import subscriber_hosts
from testbed.traffic.apps import PROFILES, SIGNALLING, FlowPlan
from testbed.traffic.wire import Endpoints, packets, seen_at
from testbed.workload.calls import Subscriber


def _timing(route: Route) -> tuple[float, float]:
    """(the first leg's round trip, the DPI's round trip to the first hop), in seconds."""
    return 2 * route.first_leg.delay_ms / 1000, 2 * route.from_dpi_ms / 1000


@dataclass(frozen=True, slots=True)
class Carriage:
    """A variant's flows as the DPI treated them, and the parts of the call's fate that do not
    change from call to call (worked out once: placing a call is then a few draws)."""

    seen: tuple[Seen, ...]
    signalled: bool
    reset: str
    rings: bool                # the ringback passes the DPI
    ring_waits: tuple[tuple[float, float], ...]   # a degrade's (mean, deviation) per packet it delays up to the ringback
    media_flows: bool          # some media reaches the far end
    links: tuple[int, ...]     # the link directions the media loads
    kbps: float                # each way, overhead included
    loss: float                # path ⊕ degrade (before queues, throttle, TCP)
    delay_ms: float
    sigma_ms: float
    meter_kbps: float
    over_tcp: bool
    tcp_loss: float            # a TCP tunnel's own leg: its loss (⊕ degrade), retransmitted
    tcp_rtt_ms: float          # and its round trip
    frame_ms: float
    pdd_ms: float | None       # the ringback's, before queueing and degrade waits; None: it never comes
    unanswered: Delivery       # what a call the callee does not answer gets
    early: Delivery | None     # what every call gets when no media can flow (blocked, reset); else None
    buffer_ms: float           # the receivers' jitter buffer
    late: float                # share of packets later than it (normal delay variation)
    jitter_ms: float           # RFC 3550 jitter


class _Dpi:
    """One policy's classifier and what it decided (shared by the operators that run it)."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.classifier = Classifier(policy)
        self.carriages: dict[Shape, Carriage] = {}
        self.flows: dict[tuple[str, str, int], Seen] = {}


class SimNetwork:
    """Implements ``testbed.call.calls.Carrier`` in simulated time."""

    def __init__(self, topo: Any, policies: Policy | Policies, spec: WorkloadSpec, seed: int) -> None:
        self.spec = spec
        self.planner = Planner(topo, seed, spec.variants)
        self.rng = random.Random(f"network:{seed}")     # link draws only
        self.links = Links(topo)
        self._dpis: dict[int, _Dpi] = {}                # by id() of the policy
        self._by_operator: dict[str, _Dpi] = {}
        self._loading: dict[int, Carriage] = {}         # id() of a plan whose media loads the links
        self.set_policies(policies if isinstance(policies, dict) else {ALL: policies})
        self.classifications = 0
        self._flow_ids = 0
        # told each flow, its packets as the DPI was fed them, and its verdict (``testbed demo`` shows them)
        self.inspected: Callable[[FlowPlan, list[tuple[float, bytes]], Verdict], None] | None = None
        self._load_background(spec)

    def set_policies(self, policies: Policies) -> None:
        """From now on each operator runs its policy here (``ALL``: every operator not named)."""
        self.policies = dict(policies)
        self._by_operator = {}

    def _dpi(self, operator: str) -> _Dpi:
        found = self._by_operator.get(operator)
        if found is None:
            policy = policy_for(self.policies, operator)
            found = self._dpis.get(id(policy))
            if found is None:
                found = self._dpis[id(policy)] = _Dpi(policy)
            self._by_operator[operator] = found
        return found

    def _load_background(self, spec: WorkloadSpec) -> None:
        """Non-VoIP flows' mean load (Little's law), spread over the hosts like the subscribers."""
        hosts = subscriber_hosts(self.planner.info)
        n, h = spec.subscribers, len(hosts)
        for app, per_hour in spec.flows_per_hour.items():
            rate = max(p.kbps for p in self.planner.variant(app, "none", 0).flows)
            for i, (host, operator) in enumerate(hosts):
                share = (n // h + (i < n % h)) / n      # subscriber i sits on host i mod h
                route = self.planner.route(app, "none", host, operator)
                self.links.add(self.links.both_ways(route.links), per_hour / 3600 * share * PROFILES[app].mean_s * rate)

    # -- the DPI -----------------------------------------------------------------------------
    def _classify(self, dpi: _Dpi, route: Route, variant: Variant, host: str) -> tuple[Verdict, ...]:
        """Every flow of the variant through one fresh classifier, as the DPI switch sees it."""
        classifier = dpi.classifier
        classifier.reset()
        client, server = self.planner.ip(host), self.planner.ip(route.first_hop)
        rtt_s, lag_s = _timing(route)
        verdicts = []
        for plan, port in zip(variant.flows, variant.client_ports):
            verdict = None
            fed: list[tuple[float, bytes]] = []
            for t, packet in packets(plan, Endpoints(client, port, server, plan.server_port), rtt_s, lag_s):
                if self.inspected is not None:
                    fed.append((t, packet))
                verdict = classifier.feed(packet, t)
                if verdict is not None:
                    break
            verdicts.append(verdict if verdict is not None else classifier.flush()[0])
            self.classifications += 1
            if self.inspected is not None:
                self.inspected(plan, fed, verdicts[-1])
        return tuple(verdicts)

    def carriage(self, plan: CallPlan) -> Carriage:
        dpi = self._dpi(plan.attempt.subscriber.operator)
        found = dpi.carriages.get(plan.shape)
        if found is None:
            found = self._carriage(dpi, plan)
            if self.planner.variants:
                dpi.carriages[plan.shape] = found
        return found

    def _carriage(self, dpi: _Dpi, plan: CallPlan) -> Carriage:
        route, variant = plan.route, plan.variant
        verdicts = self._classify(dpi, route, variant, plan.attempt.subscriber.host)
        seen = tuple(Seen.of(f.role, v) for f, v in zip(variant.flows, verdicts))
        signalling = [s for s in seen if s.role == SIGNALLING]
        media = [s for s in seen if s.role != SIGNALLING]
        # the ringback passes unless its flow was stopped before it reached the DPI
        rings, ring_waits = self._ringback(seen[0], variant.flows[0], route)
        # a tunnel or relay stopped before the call could ring is a call that never set up: the
        # app's own exchanges were inside it (the emulation's daemons never come up either)
        setup_failed = plan.strategy.via is not None and not rings
        reset = (SIGNALLING_PHASE if any(s.action.kind == RESET for s in signalling) or
                 (setup_failed and seen[0].action.kind == RESET)
                 else MEDIA_PHASE if any(s.action.kind == RESET for s in media) else "")
        acts = [s.action for s in media]
        degraded = [a for a in acts if a.kind == DEGRADE]   # the DPI's action, on the flow it passes
        added_loss = physics.combined(*(a.loss_pct / 100 for a in degraded))
        added_ms = sum(physics.clipped_normal_mean(a.added_delay_ms, a.jitter_ms) for a in degraded)
        sigma = math.hypot(route.path.jitter_ms, *(a.jitter_ms for a in degraded))
        delay = route.path.delay_ms + added_ms
        meter = min((a.kbps for a in acts if a.kind == THROTTLE), default=math.inf)
        if plan.strategy.over_tcp:   # the tunnel's leg is TCP (and where the DPI acts); beyond it, UDP
            leg = route.first_leg
            tcp_loss, tcp_rtt = physics.combined(leg.loss, added_loss), 2 * (leg.delay_ms + added_ms)
            loss = 1 - (1 - route.path.loss) / (1 - leg.loss)
        else:
            tcp_loss, tcp_rtt, loss = 0.0, 0.0, physics.combined(route.path.loss, added_loss)
        codec = plan.profile.codec
        assert codec is not None
        signalled = not setup_failed and not any(s.stops for s in signalling)
        media_flows = not any(s.stops for s in media)
        pdd = expected_pdd_ms(plan) if rings else None
        waited = sum(physics.clipped_normal_mean(*w) for w in ring_waits)   # (a shared delivery: the mean)
        unanswered = Delivery(seen, signalled, reset, None if pdd is None else pdd + waited, shared=True)
        return Carriage(seen, signalled, reset, rings, ring_waits, media_flows, self.links.both_ways(route.links),
                        plan.media_kbps, loss, delay, sigma, meter, plan.strategy.over_tcp, tcp_loss, tcp_rtt,
                        codec.frame_ms,
                        pdd, unanswered, unanswered if not signalled or reset or not media_flows else None,
                        buffer_ms(sigma), normal_late_fraction(sigma), round(expected_jitter(sigma), 3))

    @staticmethod
    def _ringback(seen: Seen, flow: FlowPlan, route: Route) -> tuple[bool, tuple[tuple[float, float], ...]]:
        """(whether the ringback passes the DPI, the waits its action adds to the exchange): a
        flow stopped before its ringback never rings; a degraded one delays the request and the
        ringback that come after the verdict (the deciding packet is degraded too)."""
        ring = ringback(flow)
        if ring is None:
            return not seen.stops, ()
        ring_ms = 1000 * seen_at(flow, ring, *_timing(route))
        if seen.stops:
            return seen.ms > ring_ms, ()
        if seen.action.kind != DEGRADE:
            return True, ()
        request = max((s for s in flow.segments if s.up and s.t <= ring.t), key=lambda s: s.t, default=None)
        after = [t for t in (ring_ms, 1000 * seen_at(flow, request, *_timing(route)) if request else None)
                 if t is not None and t >= seen.ms]
        return True, ((seen.action.added_delay_ms, seen.action.jitter_ms),) * len(after)

    # -- carrying ------------------------------------------------------------------------------
    def carry(self, env: simpy.Environment, plan: CallPlan) -> Generator[Any, Any, Delivery]:
        return self.deliver(plan)
        yield  # a generator like the emulation's, whose carriage takes time

    def deliver(self, plan: CallPlan) -> Delivery:
        """What the network does with a plan, at once (``testbed.call.calls`` asks for this): for a
        call whose media flows, the path's loss and the queues on its links as it starts (its own
        load included), the action's effect, then this call's draw around the expected loss.
        (``1 - (1 - a) * (1 - b)`` is ``physics.combined(a, b)``, without a call.)"""
        att = plan.attempt
        dpi = self._by_operator.get(att.subscriber.operator)
        c = (dpi.carriages.get(plan.shape) if dpi is not None else None) or self.carriage(plan)
        if c.early is not None:
            return c.early
        if not att.answers:
            return c.unanswered
        self._loading[id(plan)] = c   # given back as carried, whatever the policies are by then
        queue_loss, queue_ms = self.links.state(c.links, c.kbps)   # its own load included
        delay, late, burst = c.delay_ms + queue_ms, c.late, 1.0
        if c.over_tcp:   # the tunnel's leg retransmits, in order: its losses come late, in bursts
            tcp_loss = 1 - (1 - c.tcp_loss) * (1 - queue_loss)
            late_tcp, burst = physics.tcp_late(tcp_loss, c.tcp_rtt_ms + 2 * queue_ms, c.frame_ms, c.buffer_ms,
                                               c.kbps, c.meter_kbps)
            late, lost = 1 - (1 - late) * (1 - late_tcp), c.loss
        else:
            loss = 1 - (1 - c.loss) * (1 - queue_loss)
            lost = physics.throttled(loss, c.kbps, c.meter_kbps) if c.kbps > c.meter_kbps else loss
        expected = drawn = 1 - (1 - lost) * (1 - late)
        if 0 < expected < 1:   # normal ≈ binomial over the call's packets
            n = max(1.0, att.holding_s * 1000 / c.frame_ms)
            drawn = min(1.0, max(0.0, expected + math.sqrt(expected * (1 - expected) / n) * self.rng.gauss(0, 1)))
        media = Media(round(100 * drawn, 3), round(100 * drawn * (late / expected), 3) if expected else 0.0,
                      round(delay, 3), c.buffer_ms, c.jitter_ms, burst)
        pdd = None if c.pdd_ms is None else c.pdd_ms + 2 * queue_ms
        if c.ring_waits and pdd is not None:   # each delayed packet its own wait, as the shaper draws it
            pdd += sum(max(0.0, self.rng.gauss(mean, sd)) for mean, sd in c.ring_waits)
        return Delivery(c.seen, True, "", pdd, media, False, att.holding_s)

    def release(self, plan: CallPlan, delivery: Delivery) -> None:
        c = self._loading.pop(id(plan), None)
        if c is not None:
            self.links.add(c.links, -c.kbps)

    def probe_view(self) -> SimNetwork:
        """The network a probe uses (``testbed.probe``): this topology and the policies now in force,
        with random streams of its own and no call in progress — so that a probe's draws never
        change the workload's (in an emulation the probes share the live network)."""
        return SimNetwork(self.planner.topo, self.policies, self.spec, self.planner.seed)

    def carry_reach(self, env: simpy.Environment, host: str, plan: ReachPlan) -> Generator[Any, Any, tuple[Reached, ...]]:
        """An OONI-like test's flows from ``host`` through the DPI, all through one fresh classifier."""
        classifier = self._dpi(str(self.planner.info[host].get("operator", ""))).classifier
        classifier.reset()
        return plan.simulate(classify_with(classifier, self.planner.ip(host)), f"{self.planner.seed}:{host}")
        yield

    def settle(self, calls: list[CallRecord]) -> None:
        """Nothing measured after the fact: every call's fate was drawn as it was carried."""

    def carry_flow(self, env: simpy.Environment, sub: Subscriber, app: str) -> Generator[Any, Any, Seen]:
        return self.flow_seen(sub, app)
        yield

    def flow_seen(self, sub: Subscriber, app: str) -> Seen:
        """What the DPI does to a non-VoIP flow of this app from this subscriber (``variants: 0``:
        every flow its own bytes, classified, as every call)."""
        self._flow_ids += 1
        index = self.planner.pick(self._flow_ids)
        dpi = self._dpi(sub.operator)
        key = (app, sub.host, index)
        found = dpi.flows.get(key)
        if found is None:
            route = self.planner.route(app, "none", sub.host, sub.operator)
            variant = self.planner.variant(app, "none", index)
            found = Seen.of(variant.flows[0].role, self._classify(dpi, route, variant, sub.host)[0])
            if self.planner.variants:
                dpi.flows[key] = found
        return found
