"""report.html: the comparison table, per-app details and plots, in one self-contained file."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

from testbed.report.table import COLUMNS


def _plots(doc: dict[str, Any], mos: dict[str, list[float]]) -> list[tuple[str, str]]:
    """(title, PNG as base64) for each plot; empty without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    cells = doc["cells"]
    labels = [f"{c['policy']}\n{c['circumvention']}" for c in cells]
    out = []

    def bars(title: str, keys: list[tuple[str, str]], ylabel: str) -> None:
        fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(cells)), 3.6))
        width = 0.8 / len(keys)
        for k, (key, name) in enumerate(keys):
            values = [c["summary"].get(key) or 0 for c in cells]
            ax.bar([i + k * width for i in range(len(cells))], values, width, label=name)
        ax.set_xticks([i + width * (len(keys) - 1) / 2 for i in range(len(cells))], labels, fontsize=8)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        out.append((title, _png(fig, plt)))

    bars("Calls that got through", [("success_pct", "all calls"), ("ott_success_pct", "OTT apps"),
                                     ("operator_success_pct", "operator SIP")], "% of call intents")
    bars("What the policy hit", [("hit_pct", "VoIP attempts hit"), ("collateral_pct", "non-VoIP flows hit")],
         "%")
    if any(mos.values()):
        fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(cells)), 3.6))
        keys = [f"{c['policy']}\n{c['circumvention']}" for c in cells]
        ax.boxplot([mos.get(k) or [float("nan")] for k in keys], showfliers=False)
        ax.set_xticks(range(1, len(keys) + 1), keys, fontsize=8)
        ax.set_ylabel("MOS (E-model)")
        ax.set_ylim(1, 4.5)
        ax.set_title("Quality of the calls that completed")
        ax.grid(axis="y", alpha=0.3)
        out.append(("Quality of the calls that completed", _png(fig, plt)))
    return out


def _png(fig: Any, plt: Any) -> str:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _table(rows: list[list[str]], header: list[str]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fmt(value: Any, fmt: str) -> str:
    return "–" if value is None else fmt.format(value)


def _phases(doc: dict[str, Any]) -> list[str]:
    """A timeline's phases: each its date, time, note, every operator's policy, and a row per cell."""
    cells = [c for c in doc["cells"] if c.get("phases")]
    if not cells:
        return []
    out = ["<h2>Phases</h2>"]
    for i, phase in enumerate(cells[0]["phases"]):
        names = set(phase["policies"].values())
        policies = (f"policy: {names.pop()}" if len(names) == 1 else
                    ", ".join(f"{op}: {name}" for op, name in phase["policies"].items()))
        note = f" — {html.escape(phase['note'])}" if phase.get("note") else ""
        rows = [[_fmt({**c, **c["phases"][i]["summary"]}.get(key), fmt) for key, _, fmt in COLUMNS[1:]] for c in cells]
        out.append(f"<h3>{html.escape(phase['phase'])} (from {phase['at_s']:g} s){note}</h3>"
                   f"<p>{html.escape(policies)}</p>" + _table(rows, [title for _, title, _ in COLUMNS[1:]]))
    return out


def render(doc: dict[str, Any], mos: dict[str, list[float]]) -> str:
    rows = [[_fmt({**c, **c["summary"]}.get(key), fmt) for key, _, fmt in COLUMNS] for c in doc["cells"]]
    parts = [f"<h1>{html.escape(doc['scenario'])}</h1>",
             f"<p>{html.escape(doc['source'])} — mode <b>{doc['mode']}</b>, seed {doc['seed']}, "
             f"topology {html.escape(doc['topology']['name'])}, shaper: {html.escape(str(doc.get('shaper', '')))}</p>",
             _table(rows, [title for _, title, _ in COLUMNS])]
    parts += _phases(doc)
    for title, png in _plots(doc, mos):
        parts.append(f"<h2>{html.escape(title)}</h2><img alt='{html.escape(title)}' src='data:image/png;base64,{png}'>")
    if doc["expect"]:
        parts.append("<h2>Expectations</h2>" + _table(
            [["ok" if e["ok"] else "FAIL", f"line {e['line']}", e["policy"], e["circumvention"], e.get("phase") or "",
              e.get("app") or "", e["metric"], _fmt(e["value"], "{:g}"), _fmt(e["min"], "{:g}"), _fmt(e["max"], "{:g}")]
             for e in doc["expect"]],
            ["", "where", "policy", "circumvention", "phase", "app", "metric", "value", "min", "max"]))
    parts.append("<h2>Per app</h2>")
    for c in doc["cells"]:
        rows = [[app, str(v.get("intents", v.get("flows", ""))), _fmt(v.get("success_pct"), "{:.1f}"),
                 _fmt(v.get("hit_pct"), "{:.1f}"), _fmt(v.get("median_mos"), "{:.2f}"),
                 ", ".join(f"{k} {n}" for k, n in v["dpi_apps"].items())] for app, v in c["per_app"].items()]
        parts.append(f"<h3>{html.escape(c['policy'])} × {html.escape(c['circumvention'])}</h3>"
                     + _table(rows, ["app", "calls / flows", "success %", "hit %", "MOS", "DPI said"]))
    style = ("body{font-family:sans-serif;margin:2em;max-width:80em}table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}td:first-child,th:first-child"
             "{text-align:left}img{max-width:100%}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(doc['scenario'])}</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>\n")


def write_html(out: Path, doc: dict[str, Any], cells: list[Any]) -> Path:
    """Write report.html next to results.json."""
    mos = {f"{c.policy}\n{c.circumvention}": [r.mos for r in c.calls if r.outcome == "completed"] for c in cells}
    path = out / "report.html"
    path.write_text(render(doc, mos))
    return path
