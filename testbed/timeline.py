"""A run's timeline: which policy each operator runs when, and the run cut into its phases (pure).

A scenario without ``phases:`` is one phase: every operator runs the cell's policy for the
whole run. A scenario with phases is one timeline: from each phase's ``at_s`` on, the
operators it names run their new policy (``all``: every operator), the others keep theirs.
The networks of both modes take the policies of a phase as ``{operator: Policy}`` with
``all`` standing for every operator not named (``policy_for``).

A phase's calls are the attempts that started in it, of the intents that began in it: an
intent counts once, in the phase its user first dialled, by what happened to it there — a
retry that falls into the next phase (after a lift, say) is left out of both phases (it is in
the whole run's numbers). So a short phase is not credited with retries that got through
only because the next phase began. Non-VoIP flows by their start.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, Protocol

import simpy

from testbed.call.records import CallRecord, FlowRecord
from testbed.config.phases import ALL
from testbed.config.scenario import Scenario
from testbed.policy.model import NO_POLICY, Policy

Policies = dict[str, Policy]   # operator → policy; ALL: every operator not named


@dataclass(frozen=True)
class Step:
    """One phase of a cell's run: from ``at_s`` to ``until_s`` (None: to the end of the run)."""

    index: int                 # from 1
    at_s: float
    until_s: float | None
    date: str                  # "" for a scenario without phases
    note: str
    policies: Policies

    def names(self, operators: tuple[str, ...]) -> dict[str, str]:
        """Each operator's policy name in this phase."""
        return {op: policy_for(self.policies, op).name for op in operators or (ALL,)}


def policy_for(policies: Policies, operator: str) -> Policy:
    """The policy an operator runs."""
    found = policies.get(operator)
    return found if found is not None else policies.get(ALL, NO_POLICY)


def steps(scenario: Scenario, policy_name: str) -> tuple[Step, ...]:
    """The phases of one cell: its policy throughout, or the scenario's timeline."""
    if not scenario.phases:
        return (Step(1, 0.0, None, "", "", {ALL: scenario.policy_objects[policy_name]}),)
    out: list[Step] = []
    current: Policies = {ALL: NO_POLICY}
    phases = scenario.phases
    for i, phase in enumerate(phases):
        named = dict(phase.policies)
        if ALL in named:   # "all" first: the operators named beside it keep their own
            current = {ALL: scenario.policy_objects[named.pop(ALL)]}
        current = {**current, **{op: scenario.policy_objects[name] for op, name in named.items()}}
        until = phases[i + 1].at_s if i + 1 < len(phases) else None
        out.append(Step(i + 1, phase.at_s, until, phase.date, phase.note, current))
    return tuple(out)


class Switchable(Protocol):
    def set_policies(self, policies: Policies) -> None: ...


def timeline(env: simpy.Environment, network: Switchable, cell_steps: tuple[Step, ...]) -> Generator[Any, Any, None]:
    """A SimPy process: each phase's policies go into the network at its time."""
    for step in cell_steps[1:]:
        yield env.timeout(max(0.0, step.at_s - env.now))
        network.set_policies(step.policies)


def phase_of(cell_steps: tuple[Step, ...], t: float) -> int:
    """The index (0-based) of the phase time ``t`` falls in."""
    i = 0
    while i + 1 < len(cell_steps) and t >= cell_steps[i + 1].at_s:
        i += 1
    return i


def split(cell_steps: tuple[Step, ...], calls: list[CallRecord],
          flows: list[FlowRecord]) -> list[tuple[list[CallRecord], list[FlowRecord]]]:
    """Each phase's calls (attempts started in it, of intents begun in it) and flows (by their start)."""
    if not cell_steps:
        return []
    began: dict[int, int] = {}    # intent → the phase of its first attempt
    for c in sorted(calls, key=lambda c: c.t_start):
        began.setdefault(c.intent_id, phase_of(cell_steps, c.t_start))
    out: list[tuple[list[CallRecord], list[FlowRecord]]] = [([], []) for _ in cell_steps]
    for c in calls:
        phase = phase_of(cell_steps, c.t_start)
        if phase == began[c.intent_id]:
            out[phase][0].append(c)
    for f in flows:
        out[phase_of(cell_steps, f.t_start)][1].append(f)
    return out
