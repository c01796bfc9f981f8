"""Placing the workload's attempts and flows on a network that carries them.

The same for both modes: a caller already in a call is busy; a relay at its capacity
refuses (Erlang-B blocking); otherwise the network carries the plan, the call model
decides what that means, and the attempt occupies the caller (and the relay) for as
long as the app's timers say — the simulator's carriage takes no time, so it is all
waited here; the emulation's takes real time, and only the rest (the callee's ring,
when no packets flow) is.

An attempt is placed with a callback, ``done(record)``, called when it is over, rather
than as a SimPy process: the simulator carries a plan at once (``deliver``), so an
attempt is then one timeout with a callback — a process, its start event and two
generator resumes for each of a million attempts would cost more than the rest of the
call. A carrier whose carriage takes time (the emulation) gets a process per attempt.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from functools import partial
from typing import Any, Protocol

import simpy
from simpy.events import Timeout

from testbed.call.model import CallModel, Delivery, Seen, flow_record
from testbed.call.plan import CallPlan, Planner
from testbed.call.records import BUSY, CAPACITY, CallRecord, FlowRecord
from testbed.topo import subscriber_hosts
from testbed.traffic.apps import PROFILES
from testbed.workload.calls import Attempt, Subscriber

SETTLED_S = 1e-6   # a remainder this small is rounding, not time to wait


class Carrier(Protocol):
    """A network that carries plans: ``testbed.sim`` or ``testbed.emu``.

    A carrier whose carriage takes no time (the simulator) also has ``deliver(plan) ->
    Delivery`` and ``flow_seen(subscriber, app) -> Seen``, which ``Calls`` then uses
    instead of a process for each ``carry``/``carry_flow``."""

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
        self._deliver: Callable[[CallPlan], Delivery] | None = getattr(network, "deliver", None)
        self._flow_seen: Callable[[Subscriber, str], Seen] | None = getattr(network, "flow_seen", None)

    def subscriber_hosts(self) -> list[tuple[str, str]]:
        return subscriber_hosts(self.planner.info)

    def place(self, env: simpy.Environment, att: Attempt, done: Callable[[CallRecord], None]) -> None:
        """Place an attempt; ``done(record)`` when it is over (at once for a busy caller)."""
        t0, model, sub = env.now, self.model, att.subscriber
        if sub.in_call:
            done(model.record(att, t0, BUSY))
            return
        plan = self.planner.plan(att)
        server = plan.shape.route.server
        capacity = self.capacity[server]
        if capacity and self.in_progress[server] >= capacity:
            Timeout(env, model.elapsed_s(plan, CAPACITY)).callbacks.append(
                lambda _: done(model.record(att, t0, CAPACITY, plan)))
            return
        sub.in_call = True
        self.in_progress[server] += 1
        if self._deliver is not None:
            self._settle(env, t0, plan, self._deliver(plan), done)
        else:
            env.process(self._carry(env, t0, plan, done))

    def call(self, env: simpy.Environment, att: Attempt) -> Generator[Any, Any, CallRecord]:
        """``place`` as a process's generator, for a caller that waits on one attempt (a probe)."""
        over = env.event()

        def done(record: CallRecord) -> None:
            over.succeed(record)

        self.place(env, att, done)
        found: CallRecord = yield over
        return found

    def _carry(self, env: simpy.Environment, t0: float, plan: CallPlan,
               done: Callable[[CallRecord], None]) -> Generator[Any, Any, None]:
        delivery = yield from self.network.carry(env, plan)
        self._settle(env, t0, plan, delivery, done)

    def _settle(self, env: simpy.Environment, t0: float, plan: CallPlan, delivery: Delivery,
                done: Callable[[CallRecord], None]) -> None:
        """Decide the carried attempt, and let the caller (and the relay) go when its time is up."""
        outcome, answered, seconds = self.model.conclude(plan, delivery)
        rest = seconds - (env.now - t0)
        over = partial(self._over, t0, plan, delivery, outcome, answered, done)
        if rest > SETTLED_S:
            Timeout(env, rest).callbacks.append(over)
        else:
            over()

    def _over(self, t0: float, plan: CallPlan, delivery: Delivery, outcome: str, answered: bool,
              done: Callable[[CallRecord], None], _: simpy.Event | None = None) -> None:
        """The attempt's time is up: its caller and relay are free, its record is made."""
        self.network.release(plan, delivery)
        plan.attempt.subscriber.in_call = False
        self.in_progress[plan.shape.route.server] -= 1
        done(self.model.record(plan.attempt, t0, outcome, plan, delivery, answered))

    def place_flow(self, env: simpy.Environment, sub: Subscriber, app: str,
                   done: Callable[[FlowRecord], None]) -> None:
        """Place a non-VoIP flow; ``done(record)`` once the DPI has seen it."""
        if self._flow_seen is not None:
            done(flow_record(env.now, sub.ident, app, PROFILES[app].category, self._flow_seen(sub, app)))
        else:
            env.process(self._flow(env, sub, app, done))

    def _flow(self, env: simpy.Environment, sub: Subscriber, app: str,
              done: Callable[[FlowRecord], None]) -> Generator[Any, Any, None]:
        t0 = env.now
        seen = yield from self.network.carry_flow(env, sub, app)
        done(flow_record(t0, sub.ident, app, PROFILES[app].category, seen))
