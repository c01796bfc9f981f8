"""Per-cell aggregates of call and flow records: the numbers the table and expect: use.

Definitions (RFC 6076 where it has one):
- success_pct: call intents (after retries) that ended in a completed call, out of
  those not ended by the users: the callee not answering, the caller already busy.
- asr_pct: answered attempts (the callee picked up, whatever came after: completed,
  no media, dropped, reset) / attempts. Our calls see no redirects, so RFC 6076 SER
  equals ASR here.
- seer_pct: RFC 6076 SEER: answered or user-caused (no answer, busy) / attempts.
- median_mos, p10_mos: the median MOS of completed calls, and the MOS of their worst
  tenth (the 10th percentile): a degrade or a lossy tunnel shows there first.
- hit_pct: VoIP call attempts that a policy action hit (drop, reset, throttle, degrade).
- collateral_pct: non-VoIP flows (web, game, chat) that a policy action hit.
- median_ttb_ms / _packets: time-to-block of the calls a drop or reset hit: the flow's first
  packet the DPI did not pass (both directions counted), and its time after the flow's first.
"""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any

from testbed.call.records import CAPACITY, COMPLETED, USER_CAUSED, CallRecord, FlowRecord
from testbed.policy.model import ALLOW
from testbed.traffic.apps import PROFILES


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 2) if whole else None


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def _p10(values: list[float]) -> float | None:
    """The 10th percentile (nearest rank): the worst tenth's best."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, -(-len(ordered) // 10) - 1)], 3)


class _Group:
    """Running tallies for one group of call attempts (all, OTT, operator, one app)."""

    __slots__ = ("attempts", "answered", "user_caused", "capacity", "hit", "mos", "loss", "pdd", "ttb_ms",
                 "ttb_packets", "final", "dpi_apps")

    def __init__(self) -> None:
        self.attempts = self.answered = self.user_caused = self.capacity = self.hit = 0
        self.mos: list[float] = []
        self.loss: list[float] = []
        self.pdd: list[float] = []
        self.ttb_ms: list[float] = []
        self.ttb_packets: list[float] = []
        self.final: dict[int, str] = {}  # intent → its last outcome (completed sticks)
        self.dpi_apps: Counter[str] = Counter()

    def add(self, c: CallRecord) -> None:
        outcome = c.outcome
        self.attempts += 1
        if c.answered:
            self.answered += 1
        elif outcome in USER_CAUSED:
            self.user_caused += 1
        elif outcome == CAPACITY:
            self.capacity += 1
        if outcome == COMPLETED:
            self.mos.append(c.mos)
            self.loss.append(c.loss_pct)
        if c.pdd_ms is not None:
            self.pdd.append(c.pdd_ms)
        if c.action != ALLOW:
            self.hit += 1
        if c.ttb_packets:
            self.ttb_ms.append(c.ttb_ms)
            self.ttb_packets.append(c.ttb_packets)
        if self.final.get(c.intent_id) != COMPLETED:
            self.final[c.intent_id] = outcome
        self.dpi_apps[c.dpi_app or "-"] += 1

    def merged(self, other: _Group) -> _Group:
        """A group holding both (apps have disjoint intents)."""
        out = _Group()
        for name in ("attempts", "answered", "user_caused", "capacity", "hit"):
            setattr(out, name, getattr(self, name) + getattr(other, name))
        for name in ("mos", "loss", "pdd", "ttb_ms", "ttb_packets"):
            setattr(out, name, getattr(self, name) + getattr(other, name))
        out.final = {**self.final, **other.final}
        out.dpi_apps = self.dpi_apps + other.dpi_apps
        return out

    def success(self) -> float | None:
        """Share of intents completed, out of intents not ended by the users (no answer, busy)."""
        counted = [o for o in self.final.values() if o not in USER_CAUSED]
        return _pct(sum(o == COMPLETED for o in counted), len(counted))


def _groups(calls: list[CallRecord]) -> dict[str, _Group]:
    """One group per app, plus "ott", "operator" and "all" merged from them."""
    groups: dict[str, _Group] = {}
    for c in calls:
        group = groups.get(c.app)
        if group is None:
            group = groups[c.app] = _Group()
        group.add(c)
    ott, operator = _Group(), _Group()
    for app, group in list(groups.items()):
        if PROFILES[app].ott:
            ott = ott.merged(group)
        else:
            operator = operator.merged(group)
    groups.update(ott=ott, operator=operator, all=ott.merged(operator))
    return groups


def _summary(groups: dict[str, _Group], flows: list[FlowRecord], subscribers: int, adopters: int) -> dict[str, Any]:
    g = groups["all"]
    non_voip = [f for f in flows if f.category != "VoIP"]
    return {
        "intents": len(g.final),
        "attempts": g.attempts,
        "success_pct": g.success(),
        "asr_pct": _pct(g.answered, g.attempts),
        "ser_pct": _pct(g.answered, g.attempts),
        "seer_pct": _pct(g.answered + g.user_caused, g.attempts),
        "median_mos": _median(g.mos),
        "p10_mos": _p10(g.mos),
        "median_pdd_ms": _median(g.pdd),
        "mean_loss_pct": round(statistics.fmean(g.loss), 3) if g.loss else None,
        "hit_pct": _pct(g.hit, g.attempts),
        "median_ttb_ms": _median(g.ttb_ms),
        "median_ttb_packets": _median(g.ttb_packets),
        "flows": len(flows),
        "collateral_pct": _pct(sum(f.action != "allow" for f in non_voip), len(non_voip)),
        "capacity_blocked_pct": _pct(g.capacity, g.attempts),
        "adopters_pct": _pct(adopters, subscribers),
        "ott_success_pct": groups["ott"].success(),
        "operator_success_pct": groups["operator"].success(),
    }


def _per_app(groups: dict[str, _Group], flows: list[FlowRecord]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for app in PROFILES:
        if app in groups:
            g = groups[app]
            out[app] = {"intents": len(g.final), "attempts": g.attempts, "success_pct": g.success(),
                        "asr_pct": _pct(g.answered, g.attempts), "hit_pct": _pct(g.hit, g.attempts),
                        "median_mos": _median(g.mos), "p10_mos": _p10(g.mos),
                        "dpi_apps": dict(sorted(g.dpi_apps.items()))}
        theirs = [f for f in flows if f.app == app]
        if theirs:
            out[app] = {"flows": len(theirs),
                        "hit_pct": _pct(sum(f.action != "allow" for f in theirs), len(theirs)),
                        "dpi_apps": dict(sorted(Counter(f.dpi_app or "-" for f in theirs).items()))}
    return out


def aggregate(calls: list[CallRecord], flows: list[FlowRecord], subscribers: int,
              adopters: int) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """(summary, per_app) in one pass over the calls."""
    groups = _groups(calls)
    return _summary(groups, flows, subscribers, adopters), _per_app(groups, flows)


def outcomes(calls: list[CallRecord]) -> dict[str, int]:
    return dict(sorted(Counter(c.outcome for c in calls).items()))
