"""The call workload on SimPy: seeded random streams, arrivals as plain generators.

``source`` starts everything: Poisson call arrivals (thinned by the diurnal
profile), each a call intent (``Intent``) that places attempts through the network,
retries after a back-off, and may switch its subscriber to a circumvention
strategy after enough failures; plus Poisson arrivals of non-VoIP flows.
No network code here: a ``Network`` places the calls.

An intent is not a SimPy process: the network calls it back when an attempt is over,
and a back-off is a timeout with a callback. A million intents as processes would
each cost a process, its start event, a generator and its resumes — more than the
simulator's whole call.

Common random numbers: arrivals (who calls, which app, for how long), the callees'
answers and the subscribers' willingness to adopt a circumvention each draw from
their own stream, a fixed number of draws per arrival or subscriber. So every cell
of a scenario sees the same calls, whatever its policy does to them. The arrival
stream's draws come in the order gap, subscriber, app, the next gap, holding time:
an intent starts once its source has drawn the next gap.
"""

from __future__ import annotations

import functools
import itertools
import math
import random
from bisect import bisect_right
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import simpy
from simpy.events import NORMAL, Timeout

from testbed.call.records import BUSY, COMPLETED, NO_ANSWER, CallRecord, FlowRecord
from testbed.config.scenario import Circumvention
from testbed.config.scenario import Workload as WorkloadSpec
from testbed.traffic.apps import PROFILES

RETRIED_NOT = frozenset((COMPLETED, NO_ANSWER, BUSY))   # outcomes after which the caller does not try again


@dataclass(slots=True)
class Subscriber:
    ident: int
    host: str
    operator: str
    adopter: bool            # would switch to the circumvention strategy
    strategy: str = "none"
    failures: int = 0
    in_call: bool = False
    since: float = 0.0       # when it adopted the strategy or last failed (forget_after_s counts from it)


class Attempt(NamedTuple):
    """One attempt of a call intent (immutable; a tuple's cost to build)."""

    call_id: int
    intent_id: int
    attempt: int
    subscriber: Subscriber
    app: str
    strategy: str
    holding_s: float
    answers: bool = True     # the callee picks up


class Network(Protocol):
    """Where calls and flows go (``testbed.call.calls.Calls``, on the simulator or the emulation)."""

    def subscriber_hosts(self) -> list[tuple[str, str]]: ...

    def place(self, env: simpy.Environment, attempt: Attempt, done: Callable[[CallRecord], None]) -> None:
        """Place an attempt; ``done(record)`` when it is over."""

    def place_flow(self, env: simpy.Environment, subscriber: Subscriber, app: str,
                   done: Callable[[FlowRecord], None]) -> None:
        """Place a non-VoIP flow; ``done(record)`` once the DPI has seen it."""


class Intent:
    """One call intent: its attempts one after another, each placed when the previous one is
    over and its back-off has passed; after a failure its subscriber may adopt the
    circumvention. Driven by callbacks (the module's docstring says why)."""

    __slots__ = ("w", "ident", "sub", "app", "holding", "picks_up", "ott", "attempt")

    def __init__(self, w: CallWorkload, ident: int, sub: Subscriber, app: str) -> None:
        """Draw the holding time and the callee's answers (``place`` makes the first attempt)."""
        self.w, self.ident, self.sub, self.app = w, ident, sub, app
        self.ott = w._ott[app]  # the operator's own service never goes through the user's workaround
        self.attempt = 0
        self.holding = w.rng.expovariate(w._holding_rate) if w._holding_rate else w.holding()
        answer, attempts = w._answer, w._attempts
        if answer >= 1:
            self.picks_up = w._all_answer
        else:
            draw = w._answers.random
            self.picks_up = (draw() < answer,) if attempts == 1 else tuple([draw() < answer for _ in range(attempts)])

    def place(self, _: Any = None) -> None:
        """The next attempt (``_``: the back-off's timeout, when it is a retry)."""
        w, sub = self.w, self.sub
        if w._forget_s and sub.strategy != "none" and w.env.now - sub.since >= w._forget_s:
            sub.strategy, sub.failures = "none", 0   # calls work again: back to the plain app
        attempt = self.attempt = self.attempt + 1
        call_id = w._next_call = w._next_call + 1
        # an Attempt from all its fields in order, without its __new__'s Python frame
        w.network.place(w.env, tuple.__new__(Attempt, (call_id, self.ident, attempt, sub, self.app,
                                                       sub.strategy if self.ott else "none", self.holding,
                                                       self.picks_up[attempt - 1])), self.ended)

    def ended(self, record: CallRecord) -> None:
        w = self.w
        failed = record.outcome not in RETRIED_NOT
        retry = failed and self.attempt < w._attempts
        w.on_call(record, not retry)
        if failed:
            sub, circ = self.sub, w.circumvention
            sub.failures += 1
            sub.since = w.env.now
            if sub.adopter and sub.strategy == "none" and sub.failures >= circ.after_failures:
                sub.strategy = circ.strategy
        if retry:
            Timeout(w.env, w.spec.retry.backoff_s).callbacks.append(self.place)
        else:
            w.in_flight -= 1
            w.ended_at = w.env.now


