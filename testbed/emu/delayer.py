"""A userspace delayer on NFQUEUE: where the kernel has no netem, packets wait here.

iptables sends the packets to delay to a numbered queue; each queue has a rule
for how long a packet waits (a normal draw: mean delay, standard deviation
jitter, never negative, as netem draws it — so packets may overtake each other,
as with netem). Verdicts are given later, from the owner's event loop
(``release``): NetfilterQueue allows a verdict after its callback returned.
Loss is not done here: iptables ``-m statistic`` drops before the queue.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from typing import Any

DelayRule = Callable[[bytes], tuple[float, float]]   # IP packet → (delay ms, jitter ms)
QUEUE_MAX = 8192


def by_destination(table: dict[bytes, tuple[float, float]]) -> DelayRule:
    """Delay by the packet's IPv4 destination (the path model to that host)."""
    def rule(packet: bytes) -> tuple[float, float]:
        return table.get(packet[16:20], (0.0, 0.0))
    return rule


def constant(delay_ms: float, jitter_ms: float) -> DelayRule:
    return lambda packet: (delay_ms, jitter_ms)


class Delayer:
    """Holds queued packets until their time; the owner polls ``fds`` and calls ``release``."""

    def __init__(self, rng: random.Random, clock: Callable[[], float]) -> None:
        self.rng, self.clock = rng, clock
        self.queues: dict[int, Any] = {}
        self.rules: dict[int, DelayRule] = {}
        self._heap: list[tuple[float, int, Any]] = []
        self._n = 0
        self.delayed = 0

    def bind(self, queue_num: int, rule: DelayRule) -> Any | None:
        """Set a queue's rule; bind the queue if new, returning the NetfilterQueue whose fd
        to watch (``run(block=False)``), else None."""
        from netfilterqueue import NetfilterQueue

        self.rules[queue_num] = rule
        if queue_num in self.queues:
            return None

        def on_packet(pkt: Any) -> None:
            delay_ms, jitter_ms = self.rules[queue_num](pkt.get_payload())
            if jitter_ms > 0:
                delay_ms = max(0.0, self.rng.gauss(delay_ms, jitter_ms))
            if delay_ms <= 0:
                pkt.accept()
                return
            self._n += 1
            heapq.heappush(self._heap, (self.clock() + delay_ms / 1000, self._n, pkt))

        queue = NetfilterQueue()
        queue.bind(queue_num, on_packet, max_len=QUEUE_MAX)
        self.queues[queue_num] = queue
        return queue

    def next_due(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def release(self) -> None:
        now = self.clock()
        heap = self._heap
        while heap and heap[0][0] <= now:
            heapq.heappop(heap)[2].accept()
            self.delayed += 1

    def close(self) -> None:
        while self._heap:
            heapq.heappop(self._heap)[2].accept()
        for queue in self.queues.values():
            queue.unbind()
        self.queues.clear()
