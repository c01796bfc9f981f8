"""Flow plans into IP packets: UDP datagrams, or a TCP connection with its handshake."""

from __future__ import annotations

from dataclasses import dataclass

from testbed.packets import ip
from testbed.traffic.apps import FlowPlan

TCP_HANDSHAKE_S = 0.06  # SYN → first payload: one round trip on our paths


@dataclass(frozen=True)
class Endpoints:
    client_ip: str
    client_port: int
    server_ip: str
    server_port: int


def packets(plan: FlowPlan, ends: Endpoints) -> list[tuple[float, bytes]]:
    """(seconds after the first packet, IP packet) for the flow's opening, in time order."""
    c, cp, s, sp = ends.client_ip, ends.client_port, ends.server_ip, ends.server_port
    if plan.l4 == "udp":
        return [(seg.t, ip.udp(c, s, cp, sp, seg.payload) if seg.up else ip.udp(s, c, sp, cp, seg.payload))
                for seg in sorted(plan.segments, key=lambda x: x.t)]
    seq = [1000, 5000]  # client, server initial sequence numbers
    half = TCP_HANDSHAKE_S / 2
    out = [(0.0, ip.tcp(c, s, cp, sp, seq=seq[0] - 1, flags=ip.TCP_SYN)),
           (half, ip.tcp(s, c, sp, cp, seq=seq[1] - 1, ack=seq[0], flags=ip.TCP_SYN | ip.TCP_ACK)),
           (TCP_HANDSHAKE_S, ip.tcp(c, s, cp, sp, seq=seq[0], ack=seq[1], flags=ip.TCP_ACK))]
    for seg in sorted(plan.segments, key=lambda x: x.t):
        me, peer = (0, 1) if seg.up else (1, 0)
        src, dst, sport, dport = (c, s, cp, sp) if seg.up else (s, c, sp, cp)
        out.append((TCP_HANDSHAKE_S + seg.t,
                    ip.tcp(src, dst, sport, dport, seg.payload, seq=seq[me], ack=seq[peer])))
        seq[me] += len(seg.payload)
    return out
