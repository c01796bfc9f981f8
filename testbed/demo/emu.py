"""The demo on the emulated network: real packets through OVS and the os-ken DPI (root).

One ``Session`` for the whole demo; the policy goes in with ``set_policies`` and every
change after that is a reload of the running switches (``Session.reload``: the
controller is not restarted). Calls and flows are carried by ``EmuNetwork`` in a
``simpy.rt.RealtimeEnvironment`` that is re-synchronised with the wall clock before each
command (the teacher's pauses are not the network's delays).

What the DPI did to each flow is shown as soon as its placement ends (signalling first,
then media): the controller's verdict and its reason, or the policy's header rule whose
flow entry took it; and, measured, what the client sent and the far end received.

Circumvention goes through the real daemons (``testbed.emu.circumvent``). A call through a
VPN first (re)connects the caller's OpenVPN client under the policy in force — a user turns
the VPN on to call — and the tunnel is the call's first flow: its handshake is what the DPI
inspects, and what of the client's packets got past the DPI is counted on the capture (a
blocked tunnel never comes up and the call never leaves the host). The app's flows inside
it follow, measured at the far end; the DPI sees none of their packets. Through TURN, each
media flow is the relay client's TCP connection to coturn as the DPI met it.

What the DPI saw is measured on its ports: one ``dumpcap`` on every port of the DPI
switches for the whole demo (dumpcap writes its file out as it goes, for Wireshark's live
view), read while it runs. A packet the switch forwarded shows twice, on the port it came
in by and the one it left by, with the same IP id and L4 bytes: its first sighting is its
arrival (``arrivals``). ``trace`` decodes a flow's arrivals up to the packet that decided
it; ``capture`` writes every arrival since the last ``capture``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import simpy.rt

from testbed.call.model import Seen
from testbed.config.phases import ALL
from testbed.demo.network import DemoNetwork, demo_workload
from testbed.demo.transcript import NOT_INSPECTED, FlowView
from testbed.dpi.classifier import action_text
from testbed.dpi.flow import FlowKey
from testbed.emu.circumvent import CONNECT_TIMEOUT_S, Daemons
from testbed.emu.delivery import FlowResult
from testbed.emu.network import EmuNetwork
from testbed.emu.openvpn import TRANSPORTS
from testbed.emu.placement import FlowSpec
from testbed.emu.session import Session
from testbed.packets.capture import ReadStats, read_ip_ports
from testbed.packets.ip import UDP, addr_text
from testbed.policy import compiler
from testbed.policy.model import Policy
from testbed.workload.calls import Subscriber

CAPTURE = "dpi-demo.pcapng"
Signature = tuple[bytes, bytes, int, bytes]   # source, destination, IP id, digest of the L4 bytes
INSIDE = "inside the tunnel: the DPI sees only the tunnel's packets (flow 1)"
# dumpcap hands packets to its file in batches (a fraction of a second late): a tunnel's handshake
# is read once its count has held still for QUIET_S, or after SETTLE_S at most
QUIET_S, SETTLE_S, POLL_S = 0.5, 3.0, 0.1
PAST_THE_DPI = "got past the DPI"


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


def passage(frames: Iterable[tuple[str, float, bytes]], key: FlowKey) -> tuple[int, int]:
    """(packets of the flow's client that reached the DPI switch, how many of them it forwarded):
    a forwarded packet shows on two of its ports, one it dropped only on the port it came in by."""
    ports: dict[Signature, set[str]] = {}
    for port, _, packet in frames:
        found = signature(packet)
        if found is not None and found[0] == key:
            ports.setdefault(found[1], set()).add(port)
    return len(ports), sum(len(p) > 1 for p in ports.values())


def ends(key: FlowKey) -> tuple[str, str, str]:
    """(l4, "client:port", "server:port") of a 5-tuple."""
    proto, client, cport, server, sport = key
    return "udp" if proto == UDP else "tcp", f"{addr_text(client)}:{cport}", f"{addr_text(server)}:{sport}"


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
        self.daemons = Daemons(self.session)
        try:
            self.session.set_policies(policy)
            pcap = self.session.start_capture(CAPTURE)
            assert pcap is not None
            self.pcap: Path = pcap
            self.network = EmuNetwork(self.session, spec, seed, self.daemons)
        except BaseException:
            self.close()
            raise
        self.network.carried = self._carried
        self.operators = {h: str(i.get("operator", "")) for h, i in self.session.host_info.items()}
        super().__init__(self.network, spec)
        self._given: set[Signature] = set()     # what ``dpi_saw`` handed out already
        self._frames = 0                         # frames of the capture read by ``dpi_saw``
        self._tunnels: dict[FlowKey, tuple[str, Seen]] = {}   # a tunnel's 5-tuple → (its address, the DPI's doing)

    def close(self) -> None:
        try:
            self.daemons.close()
        finally:
            self.session.close()

    def set_policy(self, policy: Policy) -> None:
        self.network.set_policies({ALL: policy})

    def fresh_env(self) -> simpy.rt.RealtimeEnvironment:
        return simpy.rt.RealtimeEnvironment(factor=1.0, strict=False)

    def _carry(self, process: Any) -> Any:
        # the time since the last command was the teacher's, not the network's: the environment's
        # clock goes on from now (sync() alone moves only the wall-clock origin, not the simulated one)
        env: Any = self.env
        env.env_start = env.now
        env.sync()
        return super()._carry(process)

    def _prepare(self, sub: Subscriber, strategy: str) -> None:
        """The strategy's daemon ready; for a VPN, the caller's tunnel (re)connected now (module doc)."""
        if not self.daemons.carries(strategy):
            return
        self.daemons.server(strategy)
        if strategy not in TRANSPORTS:
            return
        began = time.monotonic()
        address = self.daemons.connect([sub.host], strategy)[sub.host]
        took = time.monotonic() - began
        key = self.daemons.tunnel(sub.host, strategy)[1]
        frames = self._settled(key)
        l4, client, server = ends(key)
        seen, why, at = self._decided(key, "tunnel", sub.operator)
        sent, passed = passage(frames, key)
        self._tunnels[key] = (address or "", seen)
        note = (f"{sub.host}'s OpenVPN client: the tunnel is up in {took:.1f} s, address {address}" if address else
                f"{sub.host}'s OpenVPN client: no tunnel after {CONNECT_TIMEOUT_S:.0f} s; the call cannot leave "
                f"the host (the VPN app's kill switch)")
        self._flow_met(FlowView("tunnel", l4, client, server, seen, why, at,
                                tuple(of_flow(arrivals(frames, set()), key)[:at]), sent, passed, PAST_THE_DPI, note))

    def _settled(self, key: FlowKey) -> list[tuple[str, float, bytes]]:
        """The capture once the flow's packets in it have stopped coming (see ``QUIET_S``)."""
        back = (key[0], key[3], key[4], key[1], key[2])
        deadline, count, still_since = time.monotonic() + SETTLE_S, -1, time.monotonic()
        while True:
            frames = self._frames_now()
            now = time.monotonic()
            seen = sum(1 for _, _, p in frames if (found := signature(p)) is not None and found[0] in (key, back))
            if seen != count:
                count, still_since = seen, now
            elif (count and now - still_since >= QUIET_S) or now >= deadline:
                return frames
            time.sleep(POLL_S)

    def _decided(self, key: FlowKey, role: str, operator: str) -> tuple[Seen, str, int]:
        """What the DPI did to a flow, why, and at which packet: the controller's verdict, or the
        policy's header rule whose flow entry took it at its first packet (the controller never saw it)."""
        compiled = self.network.compiled
        seen = self.network.seen_key(key, role, operator, compiled)
        decided = self.session.verdicts.get(key)
        if decided is not None:
            return seen, decided.verdict.why, decided.verdict.packet_index
        own = compiled.get(operator) or next(iter(compiled.values()))
        rule = compiler.proactive_rule(own, key)
        if rule is None:
            return seen, NOT_INSPECTED, 0
        label = rule.label(own.policy.name)
        l4, client, server = ends(key)
        return (replace(seen, action=rule.action, rule=label),
                f"{l4.upper()} {client} → {server}; rule {label} {action_text(rule.action)}", 1)

    # -- what the DPI saw ----------------------------------------------------------------------
    def _frames_now(self) -> list[tuple[str, float, bytes]]:
        stats = ReadStats()
        # dumpcap is still writing: the last block may be half there ("stopped after N packets")
        return list(read_ip_ports(self.pcap, stats))

    def dpi_saw(self) -> list[tuple[float, bytes]]:
        frames = self._frames_now()
        new, self._frames = frames[self._frames:], len(frames)
        return [(ts, p) for ts, _, p in arrivals(new, self._given)]

    def _carried(self, specs: list[FlowSpec], results: list[FlowResult], keys: list[FlowKey]) -> None:
        """A placement's flows as the DPI met them (``keys``: by their own 5-tuple, a tunnel's or a relay's)."""
        packets = arrivals(self._frames_now(), set())
        for spec, result, key in zip(specs, results, keys):
            role, measured = spec.plan.role, (result.client.sent, result.server.recv.packets)
            server = f"{spec.server_ip}:{spec.plan.server_port}"
            tunnel = self._tunnels.get(key)
            if tunnel is not None:      # the app's own flow, in the tunnel shown first
                address, seen = tunnel
                self._flow_met(FlowView(role, spec.plan.l4, f"{address}:{spec.client_port}", server,
                                        replace(seen, role=role), INSIDE, 0, (), *measured))
                continue
            seen, why, at = self._decided(key, role, self.operators.get(spec.client, ""))
            l4, client, first_hop = ends(key)
            note = f"a TURN relay client carries it: coturn relays it on to {server}" if key != spec.key else ""
            self._flow_met(FlowView(role, l4, client, first_hop, seen, why, at, tuple(of_flow(packets, key)[:at]),
                                    *measured, note=note))
