"""A call attempt's plan: what it is before any packet travels (pure).

The plan names the app and the strategy, the flows as the operator's DPI will see
them (real bytes from ``testbed.traffic``, wrapped by the strategy) and as the app
sends them inside, the server that answers, the first hop the subscriber's packets
go to (the server, or a VPN/TURN host) and the path's link model. Both networks
carry the same plans; nothing here depends on how.

Bytes are drawn per *variant*: ``variants`` random draws per app, strategy and
subscriber host, picked at random per call and built once (the simulator's cache:
the classifier is deterministic in the bytes). ``variants=0`` builds each call's own.
Everything a plan holds but its attempt is one ``Shape`` per app, strategy, subscriber
host and variant, built once: a network may key what it works out per shape on it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from testbed.topo import PathModel, path, server_for
from testbed.traffic.apps import OPENING_PACKETS, PROFILES, SIGNALLING, AppProfile, FlowPlan, Segment
from testbed.traffic.circumvention import STRATEGIES, Strategy, media_packet_bytes, overhead_bytes
from testbed.workload.calls import Attempt

DPI_ROLE = "dpi"
SIP_PROVISIONAL = b"SIP/2.0 100 "   # 100 Trying is not ringback (RFC 6076 §4.1: PDD ends at 18x or final)


def with_ringback(plans: tuple[FlowPlan, ...]) -> tuple[FlowPlan, ...]:
    """The app's flows with the segment on which the caller hears ringing marked: the first
    answer on its first flow that is not SIP's 100 Trying."""
    first = plans[0]
    for seg in sorted(first.segments, key=lambda s: s.t):
        if not seg.up and not seg.payload.startswith(SIP_PROVISIONAL):
            marked = tuple(replace(s, ringback=True) if s is seg else s for s in first.segments)
            return (replace(first, segments=marked),) + plans[1:]
    return plans


def ringback(flow: FlowPlan) -> Segment | None:
    return next((s for s in flow.segments if s.ringback), None)


@dataclass(frozen=True, slots=True)
class Route:
    """Where a subscriber's call to an app goes, and what the path does (one way)."""

    server: str                 # the host that answers for the app (its relay, the callee's side)
    first_hop: str              # where the subscriber's packets go: the server, or the VPN/TURN host
    path: PathModel             # subscriber → (first hop →) server
    first_leg: PathModel        # subscriber → first hop: what the DPI's flows cross
    to_dpi_ms: float            # subscriber → the DPI switch on the first leg (0 if none)
    links: tuple[tuple[str, str], ...]   # the links crossed, in order (from, to)

    @property
    def from_dpi_ms(self) -> float:
        return self.first_leg.delay_ms - self.to_dpi_ms


@dataclass(frozen=True, slots=True)
class Variant:
    """One draw of an app's flows, as sent and as the DPI sees them."""

    index: int
    inner: tuple[FlowPlan, ...]        # the app's own flows
    flows: tuple[FlowPlan, ...]        # after the strategy: what crosses the DPI
    client_ports: tuple[int, ...]      # one per flow
    media_bytes: float                 # a media packet on the wire (IP and L4 headers, the strategy's too)
    overhead_bytes: float              # of which the strategy's, measured on these bytes


@dataclass(frozen=True, slots=True, eq=False)
class Shape:
    """What the calls of one app, strategy, subscriber host and variant share (compared and
    hashed by identity: the planner builds each once)."""

    profile: AppProfile
    strategy: Strategy
    route: Route
    variant: Variant

    @property
    def media_kbps(self) -> float:
        """Each way on the wire, the strategy's overhead included: the packets' own sizes at the codec's pace."""
        codec = self.profile.codec
        assert codec is not None
        return self.variant.media_bytes * 8 * codec.packets_per_s / 1000


