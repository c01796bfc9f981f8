"""Both probes on a cell's network: per operator and app, an OONI-like test and a short call.

``probe`` is a SimPy process run after the cell's workload (or at the end of a phase), on
the cell's network, from a probe subscriber of its own on each operator's first
subscriber host. Its records never join the workload's: the call probe has its own
``Calls`` (no busy caller, no relay slot taken from the workload) and its call ids are
negative. What it keeps per app: both verdicts, how far each OONI target got, the call's
outcome and MOS, and the DPI's decision on each of the call's flows and why.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import simpy

from testbed.call.calls import Calls, Carrier
from testbed.call.model import CallModel, Seen
from testbed.call.records import COMPLETED, DROPPED, CallRecord
from testbed.config.scenario import Workload
from testbed.probe import ooni
from testbed.probe.calls import CALL_OK, HOLD_S, Recording, call_verdict
from testbed.probe.reach import ReachPlan
from testbed.topo import subscriber_hosts
from testbed.traffic.apps import PROFILES
from testbed.workload.calls import Attempt, Subscriber

MOBILE = "mobile"   # a subscriber host without ``access`` (operator_edge: ``fixed`` for fixed lines)

# a phase is probed in its last PROBE_WINDOW_S: room for an OONI test whose every step times out
# and for a call's set-up timeout, ring and media (in real time, in an emulation)
PROBE_WINDOW_S = 40.0


@dataclass
class AppProbe:
    """What both probes found for one app from one operator's subscriber."""

    app: str
    operator: str
    access: str                           # mobile | fixed
    host: str
    ooni: str | None                      # accessible | blocked; None: OONI has no test for the app
    call: str                             # call ok | no media | degraded | blocked
    connected: bool                       # the far end answered
    media: bool                           # media flowed
    mos: float | None
    outcome: str
    ooni_test: str = ""
    ooni_keys: dict[str, str] = field(default_factory=dict)
    reached: list[dict[str, Any]] = field(default_factory=list)
    call_trace: list[str] = field(default_factory=list)

    @property
    def disagree(self) -> bool:
        """The measurement tool and the call tell different stories."""
        return self.ooni is not None and (self.ooni == ooni.ACCESSIBLE) != (self.call == CALL_OK)

    def as_dict(self) -> dict[str, Any]:
        return {"app": self.app, "operator": self.operator, "access": self.access, "host": self.host, "ooni": self.ooni,
                "call": self.call, "disagree": self.disagree, "connected": self.connected, "media": self.media,
                "mos": self.mos, "outcome": self.outcome, "ooni_test": self.ooni_test, "ooni_keys": self.ooni_keys,
                "reached": self.reached, "call_trace": self.call_trace}


def seen_text(s: Seen) -> str:
    """``media flow: packet 1: STUN attribute 0x4000 in packet 1 → WhatsAppCall → rule anrt-2016/ott-calls → drop``."""
    evidence = s.why.split("; rule ")[0] if s.why else f"named {s.app or 'nothing'}"
    if s.rule:
        return f"{s.role} flow: packet {s.packets or '?'}: {evidence} → rule {s.rule} → {s.action}"
    return f"{s.role} flow: {evidence} → allow"


def _reached_dict(r: ooni.Reached) -> dict[str, Any]:
    return {"target": str(r.target), "address": r.address, "failed_operation": r.failed_operation,
            "failure": r.failure, "trace": list(r.trace)}


def probe_hosts(info: dict[str, dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(host, operator, access): the first subscriber host of each operator's mobile and fixed lines
    (policies may tell them apart, as Morocco's operators did in January 2016)."""
    out: dict[tuple[str, str], str] = {}
    for host, operator in subscriber_hosts(info):
        out.setdefault((operator, str(info[host].get("access", MOBILE))), host)
    return sorted(((h, op, access) for (op, access), h in out.items()), key=lambda x: (x[1], x[2] != MOBILE))


def probe(env: simpy.Environment, network: Carrier, spec: Workload, seed: int,
          hold_s: float = HOLD_S) -> Generator[Any, Any, list[AppProbe]]:
    """Run both probes for every call app of the workload, concurrently; their findings in
    operator and app order. A network with a ``probe_view`` (the simulator's) is probed through it."""
    view = getattr(network, "probe_view", None)
    network = view() if view is not None else network
    recording = Recording(network)
    calls = Calls(recording, CallModel(spec))
    info = network.planner.info
    records = ooni.zone(info)
    resolver = ooni.resolver(info)
    jobs = []
    for k, ((host, operator, access), app) in enumerate((h, a) for h in probe_hosts(info) for a in spec.apps
                                                        if PROFILES[a].kind == "call"):
        sub = Subscriber(-1 - k, host, operator, adopter=False)
        att = Attempt(-1 - k, -1 - k, 1, sub, app, "none", hold_s, answers=True)
        test = ooni.test_for(app, info)
        # a network that cannot carry an OONI test's flows leaves the OONI verdict empty
        carry_reach = getattr(network, "carry_reach", None)
        reach = (env.process(carry_reach(env, host, ReachPlan(test, resolver or "", records)))
                 if test is not None and resolver and carry_reach is not None else None)
        jobs.append((app, host, operator, access, test, reach, env.process(calls.call(env, att))))
    out = []
    for app, host, operator, access, test, reach, call in jobs:
        rec: CallRecord = yield call
        found: tuple[ooni.Reached, ...] = (yield reach) if reach is not None else ()
        verdict, keys = ooni.verdict(test, {r.target: r for r in found}) if test is not None and found else (None, {})
        delivery = recording.deliveries.get(rec.call_id)
        out.append(AppProbe(app, operator, access, host, verdict, call_verdict(rec), rec.answered,
                            rec.outcome in (COMPLETED, DROPPED), rec.mos if rec.mos else None, rec.outcome,
                            test.spec if test is not None else "", keys, [_reached_dict(r) for r in found],
                            [seen_text(s) for s in delivery.seen] if delivery is not None else []))
    return out
