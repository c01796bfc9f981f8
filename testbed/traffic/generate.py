"""Synthetic traffic as a capture: N calls (or flows) of an app, optionally wrapped by a
circumvention strategy, built by the very builders the simulator and the emulation use
(``apps.PROFILES`` → ``circumvention.STRATEGIES`` → ``wire.packets``).

For Wireshark in class and for the referees (ndpiReader, nfstream, tshark): every
packet has correct IPv4/UDP/TCP headers and checksums; TCP flows open with a
handshake, keep their sequence numbers consecutive and close with FINs; addresses
are the topology's (subscribers of ``operator_edge``, the app's server or the
strategy's VPN/TURN host). Calls arrive as a Poisson process; a call's media flows
start when its signalling is answered. Pure: the caller writes the packets.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from testbed.topo import server_for, subscriber_hosts
from testbed.traffic.apps import CALL, MEDIA, PROFILES, SIGNALLING, FlowPlan
from testbed.traffic.circumvention import STRATEGIES
from testbed.traffic.wire import Endpoints, packets

EPOCH = 1452157200.0        # 2016-01-07 09:00 UTC: the morning the Moroccan block began
MEAN_GAP_S = 2.0            # mean time between call (or flow) arrivals
PACKETS = 48                # packets built per flow: its opening and about half a second of media
SUBSCRIBERS = 8


@dataclass(frozen=True)
class GeneratedFlow:
    """One flow of the capture, with what it is meant to be (for the referees)."""

    call: int
    app: str                 # traffic profile
    strategy: str
    role: str                # signalling | media | data
    l4: str                  # udp | tcp
    client: tuple[str, int]
    server: tuple[str, int]
    start: float             # capture time of its first packet
    packets: int


def _ip(info: dict[str, Any]) -> str:
    return str(info["ip"]).split("/")[0]


def _starts(plans: tuple[FlowPlan, ...]) -> list[float]:
    """When each flow starts within its call: media once the signalling got its last answer."""
    answered = max((s.t for p in plans if p.role == SIGNALLING for s in p.segments), default=0.0)
    return [answered + 0.01 if p.role == MEDIA and answered else 0.0 for p in plans]


def generate(apps: list[str], strategy: str = "none", count: int = 10, seed: int = 1, *,
             packets_per_flow: int = PACKETS, topology: Any = None) -> tuple[list[tuple[float, bytes]], list[GeneratedFlow]]:
    """(timestamped IP packets in time order, the flows) of ``count`` calls or flows of each app.

    ``strategy`` wraps the calls (flows of web, game or chat are never wrapped).
    Raises ValueError for an unknown app or strategy.
    """
    unknown = [a for a in apps if a not in PROFILES]
    if unknown:
        raise ValueError(f"unknown app {unknown[0]!r} – choose one of {sorted(PROFILES)}")
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown circumvention {strategy!r} – choose one of {sorted(STRATEGIES)}")
    if topology is None:
        from topologies import TOPOLOGIES

        topology = TOPOLOGIES["operator_edge"](subscribers=SUBSCRIBERS, calling_apps=1)
    info = {h: topology.nodeInfo(h) for h in topology.hosts()}
    subscribers = subscriber_hosts(info)
    rng = random.Random(seed)
    out: list[tuple[float, bytes]] = []
    flows: list[GeneratedFlow] = []
    used: set[tuple[str, int]] = set()
    t = EPOCH
    call = 0
    for _ in range(count):
        for app in apps:
            t += rng.expovariate(1 / MEAN_GAP_S)
            call += 1
            profile = PROFILES[app]
            wrap = STRATEGIES[strategy if profile.kind == CALL else "none"]
            plans = wrap.transform(profile.build(rng, packets_per_flow), rng)
            host, operator = rng.choice(subscribers)
            server = server_for(topology, info, app, operator)
            hop = server_for(topology, info, wrap.via, operator) if wrap.via else server
            for plan, start in zip(plans, _starts(plans)):
                client = (_ip(info[host]), rng.randint(32768, 60999))
                while client in used:
                    client = (client[0], rng.randint(32768, 60999))
                used.add(client)
                ends = Endpoints(client[0], client[1], _ip(info[hop]), plan.server_port)
                built = [(t + start + dt, pkt) for dt, pkt in packets(plan, ends, close=True)]
                out += built
                flows.append(GeneratedFlow(call, app, wrap.name, plan.role, plan.l4, client,
                                           (ends.server_ip, ends.server_port), built[0][0], len(built)))
    out.sort(key=lambda tp: tp[0])
    return out, flows
