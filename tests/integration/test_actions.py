"""The verdict actions on real packets: meter (throttle), degrade shaper, TCP reset, ICMP reset."""

from __future__ import annotations

import pytest

from testbed.emu.messages import Report
from testbed.policy.model import Action, Match, Policy, Rule
from tests.integration.conftest import edge, plans

pytestmark = [pytest.mark.root, pytest.mark.slow]


def ip_kbps(report: Report) -> float:
    """The IP-level rate a side received over the steady part of the call."""
    recv = report.recv
    assert recv.first is not None and recv.last is not None
    seconds = recv.last - recv.first
    per_packet = recv.octets / recv.packets + 28          # + IPv4 and UDP headers
    return recv.packets * per_packet * 8 / seconds / 1000


def test_throttle_64_kbps_holds_a_g711_call_to_64_kbps(session_for) -> None:
    throttle = Policy("throttle-64", (Rule("udp", Match(l4="udp"), Action("throttle", kbps=64), 1),))
    s = session_for(edge(), throttle)
    media = plans("sip")[1]                                     # G.711: 172-byte RTP every 20 ms
    call = s.spec("tb1s1", "tb1sip", media, hold=8)
    reports = s.place([call])
    assert s.verdicts[call.key].verdict.action.kind == "throttle"
    client, server = reports[(call.id, "client")], reports[(call.id, "server")]
    offered = (172 + 28) * 8 * 50 / 1000                        # 80 kbps each way at the IP level
    for receiver, sender in ((server, client), (client, server)):
        got = ip_kbps(receiver)
        print(f"offered {offered:.1f} kbps, received {got:.1f} kbps "
              f"({receiver.recv.packets} of {sender.sent} packets)")
        assert 64 * 0.9 <= got <= 64 * 1.1
        assert receiver.recv.packets < 0.9 * sender.sent      # the meter did drop


def test_degrade_adds_loss_and_jitter(session_for) -> None:
    degrade = Policy("degrade-test", (Rule("ott", Match(apps=("WhatsAppCall",)),
                                           Action("degrade", loss_pct=15, jitter_ms=30), 1),))
    s = session_for(edge(), degrade)
    call = s.spec("tb1s1", "tbwa", plans("whatsapp")[0], hold=6)
    reports = s.place([call])
    assert s.verdicts[call.key].verdict.action.kind == "degrade"
    for receiver, sender in ((reports[(call.id, "server")], reports[(call.id, "client")]),
                             (reports[(call.id, "client")], reports[(call.id, "server")])):
        loss = 100 * (1 - receiver.recv.media / sender.sent_media)
        print(f"loss {loss:.1f}%, jitter {receiver.recv.jitter_ms} ms")
        assert 8 <= loss <= 23
        assert receiver.recv.jitter_ms is not None and receiver.recv.jitter_ms > 10


def test_reset_ends_tcp_with_rst_and_udp_with_icmp(session_for) -> None:
    reset = Policy("reset-test", (Rule("chat", Match(apps=("WhatsApp",)), Action("reset"), 1),
                                  Rule("calls", Match(apps=("WhatsAppCall",)), Action("reset"), 2)))
    s = session_for(edge(), reset)
    chat = s.spec("tb1s1", "tbwac", plans("whatsapp_chat")[0])
    call = s.spec("tb1s2", "tbwa", plans("whatsapp")[0], hold=3)
    reports = s.place([chat, call])
    assert s.verdicts[chat.key].verdict.action.kind == "reset"
    assert reports[(chat.id, "client")].error == "reset"
    assert reports[(call.id, "client")].error == "refused"          # ICMP port unreachable
    assert reports[(call.id, "server")].recv.packets == 0
