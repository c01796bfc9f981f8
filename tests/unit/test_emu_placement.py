"""Flow plans as agent commands, and the order of a placement: servers first, then clients."""

from __future__ import annotations

import random

import pytest

from testbed.emu.mailbox import Mailbox, Timeout, Wait, run_blocking
from testbed.emu.messages import Ack, Command, End, Open, RecvStats, Report, Serve
from testbed.emu.placement import FlowSpec, commands, place
from testbed.packets.ip import addr_bytes
from testbed.traffic.apps import PROFILES


def _spec(app: str = "whatsapp", index: int = 0, hold: float = 5.0) -> FlowSpec:
    plan = PROFILES[app].build(random.Random(1), 24)[index]
    return FlowSpec("f1", "tb1s1", "tbwa", "10.10.0.3", "157.240.1.60", 40000, plan, hold=hold)


def test_commands_split_the_plan_by_direction() -> None:
    spec = _spec()
    serve, opener = commands(spec)
    up = [s for s in spec.plan.segments if s.up]
    down = [s for s in spec.plan.segments if not s.up]
    s, o = serve.side, opener.side
    assert (s.local_port, s.peer, s.peer_port) == (3478, "10.10.0.3", 40000)
    assert (o.local_port, o.peer, o.peer_port) == (40000, "157.240.1.60", 3478)
    assert [p for _, p in o.segments] == [s.payload for s in up]
    assert s.expect_packets == len(up) and o.expect_packets == len(down)
    assert o.expect_bytes == sum(len(s.payload) for s in down)
    assert len(o.templates) == 4 and o.hold == 5.0
    assert spec.key == (17, addr_bytes("10.10.0.3"), 40000, addr_bytes("157.240.1.60"), 3478)


def test_no_media_templates_without_hold() -> None:
    serve, opener = commands(_spec(hold=0))
    assert serve.side.templates == () and opener.side.templates == ()


def _report(ident: str, side: str) -> Report:
    return Report("h", ident, side, None, None, None, 1.0, 2.0, 0, 0, 0, RecvStats())


def test_place_tells_servers_first_then_clients_then_ends_the_servers() -> None:
    box, sent = Mailbox(), []
    spec = _spec()

    def send(host: str, cmd: Command) -> None:
        sent.append((host, type(cmd).__name__))
        if isinstance(cmd, Serve):
            box.put((Ack, cmd.side.id), Ack("h", cmd.side.id))
        elif isinstance(cmd, Open):
            box.put((Report, cmd.side.id, "client"), _report(cmd.side.id, "client"))
        elif isinstance(cmd, End):
            box.put((Report, cmd.id, "server"), _report(cmd.id, "server"))

    import testbed.emu.placement as placement

    old, placement.SERVER_GRACE_S = placement.SERVER_GRACE_S, 0.05
    try:
        reports = run_blocking(box, place(send, box.take, [spec]))
    finally:
        placement.SERVER_GRACE_S = old
    assert sent == [("tbwa", "Serve"), ("tb1s1", "Open"), ("tbwa", "End")]
    assert set(reports) == {("f1", "client"), ("f1", "server")}
    assert reports[("f1", "server")] == _report("f1", "server")


def test_run_blocking_times_out_unless_optional() -> None:
    box = Mailbox()

    def steps():
        yield Wait((("ack", "x"),), 0.05, "optional", optional=True)
        yield Wait((("ack", "y"),), 0.05, "required")

    with pytest.raises(Timeout, match="required"):
        run_blocking(box, steps())


def test_a_tunnelled_or_relayed_flow_is_marked_and_served_for_its_outside_address() -> None:
    from dataclasses import replace

    spec = replace(_spec(), mark=0x7B01, client_seen=("198.51.100.10", 40000), client_to=("127.0.0.1", 3478))
    serve, opener = commands(spec)
    assert (serve.side.peer, serve.side.peer_port) == ("198.51.100.10", 40000)
    assert (opener.side.peer, opener.side.peer_port, opener.mark) == ("127.0.0.1", 3478, 0x7B01)
    assert commands(_spec())[1].mark == 0
