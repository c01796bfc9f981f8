"""One side of an emulated flow, on a fake agent: a UDP exchange's repeats and its end."""

from __future__ import annotations

import random
from typing import Any

from testbed.emu.flowside import T1_S, FlowSide
from testbed.emu.placement import FlowSpec, commands
from testbed.traffic.apps import PROFILES


class Agent:
    """Timers on a clock the test moves; what was sent, and the reports."""

    def __init__(self) -> None:
        self.now = 0.0
        self.timers: list[tuple[float, Any]] = []
        self.reports: list[FlowSide] = []

    def at(self, when: float, fn: Any) -> None:
        self.timers.append((when, fn))

    def run_until(self, t: float) -> None:
        while due := sorted((w, i) for i, (w, _) in enumerate(self.timers) if w <= t):
            when, i = due[0]
            self.now = when
            self.timers.pop(i)[1]()
        self.now = t

    def report(self, flow: FlowSide) -> None:
        self.reports.append(flow)

    def forget(self, flow: FlowSide) -> None:
        pass


class Sock:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def send(self, payload: bytes) -> None:
        self.sent.append(payload)


def _sip_client(monkeypatch: Any) -> tuple[Agent, FlowSide, Sock, list[bytes]]:
    agent = Agent()
    monkeypatch.setattr("testbed.emu.flowside.time.time", lambda: agent.now)
    plan = PROFILES["sip"].build(random.Random(1), 24)[0]     # INVITE; 100, 180, 200 back
    spec = FlowSpec("f1", "tb1s1", "tbsip", "10.10.0.3", "10.10.255.2", 40000, plan, hold=0)
    side = FlowSide(agent, commands(spec)[1].side, client=True)   # type: ignore[arg-type]
    sock = Sock()
    side.sock = sock   # type: ignore[assignment]
    side.begin(0.0)
    return agent, side, sock, [s.payload for s in plan.segments if not s.up]


def test_an_unanswered_request_is_repeated_at_t1_doubling_and_stops_at_an_answer(monkeypatch: Any) -> None:
    agent, side, sock, answers = _sip_client(monkeypatch)
    agent.run_until(T1_S * 7 + 0.01)        # sent at 0, repeated at 0.5, 1.5 and 3.5 s
    assert len(sock.sent) == 4 and len(set(sock.sent)) == 1
    side.on_data(answers[1], agent.now)      # 180 Ringing (the 100 Trying was lost)
    agent.run_until(8.0)
    assert len(sock.sent) == 4 and not side.done
    side.on_data(answers[2], agent.now)      # the final answer: the exchange is through
    assert side.done and side.aborted is None and agent.reports == [side]


def test_without_its_final_answer_the_exchange_is_incomplete(monkeypatch: Any) -> None:
    agent, side, sock, answers = _sip_client(monkeypatch)
    side.on_data(answers[0], 0.05)
    side.on_data(answers[1], 0.15)
    agent.run_until(30.0)
    assert len(sock.sent) == 1 and side.done and side.aborted == "incomplete"
