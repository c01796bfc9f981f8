"""``testbed compare A B``: two results.json side by side, cell by cell, with the change."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from testbed.config.errors import ConfigError
from testbed.report.table import COLUMNS

METRICS = [(key, title) for key, title, _ in COLUMNS[2:]]


def load(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(str(path), "", None, "file not found") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(str(path), "", exc.lineno, f"not JSON: {exc.msg}") from None
    if not isinstance(doc, dict) or not str(doc.get("schema", "")).startswith("testbed.results/"):
        raise ConfigError(str(path), "schema", None, "not a testbed results.json")
    return doc


def compare(a: dict[str, Any], b: dict[str, Any]) -> str:
    """Lines ``policy × circumvention  metric  A → B  (Δ)`` for every metric that differs."""
    cells_a = {(c["policy"], c["circumvention"]): c["summary"] for c in a["cells"]}
    cells_b = {(c["policy"], c["circumvention"]): c["summary"] for c in b["cells"]}
    lines = [f"A: {a['scenario']} ({a['mode']}, seed {a['seed']})   B: {b['scenario']} ({b['mode']}, seed {b['seed']})"]
    for key in list(cells_a) + [k for k in cells_b if k not in cells_a]:
        label = f"{key[0]} × {key[1]}"
        if key not in cells_a or key not in cells_b:
            lines.append(f"{label}: only in {'B' if key not in cells_a else 'A'}")
            continue
        for metric, title in METRICS:
            va, vb = cells_a[key].get(metric), cells_b[key].get(metric)
            if va == vb:
                continue
            delta = f" ({vb - va:+.2f})" if isinstance(va, (int, float)) and isinstance(vb, (int, float)) else ""
            lines.append(f"{label:36} {title:10} {_v(va):>9} → {_v(vb):<9}{delta}")
    if len(lines) == 1:
        lines.append("no differences in the summaries")
    return "\n".join(lines) + "\n"


def _v(value: Any) -> str:
    return "–" if value is None else f"{value:g}" if isinstance(value, (int, float)) else str(value)


def compare_files(a: Path, b: Path) -> str:
    return compare(load(a), load(b))
