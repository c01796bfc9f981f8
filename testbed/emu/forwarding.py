"""What the DPI switch did to each flow, measured on its ports (pure: a capture's packets in).

The capture of a cell (``testbed.emu.capture``) holds every packet each port of
the DPI switch saw, in and out. A packet the switch forwarded shows twice, with
the same bytes: on the port it came in by and on the one it left by (OVS only
ever rewrites a degraded packet's DSCP, in the IP header). So a packet is known
by its IP identification and its L4 segment: each arrival is paired with a
departure of the same signature, first come first paired; an arrival left
unpaired is a packet the switch did not forward. Departures with no arrival are
the switch's own (a reset's RST or ICMP) and are left out.

Which way a packet crosses comes from the flow key (the client sent the first
packet) and which side of the switch each port faces: the client's packets come
in on the access side (subscribers are the clients of every flow the workload
places), the server's on the core side.

Time-to-block, measured: the first packet of a flow (both directions, in order of
arrival, from 1) the switch did not forward, and its arrival minus the flow's
first arrival.
"""

from __future__ import annotations

import struct
from array import array
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from testbed.dpi.flow import FlowKey

ACCESS, CORE = "access", "core"
_UDP, _TCP = 17, 6
_V4 = struct.Struct("!BxHHHxB2x4s4sHH")   # ver/ihl, length, id, fragment, protocol, addresses, ports


@dataclass(frozen=True)
class Passage:
    """One flow through the DPI switch, as its ports saw it."""

    arrived: int                 # packets of the flow that reached the switch, both directions
    forwarded: int               # of those, the ones that left it
    arrived_up: int              # the client's packets that reached it (on the access side)
    forwarded_up: int
    ttb_packets: int | None      # the first packet not forwarded (arrival order, both directions, from 1)
    ttb_ms: float | None         # its arrival minus the flow's first arrival (None: all forwarded)

    @property
    def blocked(self) -> bool:
        return self.ttb_packets is not None


def _decode(packet: bytes) -> tuple[FlowKey, tuple[int, int]] | None:
    """An IPv4 UDP/TCP packet's 5-tuple and its signature (IP id, hash of the L4 segment)."""
    if len(packet) < 24 or packet[0] >> 4 != 4:
        return None
    ver_ihl, total, ident, frag, proto, src, dst, sport, dport = _V4.unpack_from(packet)
    ihl = (ver_ihl & 0x0F) * 4
    if proto not in (_UDP, _TCP) or frag & 0x1FFF or ihl < 20 or len(packet) < ihl + 4:
        return None
    if ihl != 20:
        sport, dport = struct.unpack_from("!HH", packet, ihl)
    end = total if ihl <= total <= len(packet) else len(packet)
    return (proto, src, sport, dst, dport), (ident, hash(packet[ihl:end]))


class _Flow:
    """The sightings of one flow, paired as they come (a capture's interfaces interleave)."""

    __slots__ = ("arrivals", "forwarded", "pending_in", "pending_out")

    def __init__(self) -> None:
        self.arrivals: list[Any] = [array("d"), array("q"), array("b")]   # time, file order, up
        self.forwarded = [0, 0]                                           # down, up
        self.pending_in: dict[tuple[bool, tuple[int, int]], deque[int]] = {}   # → arrival numbers
        self.pending_out: dict[tuple[bool, tuple[int, int]], int] = {}         # → departures waiting

    def arrive(self, up: bool, sig: tuple[int, int], ts: float, order: int) -> None:
        times, orders, ups = self.arrivals
        n = len(times)
        times.append(ts)
        orders.append(order)
        ups.append(int(up))
        waiting = self.pending_out.get((up, sig), 0)
        if waiting:
            self.pending_out[(up, sig)] = waiting - 1
            self.forwarded[up] += 1
        else:
            self.pending_in.setdefault((up, sig), deque()).append(n)

    def depart(self, up: bool, sig: tuple[int, int]) -> None:
        queue = self.pending_in.get((up, sig))
        if queue:
            queue.popleft()
            self.forwarded[up] += 1
        else:
            self.pending_out[(up, sig)] = self.pending_out.get((up, sig), 0) + 1

    def passage(self) -> Passage:
        times, orders, ups = self.arrivals
        arrived_up = sum(ups)
        held = [n for queue in self.pending_in.values() for n in queue]
        ttb_packets = ttb_ms = None
        if held:
            blocked = min(held, key=lambda n: (times[n], orders[n]))
            mark = (times[blocked], orders[blocked])
            ttb_packets = 1 + sum(1 for t, o in zip(times, orders) if (t, o) < mark)
            ttb_ms = (times[blocked] - min(times)) * 1000
        return Passage(len(times), sum(self.forwarded), arrived_up, self.forwarded[True], ttb_packets, ttb_ms)


def passages(packets: Iterable[tuple[str, float, bytes]], sides: dict[str, str],
             keys: Iterable[FlowKey]) -> dict[FlowKey, Passage]:
    """Each flow's passage through the switch.

    Args:
        packets: (port name, time, IP packet) as the capture holds them, in file order.
        sides: each port of the DPI switch → ``ACCESS`` or ``CORE`` (other ports are ignored).
        keys: the flows to measure (the classifier's keys: the client sent the first packet).

    Returns:
        A passage for every key of which the switch saw at least one packet.
    """
    flows: dict[FlowKey, _Flow] = {}
    wanted = set(keys)
    for order, (port, ts, packet) in enumerate(packets):
        side = sides.get(port)
        if side is None:
            continue
        found = _decode(packet)
        if found is None:
            continue
        (proto, src, sport, dst, dport), sig = found
        key: FlowKey = (proto, src, sport, dst, dport)
        up = key in wanted
        if not up:
            key = (proto, dst, dport, src, sport)
            if key not in wanted:
                continue
        flow = flows.get(key)
        if flow is None:
            flow = flows[key] = _Flow()
        if (side == ACCESS) == up:
            flow.arrive(up, sig, ts, order)
        else:
            flow.depart(up, sig)
    return {key: flow.passage() for key, flow in flows.items() if len(flow.arrivals[0])}


def port_sides(links: dict[str, str], topo: Any, dpi: str) -> dict[str, str]:
    """Which side of the DPI switch each of its ports faces: ``ACCESS`` where subscribers
    can be reached without crossing a DPI switch (this one or another operator's), else ``CORE``.

    Args:
        links: port name → the node at its other end.
        topo: the topology (``links()``, ``nodeInfo``).
        dpi: the DPI switch's name.
    """
    neighbours: dict[str, set[str]] = {}
    for a, b in topo.links():
        neighbours.setdefault(a, set()).add(b)
        neighbours.setdefault(b, set()).add(a)

    def reaches_subscribers(start: str) -> bool:
        seen, todo = {dpi, start}, [start]
        while todo:
            node = todo.pop()
            if topo.nodeInfo(node).get("role") == "subscriber":
                return True
            for other in neighbours.get(node, ()):
                if other not in seen and topo.nodeInfo(other).get("role") != "dpi":
                    seen.add(other)
                    todo.append(other)
        return False

    return {port: ACCESS if reaches_subscribers(node) else CORE for port, node in links.items()}