class CallPlan(NamedTuple):
    """One attempt and its shape (a named tuple: immutable, and one is built per attempt)."""

    attempt: Attempt
    shape: Shape

    @property
    def profile(self) -> AppProfile:
        return self.shape.profile

    @property
    def strategy(self) -> Strategy:
        return self.shape.strategy

    @property
    def route(self) -> Route:
        return self.shape.route

    @property
    def variant(self) -> Variant:
        return self.shape.variant

    @property
    def media_kbps(self) -> float:
        return self.shape.media_kbps

    @property
    def signalling(self) -> tuple[FlowPlan, ...]:
        return tuple(p for p in self.shape.variant.flows if p.role == SIGNALLING)


@dataclass
class Planner:
    """Plans calls on one topology; routes and (with ``variants``) bytes are cached."""

    topo: Any
    seed: int
    variants: int = 16
    info: dict[str, dict[str, Any]] = field(init=False)
    _routes: dict[tuple[str, str, str], Route] = field(init=False, default_factory=dict)
    _variants: dict[tuple[str, str, int], Variant] = field(init=False, default_factory=dict)
    _shapes: dict[tuple[str, str, str, int], Shape] = field(init=False, default_factory=dict)
    _pick: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.info = {h: self.topo.nodeInfo(h) for h in self.topo.hosts()}
        self._pick = random.Random(f"variants:{self.seed}")

    def ip(self, host: str) -> str:
        return str(self.info[host]["ip"]).split("/")[0]

    def route(self, app: str, strategy: str, host: str, operator: str) -> Route:
        key = (app, strategy, host)
        found = self._routes.get(key)
        if found is None:
            found = self._routes[key] = self._route(app, STRATEGIES[strategy], host, operator)
        return found

    def _route(self, app: str, strategy: Strategy, host: str, operator: str) -> Route:
        server = server_for(self.topo, self.info, app, operator)
        first_hop = server_for(self.topo, self.info, strategy.via, operator) if strategy.via else server
        leg = path(self.topo, host, first_hop)
        whole = leg if first_hop == server else leg.via(path(self.topo, first_hop, server))
        dpis = [n for n in leg.hops if n in self.topo.switches() and self.topo.nodeInfo(n).get("role") == DPI_ROLE]
        to_dpi = path(self.topo, host, dpis[0]).delay_ms if dpis else 0.0
        return Route(server, first_hop, whole, leg, to_dpi, tuple(zip(whole.hops, whole.hops[1:])))

    def variant(self, app: str, strategy: str, index: int) -> Variant:
        """The bytes of variant ``index`` (built on first use; every call its own with ``variants=0``)."""
        key = (app, strategy, index)
        found = self._variants.get(key)
        if found is None:
            found = self._build(app, STRATEGIES[strategy], index)
            if self.variants:
                self._variants[key] = found
        return found

    def _build(self, app: str, strategy: Strategy, index: int) -> Variant:
        tag = f"{self.seed}:{app}:{strategy.name}:{index}"
        inner = with_ringback(PROFILES[app].build(random.Random("build:" + tag), OPENING_PACKETS))
        flows = strategy.transform(inner, random.Random("wrap:" + tag))
        ports = random.Random("ports:" + tag)
        overhead = overhead_bytes(strategy, inner, random.Random("overhead:" + tag))
        return Variant(index, inner, flows, tuple(ports.randint(32768, 60999) for _ in flows),
                       media_packet_bytes(inner) + overhead, overhead)

    def pick(self, unique: int) -> int:
        """A variant index: one of ``variants`` at random, or ``unique`` (every call its own)."""
        return int(self._pick.random() * self.variants) if self.variants else unique

    def plan(self, attempt: Attempt) -> CallPlan:
        sub, app, strategy = attempt.subscriber, attempt.app, attempt.strategy
        key = (app, strategy, sub.host,
               int(self._pick.random() * self.variants) if self.variants else attempt.call_id)   # = pick()
        shape = self._shapes.get(key)
        if shape is None:
            shape = Shape(PROFILES[app], STRATEGIES[strategy], self.route(app, strategy, sub.host, sub.operator),
                          self.variant(app, strategy, key[3]))
            if self.variants:
                self._shapes[key] = shape
        return CallPlan(attempt, shape)
