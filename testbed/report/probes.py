"""The probe verdicts as a table: per cell (and phase), per app, ``OONI / call``; ≠ where they disagree.

Probes run from each operator's mobile and fixed lines; where they all found the same, a
cell is one row (``where`` empty), else a row per operator and line.
"""

from __future__ import annotations

from typing import Any

DISAGREE = "≠"
LEGEND = ("probes per app: an OONI-like test (DNS, TCP, TLS: accessible, blocked; – no OONI test for the app)\n"
          f"  / a short call (call ok, no media, degraded: MOS < 3.1, blocked); {DISAGREE} where they disagree")


def verdict_text(p: dict[str, Any]) -> str:
    """``accessible / no media ≠``: what an OONI-like test and a short call concluded."""
    text = f"{p.get('ooni') or '–'} / {p['call']}"
    return f"{text} {DISAGREE}" if p.get("disagree") else text


def _where(p: dict[str, Any]) -> tuple[str, str]:
    return p["operator"], p.get("access", "")


def group_label(group: list[tuple[str, str]], wheres: list[tuple[str, str]]) -> str:
    """Where a set of probes found the same, shortly: ``mobile`` (every operator's mobile lines),
    ``iam`` (both of its lines), ``inwi fixed``; several joined by commas."""
    accesses = list(dict.fromkeys(w[1] for w in wheres))
    operators = list(dict.fromkeys(w[0] for w in wheres))
    for access in accesses:
        if len(accesses) > 1 and set(group) == {w for w in wheres if w[1] == access}:
            return access
    parts = []
    for op in operators:
        mine = [w for w in wheres if w[0] == op]
        if set(mine) <= set(group):
            parts.append(op if len(operators) > 1 else "all")
        else:
            parts += [" ".join(x for x in (op if len(operators) > 1 else "", w[1]) if x) for w in mine if w in group]
    return ", ".join(parts)


def groups(probes: list[dict[str, Any]], apps: list[str],
           wheres: list[tuple[str, str]]) -> list[tuple[str, tuple[str, ...], list[dict[str, Any]]]]:
    """The probe hosts (``wheres``) that found the same, each group as (label, its verdicts per app,
    the probes of its first host); the label is empty when all found the same."""
    found: dict[tuple[str, ...], list[tuple[str, str]]] = {}
    first: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for w in wheres:
        mine = {p["app"]: p for p in probes if _where(p) == w}
        if mine:
            verdicts = tuple(verdict_text(mine[a]) if a in mine else "" for a in apps)
            found.setdefault(verdicts, []).append(w)
            first.setdefault(verdicts, list(mine.values()))
    return [(group_label(g, wheres) if len(found) > 1 else "", v, first[v]) for v, g in found.items()]


def rows(cells: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """(header, rows) over cells given as ``{policy, circumvention, [phase], probes: [AppProbe dicts]}``:
    a row per cell where every probe host found the same, else a row per group that did."""
    apps = list(dict.fromkeys(p["app"] for c in cells for p in c.get("probes", ())))
    phased = any(c.get("phase") for c in cells)
    wheres = list(dict.fromkeys(_where(p) for c in cells for p in c.get("probes", ())))
    out = []
    for c in cells:
        lead = [c["policy"], c["circumvention"]] + ([str(c.get("phase") or "")] if phased else [])
        for label, verdicts, _ in groups(list(c.get("probes", ())), apps, wheres):
            out.append(lead + ([label] if len(wheres) > 1 else []) + list(verdicts))
    header = ["policy", "circumvention"] + (["phase"] if phased else []) + (["where"] if len(wheres) > 1 else [])
    return header + apps, out


def render(cells: list[dict[str, Any]]) -> str:
    """The text block the terminal (and the golden summaries) show; empty without probes."""
    header, body = rows(cells)
    if not body:
        return ""
    widths = [max(len(r[i]) for r in [header] + body) for i in range(len(header))]

    def line(cols: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cols, widths)).rstrip()

    return "\n".join([LEGEND, "", line(header), "  ".join("-" * w for w in widths)] + [line(r) for r in body]) + "\n"
