"""The probe verdicts as a table: per cell (and operator), per app, ``OONI / call``; ≠ where they disagree."""

from __future__ import annotations

from typing import Any

DISAGREE = "≠"


def verdict_text(p: dict[str, Any]) -> str:
    """``accessible / no media ≠``: what an OONI-like test and a short call concluded."""
    text = f"{p.get('ooni') or '–'} / {p['call']}"
    return f"{text} {DISAGREE}" if p.get("disagree") else text


def rows(cells: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """(header, rows) over cells given as ``{policy, circumvention, [phase], probes: [AppProbe dicts]}``."""
    apps = list(dict.fromkeys(p["app"] for c in cells for p in c.get("probes", ())))
    operators = list(dict.fromkeys(p["operator"] for c in cells for p in c.get("probes", ())))
    phased = any(c.get("phase") for c in cells)
    header = ["policy", "circumvention"] + (["phase"] if phased else []) + (["operator"] if len(operators) > 1 else [])
    out = []
    for c in cells:
        for op in operators:
            found = {p["app"]: p for p in c.get("probes", ()) if p["operator"] == op}
            if not found:
                continue
            row = [c["policy"], c["circumvention"]] + ([str(c.get("phase") or "")] if phased else [])
            row += [op] if len(operators) > 1 else []
            out.append(row + [verdict_text(found[a]) if a in found else "" for a in apps])
    return header + apps, out


def render(cells: list[dict[str, Any]]) -> str:
    """The text block the terminal (and the golden summaries) show; empty without probes."""
    header, body = rows(cells)
    if not body:
        return ""
    widths = [max(len(r[i]) for r in [header] + body) for i in range(len(header))]

    def line(cols: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cols, widths)).rstrip()

    note = ("probes per app: an OONI-like test (DNS, TCP, TLS: accessible, blocked; – no OONI test for the app)\n"
            f"  / a short call (call ok, no media, degraded: MOS < 3.1, blocked); {DISAGREE} where they disagree")
    return "\n".join([note, "", line(header), "  ".join("-" * w for w in widths)] + [line(r) for r in body]) + "\n"
