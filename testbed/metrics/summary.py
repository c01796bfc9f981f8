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

A ``Tally`` takes the records one by one as calls and flows end, and keeps only what
these numbers need, exactly: counts; the values that repeat (MOS, time-to-block) as
counts by value; the loss's exact running sum (an integer count of 2^-64); the post-dial
delays, which carry each call's queueing and do not repeat, as 8-byte floats; and the last
outcome of the intents still going. A run need not keep its records, then (``testbed run
--no-csv --no-html``).
"""

from __future__ import annotations

import heapq
import itertools
import math
import statistics
from array import array
from collections import Counter
from collections.abc import Iterable
from typing import Any

from testbed.call.records import CAPACITY, COMPLETED, USER_CAUSED, CallRecord, FlowRecord
from testbed.policy.model import ALLOW
from testbed.traffic.apps import PROFILES

LOSS_EXPONENT = 64
LOSS_UNITS = 2.0 ** LOSS_EXPONENT   # a loss rounded to 0.001 is a whole number of 2^-64: summed as an int
SORT_CHUNK = 65536   # post-dial delays sorted this many at a time (the median's working memory)

Counts = dict[Any, int]   # value → how many times it came


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 2) if whole else None


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def _p10_rank(n: int) -> int:
    """The 10th percentile's rank (nearest rank, from 0)."""
    return max(0, -(-n // 10) - 1)


def _p10(values: list[float]) -> float | None:
    """The 10th percentile (nearest rank): the worst tenth's best."""
    if not values:
        return None
    return round(sorted(values)[_p10_rank(len(values))], 3)


def _at_ranks(ordered: Iterable[Any], ranks: list[int]) -> list[Any]:
    """The values at ``ranks`` (ascending, from 0) of an ascending iteration."""
    out, todo = [], iter(ranks)
    want = next(todo, None)
    for i, value in enumerate(ordered):
        while want == i:
            out.append(value)
            want = next(todo, None)
        if want is None:
            break
    return out


def _expand(counts: Counts) -> Iterable[Any]:
    """The counted values, ascending, each as many times as it came."""
    return itertools.chain.from_iterable(itertools.repeat(v, counts[v]) for v in sorted(counts))


def _median_of(ordered: Iterable[Any], n: int) -> float | None:
    """``statistics.median`` of ``n`` values given in ascending order, rounded like ``_median``."""
    if not n:
        return None
    if n % 2:
        return round(_at_ranks(ordered, [n // 2])[0], 3)
    low, high = _at_ranks(ordered, [n // 2 - 1, n // 2])
    return round((low + high) / 2, 3)


def _counted_median(counts: Counts) -> float | None:
    return _median_of(_expand(counts), sum(counts.values()))


def _counted_p10(counts: Counts) -> float | None:
    n = sum(counts.values())
    return round(_at_ranks(_expand(counts), [_p10_rank(n)])[0], 3) if n else None


def _as_floats(whole: int, exponent: int) -> list[float]:
    """``whole × 2**exponent`` as floats whose exact sum it is (each takes the next 53 bits)."""
    out = []
    while whole:
        hi = float(whole)
        out.append(math.ldexp(hi, exponent))
        whole -= int(hi)
    return out


def _sorted_merge(chunks: list[array]) -> Iterable[float]:
    """The values of ``chunks`` ascending, sorting them in place a slice at a time and merging
    the slices lazily: no sorted copy of them all."""
    slices = []
    for chunk in chunks:
        for start in range(0, len(chunk), SORT_CHUNK):
            chunk[start:start + SORT_CHUNK] = array("d", sorted(chunk[start:start + SORT_CHUNK]))
            slices.append(memoryview(chunk)[start:start + SORT_CHUNK])
    return heapq.merge(*slices)


def _count(counts: Counts, value: Any, k: int = 1) -> None:
    counts[value] = counts.get(value, 0) + k


class _Group:
    """The tallies of one group of call attempts (all, OTT, operator, one app)."""

    __slots__ = ("attempts", "answered", "user_caused", "capacity", "hit", "mos", "ttb_ms", "ttb_packets",
                 "intents", "counted", "completed", "dpi_apps", "outcomes")

    def __init__(self) -> None:
        self.attempts = self.answered = self.user_caused = self.capacity = self.hit = 0
        self.mos: Counts = {}              # of completed calls
        self.ttb_ms: Counts = {}
        self.ttb_packets: Counts = {}
        self.intents = self.counted = self.completed = 0   # intents; not ended by the users; completed
        self.dpi_apps: Counts = {}
        self.outcomes: Counts = {}

    def add(self, kind: _Kind, k: int) -> None:
        """``k`` records of one kind."""
        _app, _strategy, outcome, answered, mos, dpi_app, action, _rule, ttb_packets, ttb_ms, final = kind
        self.attempts += k
        if answered:
            self.answered += k
        elif outcome in USER_CAUSED:
            self.user_caused += k
        elif outcome == CAPACITY:
            self.capacity += k
        if outcome == COMPLETED:
            _count(self.mos, mos, k)
        if action != ALLOW:
            self.hit += k
        if ttb_packets:
            _count(self.ttb_ms, ttb_ms, k)
            _count(self.ttb_packets, ttb_packets, k)
        if final:
            self.end(final, k)
        _count(self.dpi_apps, dpi_app or "-", k)
        _count(self.outcomes, outcome, k)

    def end(self, final: str, k: int = 1) -> None:
        """``k`` intents over, with this outcome."""
        self.intents += k
        if final not in USER_CAUSED:
            self.counted += k
            if final == COMPLETED:
                self.completed += k

    def merged(self, other: _Group) -> _Group:
        """A group holding both (apps have disjoint intents)."""
        out = _Group()
        for name in ("attempts", "answered", "user_caused", "capacity", "hit", "intents", "counted", "completed"):
            setattr(out, name, getattr(self, name) + getattr(other, name))
        for name in ("mos", "ttb_ms", "ttb_packets", "dpi_apps", "outcomes"):
            setattr(out, name, dict(Counter(getattr(self, name)) + Counter(getattr(other, name))))
        return out

    def success(self) -> float | None:
        """Share of intents completed, out of intents not ended by the users (no answer, busy)."""
        return _pct(self.completed, self.counted)


# a kind of record: its fields (app, strategy, outcome, answered) and (mos, dpi_app, action, rule, ttb_packets,
# ttb_ms), sliced from it, and final: the intent's outcome if the record ends it, else ""
_Kind = tuple[str, str, str, bool, float, str, str, str, int, float, str]
assert CallRecord._fields[6:10] == ("app", "strategy", "outcome", "answered")
assert CallRecord._fields[17:] == ("mos", "dpi_app", "action", "rule", "ttb_packets", "ttb_ms")


class Tally:
    """A cell's aggregates, fed record by record: each call record counted by its kind (what the
    numbers need of it but its post-dial delay), so a record costs one count, whatever it is."""

    def __init__(self) -> None:
        self.kinds: dict[_Kind, list[int]] = {}   # kind → [its count]
        self.pdd = array("d")
        self.loss_sum = 0                            # completed calls' loss, in 2^-64 (exact: an int)
        self.loss_rest: list[float] = []             # any finer than 2^-64 (none is: rounded to 0.001)
        self.open: dict[int, tuple[str, str]] = {}   # intent → (app, outcome so far, completed sticking), while it may go on
        self.flows = self.non_voip = self.non_voip_hit = 0
        self.flow_apps: dict[str, tuple[int, int, Counts]] = {}   # app → (flows, hit, DPI names)
        self.flow_rules: Counts = {}

    def call(self, c: CallRecord, last: bool = False) -> None:
        """One attempt's record; ``last``: its intent is over. Without ``last`` an intent's outcome
        is kept until the end (which is right, only bigger)."""
        outcome = final = c.outcome
        if self.open:
            before = self.open.pop(c.intent_id, None)
            if before is not None and before[1] == COMPLETED:
                final = COMPLETED
        if not last:
            self.open[c.intent_id] = (c.app, final)
            final = ""
        kind = c[6:10] + c[17:] + (final,)   # the fields the asserts above name
        count = self.kinds.get(kind)   # a cell, so that a known kind costs one lookup
        if count is None:
            self.kinds[kind] = [1]
        else:
            count[0] += 1
        if c.pdd_ms is not None:
            self.pdd.append(c.pdd_ms)
        if outcome == COMPLETED:
            scaled = c.loss_pct * LOSS_UNITS
            whole = int(scaled)
            if whole == scaled:
                self.loss_sum += whole
            else:
                self.loss_rest.append(c.loss_pct)

    def flow(self, f: FlowRecord) -> None:
        self.flows += 1
        hit = f.action != "allow"
        if f.category != "VoIP":
            self.non_voip += 1
            self.non_voip_hit += hit
        n, hits, names = self.flow_apps.get(f.app) or (0, 0, {})
        _count(names, f.dpi_app or "-")
        self.flow_apps[f.app] = (n + 1, hits + hit, names)
        if f.rule:
            _count(self.flow_rules, f.rule)

    def rule_hits(self) -> dict[str, dict[str, int]]:
        """``{rule label: {"calls": n, "flows": m}}``: the call attempts and non-VoIP flows each rule decided."""
        calls: Counter[str] = Counter()
        for kind, (k,) in self.kinds.items():
            if kind[7]:
                calls[kind[7]] += k
        flows = Counter(self.flow_rules)
        return {label: {"calls": calls[label], "flows": flows[label]} for label in sorted(calls | flows)}

    def _apps(self) -> dict[str, _Group]:
        groups: dict[str, _Group] = {}
        for kind, (k,) in self.kinds.items():
            group = groups.get(kind[0])
            if group is None:
                group = groups[kind[0]] = _Group()
            group.add(kind, k)
        for app, outcome in self.open.values():
            groups[app].end(outcome)
        return groups

    def outcomes(self) -> dict[str, int]:
        """Attempts by outcome, by name."""
        counts: Counter[str] = Counter()
        for kind, (k,) in self.kinds.items():
            counts[kind[2]] += k
        return dict(sorted(counts.items()))

    def completed_mos(self) -> list[float]:
        """Every completed call's MOS (ascending), for the report's plots."""
        counts: Counter[float] = Counter()
        for kind, (k,) in self.kinds.items():
            if kind[2] == COMPLETED:
                counts[kind[4]] += k
        return list(_expand(counts))

    def loss_total(self) -> float:
        """The completed calls' loss summed: the exact sum, rounded once (``math.fsum``'s)."""
        return math.fsum(_as_floats(self.loss_sum, -LOSS_EXPONENT) + self.loss_rest)

    def median_pdd(self) -> float | None:
        return _median_of(_sorted_merge([self.pdd]), len(self.pdd))

    def result(self, subscribers: int, adopters: int) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        """(summary, per_app)."""
        apps = self._apps()
        ott, operator = _Group(), _Group()
        for app, group in apps.items():
            if PROFILES[app].ott:
                ott = ott.merged(group)
            else:
                operator = operator.merged(group)
        g = ott.merged(operator)
        completed = g.outcomes.get(COMPLETED, 0)
        summary = {
            "intents": g.intents,
            "attempts": g.attempts,
            "success_pct": g.success(),
            "asr_pct": _pct(g.answered, g.attempts),
            "ser_pct": _pct(g.answered, g.attempts),
            "seer_pct": _pct(g.answered + g.user_caused, g.attempts),
            "median_mos": _counted_median(g.mos),
            "p10_mos": _counted_p10(g.mos),
            "median_pdd_ms": self.median_pdd(),
            "mean_loss_pct": round(self.loss_total() / completed, 3) if completed else None,
            "hit_pct": _pct(g.hit, g.attempts),
            "median_ttb_ms": _counted_median(g.ttb_ms),
            "median_ttb_packets": _counted_median(g.ttb_packets),
            "flows": self.flows,
            "collateral_pct": _pct(self.non_voip_hit, self.non_voip),
            "capacity_blocked_pct": _pct(g.capacity, g.attempts),
            "adopters_pct": _pct(adopters, subscribers),
            "ott_success_pct": ott.success(),
            "operator_success_pct": operator.success(),
        }
        per_app: dict[str, dict[str, Any]] = {}
        for app in PROFILES:
            if app in apps:
                a = apps[app]
                per_app[app] = {"intents": a.intents, "attempts": a.attempts, "success_pct": a.success(),
                                "asr_pct": _pct(a.answered, a.attempts), "hit_pct": _pct(a.hit, a.attempts),
                                "median_mos": _counted_median(a.mos), "p10_mos": _counted_p10(a.mos),
                                "dpi_apps": dict(sorted(a.dpi_apps.items()))}
            if app in self.flow_apps:
                n, hits, names = self.flow_apps[app]
                per_app[app] = {"flows": n, "hit_pct": _pct(hits, n), "dpi_apps": dict(sorted(names.items()))}
        return summary, per_app


def aggregate(calls: list[CallRecord], flows: list[FlowRecord], subscribers: int,
              adopters: int) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """(summary, per_app) of lists of records."""
    tally = Tally()
    for c in calls:
        tally.call(c)
    for f in flows:
        tally.flow(f)
    return tally.result(subscribers, adopters)


def outcomes(calls: list[CallRecord]) -> dict[str, int]:
    return dict(sorted(Counter(c.outcome for c in calls).items()))
