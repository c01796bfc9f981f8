"""A scenario's timeline (``phases:``) and what its expectations may name (``app:``, ``phase:``).

A phase starts at ``at_s`` seconds of the run and stands for a real ``date``; it names the
operators whose policy changes then (``all``: every operator; the others keep theirs). The
first phase starts at 0; times and dates only go forward; every phase starts before the
last call arrival. Operators are the topology's (those of its DPI switches); policies are
files, by name or path, loaded as ``testbed.config.scenario`` loads the matrix's.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import yaml

from testbed.config.schema import Convert, Ctx, MapOf, Number, Str, Struct, join, mapping_items
from testbed.config.yamlnodes import line_of, scalar_value
from testbed.policy.model import Policy

if TYPE_CHECKING:
    from testbed.config.scenario import Circumvention, Expect, Scenario

# what testbed.metrics.summary keeps per app: for a call app, and for a non-VoIP flow app
APP_METRICS = ("success_pct", "asr_pct", "hit_pct", "median_mos", "p10_mos")
FLOW_APP_METRICS = ("hit_pct",)
TIMELINE = "timeline"   # the policy axis of a scenario with phases: one timeline, its policies by phase
ALL = "all"             # in a phase's policies: every operator (those it names beside it excepted)
MAX_SECONDS = 10 * 365 * 86400


@dataclass(frozen=True)
class Phase:
    """From ``at_s`` of the run on, the operators named in ``policies`` run these policies (the
    others keep theirs); ``date`` is the real date the phase stands for."""

    at_s: float
    date: str
    policies: dict[str, str] = field(default_factory=dict)   # operator (or "all") → policy name
    note: str = ""
    line: int = 0


def _date(value: Any) -> str:
    """A calendar date, ``2016-01-07`` (YAML reads it as a date; a quoted one is text)."""
    if isinstance(value, datetime.datetime):
        raise ValueError("a date without a time")
    if isinstance(value, datetime.date):
        return value.isoformat()
    if not isinstance(value, str):
        raise TypeError
    return datetime.date.fromisoformat(value).isoformat()


DATE = Convert(_date, "a date like 2016-01-07")
POLICIES = MapOf(Str(), key=Str())
PHASE = Struct(Phase, {"at_s": Number(0, MAX_SECONDS), "date": DATE, "policies": POLICIES,
                       "note": Str(non_empty=False)})

PolicyLoader = Callable[[str, yaml.Node, str], Policy]   # (name, its node, its YAML path) → the policy


def child(node: yaml.Node, key: str) -> yaml.Node | None:
    """The value node of ``key`` in a mapping node, if there."""
    return next((v for k, v in node.value if scalar_value(k) == key), None)


def load_phases(phases: Sequence[Phase], node: yaml.Node, ctx: Ctx, duration_s: float,
                operators: tuple[str, ...], load: PolicyLoader) -> tuple[tuple[Phase, ...], dict[str, Policy]]:
    """The timeline checked, each phase with its line; and every policy it names, loaded once."""
    policies: dict[str, Policy] = {}
    out = []
    for i, phase in enumerate(phases):
        item, where = node.value[i], f"phases[{i}]"
        at_node, at = child(item, "at_s"), join(where, "at_s")
        if i == 0:
            ctx.check(phase.at_s == 0, at_node, at, f"the first phase starts at 0, got {phase.at_s:g}")
        else:
            before = phases[i - 1]
            ctx.check(phase.at_s > before.at_s, at_node, at,
                      f"expected a time after phases[{i - 1}]'s {before.at_s:g}, got {phase.at_s:g}")
            ctx.check(phase.date > before.date, child(item, "date"), join(where, "date"),
                      f"expected a date after phases[{i - 1}]'s {before.date}, got {phase.date}")
        ctx.check(phase.at_s < duration_s, at_node, at,
                  f"starts after the last call arrival (workload.duration_s is {duration_s:g})")
        named = child(item, "policies")
        for key, key_node, value_node in mapping_items(POLICIES, named, ctx, where) if named else ():
            path = join(join(where, "policies"), key)
            ctx.check(key == ALL or key in operators, key_node, path,
                      f"unknown operator {key!r} – choose one of [{', '.join((ALL, *operators))}]")
            name = phase.policies[key]
            if name not in policies:
                policies[name] = load(name, value_node, path)
        out.append(replace(phase, line=line_of(item) or 0))
    return tuple(out), policies


def check_expect(e: Expect, item: yaml.Node, where: str, doc: Scenario, policies: dict[str, Policy],
                 circumventions: dict[str, Circumvention], ctx: Ctx) -> Expect:
    """An expectation names a cell of this scenario, and a phase, an app and a metric it has."""
    keys = {scalar_value(k): v for k, v in item.value}
    if doc.phases:
        ctx.check("policy" not in keys, keys.get("policy"), join(where, "policy"),
                  "this scenario has phases: its policies come from them (leave policy out)")
        e = replace(e, policy=TIMELINE)
    else:
        ctx.check("policy" in keys, item, where, "missing required key 'policy'")
        ctx.check(e.policy in policies, keys.get("policy"), join(where, "policy"),
                  f"policy {e.policy!r} is not in this scenario's policies [{', '.join(policies)}]")
        ctx.check(not e.phase, keys.get("phase"), join(where, "phase"), "this scenario has no phases")
    ctx.check(e.circumvention in circumventions, keys.get("circumvention"), join(where, "circumvention"),
              f"circumvention {e.circumvention!r} is not in this scenario's circumventions "
              f"[{', '.join(circumventions)}]")
    dates = [p.date for p in doc.phases]
    ctx.check(not e.phase or e.phase in dates, keys.get("phase"), join(where, "phase"),
              f"no phase dated {e.phase} – choose one of [{', '.join(dates)}]")
    if e.app:
        apps = [*doc.workload.apps, *doc.workload.flows_per_hour]
        ctx.check(e.app in apps, keys.get("app"), join(where, "app"),
                  f"app {e.app!r} is not in this scenario's workload – choose one of [{', '.join(apps)}]")
        kept = APP_METRICS if e.app in doc.workload.apps else FLOW_APP_METRICS
        ctx.check(e.metric in kept, keys.get("metric"), join(where, "metric"),
                  f"metric {e.metric!r} is not kept per app for {e.app} – choose one of [{', '.join(kept)}]")
    ctx.check(e.min is not None or e.max is not None, item, where, "give min, max or both")
    return replace(e, line=line_of(item) or 0)


def topology_operators(topo: Any) -> tuple[str, ...]:
    """The operators of a built topology: those of its DPI switches, in the order it built them."""
    ops = (str(topo.nodeInfo(s).get("operator", "")) for s in topo.switches(sort=False)
           if topo.nodeInfo(s).get("role") == "dpi")
    return tuple(dict.fromkeys(o for o in ops if o))
