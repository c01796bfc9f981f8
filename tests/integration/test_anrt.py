"""Under anrt-2016: WhatsApp's call dropped at its signature, everything around it passes."""

from __future__ import annotations

import pytest

from testbed.emu import ofctl
from testbed.emu.messages import Late
from tests.integration.conftest import counts, edge, plans, policy

pytestmark = [pytest.mark.root, pytest.mark.slow]


def test_whatsapp_call_dropped_chat_sip_web_game_pass(session_for) -> None:
    s = session_for(edge(), policy("anrt-2016"))
    call = s.spec("tb1s1", "tbwa", plans("whatsapp")[0], hold=3)
    chat = s.spec("tb1s2", "tbwa", plans("whatsapp_chat")[0])          # the same relay host
    sip_signalling, sip_media = plans("sip")
    sip = [s.spec("tb1s2", "tb1sip", sip_signalling), s.spec("tb1s2", "tb1sip", sip_media, hold=3)]
    web = s.spec("tb1s1", "tbweb", plans("web")[0])
    game = s.spec("tb1s1", "tbgame", plans("game")[0])
    reports = s.place([call, chat, *sip, web, game])
    flows = ofctl.dump_flows("tbdpi1")

    # the call: the signature is in packet 1 (STUN Allocate with WhatsApp's 0x4000)
    verdict = s.verdicts[call.key].verdict
    assert (verdict.app, verdict.action.kind, verdict.rule, verdict.packet_index) == \
        ("WhatsAppCall", "drop", "anrt-2016/ott-calls", 1)
    client, server = reports[(call.id, "client")], reports[(call.id, "server")]
    assert client.sent > 150 and client.sent_media > 140
    assert counts(server) == (0, 0) and counts(client) == (0, 0)      # nothing crossed the DPI
    up = ofctl.flow_entries(flows, call.client_ip, call.client_port, call.server_ip, call.plan.server_port)
    assert len(up) == 1 and up[0].drops
    late = sum(1 for e in s.events if isinstance(e, Late) and e.key == call.key)
    # the controller saw the signature packet and at most 3 more before the entry was in;
    # every other packet hit the entry (OVS may also credit it the packets that went
    # up to the controller, so the entry counts between the two)
    assert late <= 3
    assert client.sent - 1 - late <= up[0].n_packets <= client.sent

    # the chat to the same relay host, web and game: every byte both ways
    for flow, app in ((chat, "WhatsApp"), (web, "TLS"), (game, None)):
        c, v = reports[(flow.id, "client")], reports[(flow.id, "server")]
        assert c.aborted is None and c.error is None, flow
        if flow.plan.l4 == "tcp":
            assert (c.recv.octets, v.recv.octets) == (v.sent_bytes, c.sent_bytes)
        else:
            assert (c.recv.packets, v.recv.packets) == (v.sent, c.sent)
        assert s.verdicts[flow.key].verdict.action.kind == "allow"
        assert s.verdicts[flow.key].verdict.app == app

    # the operator's SIP call: a proactive allow (operator-voice), never sent to the controller
    for flow in sip:
        c, v = reports[(flow.id, "client")], reports[(flow.id, "server")]
        assert (c.recv.packets, v.recv.packets) == (v.sent, c.sent) and c.sent > 0
        assert flow.key not in s.verdicts
    media_client = reports[(sip[1].id, "client")]
    assert media_client.recv.media == reports[(sip[1].id, "server")].sent_media > 140
    # and the emulated access delay is there: tb1s2 → tb1sip is 15 + 1 + 1 + 1 ms one way
    assert media_client.recv.delay_ms is not None and 17.0 <= media_client.recv.delay_ms <= 25.0
    proactive = [e for e in flows if e.priority > 29000]
    assert proactive and sum(e.n_packets for e in proactive) >= sum(
        reports[(f.id, side)].sent for f in sip for side in ("client", "server"))
