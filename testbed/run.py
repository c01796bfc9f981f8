"""Run a scenario: every policy × circumvention cell through one network, then aggregate.

Each cell gets the same seeds, so cells differ by their policy and strategy, not
by luck (common random numbers).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import simpy

from testbed.call.calls import Calls, Carrier
from testbed.call.model import CallModel
from testbed.call.records import CallRecord, FlowRecord
from testbed.config.scenario import Expect, Scenario
from testbed.metrics.summary import aggregate, outcomes
from testbed.workload.calls import CallWorkload

# after the last arrival, calls still in progress run to their end (up to this long)
DRAIN_S = 4 * 3600.0


@dataclass
class Cell:
    policy: str
    circumvention: str
    summary: dict[str, Any]
    per_app: dict[str, Any]
    outcomes: dict[str, int]
    calls: list[CallRecord] = field(repr=False)
    flows: list[FlowRecord] = field(repr=False)
    extra: dict[str, Any] = field(default_factory=dict)


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Run with rare cyclic-GC passes: a long run keeps millions of records alive, and each
    full pass would walk them all. Our records and SimPy's events are freed by reference
    counting; the collector is only for cycles."""
    before = gc.get_threshold()
    gc.set_threshold(200_000, 50, 1000)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def build_topology(scenario: Scenario) -> Any:
    from topologies import TOPOLOGIES

    return TOPOLOGIES[scenario.topology.name](**scenario.topology.params)


NetworkFactory = Callable[[Scenario, str], Carrier]   # (scenario, policy name) → a network for the cell


def simulated(scenario: Scenario, policy_name: str) -> Carrier:
    """The default network: the simulator."""
    from testbed.sim.network import SimNetwork

    return SimNetwork(build_topology(scenario), scenario.policy_objects[policy_name], scenario.workload,
                      scenario.seed)


def run_cell(scenario: Scenario, policy_name: str, circ_name: str,
             progress: Callable[[float, str], None] | None = None,
             network: NetworkFactory = simulated) -> Cell:
    """Run one cell of the matrix in simulated time."""
    carrier = network(scenario, policy_name)
    cell = play(simpy.Environment(), carrier, scenario, policy_name, circ_name, progress,
                until=scenario.workload.duration_s + DRAIN_S)
    cell.extra["classifications"] = getattr(carrier, "classifications", 0)
    return cell


def play(env: simpy.Environment, network: Carrier, scenario: Scenario, policy_name: str, circ_name: str,
         progress: Callable[[float, str], None] | None = None, until: float | None = None) -> Cell:
    """Run the scenario's workload on ``network`` (either mode) and aggregate its records."""
    calls = Calls(network, CallModel(scenario.workload))
    workload = CallWorkload(env, scenario.workload, calls, scenario.seed, scenario.circumventions[circ_name], progress)
    env.process(workload.source())
    with fewer_collections():
        env.run(until=until)
    adopters = sum(s.strategy != "none" for s in workload.subscribers)
    summary, apps = aggregate(workload.calls, workload.flows, len(workload.subscribers), adopters)
    return Cell(policy_name, circ_name, summary, apps, outcomes(workload.calls), workload.calls, workload.flows)


def cells_of(scenario: Scenario) -> list[tuple[str, str]]:
    return [(p, c) for p in scenario.policies for c in scenario.circumventions]


def run_scenario(scenario: Scenario, progress: Callable[[int, int, str, float], None] | None = None,
                 runner: Callable[..., Cell] = run_cell) -> list[Cell]:
    """All cells; ``progress(index, total, label, fraction)`` as they go."""
    todo = cells_of(scenario)
    out = []
    for i, (policy, circ) in enumerate(todo):
        label = f"{policy} × {circ}"
        tick = ((lambda f, note="", i=i, label=label: progress(i, len(todo), f"{label} {note}".strip(), f))
                if progress else None)
        out.append(runner(scenario, policy, circ, tick))
    return out


@dataclass(frozen=True)
class Checked:
    expect: Expect
    value: float | None
    ok: bool

    def __str__(self) -> str:
        e = self.expect
        bounds = " and ".join(b for b in (f">= {e.min:g}" if e.min is not None else "",
                                          f"<= {e.max:g}" if e.max is not None else "") if b)
        got = "n/a" if self.value is None else f"{self.value:g}"
        return (f"{'ok  ' if self.ok else 'FAIL'} line {e.line}: {e.policy} × {e.circumvention}: "
                f"{e.metric} = {got}, expected {bounds}")


def check_expectations(scenario: Scenario, cells: list[Cell]) -> list[Checked]:
    by_key = {(c.policy, c.circumvention): c for c in cells}
    out = []
    for e in scenario.expect:
        value = by_key[(e.policy, e.circumvention)].summary.get(e.metric)
        ok = value is not None and (e.min is None or value >= e.min) and (e.max is None or value <= e.max)
        out.append(Checked(e, value, ok))
    return out
