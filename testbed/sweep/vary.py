"""``--vary PATH=VALUES``: parameter overrides applied to the scenario's YAML node tree.

Each point of a sweep is the scenario's document with one value put at each varied
path, validated by the scenario loader as a whole: a value the scenario would refuse
is refused here with the same ``file:line path: message``, before anything runs.

    circumventions.vpn-adopters.share=0:0.5:0.1    # a:b:step, b included
    topology.params.access_loss_pct=0,1,5          # a list of YAML scalars
    policies[1]=anrt-2016,vpn-block

Every key on a path but the last must be in the document; the last may be new (the
schema then says whether it may be there). A range's values are rounded to the
decimals of its start and step, so ``0:0.3:0.1`` is 0, 0.1, 0.2, 0.3 and not
0.30000000000000004.
"""

from __future__ import annotations

import copy
import itertools
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from testbed.config.errors import ConfigError
from testbed.config.overrides import Override, steps
from testbed.config.scenario import Scenario, _display, parse_scenario, with_compressed_timeline
from testbed.config.schema import Ctx, join, shown
from testbed.config.yamlnodes import load_node, parse_node, scalar_value

MAX_POINTS = 10_000
# the plain scalars a value may be: no tags of its own, no documents, no aliases
_PLAIN_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null")}
_SEGMENT = re.compile(r"([^.\[\]]+)((?:\[\d+\])*)")


@dataclass(frozen=True)
class Vary:
    """One ``--vary``: where (keys into the document) and which values (YAML scalar texts)."""

    path: str
    keys: tuple[str | int, ...]
    texts: tuple[str, ...]
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Point:
    """One point of the sweep: its values by path, and the scenario they make."""

    values: dict[str, Any]
    scenario: Scenario


def parse_path(path: str) -> tuple[str | int, ...]:
    """``a.b[2].c`` → ``('a', 'b', 2, 'c')``; ValueError if it is not a dotted path."""
    keys: list[str | int] = []
    for part in path.split("."):
        m = _SEGMENT.fullmatch(part)
        if m is None:
            raise ValueError(f"'{path}' is not a dotted path (like workload.calls_per_hour)")
        keys.append(m.group(1))
        keys.extend(int(i) for i in re.findall(r"\d+", m.group(2)))
    return tuple(keys)


def _decimals(text: str) -> int:
    exponent = Decimal(text).as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def range_texts(spec: str) -> list[str]:
    """``a:b:step`` → the values' texts, b included; ValueError with the reason."""
    parts = spec.split(":")
    if len(parts) != 3:
        raise ValueError(f"bad range '{spec}': expected a:b:step")
    try:
        a, b, step = (Decimal(p.strip()) for p in parts)
    except InvalidOperation:
        raise ValueError(f"bad range '{spec}': a, b and step must be numbers") from None
    if not all(x.is_finite() for x in (a, b, step)):
        raise ValueError(f"bad range '{spec}': a, b and step must be finite")
    if step <= 0:
        raise ValueError(f"bad range '{spec}': step must be > 0")
    if b < a:
        raise ValueError(f"bad range '{spec}': b must be >= a")
    count = int((b - a) / step) + 1
    if count > MAX_POINTS:
        raise ValueError(f"bad range '{spec}': {count} values, at most {MAX_POINTS}")
    places = max(_decimals(parts[0].strip()), _decimals(parts[2].strip()))
    # Decimal arithmetic is exact here, so b is included when the steps land on it
    return [f"{a + i * step:.{places}f}" for i in range(count)]


def value_texts(spec: str) -> list[str]:
    """VALUES → texts: ``a,b,c`` or ``a:b:step``; ValueError with the reason."""
    if not spec.strip():
        raise ValueError("no values after '='")
    if "," not in spec and spec.count(":") == 2:
        return range_texts(spec)
    texts = [t.strip() for t in spec.split(",")]
    if any(not t for t in texts):
        raise ValueError(f"empty value in '{spec}'")
    return texts


def _scalar(text: str) -> yaml.ScalarNode:
    """A value read by the one YAML loader, with its limits (no tags, anchors, giant integers)."""
    shown = repr(text) if len(text) <= 40 else f"{text[:40]!r}… ({len(text)} characters)"
    try:
        node = parse_node(text, "--vary")
    except ConfigError as exc:
        raise ValueError(f"{shown}: {exc.message}") from None
    if not isinstance(node, yaml.ScalarNode) or node.tag not in _PLAIN_TAGS:
        raise ValueError(f"{shown} is not a plain YAML scalar")
    return node


