"""Policy YAML → Policy. Every error names file, YAML path and line.

    name: anrt-2016
    rules:
      - name: ott-calls
        match: {apps: [WhatsAppCall, Viber]}
        action: drop
      - match: {l4: udp, dst_ports: [3478, "5060-5070"]}
        action: {throttle: {kbps: 64}}
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from testbed.config.schema import Convert, Ctx, ListOf, Number, Str, Struct, Tagged, join, port_range
from testbed.config.yamlnodes import load_node
from testbed.dpi.catalog import APPS, CATEGORIES
from testbed.policy import model
from testbed.policy.model import Action, Match, Policy, Rule

POLICY_DIR = Path(__file__).resolve().parents[2] / "policies"


def _network(value: Any) -> model.IPNet:
    if not isinstance(value, str):
        raise ValueError("")
    return ipaddress.ip_network(value, strict=False)


PORTS = ListOf(Convert(port_range, "a port or a range like '5060-5070'"), min_len=1, scalar_ok=True)
NETS = ListOf(Convert(_network, "an IP address or prefix like '10.0.0.0/8'"), min_len=1, scalar_ok=True)


def _check_match(m: Match, node: yaml.Node, nodes: dict[str, yaml.Node], ctx: Ctx, path: str) -> None:
    ctx.check(bool(nodes), node, path, "a match needs at least one field")
    if (m.src_ports or m.dst_ports or m.ports) and m.l4 is None:
        key = next(k for k in ("src_ports", "dst_ports", "ports") if k in nodes)
        raise ctx.error(nodes[key], join(path, key), "port matches need 'l4: udp' or 'l4: tcp'")


MATCH = Struct(Match, {
    "l4": Str(["udp", "tcp"], noun="l4 protocol"),
    "src": NETS, "dst": NETS, "hosts": NETS,
    "src_ports": PORTS, "dst_ports": PORTS, "ports": PORTS,
    "apps": ListOf(Str(lambda: list(APPS), noun="app"), min_len=1, scalar_ok=True),
    "categories": ListOf(Str(CATEGORIES, noun="category"), min_len=1, scalar_ok=True),
    "behaviour": Str(list(model.BEHAVIOURS), noun="behaviour"),
    "sni": ListOf(Str(), min_len=1, scalar_ok=True),
}, check=_check_match)


@dataclass(frozen=True)
class _Throttle:
    kbps: float


@dataclass(frozen=True)
class _Degrade:
    loss_pct: float = 0.0
    jitter_ms: float = 0.0
    delay_ms: float = 0.0


ACTION = Tagged({
    model.ALLOW: None, model.DROP: None, model.RESET: None,
    model.THROTTLE: Struct(_Throttle, {"kbps": Number(0, 10_000_000, lo_open=True)}),
    model.DEGRADE: Struct(_Degrade, {"loss_pct": Number(0, 100), "jitter_ms": Number(0, 10_000),
                                     "delay_ms": Number(0, 10_000)}),
}, noun="action")


@dataclass(frozen=True)
class _RuleDoc:
    match: Match
    action: tuple[str, Any]
    name: str = ""


RULE = Struct(_RuleDoc, {"name": Str(), "match": MATCH, "action": ACTION})


def _action(tagged: tuple[str, Any]) -> Action:
    kind, opts = tagged
    if isinstance(opts, _Throttle):
        return Action(kind, kbps=float(opts.kbps))
    if isinstance(opts, _Degrade):
        return Action(kind, loss_pct=float(opts.loss_pct), jitter_ms=float(opts.jitter_ms),
                      delay_ms=float(opts.delay_ms))
    return Action(kind)


@dataclass(frozen=True)
class _PolicyDoc:
    name: str
    rules: tuple[_RuleDoc, ...] = ()
    description: str = ""
    deployment: str = model.INLINE
    fail_mode: str = model.SECURE
    inspect_packets: int = 12
    idle_timeout_s: float = 30.0
    references: tuple[str, ...] = ()
    fingerprint_packets: int = 12


def _check_policy(doc: _PolicyDoc, node: yaml.Node, nodes: dict[str, yaml.Node], ctx: Ctx, path: str) -> None:
    names: dict[str, int] = {}
    for i, rule in enumerate(doc.rules):
        if rule.name:
            name_node = next(v for k, v in nodes["rules"].value[i].value if k.value == "name")
            ctx.check(rule.name not in names, name_node, join(join("rules", i), "name"),
                      f"duplicate rule name '{rule.name}' (also rules[{names.get(rule.name)}])")
            names[rule.name] = i


POLICY = Struct(_PolicyDoc, {
    "name": Str(),
    "description": Str(non_empty=False),
    "rules": ListOf(RULE),
    "deployment": Str([model.INLINE, model.TAP], noun="deployment"),
    "fail_mode": Str([model.SECURE, model.STANDALONE], noun="fail mode"),
    "inspect_packets": Number(1, 1000, integer=True),
    "idle_timeout_s": Number(1, 86400),
    "references": ListOf(Str()),
    "fingerprint_packets": Number(2, 1000, integer=True),
}, check=_check_policy)


def parse_policy(node: yaml.Node, ctx: Ctx, source: str = "") -> Policy:
    doc = POLICY.load(node, ctx, "")
    rules = tuple(Rule(r.name or str(i + 1), r.match, _action(r.action), i + 1)
                  for i, r in enumerate(doc.rules))
    return Policy(doc.name, rules, doc.description, doc.deployment, doc.fail_mode,
                  doc.inspect_packets, float(doc.idle_timeout_s), source=source,
                  fingerprint_packets=doc.fingerprint_packets)


def parse_rule(node: yaml.Node, ctx: Ctx, path: str, index: int) -> Rule:
    """One rule on its own (``testbed demo``'s ``rule add``), checked as a policy's ``rules[i]`` is;
    ``index``: its 1-based place in the policy it joins."""
    doc = RULE.load(node, ctx, path)
    return Rule(doc.name or str(index), doc.match, _action(doc.action), index)


def load_policy(path: str | Path, display: str | None = None) -> Policy:
    """Load and validate one policy file."""
    name = display or str(path)
    return parse_policy(load_node(path, name), Ctx(name), source=name)


def available() -> list[str]:
    """The policy names under policies/ (file stems)."""
    return sorted(p.stem for p in POLICY_DIR.glob("*.yaml"))


def resolve(name: str) -> Path:
    """A policy name (``anrt-2016``) or path to its file."""
    path = Path(name)
    if path.suffix in (".yaml", ".yml") or "/" in name:
        return path
    return POLICY_DIR / f"{name}.yaml"
