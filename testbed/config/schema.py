"""Declarative schemas over YAML nodes (FAUCET's defaults/types idea, with lines).

A spec turns a node into a value or raises ConfigError naming file, YAML path and
line. Structs build frozen dataclasses: required keys are the dataclass fields
without a default; unknown keys are errors.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from testbed.config import limits
from testbed.config.errors import ConfigError
from testbed.config.yamlnodes import line_of, scalar_value


@dataclass
class Ctx:
    """Where we are reading: the file's display name (as the user gave it)."""

    file: str

    def error(self, node: yaml.Node | None, path: str, message: str) -> ConfigError:
        if node is None:
            return ConfigError(self.file, path, None, message)
        line = line_of(node)
        if line is None and node.start_mark is not None:  # a value set from outside the file
            message = f"{message} (set by {node.start_mark.name})"
        return ConfigError(self.file, path, line, message)

    def check(self, ok: bool, node: yaml.Node | None, path: str, message: str) -> None:
        """Raise unless ``ok`` (FAUCET's test_config_condition, with a line)."""
        if not ok:
            raise self.error(node, path, message)


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def shown(node: yaml.Node) -> str:
    """How a value appears in an error: ``got 'lots'``, ``got 2.5``, ``got a list``."""
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    value = scalar_value(node)
    if value is None:
        return "nothing"
    if isinstance(value, str):
        return repr(value) if len(value) <= 80 else f"{value[:40]!r}… ({len(value)} characters)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and value.bit_length() > 1000:  # only from an override: the loader refuses these
        return f"an integer of about {value.bit_length() * 30103 // 100000 + 1} digits"
    return str(value)


def _as_number_text(value: Any) -> str | None:
    """For a string YAML 1.1 did not read as a number (``1e9``: its floats need a dot and a
    signed exponent) but Python would: how to write it so that it is one."""
    if not isinstance(value, str) or not any(c.isdigit() for c in value):
        return None
    try:
        x = float(value.replace("_", ""))
    except ValueError:
        return None
    if not math.isfinite(x):
        return None
    return str(int(x)) if x.is_integer() and abs(x) < 1e18 else repr(x)