class CallWorkload:
    """One run of the workload against one network. Records go to ``on_call(record, last)``
    (``last``: the intent is over) and ``on_flow(record)`` as calls and flows end; by
    default into the lists ``calls`` and ``flows``."""

    def __init__(self, env: simpy.Environment, spec: WorkloadSpec, network: Network, seed: int,
                 circumvention: Circumvention,
                 progress: Callable[[float, str], None] | None = None,
                 on_call: Callable[[CallRecord, bool], None] | None = None,
                 on_flow: Callable[[FlowRecord], None] | None = None) -> None:
        self.env, self.spec, self.network = env, spec, network
        self.rng = random.Random(f"workload:{seed}")        # arrivals
        self._answers = random.Random(f"answers:{seed}")
        adoption = random.Random(f"adoption:{seed}")
        self.calls: list[CallRecord] = []
        self.flows: list[FlowRecord] = []
        self.on_call = on_call or (lambda record, last: self.calls.append(record))
        self.on_flow = on_flow or self.flows.append
        self.progress = progress
        self._next_call = self._next_intent = 0
        self.in_flight = 0  # call intents started and not yet over
        self.ended_at = 0.0  # when the last call intent ended
        self.apps = list(spec.apps)
        self._cum_shares = list(itertools.accumulate(spec.apps[a].share for a in self.apps))
        self.subscribers = []
        hosts = network.subscriber_hosts()
        for i in range(spec.subscribers):
            host, operator = hosts[i % len(hosts)]
            willing = adoption.random() < circumvention.share   # drawn whatever the strategy
            adopter = circumvention.strategy != "none" and willing
            sub = Subscriber(i, host, operator, adopter)
            if adopter and circumvention.after_failures == 0:
                sub.strategy = circumvention.strategy
            self.subscribers.append(sub)
        self.circumvention = circumvention
        weights = spec.diurnal or (1.0,)
        self._diurnal = [w / max(weights) for w in weights]
        self._n_subs, self._last_app = len(self.subscribers), len(self.apps) - 1
        self._forget_s = circumvention.forget_after_s
        self._answer = spec.answer_probability
        self._attempts = spec.retry.max_attempts
        self._all_answer = (True,) * self._attempts
        self._ott = {app: PROFILES[app].ott for app in PROFILES}
        exponential = spec.holding.distribution == "exponential"
        self._holding_rate = 1.0 / spec.holding.mean_s if exponential else 0.0   # 0: ask ``holding()``

    def adopters(self, now: float) -> int:
        """Subscribers using the circumvention at ``now`` (one not failed for ``forget_after_s`` has
        gone back to the plain app, whether or not it has called since)."""
        forget = self.circumvention.forget_after_s
        return sum(s.strategy != "none" and not (forget and now - s.since >= forget) for s in self.subscribers)

    def _rate_factor(self, t: float) -> float:
        hour = int((self.spec.start_hour + t / 3600) % 24)
        return self._diurnal[hour]

    def _poisson(self, per_hour: float, arrive: Callable[[], tuple[Subscriber, str] | None]) -> None:
        """Poisson arrivals at the peak rate, thinned to the diurnal profile, until the end: each
        a timeout whose callback takes the arrival and draws the next (callbacks, not a process).
        ``arrive()`` may return a call's (subscriber, app): its intent starts once the next gap
        is drawn."""
        if per_hour <= 0:
            return
        peak = per_hour / 3600 / (sum(self._diurnal) / len(self._diurnal))
        env, rng, end = self.env, self.rng, self.spec.duration_s
        flat = len(self._diurnal) == 1

        def next_arrival(tick: simpy.Event | None = None) -> None:
            call = None
            if tick is not None and (flat or rng.random() < self._rate_factor(env.now)):
                call = arrive()
            gap = rng.expovariate(peak)
            if call is not None:
                self._next_intent += 1
                self.in_flight += 1
                Intent(self, self._next_intent, *call).place()
            if env.now + gap < end:
                if tick is None:
                    Timeout(env, gap).callbacks.append(next_arrival)
                else:   # the same timeout again: one per arrival would cost more than scheduling it
                    tick.callbacks = again
                    env.schedule(tick, NORMAL, gap)

        again: list[Callable[[Any], None]] = [next_arrival]
        next_arrival()

    def source(self) -> Generator[Any, Any, None]:
        """Start the call and flow sources, and a progress ticker."""
        env = self.env
        self._poisson(self.spec.calls_per_hour, self._new_call)
        for app, per_hour in self.spec.flows_per_hour.items():
            self._poisson(per_hour, functools.partial(self._new_flow, app))
        if self.progress is not None:
            env.process(self._ticker(self.progress))
        yield env.timeout(0)

    def _new_call(self) -> tuple[Subscriber, str]:
        random, shares = self.rng.random, self._cum_shares
        return (self.subscribers[int(random() * self._n_subs)],
                self.apps[min(bisect_right(shares, random() * shares[-1]), self._last_app)])

    def _new_flow(self, app: str) -> None:
        sub = self.subscribers[int(self.rng.random() * len(self.subscribers))]
        self.network.place_flow(self.env, sub, app, self.on_flow)

    def holding(self) -> float:
        h = self.spec.holding
        if h.distribution == "lognormal":  # mean = exp(mu + sigma²/2)
            return self.rng.lognormvariate(math.log(h.mean_s) - h.sigma ** 2 / 2, h.sigma)
        return self.rng.expovariate(1.0 / h.mean_s)

    def _ticker(self, progress: Callable[[float, str], None]) -> Generator[Any, Any, None]:
        """Report the share of the arrival period done, then the calls still finishing."""
        step = self.spec.duration_s / 100
        while self.env.now < self.spec.duration_s:
            progress(self.env.now / self.spec.duration_s, "")
            yield self.env.timeout(step)
        while self.in_flight:
            progress(1.0, f"({self.in_flight} calls finishing)")
            yield self.env.timeout(min(step, 1.0))
        progress(1.0, "")
