"""report.html, for class: one self-contained file (images inline, no script or style fetched).

What it shows, top to bottom: the comparison table (and, with phases, a row per cell and
phase); call success and adoption over time with the phases marked; the MOS distribution of
each cell; what was hit; the probe verdicts — an OONI-like test beside a short call, ≠ where
they disagree; each policy's rules with what they hit; the DPI's decision on sample flows
and why; the expectations; per-app details. Plots are PNGs (``testbed.report.plots``),
drawn only when matplotlib is installed (the ``plots`` extra).

A few lines of script mark each image once the browser decoded it (``data-decoded``) and
log an error to the console for one that did not: a broken report shows in the console.
"""

from __future__ import annotations

import html
from collections import Counter
from pathlib import Path
from typing import Any

from testbed.call.records import COMPLETED
from testbed.report import plots
from testbed.report import probes as probe_table
from testbed.report.table import COLUMNS
from testbed.timeline import split

STYLE = ("body{font-family:sans-serif;margin:2em;max-width:82em;color:#111}table{border-collapse:collapse;"
         "margin:1em 0}td,th{border:1px solid #bbb;padding:2px 8px;text-align:right;vertical-align:top}"
         "td:first-child,th:first-child{text-align:left}td.l,th.l{text-align:left}img{max-width:100%}"
         "td.disagree{background:#fff3cd;font-weight:bold}code,pre{font-size:90%}"
         ".w{white-space:normal}pre{background:#f6f6f6;padding:.5em;white-space:pre-wrap}details{margin:.3em 0}.note{color:#444}")
CHECK_IMAGES = ("<script>window.addEventListener('load',function(){for(const i of document.images){"
                "const ok=i.complete&&i.naturalWidth>0;i.dataset.decoded=ok?'yes':'no';"
                "if(!ok)console.error('report image did not decode: '+i.alt);}});</script>")


def _esc(value: Any) -> str:
    return html.escape(str(value))


def _fmt(value: Any, fmt: str) -> str:
    return "–" if value is None else fmt.format(value)


def _table(rows: list[list[str]], header: list[str], left: int = 1, wrap: tuple[int, ...] = ()) -> str:
    """An HTML table; the first ``left`` columns left-aligned; only the columns ``wrap`` wrap."""
    def cell(tag: str, i: int, text: str) -> str:
        cls = " ".join(c for c, on in (("l", i < left), ("w", i in wrap)) if on)
        return f"<{tag}{f' class={cls!r}' if cls else ''}>{_esc(text)}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(cell("td", i, c) for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _png(fig: Any, plt: Any = None) -> str:
    """A matplotlib figure as base64 PNG (``testbed.report.plots.png``; the sweep's report uses it too)."""
    return plots.png(fig)


def _img(title: str, data: str) -> str:
    return f"<h2>{_esc(title)}</h2><img alt='{_esc(title)}' src='data:image/png;base64,{data}'>"


def cell_label(c: Any) -> str:
    return f"{c.policy} × {c.circumvention}"


# -- plots --------------------------------------------------------------------------------------
def _plots(doc: dict[str, Any], cells: list[Any]) -> list[tuple[str, str]]:
    """(title, PNG as base64) for each plot; none without matplotlib."""
    try:
        plots._pyplot()
    except ImportError:   # the plots extra is not installed
        return []
    end = max([doc["workload"]["duration_s"]] + [c.t_start for cell in cells for c in cell.calls])
    subscribers = doc["workload"]["subscribers"]
    phases = [(p["at_s"], p["phase"]) for p in doc.get("phases", ())]
    success, adoption, mos = [], [], []
    for cell in cells:
        s = plots.success_over_time(cell.calls, end)
        a = plots.adoption_over_time(cell.calls, subscribers, end)
        success.append(plots.Series(cell_label(cell), s.xs, s.ys))
        adoption.append(plots.Series(cell_label(cell), a.xs, a.ys))
        if cell.phases:   # a distribution per phase: what each policy did to quality
            for phase, (calls, _) in zip(cell.phases, split(tuple(p.step for p in cell.phases), cell.calls, [])):
                mos.append((f"{cell_label(cell)}, {phase.step.date}", [r.mos for r in calls if r.outcome == COMPLETED]))
        else:
            mos.append((cell_label(cell), [r.mos for r in cell.calls if r.outcome == COMPLETED]))
    out = [("Call success and adoption over time", plots.timeline(success, adoption, phases)),
           ("Call quality: MOS distribution per cell" + (" and phase" if phases else ""), plots.mos_cdf(mos))]
    labels = [f"{c['policy']}\n{c['circumvention']}" for c in doc["cells"]]

    def values(key: str) -> list[float]:
        return [c["summary"].get(key) or 0 for c in doc["cells"]]

    out.append(("Calls that got through", plots.bars(
        "Calls that got through", labels, [("all calls", values("success_pct")), ("OTT apps", values("ott_success_pct")),
                                           ("operator SIP", values("operator_success_pct"))], "% of call intents")))
    out.append(("What the policy hit", plots.bars(
        "What the policy hit", labels, [("VoIP attempts hit", values("hit_pct")),
                                        ("non-VoIP flows hit", values("collateral_pct"))], "%")))
    return out


