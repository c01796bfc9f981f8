"""The emulated ``Network`` (``testbed.workload.calls``): SimPy in real time places real calls.

Each call attempt becomes flows on the agents (``testbed.emu.placement``): the
app's flow plans from ``testbed.traffic`` — the same bytes the simulator feeds
its classifier — sent on real sockets through the emulated operator network.
Signalling first (an exchange that must get all its answers), then the media for
the holding time. What the DPI decided comes from the controller's verdicts; a
flow the switch decided by itself is the policy's proactive L3/L4 rule that
matches its 5-tuple (``compiler.proactive_rule``). Waiting is done in SimPy time: a process polls the mailbox
every ``POLL_S`` of a ``simpy.rt.RealtimeEnvironment``.

Not emulated: the callee's ring time (no packets flow while a phone rings), and a
circumvention's second leg (a VPN or TURN server's path on to the app's relay —
behind the DPI, it never meets it): calls end at the first hop.
"""

from __future__ import annotations

import random
import time
from collections.abc import Generator
from typing import Any

import simpy

from testbed.config.scenario import Workload as WorkloadSpec
from testbed.dpi.catalog import category_of
from testbed.dpi.classifier import Verdict, action_text
from testbed.emu.mailbox import Steps, Timeout
from testbed.emu.outcome import FlowResult, first_answer_ms, media_outcome, quality, signalling_outcome
from testbed.emu.placement import LINGER_S, FlowSpec, place
from testbed.emu.session import Session
from testbed.policy import compiler
from testbed.policy.model import Action
from testbed.topo import path, server_for, subscriber_hosts
from testbed.traffic.apps import CALL, OPENING_PACKETS, PROCESSING_MS, PROFILES, SIGNALLING, FlowPlan
from testbed.traffic.circumvention import STRATEGIES
from testbed.workload.calls import Attempt, Subscriber
from testbed.workload.records import CAPACITY, COMPLETED, DROPPED, NO_ANSWER, CallRecord, FlowRecord

POLL_S = 0.02


def drive(env: simpy.Environment, session: Session, steps: Steps) -> Generator[Any, Any, Any]:
    """Run placement steps inside a SimPy process, polling the mailbox in simulated real time."""
    try:
        wait = next(steps)
        while True:
            deadline = time.monotonic() + wait.timeout
            while not session.box.has(wait.keys):
                yield env.timeout(POLL_S)
                session.check_alive()
                if time.monotonic() > deadline:
                    if wait.optional:
                        break
                    raise Timeout(f"{wait.what}: no answer for {session.box.missing(wait.keys)[:4]}")
            wait = steps.send(None)
    except StopIteration as done:
        return done.value


