"""results.json (+ a CSV per cell): the same schema in simulation and emulation.

Nothing in results.json depends on the wall clock, so the same seed gives the same
bytes; the run's time goes into the directory name only.
"""

from __future__ import annotations

import csv
import errno
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from testbed.config import limits
from testbed.config.errors import ConfigError
from testbed.config.phases import ALL
from testbed.config.scenario import Scenario
from testbed.report.probes import render as render_probes
from testbed.report.rules import policy_doc
from testbed.report.table import render
from testbed.run import Cell, Checked, PhaseCell
from testbed.timeline import phase_of

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
        **({"phases": [{"phase": p.date, "at_s": p.at_s, "note": p.note} for p in scenario.phases]}
           if scenario.phases else {}),
        "policies": {name: policy_doc(scenario.policy_objects[name]) for name in _policies_run(cells)
                     if name in scenario.policy_objects},
        "cells": [{"policy": c.policy, "circumvention": c.circumvention, "summary": c.summary,
                   "outcomes": c.outcomes, "per_app": c.per_app, "rule_hits": c.rule_hits,
                   **({"probes": [p.as_dict() for p in c.probes]} if c.probes else {}),
                   **({"phases": [_phase(p) for p in c.phases]} if c.phases else {}), **c.extra} for c in cells],
        "expect": [{"policy": k.expect.policy, "circumvention": k.expect.circumvention,
                    "phase": k.expect.phase or None, "app": k.expect.app or None,
                    "metric": k.expect.metric, "min": k.expect.min, "max": k.expect.max,
                    "value": k.value, "ok": k.ok, "line": k.expect.line} for k in checks],
    }


def _policies_run(cells: list[Cell]) -> list[str]:
    """The names of the policies the cells ran (in each phase, on each operator), in order."""
    names = [name for c in cells for name in ([n for p in c.phases for n in p.policies.values()] or [c.policy])]
    return list(dict.fromkeys(names))


def _phase(p: PhaseCell) -> dict[str, Any]:
    s = p.step
    return {"phase": s.date, "index": s.index, "at_s": s.at_s, "until_s": s.until_s, "note": s.note,
            "policies": p.policies, "summary": p.summary, "outcomes": p.outcomes, "per_app": p.per_app,
            "probes": [a.as_dict() for a in p.probes]}


def phase_heading(p: PhaseCell) -> str:
    """``phase 2 · 2016-02-26 · from 720 s: note`` and each operator's policy."""
    s = p.step
    note = f": {s.note}" if s.note else ""
    names = set(p.policies.values())
    policies = (f"policy: {names.pop()}" if len(names) == 1 else
                " · ".join(f"{op}: {name}" if op != ALL else name for op, name in p.policies.items()))
    return f"phase {s.index} · {s.date} · from {s.at_s:g} s{note}\n  {policies}"


def probe_rows(cells: list[Cell]) -> list[dict[str, Any]]:
    """The cells' probe findings (per phase, with phases) as ``testbed.report.probes`` reads them."""
    out = []
    for c in cells:
        parts: list[tuple[str, list[Any]]] = [(p.step.date, p.probes) for p in c.phases] or [("", c.probes)]
        for phase, found in parts:
            out.append({"policy": c.policy, "circumvention": c.circumvention, "phase": phase,
                        "probes": [a.as_dict() for a in found]})
    return out


def summary_text(scenario: Scenario, cells: list[Cell], checks: list[Checked]) -> str:
    """What the terminal shows at the end of a run; also the golden ``scenarios/<name>.out``.
    With phases: one block per phase, a row per cell."""
    if scenario.phases:
        n, k = len(cells), len(scenario.phases)
        text = f"{scenario.name}: {n} cell{'s' * (n != 1)} × {k} phase{'s' * (k != 1)}, seed {scenario.seed}\n"
        for i in range(len(scenario.phases)):
            rows = [{"circumvention": c.circumvention, **c.phases[i].summary} for c in cells]
            text += f"\n{phase_heading(cells[0].phases[i])}\n" + render(rows, skip=("policy",)) + "\n"
    else:
        rows = [{"policy": c.policy, "circumvention": c.circumvention, **c.summary} for c in cells]
        text = f"{scenario.name}: {len(cells)} cells, seed {scenario.seed}\n\n" + render(rows) + "\n"
    probes = render_probes(probe_rows(cells))
    if probes:
        text += "\n" + probes
    if checks:
        text += "\nexpectations:\n" + "\n".join(f"  {k}" for k in checks) + "\n"
    return text


