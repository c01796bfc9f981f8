"""What a signature is: a small class with ``inspect(pkt, flow) -> Detection | None``."""

from __future__ import annotations

from dataclasses import dataclass

from testbed.dpi.flow import Flow


@dataclass(slots=True)
class Pkt:
    """One packet as a signature sees it. ``index`` counts both directions, from 1.

    Not frozen: built once per inspected packet, and frozen dataclasses are slow to build.
    """

    payload: bytes
    direction: int       # flow.UP (client → server) or flow.DOWN
    index: int
    ts: float
    proto: int
    tcp_flags: int


@dataclass(frozen=True, slots=True)
class Detection:
    """A signature's finding. ``final``: no later packet will make it more specific."""

    app: str
    why: str
    final: bool = True


class Signature:
    """Base class. ``protos``: the L4 protocols it looks at (ip.UDP, ip.TCP).

    ``ports``: when not empty, the signature only looks at flows with one of
    these ports on either side — for framings too weak to trust anywhere else
    (the apps document these ports).
    ``payload_packets``: when not 0, it only looks at a flow's first that many
    packets with payload (a handshake's place); the classifier then drops it
    from the flow, which keeps the per-packet cost down.
    """

    name = "signature"
    protos: frozenset[int] = frozenset()
    ports: frozenset[int] = frozenset()
    payload_packets = 0

    def leads(self, proto: int) -> frozenset[int] | None:
        """The first payload bytes it can match on ``proto``; None: any. Lets the classifier skip it."""
        return None

    def applies(self, flow: Flow) -> bool:
        """Whether to look at this flow at all (decided once, at its first packet)."""
        return not self.ports or flow.sport in self.ports or flow.cport in self.ports

    def inspect(self, pkt: Pkt, flow: Flow) -> Detection | None:
        raise NotImplementedError
