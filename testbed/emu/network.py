"""The emulated network: it carries call plans as real packets and measures what happened.

Implements ``testbed.call.calls.Carrier`` on a running ``Session``. A call's flows —
the plan's bytes, the same the simulator feeds its classifier — go out on the agents'
real sockets through the emulated operator network (``testbed.emu.placement``):
signalling first (an exchange that must get all its answers), then the media for the
holding time (none when the callee does not answer). The agents' reports become the
call's ``Delivery`` (``testbed.emu.delivery``: measured, never computed); what the DPI
did to each flow is the controller's verdict, or the policy's proactive L3/L4 rule
that matches its 5-tuple (``compiler.proactive_rule``). Waiting is done in SimPy time:
a process polls the mailbox every ``POLL_S`` of a ``simpy.rt.RealtimeEnvironment``.

Not carried yet: a circumvention's second leg (the VPN or TURN server's path on to the
app's relay): circumvented calls end at the first hop.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Generator
from typing import Any

import simpy

from testbed.call.model import Delivery, Seen
from testbed.call.plan import CallPlan, Planner
from testbed.config.scenario import Workload as WorkloadSpec
from testbed.emu.delivery import FlowResult, delivery
from testbed.emu.mailbox import Steps, Timeout
from testbed.emu.placement import FlowSpec, place
from testbed.emu.session import Session
from testbed.policy import compiler
from testbed.traffic.apps import SIGNALLING, FlowPlan
from testbed.workload.calls import Subscriber

POLL_S = 0.02
FLOW_FRAME_MS = 20.0


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
    """Carries plans on a running ``Session``; every call's own bytes (no variants)."""

    def __init__(self, session: Session, spec: WorkloadSpec, seed: int) -> None:
        self.session, self.spec = session, spec
        self.planner = Planner(session.topo, seed, variants=0)
        self.compiled = {str(session.topo.nodeInfo(dpi).get("operator", "")): compiled
                         for dpi, compiled in session.compiled.items()}
        self._flow_ids = itertools.count(1)

    # -- what the DPI did ------------------------------------------------------------------
    def seen(self, spec: FlowSpec, operator: str) -> Seen:
        """The controller's verdict on a flow, or the proactive rule whose entries match it."""
        found = self.session.verdicts.get(spec.key)
        if found is not None:
            return Seen.of(spec.plan.role, found.verdict)
        compiled = self.compiled.get(operator) or next(iter(self.compiled.values()))
        rule = compiler.proactive_rule(compiled, spec.key)
        if rule is None or not rule.action.hits:
            return Seen(spec.plan.role)
        return Seen(spec.plan.role, "", rule.action, rule.label(compiled.policy.name), 1, 0.0)

    # -- carrying --------------------------------------------------------------------------
    def _specs(self, plans: list[FlowPlan], client: str, server: str, hold: float, frame_ms: float) -> list[FlowSpec]:
        return [self.session.spec(client, server, plan, hold=hold if plan.role != SIGNALLING else 0.0,
                                  frame_ms=frame_ms, setup_timeout=self.spec.setup_timeout_s,
                                  max_loss_pct=self.spec.max_call_loss_pct) for plan in plans]

    def _run(self, env: simpy.Environment, specs: list[FlowSpec]) -> Generator[Any, Any, list[FlowResult]]:
        session = self.session
        reports = yield from drive(env, session, place(session.send, session.box.take, specs))
        return [FlowResult(s.plan, reports[(s.id, "client")], reports[(s.id, "server")]) for s in specs]

    def carry(self, env: simpy.Environment, plan: CallPlan) -> Generator[Any, Any, Delivery]:
        att, route = plan.attempt, plan.route
        sub, codec = att.subscriber, plan.profile.codec
        assert codec is not None
        flows = plan.variant.flows
        signalling = [p for p in flows if p.role == SIGNALLING]
        media = [p for p in flows if p.role != SIGNALLING]
        results: list[FlowResult] = []
        specs = self._specs(signalling, sub.host, route.first_hop, 0.0, codec.frame_ms)
        if specs:
            results = yield from self._run(env, specs)
            if any(r.client.error or r.client.aborted for r in results):
                seen = tuple(self.seen(s, sub.operator) for s in specs)
                return delivery(seen, results, [])
        hold = att.holding_s if att.answers else 0.0
        media_specs = self._specs(media, sub.host, route.first_hop, hold, codec.frame_ms)
        media_results = yield from self._run(env, media_specs)
        seen = tuple(self.seen(s, sub.operator) for s in specs + media_specs)
        return delivery(seen, results, media_results)

    def release(self, plan: CallPlan, delivery: Delivery) -> None:
        """Nothing to give back: the links carried real packets."""

    def carry_flow(self, env: simpy.Environment, sub: Subscriber, app: str) -> Generator[Any, Any, Seen]:
        route = self.planner.route(app, "none", sub.host, sub.operator)
        plan = self.planner.variant(app, "none", next(self._flow_ids)).flows[0]
        spec = self._specs([plan], sub.host, route.server, 0.0, FLOW_FRAME_MS)[0]
        yield from self._run(env, [spec])
        return self.seen(spec, sub.operator)

