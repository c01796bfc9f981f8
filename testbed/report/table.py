"""The terminal comparison table: policies × circumventions."""

from __future__ import annotations

from typing import Any

COLUMNS = (
    ("policy", "policy", "{}"),
    ("circumvention", "circumvention", "{}"),
    ("success_pct", "success %", "{:.1f}"),
    ("ott_success_pct", "OTT ok %", "{:.1f}"),
    ("asr_pct", "ASR %", "{:.1f}"),
    ("median_mos", "MOS", "{:.2f}"),
    ("p10_mos", "p10 MOS", "{:.2f}"),
    ("median_pdd_ms", "PDD ms", "{:.0f}"),
    ("hit_pct", "hit %", "{:.1f}"),
    ("median_ttb_ms", "TTB ms", "{:.0f}"),
    ("median_ttb_packets", "TTB pkt", "{:.0f}"),
    ("collateral_pct", "collat. %", "{:.1f}"),
    ("adopters_pct", "adopt %", "{:.1f}"),
)


def _cell(value: Any, fmt: str) -> str:
    return "–" if value is None else fmt.format(value)


def render(rows: list[dict[str, Any]], skip: tuple[str, ...] = ()) -> str:
    """Rows of ``{policy, circumvention, **summary}`` as an aligned text table (``skip``: columns left out)."""
    columns = [c for c in COLUMNS if c[0] not in skip]
    header = [title for _, title, _ in columns]
    body = [[_cell(row.get(key), fmt) for key, _, fmt in columns] for row in rows]
    widths = [max(len(r[i]) for r in [header] + body) for i in range(len(header))]
    left = [key in ("policy", "circumvention") for key, _, _ in columns]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if left[i] else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule] + [line(r) for r in body])