class Spec:
    """Base: ``load(node, ctx, path)`` returns the value or raises ConfigError."""

    what = "a value"

    def load(self, node: yaml.Node, ctx: Ctx, path: str) -> Any:
        raise NotImplementedError

    def fail(self, node: yaml.Node, ctx: Ctx, path: str) -> ConfigError:
        return ctx.error(node, path, f"expected {self.what}, got {shown(node)}")

    def scalar(self, node: yaml.Node, ctx: Ctx, path: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(node, ctx, path)
        return scalar_value(node)


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


class Number(Spec):
    """An int or float, optionally within [lo, hi]; ``integer=True`` for ints only."""

    def __init__(self, lo: float | None = None, hi: float | None = None, integer: bool = False,
                 lo_open: bool = False) -> None:
        self.lo, self.hi, self.integer, self.lo_open = lo, hi, integer, lo_open
        kind = "an integer" if integer else "a number"
        if lo is not None and hi is not None:
            self.what = f"{kind} in {'(' if lo_open else '['}{_fmt(lo)}, {_fmt(hi)}]"
        elif lo is not None:
            self.what = f"{kind} {'>' if lo_open else '>='} {_fmt(lo)}"
        elif hi is not None:
            self.what = f"{kind} <= {_fmt(hi)}"
        else:
            self.what = kind

    def load(self, node: yaml.Node, ctx: Ctx, path: str) -> Any:
        value = self.scalar(node, ctx, path)
        hint = _as_number_text(value)
        if hint is not None:
            raise ctx.error(node, path, f"expected {self.what}, got {shown(node)} (YAML reads {value} as a "
                                        f"string: write {hint})")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(node, ctx, path)
        if self.integer and not isinstance(value, int):
            raise self.fail(node, ctx, path)
        if isinstance(value, float) and not math.isfinite(value):
            raise self.fail(node, ctx, path)
        if self.lo is not None and (value < self.lo or (self.lo_open and value == self.lo)):
            raise self.fail(node, ctx, path)
        if self.hi is not None and value > self.hi:
            raise self.fail(node, ctx, path)
        return value


def Int(lo: int | None = None, hi: int | None = None) -> Number:
    return Number(lo, hi, integer=True)


class Str(Spec):
    """A string; with ``choices`` an unknown one fails Mininet-style: unknown – choose one of."""

    def __init__(self, choices: Callable[[], list[str]] | list[str] | None = None,
                 noun: str = "name", non_empty: bool = True) -> None:
        self.choices, self.noun, self.non_empty = choices, noun, non_empty
        self.what = "a string"

    def load(self, node: yaml.Node, ctx: Ctx, path: str) -> Any:
        value = self.scalar(node, ctx, path)
        if not isinstance(value, str) or (self.non_empty and not value.strip()):
            raise self.fail(node, ctx, path)
        if self.choices is not None:
            options = self.choices() if callable(self.choices) else self.choices
            if value not in options:
                raise ctx.error(node, path, f"unknown {self.noun} {value!r} – choose one of "
                                            f"[{', '.join(sorted(options))}]")
        return value


class Name(Str):
    """A name that becomes part of a file or directory name: a safe slug (limits.NAME_RULE)."""

    def __init__(self, noun: str = "name") -> None:
        super().__init__(noun=noun)
        self.what = f"a {noun}"

    def load(self, node: yaml.Node, ctx: Ctx, path: str) -> Any:
        value = super().load(node, ctx, path)
        ctx.check(limits.is_name(value), node, path,
                  f"expected a {self.noun} of {limits.NAME_RULE} characters, got {shown(node)}")
        return value


class Convert(Spec):
    """A scalar parsed by ``parse`` (which raises ValueError with a reason)."""

    def __init__(self, parse: Callable[[Any], Any], what: str) -> None:
        self.parse, self.what = parse, what

    def load(self, node: yaml.Node, ctx: Ctx, path: str) -> Any:
        value = self.scalar(node, ctx, path)
        try:
            return self.parse(value)
        except (ValueError, TypeError) as exc:
            reason = f" ({exc})" if str(exc) else ""
            raise ctx.error(node, path, f"expected {self.what}, got {shown(node)}{reason}") from None


def port_range(value: Any, lowest: int = 0) -> tuple[int, int]:
    """A port or ``'lo-hi'`` → (lo, hi); ValueError otherwise (for ``Convert``)."""
    if isinstance(value, bool):
        raise ValueError("")
    if isinstance(value, int):
        lo = hi = value
    elif isinstance(value, str) and "-" in value:
        left, _, right = value.partition("-")
        lo, hi = int(left), int(right)
    else:
        raise ValueError("")
    if not lowest <= lo <= hi <= 65535:
        raise ValueError(f"ports are {lowest}-65535, low to high")
    return lo, hi


class ListOf(Spec):
    """A list of ``item``; a lone scalar is accepted as a list of one when ``scalar_ok``."""

    def __init__(self, item: Spec, min_len: int = 0, scalar_ok: bool = False) -> None:
        self.item, self.min_len, self.scalar_ok = item, min_len, scalar_ok
        self.what = f"a list of {item.what}"

    def load(self, node: yaml.Node, ctx: Ctx, path: str) -> Any:
        if self.scalar_ok and isinstance(node, yaml.ScalarNode):
            return (self.item.load(node, ctx, path),)
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, ctx, path)
        ctx.check(len(node.value) >= self.min_len, node, path,
                  f"expected at least {self.min_len} item{'s' if self.min_len != 1 else ''}, "
                  f"got {len(node.value)}")
        return tuple(self.item.load(n, ctx, join(path, i)) for i, n in enumerate(node.value))


def mapping_items(spec: Spec, node: yaml.Node, ctx: Ctx, path: str) -> list[tuple[str, yaml.Node, yaml.Node]]:
    """(key, key node, value node) of a mapping whose keys are non-empty strings."""
    if not isinstance(node, yaml.MappingNode):
        raise spec.fail(node, ctx, path)
    items = []
    for key_node, value_node in node.value:
        key = scalar_value(key_node) if isinstance(key_node, yaml.ScalarNode) else None
        if not isinstance(key, str) or not key:
            raise ctx.error(key_node, path, f"keys must be strings, got {shown(key_node)}")
        items.append((key, key_node, value_node))
    return items


