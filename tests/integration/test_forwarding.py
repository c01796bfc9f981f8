"""Time-to-block and proactive drops measured on the DPI switch's ports (its capture) and by
its rule counters, against what the agents received."""

from __future__ import annotations

import pytest

from testbed.policy import compiler
from tests.integration.conftest import edge, plans, policy

pytestmark = [pytest.mark.root, pytest.mark.slow]


def test_tap_ttb_and_an_ip_block_drop_measured_on_the_packets(session_for) -> None:
    s = session_for(edge(), policy("anrt-2016", deployment="tap"))
    pcap = s.start_capture("dpi-anrt-2016-tap--none.pcapng")
    call = s.spec("tb1s1", "tbwa", plans("whatsapp")[0], hold=2)
    game = s.spec("tb1s2", "tbgame", plans("game")[0])
    reports = s.place([call, game])
    evidence = s.stop_capture()
    assert evidence.pcap == pcap and pcap is not None and pcap.stat().st_size > 0
    found = evidence.passages([call.key, game.key])

    # the call: its packets passed the tap until the drop entry was in, none after
    p, verdict = found[call.key], s.verdicts[call.key].verdict
    c, v = reports[(call.id, "client")], reports[(call.id, "server")]
    print(f"tap: verdict at packet {verdict.packet_index} after {verdict.elapsed * 1000:.1f} ms; "
          f"measured: {p.forwarded} of {p.arrived} packets passed, first blocked {p.ttb_packets} "
          f"at {p.ttb_ms:.1f} ms")
    assert p.arrived == c.sent + v.sent and p.arrived_up == c.sent           # no loss on this edge
    assert p.forwarded == c.recv.packets + v.recv.packets >= verdict.packet_index   # what the agents got
    assert p.ttb_packets == p.forwarded + 1 and 0 < p.ttb_ms < 200
    # the game flow: every packet through, nothing blocked
    g = found[game.key]
    gc, gv = reports[(game.id, "client")], reports[(game.id, "server")]
    assert g.forwarded == g.arrived == gc.sent + gv.sent > 0 and not g.blocked

    # ip-block: the switch's own entry drops the call; no packet-in, nothing through
    s.set_policies(policy("ip-block"))
    s.start_capture("dpi-ip-block--none.pcapng")
    blocked = s.spec("tb1s2", "tbwa", plans("whatsapp", seed=2)[0], hold=1, setup_timeout=2)
    reports = s.place([blocked])
    evidence = s.stop_capture()
    p = evidence.passages([blocked.key])[blocked.key]
    rule = compiler.proactive_rule(s.compiled["tbdpi1"], blocked.key)
    assert rule is not None and rule.name == "whatsapp-facebook" and blocked.key not in s.verdicts
    sent = reports[(blocked.id, "client")].sent
    assert (p.ttb_packets, p.ttb_ms, p.forwarded, p.arrived) == (1, 0.0, 0, sent) and sent > 20
    counters = evidence.counters["tbdpi1"]
    assert counters[rule.index].packets == sent
    assert all(count.packets == 0 for index, count in counters.items() if index != rule.index)
