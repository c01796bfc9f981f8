"""The call workload as SimPy processes: plain generators, seeded random streams.

``source`` starts everything: Poisson call arrivals (thinned by the diurnal
profile), each a ``call_intent`` that places attempts through the network,
retries after a back-off, and may switch its subscriber to a circumvention
strategy after enough failures; plus Poisson arrivals of non-VoIP flows.
No network code here: a ``Network`` places the calls.

Common random numbers: arrivals (who calls, which app, for how long), the callees'
answers and the subscribers' willingness to adopt a circumvention each draw from
their own stream, a fixed number of draws per arrival or subscriber. So every cell
of a scenario sees the same calls, whatever its policy does to them.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
import random
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, Protocol

import simpy

from testbed.call.records import BUSY, COMPLETED, NO_ANSWER, CallRecord, FlowRecord
from testbed.config.scenario import Circumvention
from testbed.config.scenario import Workload as WorkloadSpec
from testbed.traffic.apps import PROFILES

RETRIED_NOT = (COMPLETED, NO_ANSWER, BUSY)   # outcomes after which the caller does not try again


@dataclass
class Subscriber:
    ident: int
    host: str
    operator: str
    adopter: bool            # would switch to the circumvention strategy
    strategy: str = "none"
    failures: int = 0
    in_call: bool = False
    since: float = 0.0       # when it adopted the strategy or last failed (forget_after_s counts from it)


@dataclass(slots=True)
class Attempt:
    call_id: int
    intent_id: int
    attempt: int
    subscriber: Subscriber
    app: str
    strategy: str
    holding_s: float
    answers: bool = True     # the callee picks up


class Network(Protocol):
    """Where calls and flows go: ``testbed.sim`` or ``testbed.emu``."""

    def subscriber_hosts(self) -> list[tuple[str, str]]: ...

    def call(self, env: simpy.Environment, attempt: Attempt) -> Generator[Any, Any, CallRecord]: ...

    def flow(self, env: simpy.Environment, subscriber: Subscriber, app: str) -> Generator[Any, Any, FlowRecord]: ...


class CallWorkload:
    """One run of the workload against one network; records go to ``calls``/``flows``."""

    def __init__(self, env: simpy.Environment, spec: WorkloadSpec, network: Network, seed: int,
                 circumvention: Circumvention,
                 progress: Callable[[float, str], None] | None = None) -> None:
        self.env, self.spec, self.network = env, spec, network
        self.rng = random.Random(f"workload:{seed}")        # arrivals
        self._answers = random.Random(f"answers:{seed}")
        adoption = random.Random(f"adoption:{seed}")
        self.calls: list[CallRecord] = []
        self.flows: list[FlowRecord] = []
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

    def adopters(self, now: float) -> int:
        """Subscribers using the circumvention at ``now`` (one not failed for ``forget_after_s`` has
        gone back to the plain app, whether or not it has called since)."""
        forget = self.circumvention.forget_after_s
        return sum(s.strategy != "none" and not (forget and now - s.since >= forget) for s in self.subscribers)

    def _rate_factor(self, t: float) -> float:
        hour = int((self.spec.start_hour + t / 3600) % 24)
        return self._diurnal[hour]

    def _poisson(self, per_hour: float, arrive: Callable[[], None]) -> Generator[Any, Any, None]:
        """Poisson arrivals at the peak rate, thinned to the diurnal profile, until the end."""
        if per_hour <= 0:
            return
        peak = per_hour / 3600 / (sum(self._diurnal) / len(self._diurnal))
        env, rng, end = self.env, self.rng, self.spec.duration_s
        flat = len(self._diurnal) == 1
        while True:
            gap = rng.expovariate(peak)
            if env.now + gap >= end:
                return
            yield env.timeout(gap)
            if flat or rng.random() < self._rate_factor(env.now):
                arrive()

    def source(self) -> Generator[Any, Any, None]:
        """Start the call and flow sources, and a progress ticker."""
        env = self.env
        env.process(self._poisson(self.spec.calls_per_hour, self._new_call))
        for app, per_hour in self.spec.flows_per_hour.items():
            env.process(self._poisson(per_hour, functools.partial(self._new_flow, app)))
        if self.progress is not None:
            env.process(self._ticker(self.progress))
        yield env.timeout(0)

    def _new_call(self) -> None:
        rng, subs = self.rng, self.subscribers
        sub = subs[int(rng.random() * len(subs))]
        app = self.apps[min(bisect.bisect(self._cum_shares, rng.random() * self._cum_shares[-1]), len(self.apps) - 1)]
        self._next_intent += 1
        self.in_flight += 1
        self.env.process(self.call_intent(self._next_intent, sub, app))

    def _new_flow(self, app: str) -> None:
        sub = self.subscribers[int(self.rng.random() * len(self.subscribers))]
        self.env.process(self._flow(sub, app))

    def _flow(self, sub: Subscriber, app: str) -> Generator[Any, Any, None]:
        self.flows.append((yield from self.network.flow(self.env, sub, app)))

    def holding(self) -> float:
        h = self.spec.holding
        if h.distribution == "lognormal":  # mean = exp(mu + sigma²/2)
            return self.rng.lognormvariate(math.log(h.mean_s) - h.sigma ** 2 / 2, h.sigma)
        return self.rng.expovariate(1.0 / h.mean_s)

    def call_intent(self, intent_id: int, sub: Subscriber, app: str) -> Generator[Any, Any, None]:
        """Place a call; retry failures after a back-off; maybe switch to circumvention."""
        spec, circ = self.spec, self.circumvention
        holding = self.holding()
        answer, answers = spec.answer_probability, self._answers
        picks_up = [answer >= 1 or answers.random() < answer for _ in range(spec.retry.max_attempts)]
        ott = PROFILES[app].ott  # the operator's own service never goes through the user's workaround
        for attempt in range(1, spec.retry.max_attempts + 1):
            if circ.forget_after_s and sub.strategy != "none" and self.env.now - sub.since >= circ.forget_after_s:
                sub.strategy, sub.failures = "none", 0   # calls work again: back to the plain app
            self._next_call += 1
            record = yield from self.network.call(
                self.env, Attempt(self._next_call, intent_id, attempt, sub, app, sub.strategy if ott else "none",
                                  holding, picks_up[attempt - 1]))
            self.calls.append(record)
            if record.outcome in RETRIED_NOT:
                break
            sub.failures += 1
            sub.since = self.env.now
            if sub.adopter and sub.strategy == "none" and sub.failures >= circ.after_failures:
                sub.strategy = circ.strategy
            if attempt < spec.retry.max_attempts:
                yield self.env.timeout(spec.retry.backoff_s)
        self.in_flight -= 1
        self.ended_at = self.env.now

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
