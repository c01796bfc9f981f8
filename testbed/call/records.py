"""What a run keeps of each call attempt and each non-VoIP flow (built in ``testbed.call.model`` only).

Records are named tuples: typed and immutable like frozen dataclasses, and built at a
tuple's cost (a run builds millions).
"""

from __future__ import annotations

from typing import NamedTuple

# call outcomes
COMPLETED = "completed"        # answered, media flowed, held to the end
NO_ANSWER = "no-answer"        # the callee did not answer (user-caused, not the network)
BUSY = "busy"                  # the caller was already in a call (user-caused, not the network)
NO_MEDIA = "no-media"          # signalling worked, media never arrived: timed out
SIGNALLING_BLOCKED = "signalling-blocked"
RESET = "reset"                # a TCP reset or ICMP error ended it at once
DROPPED = "dropped"            # answered, but the media was too poor and the app gave up
CAPACITY = "capacity"          # the relay had no free slot (Erlang-B blocking)
FAILURES = (NO_MEDIA, SIGNALLING_BLOCKED, RESET, DROPPED, CAPACITY)
USER_CAUSED = (NO_ANSWER, BUSY)


class CallRecord(NamedTuple):
    """One attempt's record."""

    call_id: int
    intent_id: int
    attempt: int
    t_start: float
    subscriber: int
    operator: str
    app: str
    strategy: str
    outcome: str
    answered: bool = False   # the callee picked up (ASR counts it, whatever came after)
    pdd_ms: float | None = None   # dial → ringback; None when nothing came back
    duration_s: float = 0.0
    loss_pct: float = 0.0    # media lost or later than the playout deadline, both ways
    late_pct: float = 0.0    # of which late
    jitter_ms: float = 0.0   # RFC 3550 interarrival jitter
    delay_ms: float = 0.0    # mean one-way network delay
    r_factor: float = 0.0
    mos: float = 0.0
    dpi_app: str = ""
    action: str = "allow"
    rule: str = ""
    ttb_packets: int = 0     # 0 unless a drop or reset hit the call
    ttb_ms: float = 0.0

    @classmethod
    def columns(cls) -> list[str]:
        return list(cls._fields)


class FlowRecord(NamedTuple):
    t_start: float
    subscriber: int
    app: str
    category: str
    dpi_app: str = ""
    action: str = "allow"
    rule: str = ""

    @classmethod
    def columns(cls) -> list[str]:
        return list(cls._fields)
