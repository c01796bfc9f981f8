"""The demo on the emulated network: real packets through OVS and the os-ken DPI (root).

One ``Session`` for the whole demo; the policy goes in with ``set_policies`` and every
change after that is a reload of the running switches (``Session.reload``: the
controller is not restarted). Calls and flows are carried by ``EmuNetwork`` in a
``simpy.rt.RealtimeEnvironment`` that is re-synchronised with the wall clock before each
command (the teacher's pauses are not the network's delays).

What the DPI did to each flow is shown as soon as its placement ends (signalling first,
then media): the controller's verdict and its reason, or the policy's header rule whose
flow entry took it; and, measured, what the client sent and the far end received.

What the DPI saw is measured on its ports: one ``dumpcap`` on every port of the DPI
switches for the whole demo (dumpcap writes its file out as it goes, for Wireshark's live
view), read while it runs. A packet the switch forwarded shows twice, on the port it came
in by and the one it left by, with the same IP id and L4 bytes: its first sighting is its
arrival (``arrivals``). ``trace`` decodes a flow's arrivals up to the packet that decided
it; ``capture`` writes every arrival since the last ``capture``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import simpy.rt

from testbed.config.phases import ALL
from testbed.demo.network import DemoNetwork, demo_workload
from testbed.demo.transcript import NOT_INSPECTED, FlowView
from testbed.dpi.classifier import action_text
from testbed.dpi.flow import FlowKey
from testbed.emu.delivery import FlowResult
from testbed.emu.network import EmuNetwork
from testbed.emu.placement import FlowSpec
from testbed.emu.session import Session
from testbed.packets.capture import ReadStats, read_ip_ports
from testbed.policy import compiler
from testbed.policy.model import Policy

CAPTURE = "dpi-demo.pcapng"
Signature = tuple[bytes, bytes, int, bytes]   # source, destination, IP id, digest of the L4 bytes


def signature(packet: bytes) -> tuple[FlowKey, Signature] | None:
    """An IPv4 UDP/TCP packet's 5-tuple and what stays the same on both sides of the switch."""
    if len(packet) < 24 or packet[0] >> 4 != 4 or packet[9] not in (6, 17):
        return None
    ihl = (packet[0] & 0x0F) * 4
    if len(packet) < ihl + 4:
        return None
    src, dst = packet[12:16], packet[16:20]
    sport, dport = int.from_bytes(packet[ihl:ihl + 2], "big"), int.from_bytes(packet[ihl + 2:ihl + 4], "big")
    ident = int.from_bytes(packet[4:6], "big")
    return (packet[9], src, sport, dst, dport), (src, dst, ident, hashlib.blake2b(packet[ihl:], digest_size=8).digest())


def arrivals(frames: Iterable[tuple[str, float, bytes]], known: set[Signature]) -> list[tuple[float, FlowKey, bytes]]:
    """Each packet's first sighting on the switch's ports, in time order (pure but for ``known``,
    the signatures already counted, which it extends)."""
    out = []
    for _, ts, packet in frames:
        found = signature(packet)
        if found is None or found[1] in known:
            continue
        known.add(found[1])
        out.append((ts, found[0], packet))
    out.sort(key=lambda a: a[0])
    return out


def of_flow(packets: list[tuple[float, FlowKey, bytes]], key: FlowKey) -> list[tuple[float, bytes]]:
    """A flow's packets, both directions, timed from its first."""
    back = (key[0], key[3], key[4], key[1], key[2])
    mine = [(ts, p) for ts, k, p in packets if k in (key, back)]
    return [(ts - mine[0][0], p) for ts, p in mine] if mine else []


class EmuDemo(DemoNetwork):
    live = True

    def __init__(self, topo: Any, policy: Policy, apps: list[str], seed: int, workdir: Path,
                 log: Any = None) -> None:
        spec = demo_workload(apps)
        self.session = Session(topo, workdir, log=log)
        self.session.__enter__()
        try:
            self.session.set_policies(policy)
            pcap = self.session.start_capture(CAPTURE)
            assert pcap is not None
            self.pcap: Path = pcap
            self.network = EmuNetwork(self.session, spec, seed)
        except BaseException:
            self.session.close()
            raise
        self.network.carried = self._carried
        self.operators = {h: str(i.get("operator", "")) for h, i in self.session.host_info.items()}
        super().__init__(self.network, spec)
        self._given: set[Signature] = set()     # what ``dpi_saw`` handed out already
        self._frames = 0                         # frames of the capture read by ``dpi_saw``

    def close(self) -> None:
        self.session.close()

    def set_policy(self, policy: Policy) -> None:
        self.network.set_policies({ALL: policy})

    def fresh_env(self) -> simpy.rt.RealtimeEnvironment:
        return simpy.rt.RealtimeEnvironment(factor=1.0, strict=False)

    def _carry(self, process: Any, on_flow: Any) -> Any:
        # the time since the last command was the teacher's, not the network's: the environment's
        # clock goes on from now (sync() alone moves only the wall-clock origin, not the simulated one)
        env: Any = self.env
        env.env_start = env.now
        env.sync()
        return super()._carry(process, on_flow)

    # -- what the DPI saw ----------------------------------------------------------------------
    def _frames_now(self) -> list[tuple[str, float, bytes]]:
        stats = ReadStats()
        # dumpcap is still writing: the last block may be half there ("stopped after N packets")
        return list(read_ip_ports(self.pcap, stats))

    def dpi_saw(self) -> list[tuple[float, bytes]]:
        frames = self._frames_now()
        new, self._frames = frames[self._frames:], len(frames)
        return [(ts, p) for ts, _, p in arrivals(new, self._given)]

    def _carried(self, specs: list[FlowSpec], results: list[FlowResult]) -> None:
        packets = arrivals(self._frames_now(), set())
        compiled = self.network.compiled
        for spec, result in zip(specs, results):
            operator = self.operators.get(spec.client, "")
            seen = self.network.seen(spec, operator, compiled)
            client, server = f"{spec.client_ip}:{spec.client_port}", f"{spec.server_ip}:{spec.plan.server_port}"
            decided = self.session.verdicts.get(spec.key)
            why, at = NOT_INSPECTED, 0
            if decided is not None:
                why, at = decided.verdict.why, decided.verdict.packet_index
            else:
                own = compiled.get(operator) or next(iter(compiled.values()))
                rule = compiler.proactive_rule(own, spec.key)
                if rule is not None:   # a flow entry took it at its first packet: the controller never saw it
                    label = rule.label(own.policy.name)
                    why, at = f"{spec.plan.l4.upper()} {client} → {server}; rule {label} {action_text(rule.action)}", 1
                    seen = replace(seen, action=rule.action, rule=label)
            inspected = tuple(of_flow(packets, spec.key)[:at])
            self._flow_met(FlowView(spec.plan.role, spec.plan.l4, client, server, seen, why, at, inspected,
                                    result.client.sent, result.server.recv.packets))
