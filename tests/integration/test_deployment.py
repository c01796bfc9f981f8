"""Inline vs tap DPI, and what a DPI switch does when its controller dies."""

from __future__ import annotations

import time

import pytest

from tests.integration.conftest import counts, edge, plans, policy

pytestmark = [pytest.mark.root, pytest.mark.slow]


@pytest.mark.parametrize("deployment", ["inline", "tap"])
def test_tap_leaks_the_packets_before_the_verdict_inline_none(session_for, deployment: str) -> None:
    s = session_for(edge(), policy("anrt-2016", deployment=deployment))
    call = s.spec("tb1s1", "tbwa", plans("whatsapp")[0], hold=2)
    reports = s.place([call])
    verdict = s.verdicts[call.key].verdict
    assert verdict.action.kind == "drop" and verdict.packet_index == 1
    client, server = reports[(call.id, "client")], reports[(call.id, "server")]
    leaked = server.recv.packets + client.recv.packets
    print(f"{deployment}: verdict at packet {verdict.packet_index}, {leaked} packet(s) leaked "
          f"of {client.sent} sent")
    if deployment == "tap":
        # forwarded while inspected: packets up to the verdict's got through, then none
        assert leaked == verdict.packet_index
        assert server.recv.packets == 1 and client.recv.packets == 0
    else:
        # held until decided: the packet carrying the signature never left the DPI
        assert leaked == verdict.packet_index - 1 == 0


def _wait_until(check, timeout: float) -> float:
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not within {timeout} s")
        time.sleep(0.5)
    return time.monotonic() - start


def test_controller_killed_secure_blocks_new_flows_standalone_passes_them(session_for) -> None:
    s = session_for(edge(), policy("anrt-2016", fail_mode="secure"))
    game = plans("game")[0]
    before = s.place([s.spec("tb1s1", "tbgame", game)])
    assert all(r.recv.packets for r in before.values())
    s.stop_controller(kill=True)
    time.sleep(5)   # longer than a standalone switch takes to fail open: secure must not
    new = s.spec("tb1s2", "tbgame", game, setup_timeout=2)
    after = s.place([new])
    assert counts(after[(new.id, "server")]) == (0, 0) and counts(after[(new.id, "client")]) == (0, 0)
    assert after[(new.id, "client")].sent == 12

    s.set_policies(policy("anrt-2016", fail_mode="standalone"))
    s.stop_controller(kill=True)

    def probe() -> bool:
        """A new UDP flow crosses (ICMP would not tell: it never goes to the controller)."""
        flow = s.spec("tb1s1", "tbgame", game, setup_timeout=1)
        return bool(s.place([flow])[(flow.id, "server")].recv.packets)

    waited = _wait_until(probe, 20)
    print(f"standalone failed open {waited:.1f} s after the controller died")
    new = s.spec("tb1s2", "tbgame", game)
    call = s.spec("tb1s1", "tbwa", plans("whatsapp")[0], hold=2)      # even what the policy drops
    after = s.place([new, call])
    for flow in (new, call):
        c, v = after[(flow.id, "client")], after[(flow.id, "server")]
        assert (c.recv.packets, v.recv.packets) == (v.sent, c.sent) and c.sent > 0
