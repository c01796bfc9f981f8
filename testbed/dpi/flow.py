"""The flow table: 5-tuple flows in both directions, an inspection window, idle expiry."""

from __future__ import annotations

from typing import Any

from testbed.packets.ip import Decoded, peek

FlowKey = tuple[int, bytes, int, bytes, int]  # proto, client ip, client port, server ip, server port

UP, DOWN = 0, 1  # client → server (the first packet's direction), server → client


class Flow:
    """One bidirectional flow; the client is whoever sent the first packet we saw."""

    __slots__ = ("key", "proto", "client", "cport", "server", "sport", "first_ts", "last_ts",
                 "packets", "up_packets", "down_packets", "bytes", "labels", "app", "app_final",
                 "app_packet", "app_why", "sni", "state", "verdict", "candidates", "media",
                 "payload_packets", "sigs", "dispatch", "known", "harvest", "fingerprint")

    def __init__(self, d: Decoded, ts: float) -> None:
        self.key: FlowKey = (d.proto, d.src, d.sport, d.dst, d.dport)
        self.proto, self.client, self.cport, self.server, self.sport = self.key
        self.first_ts = self.last_ts = ts
        self.packets = self.up_packets = self.down_packets = self.bytes = 0
        self.payload_packets = 0
        self.labels: list[str] = []          # every app a signature named, in order
        self.app: str | None = None          # the most specific of them
        self.app_final = False
        self.app_packet = 0
        self.app_why = ""
        self.sni: str | None = None
        self.state: dict[Any, Any] = {}      # per-signature scratch space
        self.verdict: Any = None             # the Verdict once decided
        self.candidates: tuple[Any, ...] = ()  # rules whose L3/L4 part matches this flow
        self.media: Any = None               # behavioural detector state
        self.sigs: tuple[Any, ...] = ()      # the signatures still looking at this flow
        self.dispatch: Any = None            # those signatures by first payload byte
        self.known: Any = None               # the service whose block holds an address (knowledge.py)
        self.harvest = 0                     # read its packets for announced endpoints (association.py)
        self.fingerprint: Any = None         # the VPN fingerprint's state (fingerprint.py)

    def label(self, app: str, why: str, final: bool) -> None:
        """Record a signature's finding; a final one fixes the app."""
        if app not in self.labels:
            self.labels.append(app)
        if not self.app_final:
            self.app, self.app_why, self.app_packet, self.app_final = app, why, self.packets, final


class FlowTable:
    """Flows by canonical 5-tuple. A flow idle longer than ``idle_timeout`` starts anew.

    ``keep_history``: also list every flow ever created in ``history``, expired
    ones included (replaying a capture reports them all).
    """

    def __init__(self, idle_timeout: float = 30.0, max_flows: int = 1_000_000,
                 *, keep_history: bool = False) -> None:
        self.idle_timeout = idle_timeout
        self.max_flows = max_flows
        self.flows: dict[FlowKey, Flow] = {}
        self.expired = 0
        self.history: list[Flow] | None = [] if keep_history else None

    def lookup(self, d: Decoded, ts: float) -> tuple[Flow, int, bool]:
        """(flow, direction, is_new) for a decoded packet; the flow is updated for it."""
        flows = self.flows
        key = (d.proto, d.src, d.sport, d.dst, d.dport)
        flow = flows.get(key)
        direction = UP
        if flow is None:
            flow = flows.get((d.proto, d.dst, d.dport, d.src, d.sport))
            direction = DOWN
        new = flow is None or ts - flow.last_ts > self.idle_timeout
        if new:
            if flow is not None:
                del flows[flow.key]
                self.expired += 1
            if len(flows) >= self.max_flows:
                self.expire(ts)
            flow = Flow(d, ts)
            flows[key] = flow
            if self.history is not None:
                self.history.append(flow)
            direction = UP
        assert flow is not None
        flow.last_ts = ts
        flow.packets += 1
        flow.bytes += d.ip_len
        if direction == UP:
            flow.up_packets += 1
        else:
            flow.down_packets += 1
        if d.payload:
            flow.payload_packets += 1
        return flow, direction, new

    def decided(self, data: bytes, ts: float) -> Any:
        """Fast path: the verdict of an already decided flow, counted as ``lookup`` would; else None.

        Only plain IPv4 TCP/UDP (``ip.peek``), only flows decided, not idle and not
        read further (``harvest``): anything else takes the full path.
        """
        head = peek(data)
        if head is None:
            return None
        proto, src, sport, dst, dport, size = head
        flows = self.flows
        found = flows.get((proto, src, sport, dst, dport))
        up = found is not None
        if found is None:
            found = flows.get((proto, dst, dport, src, sport))
            if found is None:
                return None
        flow = found
        if flow.verdict is None or flow.harvest or ts - flow.last_ts > self.idle_timeout:
            return None
        flow.last_ts = ts
        flow.packets += 1
        flow.bytes += len(data)
        if up:
            flow.up_packets += 1
        else:
            flow.down_packets += 1
        if size:
            flow.payload_packets += 1
        return flow.verdict

    def expire(self, now: float) -> int:
        """Drop flows idle for longer than the timeout; returns how many went."""
        stale = [k for k, f in self.flows.items() if now - f.last_ts > self.idle_timeout]
        for key in stale:
            del self.flows[key]
        self.expired += len(stale)
        return len(stale)
