"""Link capacity in simulation: the offered load on each link direction and its queue.

Assumptions (the README's "physics" section repeats them):
- Load is fluid: each call in progress offers its bitrate (codec plus the strategy's
  measured overhead) each way on every link of its path, from its start to its end;
  non-VoIP flows offer their mean load (arrival rate × lifetime × rate, Little's law),
  spread over the subscriber hosts like the subscribers are.
- Each link direction is an M/M/1/K queue: K = 1000 packets (Linux's default
  ``txqueuelen``, the queue behind HTB in the emulation) of 200 bytes on average. A
  call sees the loss and queueing delay of its links as they are when it starts (its own
  load included) and keeps them for its whole length.
"""

from __future__ import annotations

from typing import Any

QUEUE_PACKETS = 1000
PACKET_BYTES = 200
MM1_BELOW = 0.9     # loads under which ρ^K vanishes and the queue is M/M/1
INF = float("inf")


def mm1k(rho: float, k: int = QUEUE_PACKETS) -> tuple[float, float]:
    """(blocking probability, mean packets in the system) of an M/M/1/K queue at load ρ."""
    if rho <= 0:
        return 0.0, 0.0
    if abs(rho - 1) < 1e-9:
        return 1 / (k + 1), k / 2
    if rho > 1:  # computed on 1/ρ to keep the powers finite
        r = 1 / rho
        rk = r ** k
        blocking = (1 - r) / (1 - rk * r)          # = (1-ρ)ρ^K / (1-ρ^(K+1)) rewritten
        mean = k - (r / (1 - r) - (k + 1) * rk * r / (1 - rk * r))
        return blocking, mean
    rk = rho ** k
    blocking = (1 - rho) * rk / (1 - rk * rho)
    mean = rho / (1 - rho) - (k + 1) * rk * rho / (1 - rk * rho)
    return blocking, mean


def queue(offered_kbps: float, capacity_kbps: float) -> tuple[float, float]:
    """(loss, queueing delay in ms) of one link direction."""
    if capacity_kbps == INF or offered_kbps <= 0:
        return 0.0, 0.0
    rho = offered_kbps / capacity_kbps
    service_ms = PACKET_BYTES * 8 / capacity_kbps   # bits / (kbit/s) = ms
    if rho < MM1_BELOW:   # ρ^K vanishes: M/M/1, no loss, a wait of one service time / (1 - ρ)
        return 0.0, service_ms / (1 - rho)
    blocking, in_system = mm1k(rho)
    carried = rho * (1 - blocking)
    delay = in_system * service_ms / carried if carried > 0 else 0.0
    return blocking, delay


class Links:
    """The load on every link direction of a topology, in kbit/s."""

    def __init__(self, topo: Any) -> None:
        self.ids: dict[tuple[str, str], int] = {}
        self.capacity: list[float] = []
        for a, b, info in topo.links(withInfo=True):
            cap = float(info["bw"]) * 1000 if info.get("bw") else float("inf")
            for key in ((a, b), (b, a)):
                self.ids[key] = len(self.capacity)
                self.capacity.append(cap)
        self.load = [0.0] * len(self.capacity)
        self._service_ms = [PACKET_BYTES * 8 / cap for cap in self.capacity]   # as ``queue`` computes it

    def both_ways(self, hops: tuple[tuple[str, str], ...]) -> tuple[int, ...]:
        """The link directions a two-way flow along ``hops`` uses."""
        return tuple(self.ids[h] for h in hops) + tuple(self.ids[(b, a)] for a, b in hops)

    def add(self, ids: tuple[int, ...], kbps: float) -> None:
        load = self.load
        for i in ids:
            load[i] += kbps

    def state(self, ids: tuple[int, ...], joining_kbps: float = 0.0) -> tuple[float, float]:
        """(loss, added one-way delay in ms) of a two-way flow on ``ids`` (``both_ways``'s
        order: there, then back), the two directions averaged; ``joining_kbps``: the flow's
        own load, added first (``add``)."""
        load, capacity, service_ms = self.load, self.capacity, self._service_ms
        if joining_kbps:
            for i in ids:
                load[i] += joining_kbps
        half, mm1 = len(ids) // 2, MM1_BELOW
        losses, delays = 0.0, 0.0
        for way in (ids[:half], ids[half:]):
            keep, delay = 1.0, 0.0
            for i in way:
                rho = load[i] / capacity[i]   # 0 on an unlimited link
                if rho < mm1:   # ``queue``'s own shortcut, without the call: no loss, the M/M/1 wait
                    if rho > 0:
                        delay += service_ms[i] / (1 - rho)
                else:
                    loss, wait = queue(load[i], capacity[i])
                    keep *= 1 - loss
                    delay += wait
            losses += 1 - keep
            delays += delay
        return losses / 2, delays / 2
