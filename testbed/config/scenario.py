"""Scenario YAML → Scenario: topology, policies × circumventions, workload, expectations.

Every reference is resolved here (policy files, topology names and options, app
and strategy names), so a scenario that loads can run.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from testbed.config import limits
from testbed.config.errors import ConfigError
from testbed.config.overrides import Override, apply
from testbed.config.phases import PHASE, TIMELINE, Phase, check_expect, child, load_phases, topology_operators
from testbed.config.schema import Ctx, ListOf, MapOf, Name, Number, Spec, Str, Struct, join, mapping_items
from testbed.config.yamlnodes import load_node, scalar_value
from testbed.policy.load import available as available_policies
from testbed.policy.load import load_policy, resolve
from testbed.policy.model import NO_POLICY, Policy
from testbed.traffic.apps import CALL_APPS, FLOW_APPS
from testbed.traffic.circumvention import STRATEGIES

METRICS = ("success_pct", "asr_pct", "ser_pct", "seer_pct", "median_mos", "p10_mos", "median_pdd_ms",
           "median_ttb_ms", "median_ttb_packets", "hit_pct", "collateral_pct", "adopters_pct",
           "capacity_blocked_pct", "mean_loss_pct", "ott_success_pct", "operator_success_pct")


@dataclass(frozen=True)
class Holding:
    distribution: str = "exponential"
    mean_s: float = 120.0
    sigma: float = 1.0       # lognormal only: the sigma of log(holding)


@dataclass(frozen=True)
class Retry:
    max_attempts: int = 3
    backoff_s: float = 30.0


@dataclass(frozen=True)
class AppShare:
    share: float


@dataclass(frozen=True)
class Workload:
    duration_s: float
    calls_per_hour: float
    apps: dict[str, AppShare]
    subscribers: int = 100
    holding: Holding = Holding()
    diurnal: tuple[float, ...] = ()
    start_hour: float = 0.0
    answer_probability: float = 0.9
    ring_s: float = 6.0
    setup_timeout_s: float = 10.0
    max_call_loss_pct: float = 30.0
    retry: Retry = Retry()
    flows_per_hour: dict[str, float] = field(default_factory=dict)
    variants: int = 16


@dataclass(frozen=True)
class Circumvention:
    strategy: str = "none"
    share: float = 1.0           # of subscribers willing to adopt it
    after_failures: int = 0      # failed attempts before they switch (0: from the start)
    forget_after_s: float = 0.0  # an adopter this long without a failure goes back to the plain app (0: never)


@dataclass(frozen=True)
class TopologyRef:
    name: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Expect:
    circumvention: str
    metric: str
    policy: str = ""             # TIMELINE in a scenario with phases
    min: float | None = None
    max: float | None = None
    app: str = ""                # a per-app metric of this app
    phase: str = ""              # the date of a phase: that phase's calls only
    line: int = 0


@dataclass(frozen=True)
class Scenario:
    name: str
    topology: TopologyRef
    workload: Workload
    policies: tuple[str, ...] = ()
    circumventions: dict[str, Circumvention] = field(default_factory=dict)
    phases: tuple[Phase, ...] = ()
    operators: tuple[str, ...] = ()   # the topology's operators (of its DPI switches)
    description: str = ""
    seed: int = 1
    references: tuple[str, ...] = ()
    expect: tuple[Expect, ...] = ()
    source: str = ""
    policy_objects: dict[str, Policy] = field(default_factory=dict, compare=False)
    # the validated document, so that overrides are validated against it again (overridden())
    node: yaml.Node | None = field(default=None, compare=False, repr=False)


def _check_work(w: Workload, node: yaml.Node, nodes: dict[str, yaml.Node], ctx: Ctx, path: str) -> None:
    """Whatever a run accepts it must finish: refuse up front what would not (limits.MAX_*)."""
    hours = w.duration_s / 3600
    error = limits.work_error(w.calls_per_hour * hours, 0, 0)
    if error:
        raise ctx.error(nodes.get("calls_per_hour", node), join(path, "calls_per_hour"), error)
    error = limits.work_error(0, sum(w.flows_per_hour.values()) * hours, 0)
    if error:
        raise ctx.error(nodes.get("flows_per_hour", node), join(path, "flows_per_hour"), error)


def _check_workload(w: Workload, node: yaml.Node, nodes: dict[str, yaml.Node], ctx: Ctx, path: str) -> None:
    total = sum(a.share for a in w.apps.values())
    ctx.check(abs(total - 1) < 1e-6, nodes.get("apps"), join(path, "apps"),
              f"shares must sum to 1, got {total:g}")
    if "diurnal" in nodes:
        ctx.check(len(w.diurnal) == 24, nodes["diurnal"], join(path, "diurnal"),
                  f"expected 24 hourly weights, got {len(w.diurnal)}")
        ctx.check(sum(w.diurnal) > 0, nodes["diurnal"], join(path, "diurnal"), "weights are all zero")
    _check_work(w, node, nodes, ctx, path)


def _check_holding(h: Holding, node: yaml.Node, nodes: dict[str, yaml.Node], ctx: Ctx, path: str) -> None:
    ctx.check("sigma" not in nodes or h.distribution == "lognormal", nodes.get("sigma"),
              join(path, "sigma"), "sigma applies to the lognormal distribution only")


WORKLOAD = Struct(Workload, {
    "duration_s": Number(0, 10 * 365 * 86400, lo_open=True),
    "calls_per_hour": Number(0, 1e9),
    "apps": MapOf(Struct(AppShare, {"share": Number(0, 1)}), key=Str(CALL_APPS, noun="app"), min_len=1),
    "subscribers": Number(1, limits.MAX_SUBSCRIBERS, integer=True),
    "holding": Struct(Holding, {"distribution": Str(["exponential", "lognormal"], noun="distribution"),
                                "mean_s": Number(0, 86400, lo_open=True), "sigma": Number(0, 5, lo_open=True)},
                      check=_check_holding),
    "diurnal": ListOf(Number(0, 1e6)),
    "start_hour": Number(0, 24),
    "answer_probability": Number(0, 1),
    "ring_s": Number(0, 600),
    "setup_timeout_s": Number(0, 600, lo_open=True),
    "max_call_loss_pct": Number(0, 100),
    "retry": Struct(Retry, {"max_attempts": Number(1, 100, integer=True), "backoff_s": Number(0, 86400)}),
    "flows_per_hour": MapOf(Number(0, 1e9), key=Str(FLOW_APPS, noun="flow app")),
    "variants": Number(0, 100_000, integer=True),
}, check=_check_workload)

CIRCUMVENTION = Struct(Circumvention, {
    "strategy": Str(list(STRATEGIES), noun="strategy"),
    "share": Number(0, 1),
    "after_failures": Number(0, 1000, integer=True),
    "forget_after_s": Number(0, 10 * 365 * 86400),
})


def _build_params(name: str) -> dict[str, inspect.Parameter]:
    """The keyword options of a topology's ``build``, subclass first (ThreeOperators → OperatorEdge)."""
    from topologies import TOPOLOGIES

    out: dict[str, inspect.Parameter] = {}
    for cls in TOPOLOGIES[name].__mro__:
        if "build" in vars(cls):
            for k, p in inspect.signature(vars(cls)["build"]).parameters.items():
                if p.default is not inspect.Parameter.empty and k not in out:
                    out[k] = p
    return out


