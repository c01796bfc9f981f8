"""The emulated network: it carries call plans as real packets and measures what happened.

Implements ``testbed.call.calls.Carrier`` on a running ``Session``. A call's flows —
the plan's bytes, the same the simulator feeds its classifier — go out on the agents'
real sockets through the emulated operator network (``testbed.emu.placement``):
signalling first (an exchange that must get all its answers), then the media for the
holding time (none when the callee does not answer). The agents' reports become the
call's ``Delivery`` (``testbed.emu.delivery``: measured, never computed); what the DPI
did to each flow is the controller's verdict, or the policy's proactive L3/L4 rule
that matches its 5-tuple (``compiler.proactive_rule``). After the cell, ``measured``
puts the time-to-block measured on the DPI's ports (``testbed.emu.forwarding``) into
the hit calls' records, and confirms each proactive hit on the packets and by its
rule's switch counters. Waiting is done in SimPy time:
a process polls the mailbox every ``POLL_S`` of a ``simpy.rt.RealtimeEnvironment``.

Each DPI switch runs the policy of its operator; ``set_policies`` (a phase of a timeline)
reloads the running switches (``Session.reload``): a call meets the policies of its start.

A strategy with a real daemon (``vpn``, ``vpn-tcp443``, ``turn-tcp443``; ``testbed.emu.circumvent``)
carries the app's own flows through it, on to the app's server: the DPI sees the tunnel or
the relay's connection, and the call's ``Seen`` is what it did to that. Without daemons
(``daemons=None``), or for the other strategies, the plan's wrapped bytes go to the first hop.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Generator
from dataclasses import replace
from typing import Any

import simpy

from testbed.call.model import Delivery, Seen, retimed
from testbed.call.plan import CallPlan, Planner
from testbed.call.records import CallRecord
from testbed.config.scenario import Workload as WorkloadSpec
from testbed.dpi.flow import FlowKey
from testbed.dpi.rules import action_text
from testbed.emu import probes
from testbed.emu.capture import Evidence
from testbed.emu.circumvent import Daemons
from testbed.emu.delivery import FlowResult, delivery
from testbed.emu.forwarding import Passage
from testbed.emu.mailbox import Steps, Timeout
from testbed.emu.openvpn import TRANSPORTS
from testbed.emu.placement import FlowSpec, place
from testbed.emu.session import Session
from testbed.packets.ip import UDP, addr_text
from testbed.policy import compiler
from testbed.probe.ooni import Reached
from testbed.probe.reach import ReachPlan
from testbed.timeline import Policies, policy_for
from testbed.traffic.apps import SIGNALLING, FlowPlan
from testbed.workload.calls import Subscriber

POLL_S = 0.02
FLOW_FRAME_MS = 20.0


def drive(env: simpy.Environment, session: Session, steps: Steps) -> Generator[Any, Any, Any]:
    """Run placement steps inside a SimPy process, polling the mailbox in simulated real time."""
    try:
        wait = next(steps)
        while True:
            deadline = time.monotonic() + wait.timeout
            while not session.box.has(wait.keys):
                yield env.timeout(POLL_S)
                session.check_alive()
                if time.monotonic() > deadline:
                    if wait.optional:
                        break
                    raise Timeout(f"{wait.what}: no answer for {session.box.missing(wait.keys)[:4]}")
            wait = steps.send(None)
    except StopIteration as done:
        return done.value


class EmuNetwork:
    """Carries plans on a running ``Session``; every call's own bytes (no variants)."""

    def __init__(self, session: Session, spec: WorkloadSpec, seed: int, daemons: Daemons | None = None) -> None:
        self.session, self.spec, self.daemons = session, spec, daemons
        self.planner = Planner(session.topo, seed, variants=0)
        self.operators = {dpi: str(session.topo.nodeInfo(dpi).get("operator", "")) for dpi in session.compiled}
        self.dpi_of = {op: dpi for dpi, op in self.operators.items()}
        self._flow_ids = itertools.count(1)
        # each hit attempt's flows as its Delivery saw them: (call id, attempt) → (operator, flows)
        self.hits: dict[tuple[int, int], tuple[str, tuple[tuple[FlowSpec, Seen], ...]]] = {}
        self.reloads: list[dict[str, Any]] = []   # when each change went in, and what
        self.evidence: Evidence | None = None     # the cell's capture and counters, once settled
        self.tally: dict[str, int] = {}
        # told the flows of each placement, the agents' reports on them and the 5-tuple the DPI
        # met each by (its own, or its tunnel's or relay's): ``testbed demo`` shows them
        self.carried: Callable[[list[FlowSpec], list[FlowResult], list[FlowKey]], None] | None = None

    @property
    def compiled(self) -> dict[str, compiler.Compiled]:
        """Each operator's compiled policy, as its DPI switch runs it now."""
        return {self.operators[dpi]: c for dpi, c in self.session.compiled.items()}

    def set_policies(self, policies: Policies) -> None:
        """Each operator's policy from now on, on the running switches (those whose policy changes)."""
        changed = {dpi: p for dpi, op in self.operators.items()
                   if (p := policy_for(policies, op)) is not self.session.policies.get(dpi)}
        if changed:
            started = time.time()
            self.session.reload(changed)
            self.reloads.append({"wall_start": started, "wall_end": time.time(),
                                 "policies": {dpi: p.name for dpi, p in changed.items()}})

    # -- what the DPI did ------------------------------------------------------------------
    def seen(self, spec: FlowSpec, operator: str, compiled_now: dict[str, compiler.Compiled]) -> Seen:
        """The controller's verdict on a flow, or the proactive rule whose entries matched it (of
        the policies the switches ran when the call started: ``compiled_now``)."""
        return self.seen_key(spec.key, spec.plan.role, operator, compiled_now)

    def seen_key(self, key: FlowKey, role: str, operator: str, compiled_now: dict[str, compiler.Compiled]) -> Seen:
        """``seen`` of a flow by its 5-tuple (a tunnel's, a relay's connection)."""
        found = self.session.verdicts.get(key)
        if found is not None:
            return Seen.of(role, found.verdict)
        compiled = compiled_now.get(operator) or next(iter(compiled_now.values()))
        rule = compiler.proactive_rule(compiled, key)
        if rule is None or not rule.action.hits:
            return Seen(role)
        label = rule.label(compiled.policy.name)
        proto, client, cport, server, sport = key
        return Seen(role, "", rule.action, label, 1, 0.0,
                    f"{'UDP' if proto == UDP else 'TCP'} {addr_text(client)}:{cport} → {addr_text(server)}:{sport} "
                    f"in packet 1 (an OpenFlow entry); rule {label} {action_text(rule.action)}")

    # -- carrying --------------------------------------------------------------------------
    def _specs(self, plans: list[FlowPlan], client: str, server: str, hold: float, frame_ms: float) -> list[FlowSpec]:
        return [self.session.spec(client, server, plan, hold=hold if plan.role != SIGNALLING else 0.0,
                                  frame_ms=frame_ms, setup_timeout=self.spec.setup_timeout_s,
                                  max_loss_pct=self.spec.max_call_loss_pct) for plan in plans]

    def _run(self, env: simpy.Environment, specs: list[FlowSpec],
             keys: list[FlowKey] | None = None) -> Generator[Any, Any, list[FlowResult]]:
        """``keys``: what the DPI meets each flow as, when not its own 5-tuple (``carried``)."""
        session = self.session
        reports = yield from drive(env, session, place(session.send, session.box.take, specs))
        results = [FlowResult(s.plan, reports[(s.id, "client")], reports[(s.id, "server")]) for s in specs]
        if self.carried is not None:
            self.carried(specs, results, keys or [s.key for s in specs])
        return results

    def carry(self, env: simpy.Environment, plan: CallPlan) -> Generator[Any, Any, Delivery]:
        if self.daemons is not None and self.daemons.carries(plan.strategy.name):
            found = yield from self._carry_through_daemon(env, plan)
            return found
        att, route = plan.attempt, plan.route
        sub, codec = att.subscriber, plan.profile.codec
        assert codec is not None
        flows, compiled = plan.variant.flows, self.compiled
        signalling = [p for p in flows if p.role == SIGNALLING]
        media = [p for p in flows if p.role != SIGNALLING]
        results: list[FlowResult] = []
        specs = self._specs(signalling, sub.host, route.first_hop, 0.0, codec.frame_ms)
        if specs:
            results = yield from self._run(env, specs)
            if any(r.client.error or r.client.aborted for r in results):
                seen = self._seen(att.call_id, att.attempt, specs, sub.operator, compiled)
                return delivery(seen, results, [])
        hold = att.holding_s if att.answers else 0.0
        media_specs = self._specs(media, sub.host, route.first_hop, hold, codec.frame_ms)
        media_results = yield from self._run(env, media_specs)
        seen = self._seen(att.call_id, att.attempt, specs + media_specs, sub.operator, compiled)
        return delivery(seen, results, media_results)

    def _carry_through_daemon(self, env: simpy.Environment, plan: CallPlan) -> Generator[Any, Any, Delivery]:
        """The app's own flows through the strategy's real daemon to the app's server (module doc)."""
        daemons, att, route = self.daemons, plan.attempt, plan.route
        assert daemons is not None
        sub, codec, compiled, name = att.subscriber, plan.profile.codec, self.compiled, plan.strategy.name
        assert codec is not None
        hold = att.holding_s if att.answers else 0.0
        server_ip = self.session.ips[route.server]
        relays: list[Any] = []
        mark, via = 0, ""
        if name in TRANSPORTS:
            up, key = daemons.tunnel(sub.host, name)
            flows, keys = list(plan.variant.inner), [key] * len(plan.variant.inner)
            if not up:   # blocked at its handshake: nothing of the call leaves the host
                return Delivery(tuple(self.seen_key(key, p.role, sub.operator, compiled) for p in flows), False)
            mark, via = TRANSPORTS[name].mark, self.session.ips[route.first_hop]
        else:            # TURN relays the media
            flows = [p for p in plan.variant.inner if p.role != SIGNALLING]
            for p in flows:
                relays.append((yield from daemons.relay(env, sub.host, (server_ip, p.server_port))))
            keys = [daemons.relay_key(r) for r in relays]
            if any(r.error for r in relays):
                for r in relays:
                    daemons.done(r)
                return Delivery(tuple(self.seen_key(k, p.role, sub.operator, compiled) for k, p in zip(keys, flows)),
                                False)
        specs = self._specs(flows, sub.host, route.server, hold, codec.frame_ms)
        for i, spec in enumerate(specs):
            if relays:
                specs[i] = replace(spec, client_to=("127.0.0.1", relays[i].listen), client_seen=relays[i].relayed)
            else:
                port = daemons.client_port()
                specs[i] = replace(spec, client_port=port, mark=mark, client_seen=(via, port))
        signalling = [(s, k) for s, k in zip(specs, keys) if s.plan.role == SIGNALLING]
        media = [(s, k) for s, k in zip(specs, keys) if s.plan.role != SIGNALLING]
        results: list[FlowResult] = []
        if signalling:
            results = yield from self._run(env, [s for s, _ in signalling], [k for _, k in signalling])
        if not signalling or not any(r.client.error or r.client.aborted for r in results):
            media_results = yield from self._run(env, [s for s, _ in media], [k for _, k in media])
        else:
            media_results = []
        for r in relays:
            daemons.done(r)
        seen = tuple(self.seen_key(k, s.plan.role, sub.operator, compiled) for k, s in zip(keys, specs))
        done = delivery(seen, results, media_results)
        if relays and done.pdd_ms is not None:   # the app gets its relay before the call can ring
            done = done._replace(pdd_ms=round(done.pdd_ms + relays[0].setup_ms, 3))
        return done

    def _seen(self, call_id: int, attempt: int, specs: list[FlowSpec], operator: str,
              compiled: dict[str, compiler.Compiled] | None = None) -> tuple[Seen, ...]:
        seen = tuple(self.seen(s, operator, compiled or self.compiled) for s in specs)
        if any(s.hit for s in seen):
            self.hits[(call_id, attempt)] = (operator, tuple(zip(specs, seen)))
        return seen

    def release(self, plan: CallPlan, delivery: Delivery) -> None:
        """Nothing to give back: the links carried real packets."""

    def carry_reach(self, env: simpy.Environment, host: str, plan: ReachPlan) -> Generator[Any, Any, tuple[Reached, ...]]:
        """An OONI-like test from ``host``: its real client there, its real servers (``testbed.emu.probes``)."""
        operator = str(self.session.host_info[host].get("operator", ""))
        found = yield from probes.reach(env, self.session, host, operator, plan)
        return found

    def carry_flow(self, env: simpy.Environment, sub: Subscriber, app: str) -> Generator[Any, Any, Seen]:
        route, compiled = self.planner.route(app, "none", sub.host, sub.operator), self.compiled
        plan = self.planner.variant(app, "none", next(self._flow_ids)).flows[0]
        spec = self._specs([plan], sub.host, route.server, 0.0, FLOW_FRAME_MS)[0]
        yield from self._run(env, [spec])
        return self.seen(spec, sub.operator, compiled)

    # -- measured on the packets, after the cell ------------------------------------------
    def settle(self, calls: list[CallRecord]) -> None:
        """The cell is over: end its capture and take each hit call's time-to-block from it."""
        self.evidence = self.session.stop_capture()
        self.tally = self.measured(self.evidence, calls)

    def measured(self, evidence: Evidence, records: list[CallRecord]) -> dict[str, int]:
        """Each hit call's time-to-block from the DPI's capture: the first packet of each hit
        flow the switch did not forward (none held back, as under degrade: 0), the call's hit
        chosen as the call model chooses it. Each proactive hit is confirmed on the packets
        (it arrived; a drop forwarded none) and by its rule's switch counters. Without a
        capture the records keep the controller's counts. A measured record is replaced in
        ``records``. Returns the cell's tally (calls measured, proactive hits confirmed or not)."""
        found = evidence.passages(spec.key for _, flows in self.hits.values() for spec, seen in flows if seen.hit)
        tally = {"ttb_measured": 0, "proactive_confirmed": 0, "proactive_unconfirmed": 0}
        for i, rec in enumerate(records):
            hit = self.hits.get((rec.call_id, rec.attempt))
            if hit is None:
                continue
            operator, flows = hit
            remeasured, measured = [], False
            for spec, seen in flows:
                passage = found.get(spec.key) if seen.hit else None
                if passage is not None:
                    seen = replace(seen, packets=passage.ttb_packets or 0,
                                   ms=round(passage.ttb_ms, 3) if passage.ttb_ms is not None else 0.0)
                    measured = True
                    if spec.key not in self.session.verdicts:
                        ok = self._confirmed(evidence, operator, spec, seen, passage)
                        tally["proactive_confirmed" if ok else "proactive_unconfirmed"] += 1
                remeasured.append(seen)
            records[i] = retimed(rec, tuple(remeasured))
            tally["ttb_measured"] += measured
        return tally

    def _confirmed(self, evidence: Evidence, operator: str, spec: FlowSpec, seen: Seen, passage: Passage) -> bool:
        compiled = self.compiled.get(operator) or next(iter(self.compiled.values()))
        rule = compiler.proactive_rule(compiled, spec.key)
        count = evidence.counters.get(self.dpi_of.get(operator, ""), {}).get(rule.index) if rule else None
        held = passage.forwarded == 0 if seen.stops else passage.forwarded == passage.arrived
        return count is not None and count.packets >= passage.arrived > 0 and held
