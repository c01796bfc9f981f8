"""Values set from outside a file (``--duration 60``, a sweep's ``--vary PATH=VALUES``).

An override replaces, or adds, one value of a document's node tree at a YAML path
(``workload.duration_s``, ``topology.params.subscribers``, ``expect[0].max``); the
tree is then validated by the same schema as the file, so an overridden scenario is
refused exactly where the file would be, and with the same limits. The new node has
no line: its errors end with ``(set by --duration)`` instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import yaml

from testbed.config.errors import ConfigError
from testbed.config.yamlnodes import line_of, parse_node

_PATH = re.compile(r"[^.\[\]]+(?:\[\d+\])*(?:\.[^.\[\]]+(?:\[\d+\])*)*")
_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


@dataclass(frozen=True)
class Override:
    """Set ``path`` to ``value`` (a Python value, or a node from ``parse_value``); ``origin`` names
    where it came from in errors (``--duration``, ``--vary workload.calls_per_hour``)."""

    path: str
    value: Any
    origin: str


def steps(path: str, origin: str = "") -> list[str | int]:
    """``a.b[2].c`` → ``['a', 'b', 2, 'c']``; ConfigError for anything else."""
    if not _PATH.fullmatch(path):
        raise ConfigError(origin or path, "", None, f"'{path}' is not a YAML path like workload.duration_s "
                                                    f"or expect[0].max")
    return [int(index) if index else key for key, index in _STEP.findall(path)]


def _mark(origin: str) -> yaml.Mark:
    return yaml.Mark(origin, -1, -1, -1, None, None)


def _remark(node: yaml.Node, origin: str) -> yaml.Node:
    node.start_mark = node.end_mark = _mark(origin)
    if isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _remark(item, origin)
    elif isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            _remark(k, origin)
            _remark(v, origin)
    return node


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def value_node(value: Any, origin: str) -> yaml.Node:
    """A node for a Python value (or a node already), marked as set by ``origin``."""
    node = value if isinstance(value, yaml.Node) else yaml.representer.SafeRepresenter().represent_data(_plain(value))
    return _remark(node, origin)


def parse_value(text: str, origin: str) -> yaml.Node:
    """A value written as YAML text (``1200``, ``[none, anrt-2016]``), read by the one loader with
    its limits; the node is marked as set by ``origin``."""
    return _remark(parse_node(text, origin), origin)


def _set(node: yaml.Node, path: list[str | int], new: yaml.Node, where: str, file: str, origin: str) -> yaml.Node:
    """A copy of ``node`` with ``new`` at ``path``; only the nodes along the path are copied."""
    if not path:
        return new
    step, rest = path[0], path[1:]
    here = f"{where}[{step}]" if isinstance(step, int) else (f"{where}.{step}" if where else step)
    line = line_of(node)
    if isinstance(step, int):
        if not isinstance(node, yaml.SequenceNode) or step >= len(node.value):
            what = f"has {len(node.value)} items" if isinstance(node, yaml.SequenceNode) else "is not a list"
            raise ConfigError(file, where, line, f"cannot set {here} ({origin}): {where or 'the document'} {what}")
        items = list(node.value)
        items[step] = _set(items[step], rest, new, here, file, origin)
        return yaml.SequenceNode(node.tag, items, node.start_mark, node.end_mark, node.flow_style)
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError(file, where, line, f"cannot set {here} ({origin}): {where or 'the document'} "
                                             f"is not a mapping")
    pairs = list(node.value)
    for i, (k, v) in enumerate(pairs):
        if isinstance(k, yaml.ScalarNode) and k.value == step:
            pairs[i] = (k, _set(v, rest, new, here, file, origin))
            break
    else:  # a key the document does not have: add it (the schema decides whether it may)
        key = value_node(step, origin)
        empty = yaml.MappingNode("tag:yaml.org,2002:map", [], _mark(origin), _mark(origin))
        pairs.append((key, _set(empty, rest, new, here, file, origin)))
    return yaml.MappingNode(node.tag, pairs, node.start_mark, node.end_mark, node.flow_style)


def apply(node: yaml.Node, overrides: Iterable[Override], file: str) -> yaml.Node:
    """The document's node tree with every override applied, in order (the original is untouched)."""
    for o in overrides:
        node = _set(node, steps(o.path, o.origin), value_node(o.value, o.origin), "", file, o.origin)
    return node
