"""Safe YAML loading that keeps line numbers: we validate the composed node tree.

PyYAML's ``compose`` gives nodes with marks, so every value we read keeps the line
it came from. Only the safe tags are resolved; anchors and aliases work as usual.
Duplicate keys are errors (PyYAML would silently keep the last one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from testbed.config.errors import ConfigError

_CONSTRUCTOR = yaml.constructor.SafeConstructor()


def line_of(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def scalar_value(node: yaml.ScalarNode) -> Any:
    """The Python value of a scalar node under the YAML 1.1 safe schema."""
    return _CONSTRUCTOR.construct_object(node, deep=True)


def load_node(path: str | Path, display: str | None = None) -> yaml.Node:
    """Parse ``path`` into a node tree; syntax errors and empty files are ConfigErrors."""
    name = display or str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(name, "", None, "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(name, "", None, f"cannot read: {exc}") from None
    return parse_node(text, name)


def parse_node(text: str, name: str) -> yaml.Node:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = int(mark.line) + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(name, "", line, f"invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(name, "", None, f"invalid YAML: {exc}") from None
    if node is None or (isinstance(node, yaml.ScalarNode) and node.value == "" and node.tag.endswith(":null")):
        raise ConfigError(name, "", 1, "file is empty")
    _check_duplicates(node, name, "")
    return node


def _check_duplicates(node: yaml.Node, name: str, path: str) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            child = f"{path}.{key}" if path else str(key)
            if key is not None and key in seen:
                raise ConfigError(
                    name, child, line_of(key_node), f"duplicate key '{key}' (first at line {seen[key]})"
                )
            if key is not None:
                seen[key] = line_of(key_node)
            _check_duplicates(value_node, name, child)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _check_duplicates(item, name, f"{path}[{index}]")