# -- sections -----------------------------------------------------------------------------------
def _summary(doc: dict[str, Any]) -> str:
    rows = [[_fmt({**c, **c["summary"]}.get(key), fmt) for key, _, fmt in COLUMNS] for c in doc["cells"]]
    return _table(rows, [title for _, title, _ in COLUMNS], left=2) + _phases(doc)


def _phases(doc: dict[str, Any]) -> str:
    """A timeline's phases: each its date, time, note, every operator's policy, and a row per cell."""
    cells = [c for c in doc["cells"] if c.get("phases")]
    if not cells:
        return ""
    out = ["<h2>Phases</h2>"]
    for i, phase in enumerate(cells[0]["phases"]):
        note = f" — {_esc(phase['note'])}" if phase.get("note") else ""
        rows = [[_fmt({**c, **c["phases"][i]["summary"]}.get(key), fmt) for key, _, fmt in COLUMNS[1:]] for c in cells]
        names = set(phase["policies"].values())
        policies = (f"policy: {names.pop()}" if len(names) == 1 else
                    ", ".join(f"{op}: {name}" for op, name in phase["policies"].items()))
        out.append(f"<h3>{_esc(phase['phase'])} (from {phase['at_s']:g} s){note}</h3>"
                   f"<p>{_esc(policies)}</p>"
                   + _table(rows, [title for _, title, _ in COLUMNS[1:]]))
    return "".join(out)


