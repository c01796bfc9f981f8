"""One call or flow at a time on either network, through the one call model.

``DemoNetwork`` places a subscriber's call the way a scenario's workload does
(``Calls.call`` on a carrier: ``testbed.sim`` or ``testbed.emu``) and says what the
DPI did to each of its flows (``FlowView``) as soon as the carrier knows it. The two
subclasses (``testbed.demo.sim``, ``testbed.demo.emu``) only say how a flow's packets
and verdict are observed, how a policy goes in, and what the DPI saw for ``capture``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Generator
from typing import Any

import simpy

from testbed.call.calls import Calls, Carrier
from testbed.call.model import CallModel, Delivery, Seen
from testbed.call.plan import CallPlan, Planner
from testbed.call.records import CallRecord
from testbed.config.scenario import AppShare, Workload
from testbed.demo.transcript import FlowView
from testbed.policy.model import Policy
from testbed.workload.calls import Attempt, Subscriber

OnFlow = Callable[[FlowView], None]

# A call in class: the callee answers after 2 s, the app gives up after 5 s without media, a call
# lasts 5 s (the emulation waits them in real time).
RING_S, SETUP_TIMEOUT_S, HOLDING_S = 2.0, 5.0, 5.0


def demo_workload(apps: list[str]) -> Workload:
    """The workload's timers and limits for calls placed by hand (no arrivals: the teacher places them)."""
    return Workload(duration_s=1.0, calls_per_hour=0.0, apps={a: AppShare(1.0) for a in apps}, subscribers=1,
                    ring_s=RING_S, setup_timeout_s=SETUP_TIMEOUT_S, variants=0)


class Recording:
    """A carrier that keeps the last call's plan and delivery (``Calls`` returns only the record)."""

    def __init__(self, carrier: Carrier) -> None:
        self.carrier, self.planner = carrier, carrier.planner
        self.last: tuple[CallPlan, Delivery] | None = None

    def carry(self, env: simpy.Environment, plan: CallPlan) -> Generator[Any, Any, Delivery]:
        delivery = yield from self.carrier.carry(env, plan)
        self.last = (plan, delivery)
        return delivery

    def release(self, plan: CallPlan, delivery: Delivery) -> None:
        self.carrier.release(plan, delivery)

    def carry_flow(self, env: simpy.Environment, sub: Subscriber, app: str) -> Generator[Any, Any, Seen]:
        return (yield from self.carrier.carry_flow(env, sub, app))

    def settle(self, calls: list[CallRecord]) -> None:
        self.carrier.settle(calls)


class DemoNetwork:
    """A carrier, the call model and an environment; one command at a time.

    A subclass reports each flow with ``_flow_met`` as soon as it knows what the DPI did
    to it; with ``live`` the command's ``on_flow`` hears of it then, else once the carriage
    is over (the flows the app actually sent: ``_sent``).
    """

    live = False

    def __init__(self, carrier: Carrier, spec: Workload) -> None:
        self.carrier, self.spec = carrier, spec
        self.env = self.fresh_env()
        self.planner: Planner = carrier.planner
        self.recording = Recording(carrier)
        self.calls = Calls(self.recording, CallModel(spec))
        self._ids = itertools.count(1)
        self._views: list[FlowView] = []
        self._on_flow: OnFlow | None = None
        self.started = 0.0      # when the last command's carriage began, in the environment's time

    # -- what subclasses provide ---------------------------------------------------------------
    def set_policy(self, policy: Policy) -> None:
        """The operator's policy, on every DPI switch, from the next flow on."""
        raise NotImplementedError

    def dpi_saw(self) -> list[tuple[float, bytes]]:
        """(time, IP packet) of what the DPI saw since the last time this was asked."""
        raise NotImplementedError

    def close(self) -> None:
        """Tear the network down."""

    def fresh_env(self) -> simpy.Environment:
        return simpy.Environment()

    def _prepare(self, sub: Subscriber, strategy: str) -> None:
        """Before a call is placed: what its strategy needs first (the emulation's VPN tunnel),
        reported with ``_flow_met`` as one of the call's flows."""

    def abandon(self) -> None:
        """After an interrupted command: a fresh environment (the old one holds the call's process)
        and no call in progress."""
        self.env = self.fresh_env()
        self.calls.in_progress = dict.fromkeys(self.calls.in_progress, 0)
        self._views, self._on_flow = [], None

    def _sent(self, views: list[FlowView], delivery: Delivery | None) -> tuple[FlowView, ...]:
        return tuple(views)

    def _flow_met(self, view: FlowView) -> None:
        self._views.append(view)
        if self.live and self._on_flow is not None:
            self._on_flow(view)

    # -- commands ----------------------------------------------------------------------------
    def call(self, sub: Subscriber, app: str, strategy: str, holding_s: float = HOLDING_S,
             on_flow: OnFlow | None = None) -> tuple[CallRecord, Delivery | None, tuple[FlowView, ...]]:
        """One call attempt now, through ``Calls.call`` as a workload places it."""
        ident = next(self._ids)
        self.recording.last = None
        self._views, self._on_flow = [], on_flow
        self._prepare(sub, strategy)
        attempt = Attempt(ident, ident, 1, sub, app, strategy, holding_s)
        record = self._carry(self.calls.call(self.env, attempt))
        delivery = self.recording.last[1] if self.recording.last is not None else None
        return record, delivery, self._finish(delivery, on_flow)

    def flow(self, sub: Subscriber, app: str, on_flow: OnFlow | None = None) -> tuple[Seen, tuple[FlowView, ...]]:
        """One non-VoIP flow now."""
        self._views, self._on_flow = [], on_flow
        seen = self._carry(self.recording.carry_flow(self.env, sub, app))
        return seen, self._finish(None, on_flow)

    def _carry(self, process: Generator[Any, Any, Any]) -> Any:
        self.started = self.env.now
        proc = self.env.process(process)
        self.env.run(until=proc)
        return proc.value

    def _finish(self, delivery: Delivery | None, on_flow: OnFlow | None) -> tuple[FlowView, ...]:
        shown = self._sent(self._views, delivery)
        if on_flow is not None and not self.live:
            for view in shown:
                on_flow(view)
        self._views, self._on_flow = [], None
        return shown
