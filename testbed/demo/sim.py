"""The demo on the simulator: no root, simulated time, the packets fed to the real classifier.

What the DPI "saw" here is what ``SimNetwork`` fed its classifier for each flow the app
sent (its first packets, up to the verdict), stamped with the simulated time of the call
on a clock that starts at the demo's start: that is what ``trace`` decodes and
``capture`` writes. The simulator classifies a call's media even when its signalling was
stopped; the demo shows only the flows the app would have sent (``shown_flows``).
"""

from __future__ import annotations

import time
from typing import Any

from testbed.call.model import Delivery, Seen
from testbed.config.phases import ALL
from testbed.demo.network import DemoNetwork
from testbed.demo.transcript import FlowView, shown_flows
from testbed.dpi.classifier import Verdict
from testbed.packets.ip import addr_text, parse_ip
from testbed.policy.model import Policy
from testbed.sim.network import SimNetwork
from testbed.traffic.apps import FlowPlan

FLOW_GAP_S = 0.001   # between one flow's last packet and the next flow's first, in a capture


class SimDemo(DemoNetwork):
    def __init__(self, topo: Any, policy: Policy, apps: list[str], seed: int) -> None:
        from testbed.demo.network import demo_workload

        spec = demo_workload(apps)
        self.network = SimNetwork(topo, policy, spec, seed)
        self.network.inspected = self._inspected
        super().__init__(self.network, spec)
        self.epoch = time.time()      # the capture's clock: the demo's start plus simulated time
        self._saw: list[tuple[float, bytes]] = []
        self._clock = self.epoch

    def set_policy(self, policy: Policy) -> None:
        self.network.set_policies({ALL: policy})

    def _inspected(self, plan: FlowPlan, fed: list[tuple[float, bytes]], verdict: Verdict) -> None:
        inspected = tuple(fed[:verdict.packet_index] if verdict.packet_index else fed)
        first = parse_ip(fed[0][1]) if fed else None
        ends = ("", "")
        if first is not None:
            ends = (f"{addr_text(first.src)}:{first.sport}", f"{addr_text(first.dst)}:{first.dport}")
        self._flow_met(FlowView(plan.role, plan.l4, ends[0], ends[1], Seen.of(plan.role, verdict), verdict.why,
                                verdict.packet_index, inspected))

    def _sent(self, views: list[FlowView], delivery: Delivery | None) -> tuple[FlowView, ...]:
        shown = shown_flows(tuple(views), delivery)
        # one flow after another on the capture's clock (a flow takes no simulated time)
        start = max(self._clock, self.epoch + self.started)
        for view in shown:
            for t, packet in view.inspected:
                self._saw.append((start + t, packet))
            start += (view.inspected[-1][0] if view.inspected else 0.0) + FLOW_GAP_S
        self._clock = start
        return shown

    def dpi_saw(self) -> list[tuple[float, bytes]]:
        saw, self._saw = self._saw, []
        return saw