def _parts(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Each cell, or each phase of each cell, with its probes."""
    return [{"policy": c["policy"], "circumvention": c["circumvention"], "phase": p.get("phase", ""),
             "probes": list(p.get("probes", ()))} for c in doc["cells"] for p in (c.get("phases") or [c])]


def _probes(doc: dict[str, Any]) -> str:
    parts = _parts(doc)
    header, rows = probe_table.rows(parts)
    if not rows:
        return ""
    fixed = len(header) - len({p["app"] for c in parts for p in c["probes"]})
    head = "".join(f"<th class=l>{_esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td class=l>{_esc(x)}</td>" if i < fixed or probe_table.DISAGREE not in x
                                     else f"<td class='l disagree'>{_esc(x)}</td>" for i, x in enumerate(r)) + "</tr>"
                   for r in rows)
    tests = sorted({(p["app"], p["ooni_test"]) for c in parts for p in c["probes"] if p.get("ooni_test")})
    return ("<h2>What a measurement tool would have said, and what calls got</h2>"
            "<p class=note>Per app: an OONI-like test (what OONI Probe's app tests do: resolve the app's names, "
            "connect to its endpoints, a TLS handshake naming them, an HTTP request) / a short call through the "
            "same path as the workload, measured (<b>call ok</b>; <b>no media</b>: it connected, no voice came "
            "through; <b>degraded</b>: MOS below 3.1; <b>blocked</b>: it never connected). – : OONI has no test "
            f"for the app. Highlighted ({probe_table.DISAGREE}): the two disagree. Probes run from each "
            "operator's mobile and fixed lines (where: those that found the same).</p>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
            "<p class=note>Tests: " + "; ".join(f"{_esc(a)}: OONI {_esc(t)}" for a, t in tests) + "</p>")


def match_text(match: dict[str, Any]) -> str:
    return "; ".join(f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in match.items()) or "any"


def _policies(doc: dict[str, Any]) -> str:
    hits: dict[str, Counter[str]] = {}
    for c in doc["cells"]:
        for label, n in c.get("rule_hits", {}).items():
            hits.setdefault(label, Counter()).update(n)
    none: Counter[str] = Counter()
    parts = ["<h2>The policies' rules and what they hit</h2><p class=note>First match wins; a flow no rule matches "
             "is allowed. Hits: call attempts and non-VoIP flows the rule decided, over every cell (and phase) "
             "that ran the policy.</p>"]
    for name, p in doc.get("policies", {}).items():
        rows = [[str(i), r["name"], match_text(r["match"]), r["action"], str(hits.get(r["label"], none)["calls"]),
                 str(hits.get(r["label"], none)["flows"])] for i, r in enumerate(p["rules"], 1)]
        parts.append(f"<h3>{_esc(name)}</h3><p class=note>{_esc(p.get('description', ''))} ({_esc(p['deployment'])}, "
                     f"fail {_esc(p['fail_mode'])}, inspects {p['inspect_packets']} packets)</p>"
                     + (_table(rows, ["#", "rule", "match", "action", "call attempts", "flows"], left=4, wrap=(2,))
                        if rows
                        else "<p>no rules: everything passes</p>"))
    return "".join(parts)


def _traces(doc: dict[str, Any]) -> str:
    """Per cell (and phase) and per group of probe hosts that found the same: the DPI's decision on
    each app's probe call flows, and on one of each kind of the OONI-like test's targets."""
    parts: list[str] = []
    cells = _parts(doc)
    apps = list(dict.fromkeys(p["app"] for c in cells for p in c["probes"]))
    wheres = list(dict.fromkeys((p["operator"], p.get("access", "")) for c in cells for p in c["probes"]))
    for c in cells:
        lines = []
        for label, _, found in probe_table.groups(c["probes"], apps, wheres):
            for a in found:
                app = f"{a['app']}{f' ({label})' if label else ''}"
                lines += [f"{app}, call: {t}" for t in a["call_trace"]]
                kinds: dict[str, dict[str, Any]] = {}
                for r in a["reached"]:
                    kinds.setdefault(r["target"].split(":", 1)[0], r)
                lines += [f"{app}, OONI {r['target']}: {t}" for r in kinds.values() for t in r["trace"]]
        if lines:
            title = f"{c['policy']} × {c['circumvention']}" + (f", {c['phase']}" if c["phase"] else "")
            parts.append(f"<details{' open' if not parts else ''}><summary>{_esc(title)}</summary>"
                         f"<pre>{_esc(chr(10).join(lines))}</pre></details>")
    if not parts:
        return ""
    return ("<h2>The DPI's decisions on sample flows</h2><p class=note>The probes' flows: for each, the packet "
            "(both directions, from 1) at which the DPI decided, its evidence, the app it named, the rule and the "
            "action.</p>" + "".join(parts))


def _expectations(doc: dict[str, Any]) -> str:
    if not doc["expect"]:
        return ""
    rows = [["ok" if e["ok"] else "FAIL", f"line {e['line']}", e["policy"], e["circumvention"], e.get("phase") or "",
             e.get("app") or "", e["metric"], _fmt(e["value"], "{:g}"), _fmt(e["min"], "{:g}"), _fmt(e["max"], "{:g}")]
            for e in doc["expect"]]
    return "<h2>Expectations</h2>" + _table(rows, ["", "where", "policy", "circumvention", "phase", "app", "metric",
                                                  "value", "min", "max"], left=7)


def _per_app(doc: dict[str, Any]) -> str:
    parts = ["<h2>Per app</h2>"]
    for c in doc["cells"]:
        rows = [[app, str(v.get("intents", v.get("flows", ""))), _fmt(v.get("success_pct"), "{:.1f}"),
                 _fmt(v.get("hit_pct"), "{:.1f}"), _fmt(v.get("median_mos"), "{:.2f}"),
                 ", ".join(f"{k} {n}" for k, n in v["dpi_apps"].items())] for app, v in c["per_app"].items()]
        parts.append(f"<h3>{_esc(c['policy'])} × {_esc(c['circumvention'])}</h3>"
                     + _table(rows, ["app", "calls / flows", "success %", "hit %", "MOS", "DPI said"]))
    return "".join(parts)


def render(doc: dict[str, Any], cells: list[Any]) -> str:
    parts = [f"<h1>{_esc(doc['scenario'])}</h1>",
             f"<p>{_esc(doc['source'])} — mode <b>{_esc(doc['mode'])}</b>, seed {doc['seed']}, "
             f"topology {_esc(doc['topology']['name'])}, shaper: {_esc(doc.get('shaper', ''))}</p>",
             _summary(doc)]
    parts += [_img(title, data) for title, data in _plots(doc, cells)]
    parts += [_probes(doc), _policies(doc), _traces(doc), _expectations(doc), _per_app(doc)]
    return (f"<!doctype html><html lang=en><head><meta charset='utf-8'><title>{_esc(doc['scenario'])}</title>"
            f"<style>{STYLE}</style></head><body>{''.join(parts)}{CHECK_IMAGES}</body></html>\n")


def write_html(out: Path, doc: dict[str, Any], cells: list[Any]) -> Path:
    """Write report.html next to results.json."""
    path = out / "report.html"
    path.write_text(render(doc, cells), encoding="utf-8")
    return path
