"""``testbed check``: validate scenario, policy and endpoint files without root or network."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import yaml

from testbed.config.errors import ConfigError
from testbed.config.schema import Ctx
from testbed.config.yamlnodes import load_node, top_keys

ROOT = Path(__file__).resolve().parents[2]


def _kind(path: Path, node: yaml.Node) -> str:
    """'policy', 'scenario' or 'endpoints', by folder, else by the keys at the top."""
    from testbed.config.endpoints import is_endpoints_file

    if is_endpoints_file(path, node):
        return "endpoints"
    if path.parent.name in ("policies", "scenarios"):
        return "policy" if path.parent.name == "policies" else "scenario"
    keys = top_keys(node)
    return "policy" if "rules" in keys else "scenario"


def check_file(path: Path, display: str) -> None:
    """Raise ConfigError if the file is not a valid scenario, policy or endpoints file."""
    from testbed.config.endpoints import parse_service
    from testbed.config.scenario import parse_scenario
    from testbed.policy.load import parse_policy

    node = load_node(path, display)
    ctx = Ctx(display)
    kind = _kind(path, node)
    if kind == "endpoints":
        parse_service(node, ctx)
    elif kind == "policy":
        parse_policy(node, ctx, display)
    else:
        parse_scenario(node, ctx, path.resolve().parent)


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _check_one(path: Path) -> tuple[str, str | None]:
    display = _display(path)
    try:
        check_file(path, display)
    except ConfigError as exc:
        return display, str(exc)
    return display, None


def check_paths(paths: list[str]) -> Iterator[tuple[str, str | None]]:
    """(display path, None or the one-line error) for every file named or found; a folder
    with nothing to check is an error too (a typo must not pass as "all valid")."""
    for p in map(Path, paths or [str(ROOT / "scenarios"), str(ROOT / "policies"), str(ROOT / "endpoints")]):
        if not p.is_dir():
            yield _check_one(p)
            continue
        found = sorted(list(p.glob("*.yaml")) + list(p.glob("*.yml")))
        if not found:
            yield _display(p), f"{_display(p)}: no .yaml or .yml files in this directory"
        for path in found:
            yield _check_one(path)
