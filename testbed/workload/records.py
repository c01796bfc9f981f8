"""What a network returns for each call attempt and each non-VoIP flow."""

from __future__ import annotations

from dataclasses import dataclass, fields

# call outcomes
COMPLETED = "completed"        # answered, media flowed, held to the end
NO_ANSWER = "no-answer"        # the callee did not answer (user-caused, not the network)
NO_MEDIA = "no-media"          # signalling worked, media never arrived: timed out
SIGNALLING_BLOCKED = "signalling-blocked"
RESET = "reset"                # a TCP reset or ICMP error ended it at once
DROPPED = "dropped"            # answered, but the media was too poor and the app gave up
CAPACITY = "capacity"          # the relay had no free slot (Erlang-B blocking)
FAILURES = (NO_MEDIA, SIGNALLING_BLOCKED, RESET, DROPPED, CAPACITY)


@dataclass(slots=True)
class CallRecord:
    call_id: int
    intent_id: int
    attempt: int
    t_start: float
    subscriber: int
    operator: str
    app: str
    strategy: str
    outcome: str
    pdd_ms: float
    duration_s: float
    loss_pct: float
    jitter_ms: float
    delay_ms: float
    r_factor: float
    mos: float
    dpi_app: str
    action: str
    rule: str
    ttb_packets: int     # 0 when no policy action hit the call
    ttb_ms: float

    @classmethod
    def columns(cls) -> list[str]:
        return [f.name for f in fields(cls)]


@dataclass(slots=True)
class FlowRecord:
    t_start: float
    subscriber: int
    app: str
    category: str
    dpi_app: str
    action: str
    rule: str

    @classmethod
    def columns(cls) -> list[str]:
        return [f.name for f in fields(cls)]
