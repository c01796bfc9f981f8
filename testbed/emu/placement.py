"""Placing flows on the agents: one flow plan → a ``serve`` for the server's agent and an
``open`` for the client's, and the steps of running them (a generator of ``Wait``).

The server side is told first and acknowledges before the client sends its first
packet: a datagram arriving at a port nobody listens on yet would draw an ICMP
unreachable, which the client would take for a reset.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from testbed.dpi.flow import FlowKey
from testbed.emu.mailbox import Steps, Wait
from testbed.emu.media import media_sizes, templates
from testbed.emu.messages import Ack, Command, End, Key, Message, Open, Report, Serve, SideSpec
from testbed.packets.ip import TCP, UDP, addr_bytes
from testbed.traffic.apps import SIGNALLING, FlowPlan

ACK_TIMEOUT_S = 10.0
LINGER_S = 0.5     # a side keeps receiving this long after it stopped sending
SERVER_GRACE_S = 2 * LINGER_S
SLACK_S = 15.0     # how late past its planned end a report may come before the run is broken


@dataclass(frozen=True)
class FlowSpec:
    id: str
    client: str            # host names
    server: str
    client_ip: str
    server_ip: str
    client_port: int
    plan: FlowPlan
    hold: float = 0.0      # media seconds after the opening (0: the opening only)
    frame_ms: float = 20.0
    setup_timeout: float = 10.0
    max_loss_pct: float = 100.0
    start_in: float = 0.0  # seconds after the client gets the command (spreads many flows' starts)
    mark: int = 0          # SO_MARK on the client's socket: an ``ip rule fwmark`` routes it into a tunnel
    client_seen: tuple[str, int] | None = None   # the client as the server sees it (after a NAT or relay)
    client_to: tuple[str, int] | None = None     # where the client sends instead (a local relay client)

    @property
    def key(self) -> FlowKey:
        """The classifier's flow key (the client sends the first packet)."""
        return (UDP if self.plan.l4 == "udp" else TCP, addr_bytes(self.client_ip), self.client_port,
                addr_bytes(self.server_ip), self.plan.server_port)

    def planned_s(self) -> float:
        opening = max((s.t for s in self.plan.segments), default=0.0)
        return self.start_in + opening + self.hold + self.setup_timeout + LINGER_S


def _side(spec: FlowSpec, up: bool) -> SideSpec:
    plan = spec.plan
    mine = tuple((s.t, s.payload) for s in plan.segments if s.up == up)
    theirs = [s.payload for s in plan.segments if s.up != up]
    final = max((s for s in plan.segments if s.up != up), key=lambda s: s.t, default=None)
    own_t = templates(plan, up) if spec.hold > 0 else []
    their_t = templates(plan, not up) if spec.hold > 0 else []
    seen = spec.client_seen or (spec.client_ip, spec.client_port)
    to = spec.client_to or (spec.server_ip, plan.server_port)
    local, (peer, peer_port) = (spec.client_port, to) if up else (plan.server_port, seen)
    return SideSpec(id=spec.id, l4=plan.l4, local_port=local, peer=peer, peer_port=peer_port,
                    segments=mine, templates=tuple(own_t), frame_ms=spec.frame_ms, hold=spec.hold,
                    setup_timeout=spec.setup_timeout, max_loss_pct=spec.max_loss_pct, linger=LINGER_S,
                    expect_packets=len(theirs), expect_bytes=sum(map(len, theirs)),
                    peer_sizes=tuple(len(p) for p in theirs), peer_media_sizes=tuple(media_sizes(their_t)),
                    peer_final=final.payload if final is not None and plan.l4 == "udp" and plan.role == SIGNALLING
                    else b"")


def commands(spec: FlowSpec) -> tuple[Serve, Open]:
    """(serve for the server's agent, open for the client's)."""
    return Serve(_side(spec, up=False)), Open(_side(spec, up=True), start_in=spec.start_in, mark=spec.mark)


Send = Callable[[str, Command], None]


def place(send: Send, take: Callable[[tuple[Key, ...]], dict[Key, Message]],
          specs: list[FlowSpec]) -> Steps:
    """Run flows to their end; returns {(flow id, "client" | "server"): report}."""
    for spec in specs:
        send(spec.server, commands(spec)[0])
    acks = tuple((Ack, s.id) for s in specs)
    yield Wait(acks, ACK_TIMEOUT_S, "server agents")
    take(acks)
    for spec in specs:
        send(spec.client, commands(spec)[1])
    clients = tuple((Report, s.id, "client") for s in specs)
    yield Wait(clients, max(s.planned_s() for s in specs) + SLACK_S, "client agents")
    # a server ends by itself once the client's last packets are in; those the client's
    # packets never reached (blocked, or the client gave up) are told to stop
    servers = tuple((Report, s.id, "server") for s in specs)
    yield Wait(servers, SERVER_GRACE_S, "server agents", optional=True)
    for spec in specs:
        send(spec.server, End(spec.id))
    yield Wait(servers, ACK_TIMEOUT_S, "server agents")
    got = take(clients + servers)
    out: dict[tuple[str, str], Report] = {}
    for key, msg in got.items():
        assert isinstance(msg, Report)
        out[(key[1], key[2])] = msg
    return out