class EmuNetwork:
    """Implements ``testbed.workload.calls.Network`` on a running ``Session``."""

    def __init__(self, session: Session, spec: WorkloadSpec, rng: random.Random, seed: int) -> None:
        self.session, self.spec, self.rng, self.seed = session, spec, rng, seed
        self.topo = session.topo
        self.info = session.host_info
        self.busy: dict[str, int] = {}
        self.pending_flows: list[tuple[FlowRecord, FlowSpec]] = []
        self.compiled = {str(self.topo.nodeInfo(dpi).get("operator", "")): compiled
                         for dpi, compiled in session.compiled.items()}

    def subscriber_hosts(self) -> list[tuple[str, str]]:
        return subscriber_hosts(self.info)

    def server_for(self, profile: str, operator: str) -> str:
        return server_for(self.topo, self.info, profile, operator)

    # -- what the DPI did ------------------------------------------------------------------
    def verdict(self, spec: FlowSpec, operator: str) -> Verdict:
        """The controller's verdict on a flow, or the proactive rule's, or an undecided allow."""
        found = self.session.verdicts.get(spec.key)
        if found is not None:
            return found.verdict
        compiled = self.compiled.get(operator) or next(iter(self.compiled.values()))
        rule = compiler.proactive_rule(compiled, spec.key)
        if rule is not None:
            return Verdict(None, category_of(None), rule.label(compiled.policy.name), 1, rule.action,
                           f"flow entries of rule {rule.label(compiled.policy.name)} {action_text(rule.action)}",
                           0.0, spec.key)
        return Verdict(None, category_of(None), None, 0, Action(), "no verdict", 0.0, spec.key)

    # -- flows ------------------------------------------------------------------------------
    def _specs(self, plans: tuple[FlowPlan, ...], client: str, server: str, hold: float,
               frame_ms: float) -> list[FlowSpec]:
        return [self.session.spec(client, server, plan, hold=hold if plan.role != SIGNALLING else 0.0,
                                  frame_ms=frame_ms, setup_timeout=self.spec.setup_timeout_s,
                                  max_loss_pct=self.spec.max_call_loss_pct) for plan in plans]

    def _run(self, env: simpy.Environment, specs: list[FlowSpec]) -> Generator[Any, Any, list[FlowResult]]:
        session = self.session
        reports = yield from drive(env, session, place(session.send, session.box.take, specs))
        return [FlowResult(s.plan.role, reports[(s.id, "client")], reports[(s.id, "server")]) for s in specs]

    def flow(self, env: simpy.Environment, sub: Subscriber, app: str) -> FlowRecord:
        """A non-VoIP flow: placed now, its record completed when the DPI's verdict is known."""
        tag = f"{self.seed}:flow:{env.now:.6f}:{sub.ident}:{app}"
        plan = PROFILES[app].build(random.Random("build:" + tag), OPENING_PACKETS)[0]
        spec = self._specs((plan,), sub.host, self.server_for(app, sub.operator), 0.0, 20.0)[0]
        record = FlowRecord(env.now, sub.ident, app, PROFILES[app].category, "", "allow", "")
        self.pending_flows.append((record, spec))

        def run() -> Generator[Any, Any, None]:
            yield from self._run(env, [spec])
            v = self.verdict(spec, sub.operator)
            record.dpi_app, record.action, record.rule = v.app or "", v.action.kind, v.rule or ""
        env.process(run())
        return record

    def call(self, env: simpy.Environment, att: Attempt) -> Generator[Any, Any, CallRecord]:
        spec, sub = self.spec, att.subscriber
        profile = PROFILES[att.app]
        assert profile.kind == CALL and profile.codec is not None
        strategy = STRATEGIES[att.strategy]
        tag = f"{self.seed}:{att.app}:{att.strategy}:{att.call_id}"
        plans = strategy.transform(profile.build(random.Random("build:" + tag), OPENING_PACKETS),
                                   random.Random("wrap:" + tag))
        server = self.server_for(att.app, sub.operator)
        first_hop = self.server_for(strategy.via, sub.operator) if strategy.via else server
        model = path(self.topo, sub.host, first_hop)
        pdd = profile.setup_rtts * 2 * model.delay_ms + PROCESSING_MS
        record = CallRecord(att.call_id, att.intent_id, att.attempt, env.now, sub.ident, sub.operator, att.app,
                            att.strategy, COMPLETED, round(pdd, 3), 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, "", "allow",
                            "", 0, 0.0)
        capacity = int(self.info[server].get("capacity") or 0)
        if capacity and self.busy.get(server, 0) >= capacity:
            record.outcome = CAPACITY
            yield env.timeout(pdd / 1000)
            return record
        answered = spec.answer_probability >= 1 or self.rng.random() < spec.answer_probability
        signalling = [p for p in plans if p.role == SIGNALLING]
        media = [p for p in plans if p.role != SIGNALLING]
        results: list[FlowResult] = []
        specs: list[FlowSpec] = []
        frame = profile.codec.frame_ms
        if signalling:
            specs += self._specs(tuple(signalling), sub.host, first_hop, 0.0, frame)
            results += yield from self._run(env, specs)
            blocked = signalling_outcome(results)
            answer = first_answer_ms(results[0])
            if answer is not None:
                record.pdd_ms = answer
            if blocked is not None:
                record.outcome = blocked
                self._verdicts(record, specs, sub.operator)
                return record
        hold = att.holding_s if answered else 0.0
        media_specs = self._specs(tuple(media), sub.host, first_hop, hold, frame)
        specs += media_specs
        self.busy[server] = self.busy.get(server, 0) + 1
        try:
            media_results = yield from self._run(env, media_specs)
        finally:
            self.busy[server] -= 1
        results += media_results
        if not signalling and media_results and (answer := first_answer_ms(media_results[0])) is not None:
            record.pdd_ms = answer
        self._verdicts(record, specs, sub.operator)
        if not answered:
            record.outcome = NO_ANSWER
            return record
        record.outcome = media_outcome(media_results)
        if record.outcome in (COMPLETED, DROPPED):
            q = quality(media_results, profile.codec)
            record.loss_pct, record.jitter_ms, record.delay_ms = q.loss_pct, q.jitter_ms, q.delay_ms
            record.r_factor, record.mos = q.r_factor, q.mos
            c = media_results[0].client
            record.duration_s = round(max(0.0, c.end - c.start - LINGER_S), 3) if c.start else 0.0
        return record

    def _verdicts(self, record: CallRecord, specs: list[FlowSpec], operator: str) -> None:
        """The DPI's part of the record: the first flow an action hit (signalling before media)."""
        verdicts = [self.verdict(s, operator) for s in specs]
        hits = [v for v in verdicts if v.action.kind != "allow"]
        v = hits[0] if hits else verdicts[-1]
        record.dpi_app, record.action = v.app or "", v.action.kind
        if hits:
            record.rule = v.rule or ""
            record.ttb_packets = v.packet_index
            record.ttb_ms = round(v.elapsed * 1000, 3)
