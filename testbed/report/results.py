"""results.json (+ a CSV per cell): the same schema in simulation and emulation.

Nothing in results.json depends on the wall clock, so the same seed gives the same
bytes; the run's time goes into the directory name only.
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import astuple
from pathlib import Path
from typing import Any

from testbed.config.scenario import Scenario
from testbed.report.table import render
from testbed.run import Cell, Checked

SCHEMA = "testbed.results/1"


def document(scenario: Scenario, cells: list[Cell], checks: list[Checked], mode: str,
             extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "scenario": scenario.name,
        "source": scenario.source,
        "mode": mode,
        "seed": scenario.seed,
        "topology": {"name": scenario.topology.name, "params": scenario.topology.params},
        "workload": {"duration_s": scenario.workload.duration_s,
                     "calls_per_hour": scenario.workload.calls_per_hour,
                     "subscribers": scenario.workload.subscribers,
                     "variants": scenario.workload.variants},
        **(extra or {}),
        "cells": [{"policy": c.policy, "circumvention": c.circumvention, "summary": c.summary,
                   "outcomes": c.outcomes, "per_app": c.per_app, **c.extra} for c in cells],
        "expect": [{"policy": k.expect.policy, "circumvention": k.expect.circumvention,
                    "metric": k.expect.metric, "min": k.expect.min, "max": k.expect.max,
                    "value": k.value, "ok": k.ok, "line": k.expect.line} for k in checks],
    }


def summary_text(scenario: Scenario, cells: list[Cell], checks: list[Checked]) -> str:
    """What the terminal shows at the end of a run; also the golden ``scenarios/<name>.out``."""
    rows = [{"policy": c.policy, "circumvention": c.circumvention, **c.summary} for c in cells]
    text = f"{scenario.name}: {len(cells)} cells, seed {scenario.seed}\n\n" + render(rows) + "\n"
    if checks:
        text += "\nexpectations:\n" + "\n".join(f"  {k}" for k in checks) + "\n"
    return text


def output_dir(root: Path, scenario: Scenario) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = root / scenario.name / stamp
    n = 1
    while out.exists():
        n += 1
        out = root / scenario.name / f"{stamp}-{n}"
    out.mkdir(parents=True)
    return out


def write(out: Path, doc: dict[str, Any], cells: list[Cell]) -> None:
    """results.json and, per cell, calls-<policy>--<circumvention>.csv and flows-….csv."""
    (out / "results.json").write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n")
    for cell in cells:
        name = f"{cell.policy}--{cell.circumvention}"
        for kind, records in (("calls", cell.calls), ("flows", cell.flows)):
            if not records:
                continue
            with open(out / f"{kind}-{name}.csv", "w", newline="") as f:
                writer = csv.writer(f)
                writer.writerow(type(records[0]).columns())
                writer.writerows(tuple(round(v, 3) if isinstance(v, float) else v for v in astuple(r))
                                 for r in records)
