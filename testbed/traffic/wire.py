"""Flow plans into IP packets: UDP datagrams, or a TCP connection with its handshake."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from testbed.packets import ip
from testbed.traffic.apps import FlowPlan, Segment

TCP_HANDSHAKE_S = 0.06  # SYN → first payload: one round trip on our paths
MSS = 1460              # bytes of payload in one TCP segment on a 1500-byte path


@dataclass(frozen=True)
class Endpoints:
    client_ip: str
    client_port: int
    server_ip: str
    server_port: int


def seen_at(plan: FlowPlan, seg: Segment, rtt_s: float = TCP_HANDSHAKE_S, lag_s: float = 0.0) -> float:
    """When a segment passes the observer of ``packets``, after the flow's first packet."""
    return seg.t + (0.0 if seg.up else lag_s) + (rtt_s if plan.l4 == "tcp" else 0.0)


def packets(plan: FlowPlan, ends: Endpoints, rtt_s: float = TCP_HANDSHAKE_S, lag_s: float = 0.0, *,
            close: bool = False) -> Iterator[tuple[float, bytes]]:
    """(seconds after the first packet, IP packet) for the flow's opening, in time order.

    The plan's times are the client's. Seen from a point on the path (the DPI switch), the
    server's packets pass ``lag_s`` later (that point's round trip to the server), and a
    TCP handshake takes ``rtt_s`` (the client's round trip to the server).
    TCP: the three-way handshake, then each side's payloads in segments of at most
    ``MSS`` bytes with consecutive sequence numbers, each acknowledging what the other
    side sent before it; ``close``: then FIN from the client, FIN from the server, the
    last ACK. Lazy: a classifier that decides at packet 1 costs the building of one packet.
    """
    c, cp, s, sp = ends.client_ip, ends.client_port, ends.server_ip, ends.server_port
    timed = sorted(((seen_at(plan, seg, rtt_s, lag_s), i, seg) for i, seg in enumerate(plan.segments)),
                   key=lambda x: (x[0], x[1]))
    if plan.l4 == "udp":
        for t, _, seg in timed:
            yield t, ip.udp(c, s, cp, sp, seg.payload) if seg.up else ip.udp(s, c, sp, cp, seg.payload)
        return
    seq = [1000, 5000]  # client, server initial sequence numbers
    yield 0.0, ip.tcp(c, s, cp, sp, seq=seq[0] - 1, flags=ip.TCP_SYN)
    yield lag_s or rtt_s / 2, ip.tcp(s, c, sp, cp, seq=seq[1] - 1, ack=seq[0], flags=ip.TCP_SYN | ip.TCP_ACK)
    yield rtt_s, ip.tcp(c, s, cp, sp, seq=seq[0], ack=seq[1], flags=ip.TCP_ACK)
    t = rtt_s
    for t, _, seg in timed:
        me, peer = (0, 1) if seg.up else (1, 0)
        src, dst, sport, dport = (c, s, cp, sp) if seg.up else (s, c, sp, cp)
        for off in range(0, len(seg.payload), MSS):
            chunk = seg.payload[off:off + MSS]
            yield t, ip.tcp(src, dst, sport, dport, chunk, seq=seq[me], ack=seq[peer])
            seq[me] += len(chunk)
    if close:
        fin = ip.TCP_FIN | ip.TCP_ACK
        yield t + 0.001, ip.tcp(c, s, cp, sp, seq=seq[0], ack=seq[1], flags=fin)
        yield t + rtt_s / 2, ip.tcp(s, c, sp, cp, seq=seq[1], ack=seq[0] + 1, flags=fin)
        yield t + rtt_s, ip.tcp(c, s, cp, sp, seq=seq[0] + 1, ack=seq[1] + 1, flags=ip.TCP_ACK)
