"""Safe YAML loading that keeps line numbers: we validate the composed node tree.

PyYAML's composer gives nodes with marks, so every value we read keeps the line it
came from. The one loader every YAML file goes through (scenarios, policies, and any
data file later) refuses, while composing and before anything is built from it:

- tags (``!!int x``, ``!!python/name:...``, ``!foo``): our formats never need one, and
  each is a way to make the constructor run code or raise;
- anchors and aliases (``&a``, ``*a``) and merge keys (``<<``): a document means what
  it says where it says it, and an alias bomb cannot expand;
- nesting deeper than ``MAX_DEPTH``, more than ``MAX_NODES`` values, integers longer
  than ``MAX_INT_CHARS`` (Python refuses to convert 4300+ digits);
- duplicate keys (PyYAML would silently keep the last one).

Limits are in ``testbed.config.limits``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from testbed.config import limits
from testbed.config.errors import ConfigError
from testbed.config.files import read_text

_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_INT_TAG = "tag:yaml.org,2002:int"
_MERGE_TAG = "tag:yaml.org,2002:merge"


def line_of(node: yaml.Node) -> int | None:
    """The 1-based line of a node; None for a value that came from elsewhere (an override)."""
    mark = node.start_mark
    if mark is None or mark.line < 0:
        return None
    return int(mark.line) + 1


def scalar_value(node: yaml.ScalarNode) -> Any:
    """The Python value of a scalar node under the YAML 1.1 safe schema; a scalar that looks like a
    date but is none (``2016-13-01``) is its text, for the schema to refuse with a reason."""
    try:
        return _CONSTRUCTOR.construct_object(node, deep=True)
    except ValueError:
        _CONSTRUCTOR.recursive_objects.pop(node, None)   # else the next read of it says "recursive"
        return node.value


def top_keys(node: yaml.Node) -> set[str]:
    """The plain keys at the top of a mapping (to tell kinds of file apart); {} for anything else."""
    if not isinstance(node, yaml.MappingNode):
        return set()
    return {k.value for k, _ in node.value if isinstance(k, yaml.ScalarNode)}


class _Loader(yaml.SafeLoader):
    """SafeLoader whose composer refuses what our formats do not use, before composing it.

    It keeps the YAML path of the node being composed, for the error's ``file:line path``.
    """

    file = ""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._path: list[str] = [""]
        self._nodes = 0

    def _refuse(self, event: yaml.Event, message: str) -> ConfigError:
        return ConfigError(self.file, self._path[-1], int(event.start_mark.line) + 1, message)

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        # PyYAML passes the key node when composing a value, the position in a list, None for a key
        here = self._path[-1]
        if isinstance(index, yaml.ScalarNode):
            here = f"{here}.{index.value}" if here else str(index.value)
        elif isinstance(index, int) and not isinstance(index, bool):
            here = f"{here}[{index}]"
        self._path.append(here)
        try:
            return self._compose_checked(parent, index)
        finally:
            self._path.pop()

    def _compose_checked(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise self._refuse(event, f"aliases (*{event.anchor}) are not supported – write the value out")
        if event.anchor is not None:
            raise self._refuse(event, f"anchors (&{event.anchor}) are not supported – write the value out")
        tag = getattr(event, "tag", None)
        if tag is not None:
            shown = tag.replace("tag:yaml.org,2002:", "!!")
            raise self._refuse(event, f"tags ({shown}) are not supported – write a plain value")
        self._nodes += 1
        if self._nodes > limits.MAX_NODES:
            raise self._refuse(event, f"more than {limits.MAX_NODES} values in one document")
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)) and len(self._path) - 1 > limits.MAX_DEPTH:
            raise self._refuse(event, f"nested deeper than {limits.MAX_DEPTH} levels")
        node = super().compose_node(parent, index)
        if isinstance(node, yaml.ScalarNode) and node.style is None:
            if node.tag == _MERGE_TAG:
                raise self._refuse(event, "merge keys (<<) are not supported – write the keys out")
            if node.tag == _INT_TAG and len(node.value) > limits.MAX_INT_CHARS:
                raise self._refuse(event, f"integer of {len(node.value)} characters – at most "
                                          f"{limits.MAX_INT_CHARS}")
        return node


def load_node(path: str | Path, display: str | None = None) -> yaml.Node:
    """Parse ``path`` into a node tree; unreadable, oversized, invalid or empty files are ConfigErrors."""
    name = display or str(path)
    return parse_node(read_text(path, limits.MAX_YAML_BYTES, name), name)


def parse_node(text: str, name: str) -> yaml.Node:
    """Parse YAML text into a checked node tree (see the module docstring for what is refused)."""
    loader = None
    try:
        loader = _Loader(text)
        loader.file = name
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = int(mark.line) + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        if exc.problem and exc.context and not exc.context.startswith("while "):  # "expected a single document"
            problem = f"{exc.context}, {exc.problem}"
        raise ConfigError(name, "", line, f"invalid YAML: {problem}") from None
    except yaml.reader.ReaderError as exc:  # a control character, say: no mark, a position
        line = text.count("\n", 0, exc.position) + 1
        raise ConfigError(name, "", line, f"invalid YAML: character #x{exc.character:04x} is not allowed") from None
    except yaml.YAMLError as exc:
        raise ConfigError(name, "", None, f"invalid YAML: {str(exc).splitlines()[0]}") from None
    finally:
        if loader is not None:
            loader.dispose()
    if node is None or (isinstance(node, yaml.ScalarNode) and node.value == "" and node.tag.endswith(":null")):
        raise ConfigError(name, "", 1, "file is empty")
    _check_duplicates(node, name, "")
    return node


def _check_duplicates(node: yaml.Node, name: str, path: str) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int | None] = {}
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
