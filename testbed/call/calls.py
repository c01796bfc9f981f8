"""Placing the workload's attempts and flows on a network that carries them.

The same for both modes: a caller already in a call is busy; a relay at its capacity
refuses (Erlang-B blocking); otherwise the network carries the plan, the call model
decides what that means, and the attempt occupies the caller (and the relay) for as
long as the app's timers say — the simulator's carriage takes no time, so it is all
waited here; the emulation's takes real time, and only the rest (the callee's ring,
when no packets flow) is.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, Protocol

import simpy

from testbed.call.model import CallModel, Delivery, Seen, flow_record
from testbed.call.plan import CallPlan, Planner
from testbed.call.records import BUSY, CAPACITY, CallRecord, FlowRecord
from testbed.topo import subscriber_hosts
from testbed.traffic.apps import PROFILES
from testbed.workload.calls import Attempt, Subscriber

SETTLED_S = 1e-6   # a remainder this small is rounding, not time to wait


class Carrier(Protocol):
    """A network that carries plans: ``testbed.sim`` or ``testbed.emu``."""

    planner: Planner

    def carry(self, env: simpy.Environment, plan: CallPlan) -> Generator[Any, Any, Delivery]: ...

    def release(self, plan: CallPlan, delivery: Delivery) -> None: ...

    def carry_flow(self, env: simpy.Environment, sub: Subscriber, app: str) -> Generator[Any, Any, Seen]: ...

    def settle(self, calls: list[CallRecord]) -> None:
        """After the cell, before its records are aggregated: what is measured after the fact."""


class Calls:
    """Implements ``testbed.workload.calls.Network`` on a carrier."""

    def __init__(self, network: Carrier, model: CallModel) -> None:
        self.network, self.model, self.planner = network, model, network.planner
        self.capacity = {h: int(i.get("capacity") or 0) for h, i in self.planner.info.items()}
        self.in_progress = dict.fromkeys(self.capacity, 0)   # server → calls it carries now

    def subscriber_hosts(self) -> list[tuple[str, str]]:
        return subscriber_hosts(self.planner.info)

    def call(self, env: simpy.Environment, att: Attempt) -> Generator[Any, Any, CallRecord]:
        t0, model, sub = env.now, self.model, att.subscriber
        if sub.in_call:
            return model.record(att, t0, BUSY)
        plan = self.planner.plan(att)
        server = plan.route.server
        if self.capacity[server] and self.in_progress[server] >= self.capacity[server]:
            yield env.timeout(model.elapsed_s(plan, CAPACITY))
            return model.record(att, t0, CAPACITY, plan)
        sub.in_call = True
        self.in_progress[server] += 1
        try:
            delivery = yield from self.network.carry(env, plan)
            outcome, answered = model.decide(plan, delivery)
            rest = model.elapsed_s(plan, outcome, delivery) - (env.now - t0)
            if rest > SETTLED_S:
                yield env.timeout(rest)
            self.network.release(plan, delivery)
        finally:
            sub.in_call = False
            self.in_progress[server] -= 1
        return model.record(att, t0, outcome, plan, delivery, answered)

    def flow(self, env: simpy.Environment, sub: Subscriber, app: str) -> Generator[Any, Any, FlowRecord]:
        t0 = env.now
        seen = yield from self.network.carry_flow(env, sub, app)
        return flow_record(t0, sub.ident, app, PROFILES[app].category, seen)
