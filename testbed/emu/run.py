"""``testbed run --emulate``: every cell of a scenario on one emulated network.

The network is built once per run; each cell restarts the controller with the
cell's policy (on every DPI switch; with a timeline, each operator's policy of the
first phase), sets the switches' fail mode and the hosts' degrade shaping, and runs
the scenario's workload in a SimPy ``RealtimeEnvironment`` until its last call and
flow have ended; a later phase's policies are reloaded on the running switches at
its time (``Session.reload``; ``reloads`` in the cell says when, in seconds of the cell). The results have
the simulator's schema, plus each call's record and what the DPI reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import simpy.rt

from testbed.config.limits import slug
from testbed.config.scenario import Scenario
from testbed.emu.capture import Evidence
from testbed.emu.circumvent import Daemons
from testbed.emu.messages import Decided, Late
from testbed.emu.network import EmuNetwork
from testbed.emu.session import Session
from testbed.emu.system import EmulationUnavailable
from testbed.run import Cell, build_topology, play
from testbed.timeline import policy_for, steps


class EmuRunner:
    def __init__(self, scenario: Scenario, session: Session, daemons: Daemons | None = None) -> None:
        self.scenario, self.session, self.daemons = scenario, session, daemons
        self.windows: list[dict[str, Any]] = []

    def run_cell(self, scenario: Scenario, policy_name: str, circ_name: str,
                 progress: Callable[[float, str], None] | None = None) -> Cell:
        session = self.session
        cell_steps = steps(scenario, policy_name)
        operators = {dpi: str(session.topo.nodeInfo(dpi).get("operator", "")) for dpi in session.dpis}
        # each switch its operator's policy of the first phase; the later phases' are reloaded
        session.set_policies({dpi: policy_for(cell_steps[0].policies, op) for dpi, op in operators.items()},
                             later=tuple(p for s in cell_steps[1:] for p in s.policies.values()))
        pcap = session.start_capture(f"dpi-{slug(policy_name)}--{slug(circ_name)}.pcapng")  # a policy may be a path
        first_event = len(session.events)
        tunnels = self.daemons.start_cell(scenario.circumventions[circ_name].strategy) if self.daemons else {}
        env = simpy.rt.RealtimeEnvironment(factor=1.0, strict=False)
        network = EmuNetwork(session, scenario.workload, scenario.seed, self.daemons)
        started = time.time()
        # until the last call, retry and flow is over: nothing left to schedule
        cell = play(env, network, scenario, policy_name, circ_name, progress)
        ended = time.time()
        evidence = network.evidence
        assert evidence is not None
        events = session.events[first_event:]
        self.windows.append({"policy": policy_name, "circumvention": circ_name, "wall_start": started,
                             "wall_end": ended, "pcap": pcap.name if pcap else None,
                             **({"tunnels_up": sum(ip is not None for ip in tunnels.values()),
                                 "tunnels": len(tunnels)} if tunnels else {})})
        decided = [e for e in events if isinstance(e, Decided)]
        dpi = {"verdicts": len(decided), "late_packet_ins": sum(isinstance(e, Late) for e in events),
               "actions": _count(e.verdict.action.kind for e in decided), **network.tally,
               "rule_packets": self._rule_packets(evidence)}
        cell.extra.update(calls=[c._asdict() for c in cell.calls], dpi=dpi, wall_s=round(ended - started, 1))
        if network.reloads:
            cell.extra["reloads"] = [{**r, "wall_start": round(r["wall_start"] - started, 3),
                                      "wall_end": round(r["wall_end"] - started, 3)} for r in network.reloads]
        return cell

    def _rule_packets(self, evidence: Evidence) -> dict[str, int]:
        """The proactive rules' switch counters: {"tbdpi1 ip-block/imo": packets}."""
        out = {}
        for dpi, counts in evidence.counters.items():
            policy = self.session.compiled[dpi].policy
            for index, count in sorted(counts.items()):
                out[f"{dpi} {policy.rules[index - 1].label(policy.name)}"] = count.packets
        return out

    def extra(self) -> dict[str, Any]:
        s = self.session
        return {"shaper": s.shaper,
                "emulation": {"switch": "Open vSwitch, userspace datapath (netdev), OpenFlow 1.3",
                              "controller": "os-ken 4.2.2 app testbed.emu.controller on 127.0.0.1",
                              "bandwidth": "HTB (tc) on every link with a bw",
                              "delay_jitter_loss": s.shaper,
                              "degrade": "DSCP mark by the DPI; iptables statistic + NFQUEUE delayer at receivers",
                              "circumvention": "OpenVPN 2.6 (vpn, vpn-tcp443), coturn 4.6 (turn-tcp443): "
                                               "the app's own flows through the real daemon to its server",
                              # in the results directory (renamed when complete): one per cell
                              "pcaps": [w["pcap"] for w in self.windows if w["pcap"]],
                              "cells": self.windows}}


def _count(values: Iterator[str] | Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return dict(sorted(out.items()))


@contextmanager
def emulated_runner(scenario: Scenario, out_dir: Path) -> Iterator[EmuRunner]:
    """The network for a whole run; torn down (and cleaned) however the run ends. A machine
    that cannot emulate (not root, no Open vSwitch...) ends the command with one line."""
    session = Session(build_topology(scenario), Path(out_dir))
    try:
        session.__enter__()
    except EmulationUnavailable as exc:
        raise SystemExit(f"testbed run --emulate: {exc}") from None
    daemons = Daemons(session)
    try:
        yield EmuRunner(scenario, session, daemons)
    finally:
        daemons.close()
        session.close()
