"""The call probe: what no measurement tool does — place a short call per app and measure it.

The call goes through the workload's own path (``testbed.call.calls.Calls`` on the cell's
network): the app's real opening bytes through the DPI, then media for ``HOLD_S`` seconds,
answered by the far end. Its verdict:

- ``blocked``: the call never connected (signalling unanswered, reset before the answer,
  no relay slot);
- ``no media``: it connected (the far end answered) but no media came through (dropped, or
  reset after the answer) — the Morocco 2016 symptom: calls ring, connect, then silence;
- ``degraded``: media flowed, at an E-model MOS below ``DEGRADED_MOS``, or so lossy the app
  hung up;
- ``call ok``: media flowed at a MOS users accept.

``DEGRADED_MOS`` = 3.1 is R = 60 (ITU-T G.107 Annex B, G.109): below it "nearly all users
dissatisfied"; above it users are at most "many dissatisfied".
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy

from testbed.call.calls import Carrier
from testbed.call.model import Delivery
from testbed.call.plan import CallPlan
from testbed.call.records import COMPLETED, DROPPED, NO_MEDIA, RESET, CallRecord

CALL_OK, NO_MEDIA_VERDICT, DEGRADED, BLOCKED = "call ok", "no media", "degraded", "blocked"
DEGRADED_MOS = 3.1
HOLD_S = 6.0       # long enough for a few hundred media packets each way, short enough to repeat per cell


def call_verdict(rec: CallRecord) -> str:
    if rec.outcome in (COMPLETED, DROPPED):
        return DEGRADED if rec.outcome == DROPPED or rec.mos < DEGRADED_MOS else CALL_OK
    if rec.answered and rec.outcome in (NO_MEDIA, RESET):
        return NO_MEDIA_VERDICT
    return BLOCKED


class Recording:
    """A carrier that remembers what it delivered for each call (the DPI's decisions and why),
    and otherwise is the cell's network."""

    def __init__(self, inner: Carrier) -> None:
        self.inner, self.planner = inner, inner.planner
        self.deliveries: dict[int, Delivery] = {}

    def carry(self, env: simpy.Environment, plan: CallPlan) -> Generator[Any, Any, Delivery]:
        d = yield from self.inner.carry(env, plan)
        self.deliveries[plan.attempt.call_id] = d
        return d

    def release(self, plan: CallPlan, delivery: Delivery) -> None:
        self.inner.release(plan, delivery)

    def carry_flow(self, env: simpy.Environment, sub: Any, app: str) -> Generator[Any, Any, Any]:
        return self.inner.carry_flow(env, sub, app)

    def settle(self, calls: list[Any]) -> None:
        """The probes' calls are not the cell's: the cell's network settles its own."""