class MapOf(Spec):
    """A mapping of names to ``value``; ``key`` may restrict the names."""

    def __init__(self, value: Spec, key: Str | None = None, min_len: int = 0) -> None:
        self.value, self.key, self.min_len = value, key, min_len
        self.what = "a mapping"

    def load(self, node: yaml.Node, ctx: Ctx, path: str) -> Any:
        items = mapping_items(self, node, ctx, path)
        ctx.check(len(items) >= self.min_len, node, path,
                  f"expected at least {self.min_len} entr{'ies' if self.min_len != 1 else 'y'}, got {len(items)}")
        out = {}
        for key, key_node, value_node in items:
            if self.key is not None:
                self.key.load(key_node, ctx, join(path, key))
            out[key] = self.value.load(value_node, ctx, join(path, key))
        return out


class Struct(Spec):
    """A mapping with declared keys, built into the frozen dataclass ``cls``.

    ``check(obj, node, nodes, ctx, path)`` runs domain checks after the fields load;
    ``nodes`` maps each present key to its value node, for the line of an error.
    """

    def __init__(self, cls: type, fields: Mapping[str, Spec],
                 check: Callable[[Any, yaml.Node, dict[str, yaml.Node], Ctx, str], None] | None = None,
                 what: str = "a mapping") -> None:
        self.cls, self.fields, self.check = cls, dict(fields), check
        self.what = what
        declared = {f.name: f for f in dataclasses.fields(cls)}
        missing = set(self.fields) - set(declared)
        assert not missing, f"{cls.__name__} has no fields {missing}"
        no_default = dataclasses.MISSING
        self.required = [n for n, f in declared.items() if n in self.fields
                         and f.default is no_default and f.default_factory is no_default]

    def load(self, node: yaml.Node, ctx: Ctx, path: str) -> Any:
        items = mapping_items(self, node, ctx, path)
        values: dict[str, Any] = {}
        nodes: dict[str, yaml.Node] = {}
        for key, key_node, value_node in items:
            if key not in self.fields:
                raise ctx.error(key_node, join(path, key),
                                f"unknown key '{key}' – choose one of [{', '.join(self.fields)}]")
            values[key] = self.fields[key].load(value_node, ctx, join(path, key))
            nodes[key] = value_node
        for name in self.required:
            if name not in values:
                raise ctx.error(node, path, f"missing required key '{name}'")
        obj = self.cls(**values)
        if self.check is not None:
            self.check(obj, node, nodes, ctx, path)
        return obj


class Tagged(Spec):
    """A bare name, or a one-key mapping ``{name: options}``: actions, distributions.

    ``variants`` maps each name to the spec of its options (None: takes none).
    Returns ``(name, options-or-None)``.
    """

    def __init__(self, variants: Mapping[str, Spec | None], noun: str) -> None:
        self.variants, self.noun = dict(variants), noun
        self.what = f"a {noun}"

    def _unknown(self, node: yaml.Node, ctx: Ctx, path: str, name: str) -> ConfigError:
        return ctx.error(node, path, f"unknown {self.noun} '{name}' – choose one of "
                                     f"[{', '.join(self.variants)}]")

    def load(self, node: yaml.Node, ctx: Ctx, path: str) -> Any:
        if isinstance(node, yaml.ScalarNode):
            name = scalar_value(node)
            if not isinstance(name, str):
                raise self.fail(node, ctx, path)
            if name not in self.variants:
                raise self._unknown(node, ctx, path, name)
            ctx.check(self.variants[name] is None, node, path, f"{self.noun} '{name}' needs options")
            return name, None
        items = mapping_items(self, node, ctx, path)
        ctx.check(len(items) == 1, node, path,
                  f"expected one {self.noun} name as the only key, got {len(items)} keys")
        name, key_node, value_node = items[0]
        if name not in self.variants:
            raise self._unknown(key_node, ctx, path, name)
        spec = self.variants[name]
        if spec is None:
            raise ctx.error(key_node, join(path, name), f"{self.noun} '{name}' takes no options")
        return name, spec.load(value_node, ctx, join(path, name))
