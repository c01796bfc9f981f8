"""Link shaping: bandwidth by HTB on the links; delay, jitter and loss by netem, or else
by the hosts' own netfilter (pure: this module only says what to configure).

Without netem a link cannot delay packets, and iptables does not see the packets
the userspace datapath switches. So each host shapes its packets: for every
other host, the topology's path model (``testbed.topo.path``: the links' delays
summed, jitters in quadrature, losses combined — what the simulator uses) becomes
an NFQUEUE the sending host's agent holds what it sends in, and an iptables
``statistic`` drop of what it receives from there. The loss is on the receiving
side because a sender's own netfilter drop is no network loss: its TCP is told at
once (the send fails) and sends again without the stall a lost segment costs. The
end-to-end delay, jitter and loss are the path's; where along the path they happen
is not modelled.

Tunnels (``testbed.emu.openvpn``): a packet a host routes into a tunnel device
(``tbtun*``), or receives from one, is not shaped — the tunnel's own packets are,
by the path between the host and the tunnel's server; the server shapes what it
forwards as a host on that path would (FORWARD rules: the loss of what arrives from
a host, the delay of what it passes on to one). So path delay and loss are applied
once per leg, never twice to the same packet.

A ``degrade`` verdict marks the flow's packets with a DSCP (``compiler.Compiled.marks``);
each host's INPUT drops and delays marked packets as the action says. That is the
"degrade shaper" the DPI steers flows through, run at the flow's receivers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from testbed.emu.system import NETEM, NFQUEUE
from testbed.policy.model import Action
from testbed.topo import ms, path

PATH_QUEUE = 1
TUNNEL_DEVICES = "tbtun"   # name prefix of the tunnels' tun devices
DEGRADE_QUEUE_BASE = 100   # + the DSCP mark


def link_params(info: dict[str, Any], shaper: str) -> dict[str, Any]:
    """Mininet TCLink options for a topology link. Checksum offload off: the userspace
    datapath does not fill in checksums, so offloaded packets would arrive corrupt."""
    params: dict[str, Any] = {"txo": False, "rxo": False}
    if info.get("bw"):
        params["bw"] = float(info["bw"])
    if shaper == NETEM:
        if ms(info.get("delay")):
            params["delay"] = f"{ms(info.get('delay')):g}ms"
        if ms(info.get("jitter")):
            params["jitter"] = f"{ms(info.get('jitter')):g}ms"
        if info.get("loss"):
            params["loss"] = float(info["loss"])
    return params


@dataclass(frozen=True)
class HostShaping:
    """What one host's netfilter and agent do."""

    host: str
    rules: tuple[str, ...]                                          # iptables -A lines (filter table)
    path: dict[str, tuple[float, float]] = field(default_factory=dict)       # dst ip → (delay, jitter) ms
    degrade: dict[int, tuple[float, float]] = field(default_factory=dict)    # queue → (delay, jitter) ms

    def restore_input(self) -> str:
        """The filter table for ``iptables-restore`` (replaces whatever was there)."""
        return "\n".join(["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
                          *self.rules, "COMMIT", ""])

    @property
    def needs_delayer(self) -> bool:
        return bool(self.path or self.degrade)


def _probability(loss: float) -> str:
    return f"{min(max(loss, 0.0), 1.0):.6f}"


def host_shaping(topo: Any, host: str, ips: dict[str, str], shaper: str,
                 marks: dict[Action, int]) -> HostShaping:
    """The rules for ``host``; ``ips``: every host's address (no prefix length)."""
    rules: list[str] = []
    delays: dict[str, tuple[float, float]] = {}
    if shaper == NFQUEUE:
        # what goes into or comes out of a tunnel device was shaped as the tunnel's own packets
        rules += [f"-A OUTPUT -o {TUNNEL_DEVICES}+ -j ACCEPT", f"-A INPUT -i {TUNNEL_DEVICES}+ -j ACCEPT"]
        for other, addr in sorted(ips.items()):
            if other == host:
                continue
            model = path(topo, host, other)
            for chain in ("INPUT", "FORWARD"):     # the loss of what arrives from there (to stay, or to go on)
                if model.loss > 0:
                    rules.append(f"-A {chain} -s {addr}/32 -m statistic --mode random "
                                 f"--probability {_probability(model.loss)} -j DROP")
            for chain in ("OUTPUT", "FORWARD"):    # the delay of what leaves for there (sent, or passed on)
                if model.delay_ms > 0 or model.jitter_ms > 0:
                    rules.append(f"-A {chain} -d {addr}/32 -j NFQUEUE --queue-num {PATH_QUEUE}")
            if model.delay_ms > 0 or model.jitter_ms > 0:
                delays[addr] = (model.delay_ms, model.jitter_ms)
    degrade: dict[int, tuple[float, float]] = {}
    for action, mark in sorted(marks.items(), key=lambda am: am[1]):
        if action.loss_pct > 0:
            rules.append(f"-A INPUT -m dscp --dscp {mark} -m statistic --mode random "
                         f"--probability {_probability(action.loss_pct / 100)} -j DROP")
        if action.delay_ms > 0 or action.jitter_ms > 0:
            queue = DEGRADE_QUEUE_BASE + mark
            rules.append(f"-A INPUT -m dscp --dscp {mark} -j NFQUEUE --queue-num {queue}")
            degrade[queue] = (action.added_delay_ms, action.jitter_ms)
    return HostShaping(host, tuple(rules), delays, degrade)
