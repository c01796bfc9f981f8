"""A sweep's report.html: the table with CIs and, per varied parameter, each outcome
against it with its 95% CI band. One self-contained file (plots inlined as PNG).

Series (a policy × circumvention, and the other varied parameters' values) differ by
line style and marker as well as colour, so the plots read in greyscale too.
"""

from __future__ import annotations

import html
import itertools
from typing import Any

from testbed.report.html import _png, _table
from testbed.sweep.results import OUTCOMES, rows, short_names, table, value_text

LINES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "h", "<")


def _numeric(values: list[Any]) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def series(doc: dict[str, Any], path: str) -> dict[str, list[dict[str, Any]]]:
    """Rows grouped into the series plotted against ``path``: label → rows in sweep order."""
    others = [v["path"] for v in doc["vary"] if v["path"] != path]
    names = dict(zip([v["path"] for v in doc["vary"]], short_names([v["path"] for v in doc["vary"]])))
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows(doc):
        label = " × ".join([row["policy"], row["circumvention"]]
                           + [f"{names[p]}={value_text(row[p])}" for p in others])
        out.setdefault(label, []).append(row)
    return out


def _plots(doc: dict[str, Any]) -> list[tuple[str, str]]:
    """(title, PNG as base64) per varied parameter × outcome; empty without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    out = []
    names = short_names([v["path"] for v in doc["vary"]])
    for vary, name in zip(doc["vary"], names):
        path, values = vary["path"], vary["values"]
        numeric = _numeric(values)
        groups = series(doc, path)
        for key, title, _ in OUTCOMES:
            if all(r[key]["mean"] is None for r in rows(doc)):
                continue  # e.g. no time-to-block where nothing was blocked
            fig, ax = plt.subplots(figsize=(7.5, 4.0))
            styles = zip(itertools.cycle(LINES), itertools.cycle(MARKERS))
            for (label, group), (line, marker) in zip(groups.items(), styles):
                pts = [(r[path] if numeric else values.index(r[path]), r[key]) for r in group
                       if r[key]["mean"] is not None]
                if not pts:
                    continue
                xs = [x for x, _ in pts]
                (drawn,) = ax.plot(xs, [e["mean"] for _, e in pts], linestyle=line, marker=marker, label=label)
                band = [(x, e) for x, e in pts if e["ci95_low"] is not None]
                if band:
                    ax.fill_between([x for x, _ in band], [e["ci95_low"] for _, e in band],
                                    [e["ci95_high"] for _, e in band], color=drawn.get_color(), alpha=0.2)
            if not numeric:
                ax.set_xticks(range(len(values)), [value_text(v) for v in values])
            ax.set_xlabel(path)
            ax.set_ylabel(title)
            ax.set_title(f"{title} against {name} (mean, 95% CI band)")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
            out.append((f"{title} against {name}", _png(fig, plt)))
    return out


def render(doc: dict[str, Any]) -> str:
    header, body = table(doc)
    vary = "; ".join(f"{v['path']} = {', '.join(value_text(x) for x in v['values'])}" for v in doc["vary"])
    parts = [f"<h1>{html.escape(doc['scenario'])}: sweep</h1>",
             f"<p>{html.escape(doc['source'])} — {len(doc['points'])} points × {doc['replicates']} replicates "
             f"(simulation); varied: {html.escape(vary)}. Each value is the mean over the replicates ± the "
             f"half-width of its 95% confidence interval ({html.escape(doc['interval'])}); [n]: only n "
             f"replicates had a value.</p>",
             _table(body, header)]
    for title, png in _plots(doc):
        parts.append(f"<h2>{html.escape(title)}</h2><img alt='{html.escape(title)}' src='data:image/png;base64,{png}'>")
    style = ("body{font-family:sans-serif;margin:2em;max-width:80em}table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}img{max-width:100%}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(doc['scenario'])} sweep</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>\n")
