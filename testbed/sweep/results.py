"""A sweep's results: per point × cell, each outcome's mean and 95% CI over the replicates.

``sweep.json`` keeps every replicate's value next to the estimate, and nothing that
depends on the clock or the cluster: the same sweep gives the same bytes on one
worker or twenty. ``sweep.csv`` is one row per point × cell.
"""

from __future__ import annotations

import csv
import io
import json
import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from testbed.sweep.stats import estimate
from testbed.sweep.tasks import CellResult, Task
from testbed.sweep.vary import Point, Vary

SCHEMA = "testbed.sweep/1"
CONFIDENCE = 0.95
# (summary key, column title, format): the outcomes a sweep estimates
OUTCOMES = (
    ("success_pct", "success %", "{:.1f}"),
    ("ott_success_pct", "OTT ok %", "{:.1f}"),
    ("median_mos", "MOS", "{:.2f}"),
    ("collateral_pct", "collat. %", "{:.1f}"),
    ("median_ttb_ms", "TTB ms", "{:.0f}"),
    ("adopters_pct", "adopt %", "{:.1f}"),
)
DIGITS = 4  # of means and bounds in sweep.json / .csv


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, DIGITS)


def document(name: str, source: str, varies: Sequence[Vary], points: Sequence[Point], tasks: Sequence[Task],
             results: Sequence[list[CellResult]], replicates: int) -> dict[str, Any]:
    """sweep.json's content; ``results[i]`` are the cells of ``tasks[i]``."""
    by_point: list[list[tuple[Task, list[CellResult]]]] = [[] for _ in points]
    for task, task_cells in zip(tasks, results, strict=True):
        by_point[task.point].append((task, task_cells))
    out_points = []
    for point, runs in zip(points, by_point):
        runs.sort(key=lambda tr: tr[0].replicate)
        cells: list[dict[str, Any]] = []
        for j, (policy, circ, _) in enumerate(runs[0][1]):
            row: dict[str, Any] = {"policy": policy, "circumvention": circ}
            for key, _, _ in OUTCOMES:
                values = [run_cells[j][2].get(key) for _, run_cells in runs]
                e = estimate(values, CONFIDENCE)
                row[key] = {"mean": _r(e.mean), "ci95_low": _r(e.low), "ci95_high": _r(e.high), "n": e.n,
                            "values": values}
            cells.append(row)
        out_points.append({"values": point.values, "seeds": [t.scenario.seed for t, _ in runs], "cells": cells})
    return {
        "schema": SCHEMA,
        "scenario": name,
        "source": source,
        "mode": "sim",
        "replicates": replicates,
        "confidence": CONFIDENCE,
        "interval": "Student t over replicates: mean ± t(0.975, n-1)·s/√n",
        "vary": [{"path": v.path, "values": list(v.values)} for v in varies],
        "outcomes": [key for key, _, _ in OUTCOMES],
        "points": out_points,
    }


def rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """One flat row per point × cell: varied values, policy, circumvention, outcomes' estimates."""
    return [{**point["values"], **cell} for point in doc["points"] for cell in point["cells"]]


def csv_text(doc: dict[str, Any]) -> str:
    paths = [v["path"] for v in doc["vary"]]
    header = [*paths, "policy", "circumvention"]
    for key, _, _ in OUTCOMES:
        header += [f"{key}_mean", f"{key}_ci95_low", f"{key}_ci95_high", f"{key}_n"]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows(doc):
        line = [row[p] for p in paths] + [row["policy"], row["circumvention"]]
        for key, _, _ in OUTCOMES:
            e = row[key]
            line += [e["mean"], e["ci95_low"], e["ci95_high"], e["n"]]
        writer.writerow(["" if v is None else v for v in line])
    return buf.getvalue()


def short_names(paths: list[str]) -> list[str]:
    """The last key of each path, unless two paths end alike (then the whole path)."""
    last = [p.rsplit(".", 1)[-1] for p in paths]
    return [s if last.count(s) == 1 else p for s, p in zip(last, paths)]


def estimate_text(e: dict[str, Any], fmt: str, replicates: int) -> str:
    if e["mean"] is None:
        return "–"
    text = fmt.format(e["mean"])
    if e["ci95_low"] is not None:
        text += " ± " + fmt.format((e["ci95_high"] - e["ci95_low"]) / 2)
    return text + (f" [{e['n']}]" if e["n"] < replicates else "")


def table(doc: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the table: a row per point × cell, each outcome as mean ± CI half-width."""
    paths = [v["path"] for v in doc["vary"]]
    header = [*short_names(paths), "policy", "circumvention", *(title for _, title, _ in OUTCOMES)]
    body = [[value_text(row[p]) for p in paths] + [row["policy"], row["circumvention"]]
            + [estimate_text(row[key], fmt, doc["replicates"]) for key, _, fmt in OUTCOMES] for row in rows(doc)]
    return header, body


def table_text(doc: dict[str, Any]) -> str:
    """What the terminal shows at the end of a sweep."""
    header, body = table(doc)
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    left = len(doc["vary"]) + 2

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if left - 2 <= i < left else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    n_cells = len(doc["points"][0]["cells"]) if doc["points"] else 0
    lines = [f"{doc['scenario']} sweep: {len(doc['points'])} points × {doc['replicates']} replicates "
             f"({len(doc['points']) * doc['replicates']} runs of {n_cells} cells); "
             f"mean ± 95% CI (Student t)", ""]
    lines += [line(header), "  ".join("-" * w for w in widths)] + [line(r) for r in body]
    if any(row[key]["n"] < doc["replicates"] and row[key]["mean"] is not None for row in rows(doc) for key, _, _ in OUTCOMES):
        lines.append("[n]: only n replicates had a value (a median of no blocked or completed calls is none)")
    return "\n".join(lines) + "\n"


def value_text(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def write_atomic(path: Path, text: str) -> None:
    """Write through a temporary file and rename it: a reader sees all of it or nothing.
    The file gets the usual mode (0666 less the umask), unlike mkstemp's 0600."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _flat(value: Any) -> bool:
    return not isinstance(value, (dict, list)) or (isinstance(value, list) and all(map(_flat, value)))


def json_text(value: Any, indent: str = "") -> str:
    """JSON a key a line, but a mapping of plain values (an estimate) or a list of plain
    values (seeds) on one line: a sweep of thousands of numbers stays readable."""
    inner = indent + " "
    if isinstance(value, dict) and value and not all(map(_flat, value.values())):
        items = [f"{inner}{json.dumps(k, ensure_ascii=False)}: {json_text(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{indent}}}"
    if isinstance(value, list) and not _flat(value):
        return "[\n" + ",\n".join(inner + json_text(v, inner) for v in value) + f"\n{indent}]"
    return json.dumps(value, ensure_ascii=False)


def write(out: Path, doc: dict[str, Any]) -> None:
    write_atomic(out / "sweep.json", json_text(doc) + "\n")
    write_atomic(out / "sweep.csv", csv_text(doc))

