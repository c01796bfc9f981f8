"""Flow plans as agent commands, and the order of a placement: servers first, then clients."""

from __future__ import annotations

import random

import pytest

from testbed.emu.mailbox import Mailbox, Timeout, Wait, key_of, run_blocking
from testbed.emu.placement import FlowSpec, commands, place
from testbed.traffic.apps import PROFILES


def _spec(app: str = "whatsapp", index: int = 0, hold: float = 5.0) -> FlowSpec:
    plan = PROFILES[app].build(random.Random(1), 24)[index]
    return FlowSpec("f1", "tb1s1", "tbwa", "10.10.0.3", "157.240.1.60", 40000, plan, hold=hold)


def test_commands_split_the_plan_by_direction() -> None:
    spec = _spec()
    serve, opener = commands(spec)
    up = [s for s in spec.plan.segments if s.up]
    down = [s for s in spec.plan.segments if not s.up]
    assert (serve["op"], serve["local_port"], serve["peer"], serve["peer_port"]) == ("serve", 3478, "10.10.0.3", 40000)
    assert (opener["op"], opener["local_port"], opener["peer"], opener["peer_port"]) == \
        ("open", 40000, "157.240.1.60", 3478)
    assert [bytes.fromhex(p) for _, p in opener["segments"]] == [s.payload for s in up]
    assert serve["expect_packets"] == len(up) and opener["expect_packets"] == len(down)
    assert opener["expect_bytes"] == sum(len(s.payload) for s in down)
    assert len(opener["templates"]) == 4 and opener["hold"] == 5.0
    assert spec.key == (17, "10.10.0.3", 40000, "157.240.1.60", 3478)


def test_no_media_templates_without_hold() -> None:
    serve, opener = commands(_spec(hold=0))
    assert serve["templates"] == [] and opener["templates"] == []


def _report(ident: str, side: str) -> dict:
    return {"ev": "report", "id": ident, "side": side, "host": "h"}


def test_place_tells_servers_first_then_clients_then_ends_the_servers() -> None:
    box, sent = Mailbox(), []
    spec = _spec()

    def send(host: str, cmd: dict) -> None:
        sent.append((host, cmd["op"]))
        if cmd["op"] == "serve":
            box.put(("ack", cmd["id"]), {"ev": "ack"})
        elif cmd["op"] == "open":
            box.put(("report", cmd["id"], "client"), _report(cmd["id"], "client"))
        elif cmd["op"] == "end":
            box.put(("report", cmd["id"], "server"), _report(cmd["id"], "server"))

    import testbed.emu.placement as placement

    old, placement.SERVER_GRACE_S = placement.SERVER_GRACE_S, 0.05
    try:
        reports = run_blocking(box, place(send, box.take, [spec]))
    finally:
        placement.SERVER_GRACE_S = old
    assert sent == [("tbwa", "serve"), ("tb1s1", "open"), ("tbwa", "end")]
    assert set(reports) == {("f1", "client"), ("f1", "server")}


def test_run_blocking_times_out_unless_optional() -> None:
    box = Mailbox()

    def steps():
        yield Wait((("ack", "x"),), 0.05, "optional", optional=True)
        yield Wait((("ack", "y"),), 0.05, "required")

    with pytest.raises(Timeout, match="required"):
        run_blocking(box, steps())


def test_key_of() -> None:
    assert key_of({"ev": "ack", "id": "a"}) == ("ack", "a")
    assert key_of({"ev": "report", "id": "a", "side": "server"}) == ("report", "a", "server")
    assert key_of({"ev": "ready", "host": "tbwa"}) == ("ready", "tbwa")
    assert key_of({"ev": "ready", "dpid": "12"}) == ("dpi-ready", "12")
    assert key_of({"ev": "verdict"}) is None


def test_a_tunnelled_or_relayed_flow_is_marked_and_served_for_its_outside_address() -> None:
    from dataclasses import replace

    spec = replace(_spec(), mark=0x7B01, client_seen=("198.51.100.10", 40000), client_to=("127.0.0.1", 3478))
    serve, opener = commands(spec)
    assert (serve["peer"], serve["peer_port"]) == ("198.51.100.10", 40000)
    assert (opener["peer"], opener["peer_port"], opener["mark"]) == ("127.0.0.1", 3478, 0x7B01)
    assert "mark" not in commands(_spec())[1]