INCOMPLETE = "INCOMPLETE"  # the marker file of a results directory still being written


class Staged:
    """A run's results directory, written where nothing mistakes it for a result.

    It is made at the start as ``<root>/<scenario>/.<stamp>-XXXXXXXX.incomplete/`` (hidden,
    unique, holding an ``INCOMPLETE`` file) and renamed to ``<stamp>`` — or ``<stamp>-2``,
    ``-3``… when a run started in the same second got there first — only when complete.
    A rename onto a directory that is not empty fails, so two runs never share one.
    """

    def __init__(self, root: Path, scenario: str, prefix: str = "") -> None:
        self.started = prefix + time.strftime("%Y%m%d-%H%M%S")
        if root.exists() and not root.is_dir():
            raise ConfigError("--out", "", None, f"'{root}' is not a directory")
        self.parent = root / limits.slug(scenario)  # a slug: always one level under root
        try:
            self.parent.mkdir(parents=True, exist_ok=True)
            self.path = Path(tempfile.mkdtemp(prefix=f".{self.started}-", suffix=".incomplete", dir=self.parent))
        except OSError as exc:
            raise ConfigError("--out", "", None, f"cannot write results under '{root}': "
                                                 f"{exc.strerror or exc}") from None
        try:
            os.chmod(self.path, 0o755)
            (self.path / INCOMPLETE).write_text("this run did not finish: nothing here is a result\n")
        except BaseException:
            shutil.rmtree(self.path, ignore_errors=True)
            raise
        self.final: Path | None = None

    def commit(self) -> Path:
        (self.path / INCOMPLETE).unlink()
        for n in range(1, 10_000):
            target = self.parent / (self.started if n == 1 else f"{self.started}-{n}")
            try:
                os.rename(self.path, target)
            except OSError as exc:
                if exc.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR):
                    continue
                raise
            self.final = target
            return target
        raise FileExistsError(f"no free name for {self.parent / self.started}")


@contextmanager
def staged(root: Path, scenario: str, keep_on_failure: bool = False, prefix: str = "") -> Iterator[Staged]:
    """``with staged(out, name) as s:`` write into ``s.path``; ``s.final`` is the results directory
    once the block ended normally. However else it ends (an error, Ctrl-C) nothing is left that
    looks complete: the directory is removed, or with ``keep_on_failure`` (an emulation's logs)
    kept under its hidden ``.incomplete`` name with its ``INCOMPLETE`` marker. ``prefix``
    starts the name (``sweep-``)."""
    s = Staged(root, scenario, prefix)
    try:
        yield s
    except BaseException:
        if keep_on_failure:
            print(f"incomplete output (logs) kept in {s.path}", file=sys.stderr)
        else:
            shutil.rmtree(s.path, ignore_errors=True)
        raise
    s.commit()


def file_name(kind: str, policy: str, circumvention: str) -> str:
    """``calls-<policy>--<circumvention>.csv``; a policy given by path is a slug here."""
    return f"{kind}-{limits.slug(policy)}--{limits.slug(circumvention)}.csv"


def write(out: Path, doc: dict[str, Any], cells: list[Cell], with_csv: bool = True) -> None:
    """results.json and (``with_csv``), per cell, calls-<policy>--<circumvention>.csv and flows-….csv."""
    (out / "results.json").write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n")
    for cell in cells if with_csv else ():
        steps = tuple(p.step for p in cell.phases)
        for kind, records in (("calls", cell.calls), ("flows", cell.flows)):
            if not records:
                continue
            with open(out / file_name(kind, cell.policy, cell.circumvention), "w", newline="") as f:
                writer = csv.writer(f)
                writer.writerow(type(records[0]).columns() + (["phase"] if steps else []))
                for r in records:
                    row = tuple(round(v, 3) if isinstance(v, float) else v for v in r)
                    if steps:   # when it started (a retry across a change: the later phase)
                        row += (steps[phase_of(steps, r.t_start)].date,)
                    writer.writerow(row)
