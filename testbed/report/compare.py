"""``testbed compare A B``: two results.json side by side, cell by cell, with the change."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from testbed.config import limits
from testbed.config.errors import ConfigError
from testbed.config.files import read_text
from testbed.report.table import COLUMNS

METRICS = [(key, title) for key, title, _ in COLUMNS[2:]]


def _number(value: Any) -> bool:
    """A metric value we can print and subtract: null, or a finite number of sane size."""
    if value is None:
        return True
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return value.bit_length() <= 64 if isinstance(value, int) else math.isfinite(value)


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def validate(doc: Any, name: str) -> dict[str, Any]:
    """The parts of a results.json that ``compare`` reads, checked; ConfigError naming the key."""
    def need(ok: bool, where: str, message: str) -> None:
        if not ok:
            raise ConfigError(name, where, None, message)

    need(isinstance(doc, dict), "", f"expected a JSON object, got {_shown(doc)}")
    need(str(doc.get("schema", "")).startswith("testbed.results/"), "schema", "not a testbed results.json")
    for key, kind, ok in (("scenario", "a string", lambda v: isinstance(v, str)),
                          ("mode", "a string", lambda v: isinstance(v, str)),
                          ("seed", "an integer", lambda v: isinstance(v, int) and not isinstance(v, bool)
                           and v.bit_length() <= 64),
                          ("cells", "a list", lambda v: isinstance(v, list))):
        need(key in doc, "", f"missing key '{key}'")
        need(ok(doc[key]), key, f"expected {kind}, got {_shown(doc[key])}")
    for i, cell in enumerate(doc["cells"]):
        where = f"cells[{i}]"
        need(isinstance(cell, dict), where, f"expected an object, got {_shown(cell)}")
        for key in ("policy", "circumvention", "summary"):
            need(key in cell, where, f"missing key '{key}'")
        for key in ("policy", "circumvention"):
            need(isinstance(cell[key], str), f"{where}.{key}", f"expected a string, got {_shown(cell[key])}")
        _summary(cell, where, need)
        phases = cell.get("phases", [])
        need(isinstance(phases, list), f"{where}.phases", f"expected a list, got {_shown(phases)}")
        for j, phase in enumerate(phases):
            at = f"{where}.phases[{j}]"
            need(isinstance(phase, dict), at, f"expected an object, got {_shown(phase)}")
            for key in ("phase", "summary"):
                need(key in phase, at, f"missing key '{key}'")
            need(isinstance(phase["phase"], str), f"{at}.phase", f"expected a string, got {_shown(phase['phase'])}")
            _summary(phase, at, need)
    return doc


def _summary(part: dict[str, Any], where: str, need: Any) -> None:
    need(isinstance(part["summary"], dict), f"{where}.summary", f"expected an object, got {_shown(part['summary'])}")
    for metric, _ in METRICS:
        value = part["summary"].get(metric)
        need(_number(value), f"{where}.summary.{metric}", f"expected a number or null, got {_shown(value)}")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def load(path: Path) -> dict[str, Any]:
    """A results.json: a regular file within limits.MAX_RESULTS_BYTES, UTF-8 JSON, the schema checked."""
    name = str(path)
    text = read_text(path, limits.MAX_RESULTS_BYTES, name)
    try:
        doc = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ConfigError(name, "", exc.lineno, f"not JSON: {exc.msg}") from None
    except RecursionError:
        raise ConfigError(name, "", None, "not JSON we read: nested too deeply") from None
    except ValueError as exc:  # NaN, Infinity, an integer of thousands of digits
        what = "an integer of thousands of digits" if "integer string conversion" in str(exc) else str(exc)
        raise ConfigError(name, "", None, f"not JSON we read: {what}") from None
    return validate(doc, name)


def _parts(doc: dict[str, Any]) -> dict[tuple[str, ...], dict[str, Any]]:
    """Each cell's summary, and each of its phases' (a timeline's), by (policy, circumvention[, date])."""
    out: dict[tuple[str, ...], dict[str, Any]] = {}
    for c in doc["cells"]:
        out[(c["policy"], c["circumvention"])] = c["summary"]
        for p in c.get("phases", []):
            out[(c["policy"], c["circumvention"], p["phase"])] = p["summary"]
    return out


def compare(a: dict[str, Any], b: dict[str, Any]) -> str:
    """Lines ``policy × circumvention [@ phase]  metric  A → B  (Δ)`` for every metric that differs;
    a run with phases is compared phase by phase (by date) as well as over the whole run."""
    cells_a, cells_b = _parts(a), _parts(b)
    lines = [f"A: {a['scenario']} ({a['mode']}, seed {a['seed']})   B: {b['scenario']} ({b['mode']}, seed {b['seed']})"]
    for key in list(cells_a) + [k for k in cells_b if k not in cells_a]:
        label = f"{key[0]} × {key[1]}" + (f" @ {key[2]}" if len(key) > 2 else "")
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


SIDE_BY_SIDE = ("success_pct", "median_mos", "p10_mos", "median_pdd_ms", "mean_loss_pct", "median_ttb_ms",
                "median_ttb_packets")


def side_by_side(a: dict[str, Any], b: dict[str, Any], metrics: tuple[str, ...] = SIDE_BY_SIDE) -> str:
    """One row per cell, each metric as ``A | B`` (e.g. simulation | emulation of one scenario)."""
    titles = {**dict(METRICS), "mean_loss_pct": "loss %"}   # the loss: in results.json, not the run's table
    cells_b = {(c["policy"], c["circumvention"]): c["summary"] for c in b["cells"]}
    header = ["policy", "circumvention"] + [titles[m] for m in metrics]
    rows = []
    for cell in a["cells"]:
        other = cells_b.get((cell["policy"], cell["circumvention"]), {})
        rows.append([cell["policy"], cell["circumvention"]] +
                    [f"{_short(cell['summary'].get(m))} | {_short(other.get(m))}" for m in metrics])
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
             for r in [header] + rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return f"A: {a['scenario']} ({a['mode']})  |  B: {b['scenario']} ({b['mode']}), seed {a['seed']}\n" + \
        "\n".join(lines) + "\n"


def _short(value: Any) -> str:
    return "–" if value is None else f"{value:.3g}"
