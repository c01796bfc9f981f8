"""What a path does to a call's media in simulation: pure formulas, each with its assumption.

- **Loss** on a path is independent per packet (as iptables ``statistic`` and netem
  drop); a call's loss is drawn around its expected rate (normal ≈ binomial).
- **Jitter** is normal delay variation of σ per packet (as netem and our NFQUEUE
  delayer draw it); the receiver's jitter buffer is ``testbed.metrics.playout``'s and
  the packets later than it count as lost.
- **A TCP tunnel** (OpenVPN or TURN over TCP 443) retransmits what its own leg loses (the
  subscriber's link to the VPN or TURN server; beyond it the call is UDP again), in order:
  each lost segment holds up the stream (head-of-line blocking) until its retransmission
  arrives. Linux finds the loss by RACK (RFC 8985, its default): once a later packet is
  acknowledged — a voice stream sends the next one a frame later — and a reordering window
  of a quarter of the round trip has passed, or at the third duplicate ACK (RFC 5681),
  whichever comes first: the stall is the round trip plus max(frame, RTT/4), at most three
  frames. A retransmission lost again waits for the retransmission timeout (RTO, at least
  200 ms on Linux, doubling each time). Every packet whose extra wait exceeds the jitter
  buffer comes too late to be played — a burst of ⌈(stall − buffer) / frame⌉ packets per
  loss (G.107's BurstR is that burst's length over a random loss's). The stream also cannot
  carry more than TCP's loss-limited throughput (Mathis et al. 1997: MSS / RTT × √(3/2) /
  √p, the backlog coalescing into full segments): a call whose bitrate exceeds it, or
  exceeds a throttle's meter, falls behind without bound — every packet ends up late and
  the call fails.
- **A throttle** (an OpenFlow meter's drop band) on a UDP call drops the excess over its
  rate; **a degrade** adds its loss, jitter (in quadrature) and delay: each packet waits a
  normal draw around ``Action.added_delay_ms`` (one jitter when it names no delay) with the
  jitter as its deviation, never less than zero — as the emulation's degrade shaper draws it,
  so the mean wait is the clipped normal's (65 ms for 60 ± 60). A call's request and
  ringback after the verdict each wait their own draw: its post-dial delay varies call to
  call.
"""

from __future__ import annotations

import math

RTO_MIN_MS = 200.0           # Linux TCP_RTO_MIN
DUPACKS = 3                  # fast retransmit threshold (RFC 5681)
RACK_WINDOW = 0.25           # RACK's reordering window, of the minimum RTT (RFC 8985, Linux)
MSS_BYTES = 1448             # Ethernet MTU less IP, TCP and timestamp option
MATHIS_C = math.sqrt(1.5)


def stall_ms(loss: float, rtt_ms: float, frame_ms: float) -> float:
    """Mean time a lost segment holds up a voice stream over TCP: detected by RACK or three
    duplicate ACKs, resent, and a round trip later in; plus the expected RTO backoff when
    retransmissions are lost again (p·RTO + p²·2RTO + ... = p·RTO / (1 - 2p))."""
    fast = rtt_ms + min(max(frame_ms, rtt_ms * RACK_WINDOW), DUPACKS * frame_ms)
    if loss >= 0.5:
        return math.inf
    rto = max(RTO_MIN_MS, 2 * rtt_ms)
    return fast + loss * rto / (1 - 2 * loss)


def late_per_loss(stall: float, buffer_ms: float, frame_ms: float) -> int:
    """Packets a stall makes miss the playout deadline: the lost one and those sent while it waits."""
    return math.ceil((stall - buffer_ms) / frame_ms) if stall > buffer_ms else 0


def tcp_capacity_kbps(loss: float, rtt_ms: float) -> float:
    """TCP's loss-limited throughput (Mathis): what a tunnel can carry at most."""
    if loss <= 0:
        return math.inf
    return MSS_BYTES * 8 * MATHIS_C / (rtt_ms / 1000 * math.sqrt(loss)) / 1000


def tcp_late(loss: float, rtt_ms: float, frame_ms: float, buffer_ms: float, kbps: float,
             meter_kbps: float = math.inf) -> tuple[float, float]:
    """(share of packets late, BurstR) for a voice stream of ``kbps`` tunnelled over TCP on a
    path losing ``loss``, behind an optional meter. A stream that cannot keep up: (1, 1)."""
    if kbps > min(meter_kbps, tcp_capacity_kbps(loss, rtt_ms)):
        return 1.0, 1.0
    if loss <= 0:
        return 0.0, 1.0
    burst = late_per_loss(stall_ms(loss, rtt_ms, frame_ms), buffer_ms, frame_ms)
    late = min(1.0, loss * burst)
    return late, max(1.0, burst * (1 - late))


def throttled(loss: float, kbps: float, meter_kbps: float) -> float:
    """Loss after a meter that drops what exceeds its rate."""
    if kbps <= meter_kbps:
        return loss
    return 1 - (1 - loss) * meter_kbps / kbps


def combined(*losses: float) -> float:
    keep = 1.0
    for p in losses:
        keep *= 1 - p
    return 1 - keep


def clipped_normal_mean(mu: float, sigma: float) -> float:
    """E[max(0, X)] for X ~ N(mu, sigma²): a degrade's mean wait (mu·Φ(mu/σ) + σ·φ(mu/σ))."""
    if sigma <= 0:
        return max(0.0, mu)
    z = mu / sigma
    return mu * 0.5 * (1 + math.erf(z / math.sqrt(2))) + sigma * math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