def _locate(root: yaml.Node, keys: tuple[str | int, ...], ctx: Ctx, path: str) -> tuple[yaml.Node, yaml.Node | None]:
    """(the parent node of the path's last key, the node there or None if the key is new)."""
    node, where = root, ""
    for depth, key in enumerate(keys):
        last = depth == len(keys) - 1
        child: yaml.Node | None = None
        if isinstance(key, int):
            if not isinstance(node, yaml.SequenceNode):
                raise ctx.error(node, where, f"--vary {path}: [{key}] needs a list here, got {shown(node)}")
            if key >= len(node.value):
                raise ctx.error(node, where, f"--vary {path}: no item [{key}], the list has {len(node.value)}")
            child = node.value[key]
        else:
            if not isinstance(node, yaml.MappingNode):
                raise ctx.error(node, where or key, f"--vary {path}: '{key}' needs a mapping here, got {shown(node)}")
            names = [scalar_value(k) for k, _ in node.value]
            child = next((v for k, v in node.value if scalar_value(k) == key), None)
            if child is None and not last:
                raise ctx.error(node, join(where, key), f"--vary {path}: no key '{key}' here – choose one of "
                                                        f"[{', '.join(map(str, names))}]")
        if last:
            return node, child
        assert child is not None
        node, where = child, join(where, key)
    raise AssertionError("empty path")


def put(root: yaml.Node, keys: tuple[str | int, ...], text: str, ctx: Ctx, path: str) -> yaml.Node:
    """A copy of the tree with the scalar ``text`` at ``keys``; the value keeps the line of
    the one it replaces (of its mapping, when the key is new) so errors point there."""
    tree = copy.deepcopy(root)
    parent, old = _locate(tree, keys, ctx, path)
    new = _scalar(text)
    new.start_mark = new.end_mark = (old or parent).start_mark
    key = keys[-1]
    if isinstance(key, int):
        parent.value[key] = new
    elif old is not None:
        parent.value = [(k, new if v is old else v) for k, v in parent.value]
    else:
        key_node = yaml.ScalarNode("tag:yaml.org,2002:str", key, parent.start_mark, parent.start_mark)
        parent.value = [*parent.value, (key_node, new)]
    return tree


def parse_vary(spec: str, root: yaml.Node, ctx: Ctx) -> Vary:
    """One ``PATH=VALUES`` checked against the document (path there, values scalars)."""
    path, eq, values = spec.partition("=")
    path = path.strip()
    if not eq or not path:
        raise ctx.error(None, "", f"--vary '{spec}': expected PATH=VALUES (like workload.calls_per_hour=1000,3000)")
    try:
        keys = parse_path(path)
    except ValueError as exc:
        raise ctx.error(None, "", f"--vary: {exc}") from None
    parent, old = _locate(root, keys, ctx, path)
    try:
        texts = value_texts(values)
        nodes = [_scalar(t) for t in texts]
    except ValueError as exc:
        raise ctx.error(old or parent, path, f"--vary: {exc}") from None
    return Vary(path, keys, tuple(texts), tuple(scalar_value(n) for n in nodes))


def sweep_points(scenario_path: str | Path, specs: list[str]) -> tuple[list[Vary], list[Point]]:
    """Every point of the cross product of ``specs``, each a validated Scenario.

    The first ``--vary`` varies slowest. Raises ConfigError (naming the --vary) on a bad
    path or value, before anything runs.
    """
    name = _display(Path(scenario_path))
    ctx, base = Ctx(name), Path(scenario_path).resolve().parent
    root = load_node(scenario_path, name)
    parse_scenario(root, ctx, base)  # the scenario as written must load first
    varies = [parse_vary(s, root, ctx) for s in specs]
    seen: set[str] = set()
    for v in varies:
        ctx.check(v.path not in seen, None, v.path, "--vary: this path is varied twice")
        seen.add(v.path)
    combos = list(itertools.product(*(range(len(v.texts)) for v in varies)))
    ctx.check(len(combos) <= MAX_POINTS, None, "", f"--vary: {len(combos)} points, at most {MAX_POINTS}")
    points = []
    for combo in combos:
        tree = root
        for v, i in zip(varies, combo):
            tree = put(tree, v.keys, v.texts[i], ctx, v.path)
        # a varied workload.duration_s compresses a timeline, as --duration does
        varied = [Override(v.path, v.values[i], f"--vary {v.path}") for v, i in zip(varies, combo)]
        for o in with_compressed_timeline(root, varied)[len(varied):]:
            tree = put(tree, tuple(steps(o.path)), str(o.value), ctx, o.path)
        try:
            scenario = parse_scenario(tree, ctx, base)
        except ConfigError as exc:
            given = ", ".join(f"{v.path}={v.texts[i]}" for v, i in zip(varies, combo))
            raise ConfigError(exc.file, exc.yaml_path, exc.line, f"{exc.message} (with --vary {given})") from None
        points.append(Point({v.path: v.values[i] for v, i in zip(varies, combo)}, scenario))
    return varies, points