def topology_options(name: str) -> dict[str, Any]:
    """A topology's options and their defaults."""
    return {k: p.default for k, p in _build_params(name).items()}


def topology_specs(name: str) -> dict[str, Number]:
    """What each option of a topology accepts: its type and its bounds (testbed.config.limits)."""
    from topologies import TOPOLOGIES

    own = getattr(TOPOLOGIES[name], "PARAM_BOUNDS", {})
    specs = {}
    for k, p in _build_params(name).items():
        lo, hi, integer, lo_open = limits.topology_bounds(k, p.annotation, own)
        specs[k] = Number(lo, hi, integer=integer, lo_open=lo_open)
    return specs


def _topology_names() -> list[str]:
    from topologies import TOPOLOGIES

    return list(TOPOLOGIES)


class _Node(Spec):
    """A mapping kept as its node, for a later pass that knows how to read it."""

    what = "a mapping"

    def load(self, node: yaml.Node, ctx: Ctx, path: str) -> Any:
        mapping_items(self, node, ctx, path)
        return node


def _load_topology(node: yaml.Node, ctx: Ctx, path: str) -> TopologyRef:
    """``topology: name`` or ``topology: {name: ..., params: {...}}``."""
    if isinstance(node, yaml.ScalarNode):
        return TopologyRef(Str(_topology_names, noun="topology").load(node, ctx, path))
    ref = Struct(TopologyRef, {"name": Str(_topology_names, noun="topology"), "params": _Node()}).load(node, ctx, path)
    if not ref.params:
        return ref
    specs = topology_specs(ref.name)
    params = {}
    for key, key_node, value_node in mapping_items(_Node(), ref.params, ctx, join(path, "params")):
        where = join(join(path, "params"), key)
        if key not in specs:
            raise ctx.error(key_node, where, f"unknown option '{key}' of topology {ref.name} – "
                                             f"choose one of [{', '.join(specs)}]")
        params[key] = specs[key].load(value_node, ctx, where)
    return replace(ref, params=params)


