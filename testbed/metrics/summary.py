"""Per-cell aggregates of call and flow records: the numbers the table and expect: use.

Definitions (RFC 6076 where it has one):
- success_pct: call intents (after retries) that ended in a completed call, out of
  those not ended by the callee not answering.
- asr_pct: answered attempts (the callee picked up: completed, no media, dropped) / attempts.
  Our calls see no redirects, so RFC 6076 SER equals ASR here.
- seer_pct: RFC 6076 SEER: answered or user-caused (no answer) / attempts.
- hit_pct: VoIP call attempts that a policy action hit.
- collateral_pct: non-VoIP flows (web, game, chat) that a policy action hit.
- median_ttb_ms / _packets: time-to-block from the first packet of the flow that was hit.
"""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any

from testbed.traffic.apps import PROFILES
from testbed.workload.records import CAPACITY, COMPLETED, DROPPED, NO_ANSWER, NO_MEDIA, CallRecord, FlowRecord

ANSWERED = (COMPLETED, NO_MEDIA, DROPPED)


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 2) if whole else None


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def _success(calls: list[CallRecord]) -> float | None:
    """Share of intents completed, out of intents not ended by no-answer."""
    last: dict[int, str] = {}
    for c in calls:
        last[c.intent_id] = c.outcome if last.get(c.intent_id) != COMPLETED else COMPLETED
    counted = [o for o in last.values() if o != NO_ANSWER]
    return _pct(sum(o == COMPLETED for o in counted), len(counted))


def summarize(calls: list[CallRecord], flows: list[FlowRecord], subscribers: int, adopters: int) -> dict[str, Any]:
    attempts = len(calls)
    completed = [c for c in calls if c.outcome == COMPLETED]
    hit = [c for c in calls if c.ttb_packets > 0]
    signalled = [c for c in calls if c.outcome != "signalling-blocked"]
    non_voip = [f for f in flows if f.category != "VoIP"]
    ott = [c for c in calls if c.app != "sip"]
    summary = {
        "intents": len({c.intent_id for c in calls}),
        "attempts": attempts,
        "success_pct": _success(calls),
        "asr_pct": _pct(sum(c.outcome in ANSWERED for c in calls), attempts),
        "ser_pct": _pct(sum(c.outcome in ANSWERED for c in calls), attempts),
        "seer_pct": _pct(sum(c.outcome in ANSWERED or c.outcome == NO_ANSWER for c in calls), attempts),
        "median_mos": _median([c.mos for c in completed]),
        "median_pdd_ms": _median([c.pdd_ms for c in signalled]),
        "mean_loss_pct": round(statistics.fmean(c.loss_pct for c in completed), 3) if completed else None,
        "hit_pct": _pct(len(hit), attempts),
        "median_ttb_ms": _median([c.ttb_ms for c in hit]),
        "median_ttb_packets": _median([float(c.ttb_packets) for c in hit]),
        "flows": len(flows),
        "collateral_pct": _pct(sum(f.action != "allow" for f in non_voip), len(non_voip)),
        "capacity_blocked_pct": _pct(sum(c.outcome == CAPACITY for c in calls), attempts),
        "adopters_pct": _pct(adopters, subscribers),
        "ott_success_pct": _success(ott),
        "operator_success_pct": _success([c for c in calls if c.app == "sip"]),
    }
    return summary


def per_app(calls: list[CallRecord], flows: list[FlowRecord]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for app in PROFILES:
        mine = [c for c in calls if c.app == app]
        if mine:
            out[app] = {"intents": len({c.intent_id for c in mine}), "attempts": len(mine),
                        "success_pct": _success(mine),
                        "hit_pct": _pct(sum(c.ttb_packets > 0 for c in mine), len(mine)),
                        "median_mos": _median([c.mos for c in mine if c.outcome == COMPLETED]),
                        "dpi_apps": dict(sorted(Counter(c.dpi_app or "-" for c in mine).items()))}
        theirs = [f for f in flows if f.app == app]
        if theirs:
            out[app] = {"flows": len(theirs),
                        "hit_pct": _pct(sum(f.action != "allow" for f in theirs), len(theirs)),
                        "dpi_apps": dict(sorted(Counter(f.dpi_app or "-" for f in theirs).items()))}
    return out


def outcomes(calls: list[CallRecord]) -> dict[str, int]:
    return dict(sorted(Counter(c.outcome for c in calls).items()))
