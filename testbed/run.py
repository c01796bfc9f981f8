"""Run a scenario: every policy × circumvention cell through one network, then aggregate.

Each cell gets the same seeds, so cells differ by their policy and strategy, not
by luck (common random numbers).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import simpy

from testbed.call.calls import Calls, Carrier
from testbed.call.model import CallModel
from testbed.call.records import CallRecord, FlowRecord
from testbed.config.scenario import Expect, Scenario
from testbed.metrics.summary import Tally, aggregate, outcomes
from testbed.probe.run import PROBE_WINDOW_S, probe
from testbed.timeline import Step, split, steps, timeline
from testbed.workload.calls import CallWorkload

# after the last arrival, calls still in progress run to their end (up to this long)
DRAIN_S = 4 * 3600.0


@dataclass
class PhaseCell:
    """One phase of a cell: the calls whose intent began in it, the flows that started in it."""

    step: Step
    policies: dict[str, str]      # each operator's policy name
    summary: dict[str, Any]
    per_app: dict[str, Any]
    outcomes: dict[str, int]
    probes: list[Any] = field(default_factory=list)    # testbed.probe.run.AppProbe, near the phase's end


@dataclass
class Cell:
    policy: str
    circumvention: str
    summary: dict[str, Any]
    per_app: dict[str, Any]
    outcomes: dict[str, int]
    calls: list[CallRecord] = field(repr=False)   # empty unless the run kept its records
    flows: list[FlowRecord] = field(repr=False)
    extra: dict[str, Any] = field(default_factory=dict)
    rule_hits: dict[str, dict[str, int]] = field(default_factory=dict)   # rule label → {"calls": n, "flows": m}
    phases: list[PhaseCell] = field(default_factory=list)   # a scenario with phases: one per phase
    probes: list[Any] = field(default_factory=list)    # testbed.probe.run.AppProbe, after the workload


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
    """The default network: the simulator, with the cell's first phase's policies."""
    from testbed.sim.network import SimNetwork

    return SimNetwork(build_topology(scenario), steps(scenario, policy_name)[0].policies, scenario.workload,
                      scenario.seed)


def run_cell(scenario: Scenario, policy_name: str, circ_name: str,
             progress: Callable[[float, str], None] | None = None,
             network: NetworkFactory = simulated, records: bool = True) -> Cell:
    """Run one cell of the matrix in simulated time (``records``: as ``play``'s)."""
    carrier = network(scenario, policy_name)
    cell = play(simpy.Environment(), carrier, scenario, policy_name, circ_name, progress,
                until=scenario.workload.duration_s + DRAIN_S, records=records)
    cell.extra["classifications"] = getattr(carrier, "classifications", 0)
    return cell


def play(env: simpy.Environment, network: Carrier, scenario: Scenario, policy_name: str, circ_name: str,
         progress: Callable[[float, str], None] | None = None, until: float | None = None,
         records: bool = True) -> Cell:
    """Run the scenario's workload on ``network`` (either mode) and aggregate its records; with
    phases, the network's policies change at each phase's time and each phase is aggregated too.
    ``records``: keep every call's and flow's record (the CSVs and the report's plots want them;
    so does a timeline, to cut its phases, and a network that measures after the fact); without,
    each is aggregated as its call ends and none is kept: the run's memory does not grow with
    its calls."""
    tally = Tally()
    keep = records or bool(scenario.phases)
    calls = Calls(network, CallModel(scenario.workload))
    workload = CallWorkload(env, scenario.workload, calls, scenario.seed, scenario.circumventions[circ_name], progress,
                            None if keep else tally.call, None if keep else tally.flow)
    cell_steps = steps(scenario, policy_name)
    adopters: list[int] = []   # at each phase's end; the last at the end of the run's last call

    def count_adopters() -> Any:
        for step in cell_steps[1:]:
            yield env.timeout(max(0.0, step.at_s - env.now))
            adopters.append(workload.adopters(env.now))

    env.process(workload.source())
    env.process(count_adopters())
    if len(cell_steps) > 1:
        env.process(timeline(env, network, cell_steps))  # type: ignore[arg-type]
    # the probes: in each phase but the last, in its final PROBE_WINDOW_S (a phase shorter than
    # that, as an emulation may compress one, goes unprobed); after the workload for the last
    probed: dict[int, Any] = {}
    for i, step in enumerate(cell_steps[:-1]):
        assert step.until_s is not None
        if step.until_s - step.at_s >= PROBE_WINDOW_S:
            probed[i] = env.process(_probe_at(env, step.until_s - PROBE_WINDOW_S, network, scenario))
    with fewer_collections():
        env.run(until=until)
    last = env.process(probe(env, network, scenario.workload, scenario.seed))
    env.run(until=last)
    probed[len(cell_steps) - 1] = last
    network.settle(workload.calls)   # what a network measures after the fact (the emulation's capture)
    for record in workload.calls:   # kept: aggregated now, as settled
        tally.call(record)
    for flow in workload.flows:
        tally.flow(flow)
    adopters.append(workload.adopters(max(scenario.workload.duration_s, workload.ended_at)))
    subscribers = len(workload.subscribers)
    summary, apps = tally.result(subscribers, adopters[-1])
    found = {i: list(p.value or ()) if p.triggered and p.ok else [] for i, p in probed.items()}
    cell = Cell(policy_name, circ_name, summary, apps, tally.outcomes(), workload.calls, workload.flows,
                probes=found[len(cell_steps) - 1] if not scenario.phases else [], rule_hits=tally.rule_hits())
    if scenario.phases:
        for i, (step, (c, f), n) in enumerate(zip(cell_steps, split(cell_steps, workload.calls, workload.flows),
                                                  adopters)):
            phase_summary, phase_apps = aggregate(c, f, subscribers, n)
            cell.phases.append(PhaseCell(step, step.names(scenario.operators), phase_summary, phase_apps,
                                         outcomes(c), found.get(i, [])))
    return cell


def _probe_at(env: simpy.Environment, t: float, network: Carrier, scenario: Scenario) -> Generator[Any, Any, Any]:
    yield env.timeout(max(0.0, t - env.now))
    return (yield from probe(env, network, scenario.workload, scenario.seed))


def cells_of(scenario: Scenario) -> list[tuple[str, str]]:
    return [(p, c) for p in scenario.policies for c in scenario.circumventions]


def run_scenario(scenario: Scenario, progress: Callable[[int, int, str, float], None] | None = None,
                 runner: Callable[..., Cell] = run_cell, records: bool = True) -> list[Cell]:
    """All cells; ``progress(index, total, label, fraction)`` as they go; ``records``: ``run_cell``'s
    (False: a runner that keeps records anyway, the emulation's, is not told)."""
    todo = cells_of(scenario)
    out = []
    for i, (policy, circ) in enumerate(todo):
        label = f"{policy} × {circ}"
        tick = ((lambda f, note="", i=i, label=label: progress(i, len(todo), f"{label} {note}".strip(), f))
                if progress else None)
        out.append(runner(scenario, policy, circ, tick) if records else runner(scenario, policy, circ, tick,
                                                                                  records=False))
    return out


@dataclass(frozen=True)
class Checked:
    expect: Expect
    value: float | None
    ok: bool

    @property
    def where(self) -> str:
        """The cell, phase and app it checks: ``timeline × none, 2016-05-15, imo``."""
        e = self.expect
        return ", ".join(p for p in (f"{e.policy} × {e.circumvention}", e.phase, e.app) if p)

    def __str__(self) -> str:
        e = self.expect
        bounds = " and ".join(b for b in (f">= {e.min:g}" if e.min is not None else "",
                                          f"<= {e.max:g}" if e.max is not None else "") if b)
        got = "n/a" if self.value is None else f"{self.value:g}"
        return f"{'ok  ' if self.ok else 'FAIL'} line {e.line}: {self.where}: {e.metric} = {got}, expected {bounds}"


def expected_value(cell: Cell, e: Expect) -> float | None:
    """The number an expectation bounds: of the cell or one of its phases, of all calls or one app."""
    part: Cell | PhaseCell = cell
    if e.phase:
        part = next(p for p in cell.phases if p.step.date == e.phase)
    value = part.per_app.get(e.app, {}).get(e.metric) if e.app else part.summary.get(e.metric)
    return value if isinstance(value, int | float) else None


def check_expectations(scenario: Scenario, cells: list[Cell]) -> list[Checked]:
    by_key = {(c.policy, c.circumvention): c for c in cells}
    out = []
    for e in scenario.expect:
        value = expected_value(by_key[(e.policy, e.circumvention)], e)
        ok = value is not None and (e.min is None or value >= e.min) and (e.max is None or value <= e.max)
        out.append(Checked(e, value, ok))
    return out