class _TopologySpec(Str):
    what = "a topology name or {name, params}"

    def load(self, node: yaml.Node, ctx: Ctx, path: str) -> Any:
        return _load_topology(node, ctx, path)


EXPECT = Struct(Expect, {"policy": Str(), "circumvention": Str(), "metric": Str(list(METRICS), noun="metric"),
                             "min": Number(-1e9, 1e9), "max": Number(-1e9, 1e9), "app": Str(),
                         "phase": PHASE.fields["date"]})


SCENARIO = Struct(Scenario, {
    "name": Name("scenario name"),
    "description": Str(non_empty=False),
    "seed": Number(0, 2 ** 63, integer=True),
    "references": ListOf(Str()),
    "topology": _TopologySpec(),
    "workload": WORKLOAD,
    "policies": ListOf(Str(), min_len=1),
    "phases": ListOf(PHASE, min_len=1),
    "circumventions": MapOf(CIRCUMVENTION, key=Name("circumvention name")),
    "expect": ListOf(EXPECT),
})


def _value_node(node: yaml.Node, key: str) -> yaml.Node:
    return next(v for k, v in node.value if scalar_value(k) == key)


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # a name too long for the file system, say: no such policy either
        return False


def _policy(name: str, item: yaml.Node, where: str, ctx: Ctx, base: Path) -> Policy:
    """A policy by name (policies/<name>.yaml) or by path (relative to the scenario)."""
    if name == "none" and not _exists(resolve(name)):
        return NO_POLICY
    path = resolve(name)
    if not path.is_absolute() and not _exists(path):
        path = base / path
    if not _exists(path):
        raise ctx.error(item, where, f"unknown policy {name!r} – choose one of "
                                     f"[{', '.join(available_policies())}] or give a file path")
    return load_policy(path, display=_display(path))


def _load_policies(doc: Scenario, node: yaml.Node, ctx: Ctx, base: Path) -> dict[str, Policy]:
    """Each listed policy, by name (policies/<name>.yaml) or by path (relative to the scenario)."""
    policies: dict[str, Policy] = {}
    files: dict[str, str] = {}  # the name a cell's result files carry → the policy that has it
    policies_node = _value_node(node, "policies")
    for i, name in enumerate(doc.policies):
        item = policies_node.value[i]
        ctx.check(name not in policies, item, f"policies[{i}]", f"policy '{name}' is listed twice")
        ctx.check(limits.slug(name) not in files, item, f"policies[{i}]",
                  f"policy '{name}' would write its results under the name '{limits.slug(name)}' as "
                  f"'{files.get(limits.slug(name))}' does – rename one")
        files[limits.slug(name)] = name
        policies[name] = _policy(name, item, f"policies[{i}]", ctx, base)
    return policies


