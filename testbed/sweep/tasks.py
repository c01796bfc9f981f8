"""The sweep's tasks: one (point, replicate) each, seeded by what it is, not where it runs.

A replicate's seed is a SHA-256 of the point's scenario seed, the point's values and
the replicate's index, so the numbers do not depend on how many workers there are or
in which order they finish (Python's ``hash()`` changes from process to process).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from typing import Any

from testbed.config.scenario import Scenario
from testbed.sweep.vary import Point

# what a task sends back per cell: (policy, circumvention, summary); small
CellResult = tuple[str, str, dict[str, Any]]


def replicate_seed(seed: int, values: dict[str, Any], replicate: int) -> int:
    """A seed in [0, 2**63) for one replicate of one point."""
    key = json.dumps([seed, sorted(values.items()), replicate], separators=(",", ":"))
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") >> 1


@dataclass(frozen=True)
class Task:
    point: int
    replicate: int
    scenario: Scenario


def tasks_of(points: list[Point], replicates: int) -> list[Task]:
    """Point-major: every replicate of the first point, then the next point's."""
    return [Task(i, r, replace(p.scenario, seed=replicate_seed(p.scenario.seed, p.values, r)))
            for i, p in enumerate(points) for r in range(replicates)]


def run_task(scenario: Scenario) -> list[CellResult]:
    """On a worker: simulate every cell of the scenario; only the summaries travel back."""
    from testbed.run import run_scenario

    return [(c.policy, c.circumvention, c.summary) for c in run_scenario(scenario)]
