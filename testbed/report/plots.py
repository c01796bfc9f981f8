"""The report's plots, each a PNG as base64 (pure: data in, image out; matplotlib's Agg, no display).

Every series differs by line style and marker as well as colour, so the plots read in
greyscale and for colour-blind readers. Series over time come from the call records:

- call success: of the call intents begun in a time bin, those completed, out of those the
  users did not end themselves (no answer, busy) — ``success %``'s definition, over time;
- adoption: the share of subscribers whose latest call so far went through the
  circumvention (they switched; with ``forget_after_s``, they may switch back).
"""

from __future__ import annotations

import base64
import io
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from testbed.call.records import COMPLETED, USER_CAUSED

LINES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D", "v", "x", "P", "*")
BINS = 30


def styles() -> Iterator[tuple[str, str]]:
    """(line style, marker) pairs, none repeated before 32."""
    for k in itertools.count():
        yield LINES[k % len(LINES)], MARKERS[(k // len(LINES) + k) % len(MARKERS)]


@dataclass(frozen=True)
class Series:
    label: str
    xs: tuple[float, ...]
    ys: tuple[float | None, ...]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png(fig: Any) -> str:
    plt = _pyplot()
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def success_over_time(calls: Sequence[Any], end_s: float, bins: int = BINS) -> Series:
    """Call success % per time bin, intents by the start of their first attempt."""
    began: dict[int, float] = {}
    final: dict[int, str] = {}
    for c in calls:
        began[c.intent_id] = min(began.get(c.intent_id, c.t_start), c.t_start)
        if final.get(c.intent_id) != COMPLETED:
            final[c.intent_id] = c.outcome
    width = max(end_s, 1e-9) / bins
    done, counted = [0] * bins, [0] * bins
    for intent, outcome in final.items():
        if outcome in USER_CAUSED:
            continue
        b = min(bins - 1, int(began[intent] / width))
        counted[b] += 1
        done[b] += outcome == COMPLETED
    return Series("", tuple((i + 0.5) * width for i in range(bins)),
                  tuple(100 * d / n if n else None for d, n in zip(done, counted)))


def adoption_over_time(calls: Sequence[Any], subscribers: int, end_s: float, bins: int = BINS) -> Series:
    """% of subscribers whose latest call attempt by the end of each bin went through a circumvention."""
    width = max(end_s, 1e-9) / bins
    latest: dict[int, str] = {}
    ordered = sorted(calls, key=lambda c: c.t_start)
    ys, k = [], 0
    for b in range(bins):
        edge = (b + 1) * width
        while k < len(ordered) and ordered[k].t_start < edge:
            latest[ordered[k].subscriber] = ordered[k].strategy
            k += 1
        ys.append(100 * sum(s != "none" for s in latest.values()) / subscribers if subscribers else None)
    return Series("", tuple((b + 1) * width for b in range(bins)), tuple(ys))


def _lines(ax: Any, series: Sequence[Series]) -> None:
    for s, (line, marker) in zip(series, styles()):
        ax.plot(s.xs, [float("nan") if y is None else y for y in s.ys], linestyle=line, marker=marker,
                markersize=4, markevery=max(1, len(s.xs) // 10), label=s.label)


def timeline(success: Sequence[Series], adoption: Sequence[Series], phases: Sequence[tuple[float, str]]) -> str:
    """Call success and adoption over the run, one line per cell, a dashed marker and date per phase."""
    plt = _pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(9, 6))
    _lines(top, success)
    _lines(bottom, adoption)
    top.set_ylabel("call success %")
    top.set_ylim(-3, 103)
    bottom.set_ylabel("adoption %\n(subscribers)")
    bottom.set_ylim(0, max([5.0] + [y * 1.1 for s in adoption for y in s.ys if y is not None]))
    bottom.set_xlabel("simulated time (s)")
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
        for at, _ in phases:
            ax.axvline(at, color="0.35", linestyle=(0, (4, 3)), linewidth=1)
    ymax = top.get_ylim()[1]
    for at, date in phases:
        top.text(at, ymax, f" {date}", rotation=90, va="top", ha="left", fontsize=7, color="0.25")
    top.set_title("Call success and adoption over time" + (" (dashed: phases)" if phases else ""))
    top.legend(fontsize=7, loc="lower left")
    return png(fig)


def mos_cdf(samples: Sequence[tuple[str, Sequence[float]]]) -> str:
    """The MOS of completed calls, one empirical CDF per cell."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 4))
    for (label, values), (line, marker) in zip(samples, styles()):
        if not values:
            continue
        xs = sorted(values)
        ys = [100 * (i + 1) / len(xs) for i in range(len(xs))]
        ax.plot(xs, ys, drawstyle="steps-post", linestyle=line, marker=marker, markersize=4,
                markevery=max(1, len(xs) // 8), label=f"{label} (n={len(xs)})")
    ax.axvline(3.1, color="0.4", linestyle=":", linewidth=1)
    ax.text(3.1, 2, " MOS 3.1: nearly all users dissatisfied below (G.107)", fontsize=7, color="0.3")
    ax.set_xlim(1, 4.6)
    ax.set_ylim(0, 101)
    ax.set_xlabel("MOS (E-model) of completed calls")
    ax.set_ylabel("% of calls at or below")
    ax.set_title("Call quality per cell (CDF)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    return png(fig)


def bars(title: str, labels: Sequence[str], groups: Sequence[tuple[str, Sequence[float]]], ylabel: str) -> str:
    """Grouped bars, each group hatched differently (not colour alone)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(labels)), 3.6))
    width = 0.8 / max(1, len(groups))
    hatches = ("", "//", "..", "xx", "\\\\")
    for k, (name, values) in enumerate(groups):
        ax.bar([i + k * width for i in range(len(labels))], values, width, label=name, hatch=hatches[k % len(hatches)],
               edgecolor="black", linewidth=0.5)
    ax.set_xticks([i + width * (len(groups) - 1) / 2 for i in range(len(labels))], labels, fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return png(fig)
