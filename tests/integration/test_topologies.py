"""The topologies on Mininet: pingall through the controller; three operators, three policies."""

from __future__ import annotations

import subprocess

import pytest

from testbed.emu import ofctl
from tests.integration.conftest import counts, plans, policy
from topologies import TOPOLOGIES

pytestmark = [pytest.mark.root, pytest.mark.slow]


def test_pingall_operator_edge_through_the_controller(session_for) -> None:
    # as shipped, but for the access links' random loss: one lost ping would fail pingall
    s = session_for(TOPOLOGIES["operator_edge"](access_loss_pct=0))
    sub = s.net.get("tb1s1")
    # a secure DPI switch with no controller yet: nothing crosses it
    assert "0 received" in sub.cmd("ping -c1 -W1 157.240.1.60")
    s.set_policies(policy("none"))
    assert s.net.pingAll(timeout=2) == 0.0
    flows = ofctl.dump_flows("tbdpi1")
    miss = [e for e in flows if e.priority == 0]
    assert len(miss) == 1 and miss[0].actions == "NORMAL" and miss[0].n_packets > 0   # pings and ARP
    inspect = [e for e in flows if e.priority == 100]
    assert len(inspect) == 2 and all(e.actions == "CONTROLLER:65535" for e in inspect)
    # the controller listens on loopback only
    listening = subprocess.run(["ss", "-Hltn", f"sport = :{s.port}"], capture_output=True, text=True).stdout
    assert [line.split()[3] for line in listening.splitlines()] == [f"127.0.0.1:{s.port}"]


def test_three_operators_each_dpi_its_own_policy(session_for) -> None:
    topo = TOPOLOGIES["three_operators"](subscribers=1, access_loss_pct=0, access_jitter_ms=0)
    s = session_for(topo, {"tbdpi1": policy("none"), "tbdpi2": policy("anrt-2016"),
                           "tbdpi3": policy("ip-block")})
    whatsapp, chat = plans("whatsapp")[0], plans("whatsapp_chat")[0]
    calls = {op: s.spec(f"tb{op}s1", "tbwa", whatsapp, hold=1) for op in (1, 2, 3)}
    chats = {op: s.spec(f"tb{op}s1", "tbwac", chat) for op in (1, 2, 3)}
    reports = s.place([*calls.values(), *chats.values()])
    received = {op: counts(reports[(calls[op].id, "server")])[0] for op in (1, 2, 3)}
    chatted = {op: reports[(chats[op].id, "client")].aborted is None for op in (1, 2, 3)}
    assert received[1] > 50 and received[2] == 0 and received[3] == 0    # none / DPI / address block
    assert chatted == {1: True, 2: True, 3: False}                         # ip-block's collateral