def parse_scenario(node: yaml.Node, ctx: Ctx, base: Path) -> Scenario:
    """Validate a scenario's node tree (from a file, maybe with overrides) and resolve what it names.

    ``base`` is the folder policy paths are relative to (the scenario file's)."""
    doc = SCENARIO.load(node, ctx, "")
    from topologies import TOPOLOGIES

    operators = topology_operators(TOPOLOGIES[doc.topology.name](**doc.topology.params))
    if doc.phases:
        ctx.check(not doc.policies, _value_node(node, "phases"), "phases",
                  "give policies (cells to compare) or phases (a timeline), not both")
        phases, policies = load_phases(doc.phases, _value_node(node, "phases"), ctx, doc.workload.duration_s,
                                       operators, lambda name, item, where: _policy(name, item, where, ctx, base))
        doc = replace(doc, phases=phases, policies=(TIMELINE,))
    else:
        ctx.check(bool(doc.policies), node, "", "missing required key 'policies' (or 'phases', a timeline)")
        policies = _load_policies(doc, node, ctx, base)
    circumventions = dict(doc.circumventions) or {"none": Circumvention()}
    error = limits.work_error(0, 0, len(doc.policies) * len(circumventions))
    if error:
        axis = "circumventions" if doc.phases else "policies"
        raise ctx.error(_value_node(node, axis), axis, error)
    expects = tuple(check_expect(e, _value_node(node, "expect").value[i], f"expect[{i}]", doc, policies,
                                  circumventions, ctx) for i, e in enumerate(doc.expect))
    return replace(doc, circumventions=circumventions, expect=expects, source=ctx.file,
                   policy_objects=policies, operators=operators, node=node)


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def with_compressed_timeline(node: yaml.Node, overrides: Sequence[Override]) -> list[Override]:
    """The overrides, and when one sets ``workload.duration_s`` of a scenario with phases, each
    phase's ``at_s`` scaled with it: a shorter run compresses the timeline, each phase keeping its
    share of the run. (Values that are not numbers are left for the schema to refuse.)"""
    new = next((o for o in reversed(overrides) if o.path == "workload.duration_s"), None)
    workload, phases = child(node, "workload"), child(node, "phases")
    old = child(workload, "duration_s") if isinstance(workload, yaml.MappingNode) else None
    if new is None or old is None or not isinstance(phases, yaml.SequenceNode):
        return list(overrides)
    before, after = scalar_value(old), new.value
    if isinstance(after, yaml.ScalarNode):   # a value given as YAML text (a sweep's --vary)
        after = scalar_value(after)
    if any(o.path == "phases" for o in overrides):
        return list(overrides)
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and v > 0 for v in (before, after)):
        return list(overrides)
    out = list(overrides)
    for i, item in enumerate(phases.value):
        at = child(item, "at_s") if isinstance(item, yaml.MappingNode) else None
        value = scalar_value(at) if isinstance(at, yaml.ScalarNode) else None
        mine = any(o.path.startswith(f"phases[{i}]") for o in overrides)   # set explicitly: kept
        if isinstance(value, int | float) and not isinstance(value, bool) and value and not mine:
            out.append(Override(f"phases[{i}].at_s", round(value * after / before, 3), new.origin))
    return out


def load_scenario(path: str | Path, overrides: Sequence[Override] = ()) -> Scenario:
    """Load, validate and resolve a scenario file, with values set from elsewhere (``--duration``,
    a sweep's point) applied first; ConfigError on anything wrong, naming file, YAML path and line."""
    name = _display(Path(path))
    node = load_node(path, name)
    node = apply(node, with_compressed_timeline(node, overrides), name)
    return parse_scenario(node, Ctx(name), Path(path).resolve().parent)


def overridden(scenario: Scenario, *, seed: int | None = None, duration_s: float | None = None,
               holding_s: float | None = None, policies: tuple[str, ...] | None = None,
               circumventions: tuple[str, ...] | None = None) -> Scenario:
    """The scenario with command-line overrides: another seed, a shorter run, a subset of
    its cells (and of its expectations, to match). Unknown cell names are ConfigErrors.

    Values are validated as if the file said them (the same schema and limits), when the
    scenario came from a file; a Scenario built in code is trusted."""
    values = [Override(p, v, o) for p, v, o in (("seed", seed, "--seed"), ("workload.duration_s", duration_s, "--duration"),
                                                ("workload.holding.mean_s", holding_s, "--holding")) if v is not None]
    if policies and scenario.phases and tuple(policies) != (TIMELINE,):
        raise ConfigError(scenario.source, "", None, "--policies: this scenario has phases: its policies "
                                                     "come from them")
    if values and scenario.node is not None:
        node = apply(scenario.node, with_compressed_timeline(scenario.node, values), scenario.source)
        scenario = parse_scenario(node, Ctx(scenario.source), Path(scenario.source).resolve().parent)
    elif values:
        w = scenario.workload
        if duration_s is not None:
            w = replace(w, duration_s=duration_s)
        if holding_s is not None:
            w = replace(w, holding=replace(w.holding, mean_s=holding_s))
        phases = scenario.phases
        if duration_s is not None:   # as with_compressed_timeline does for a scenario from a file
            phases = tuple(replace(p, at_s=round(p.at_s * duration_s / scenario.workload.duration_s, 3))
                           for p in phases)
        scenario = replace(scenario, workload=w, seed=scenario.seed if seed is None else seed, phases=phases)
    keep_p = policies or scenario.policies
    keep_c = circumventions or tuple(scenario.circumventions)
    for option, names, known in (("--policies", keep_p, scenario.policies),
                                 ("--circumventions", keep_c, tuple(scenario.circumventions))):
        for name in names:
            if name not in known:
                raise ConfigError(scenario.source, "", None,
                                  f"{option}: '{name}' is not in the scenario – choose one of [{', '.join(known)}]")
    return replace(scenario, policies=keep_p,
                   circumventions={c: scenario.circumventions[c] for c in keep_c},
                   expect=tuple(e for e in scenario.expect if e.policy in keep_p and e.circumvention in keep_c))
