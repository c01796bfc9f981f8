"""A call's own signalling names its next flows: STUN XOR-*-ADDRESS and SDP, bounded and expiring."""

from __future__ import annotations

import ipaddress
import struct

from testbed.dpi import announce
from testbed.dpi.association import MAX_ANNOUNCED
from testbed.dpi.classifier import Classifier
from testbed.dpi.endpoints import EndpointMemory
from testbed.dpi.knowledge import EMPTY
from testbed.packets import ip, rtp, sip, stun
from testbed.policy.model import Action, Match, Policy, Rule

PHONE, RELAY, PEER = "10.8.0.1", "198.51.100.48", "203.0.113.77"
TXID = bytes(range(12))


def raw(address: str) -> bytes:
    return ipaddress.ip_address(address).packed


def xor6(address: str, port: int, txid: bytes) -> bytes:
    key = struct.pack("!I", stun.MAGIC_COOKIE) + txid
    return struct.pack("!BBH", 0, 2, port ^ 0x2112) + bytes(a ^ b for a, b in zip(raw(address), key))


def test_xor_addresses_decode_as_rfc_8489_encodes_them() -> None:
    msg = stun.parse(stun.build(stun.ALLOCATE_RESPONSE, TXID, [
        (stun.XOR_RELAYED_ADDRESS, stun.xor_address(raw("198.51.100.48"), 50000)),
        (stun.XOR_MAPPED_ADDRESS, xor6("2001:db8::7", 40000, TXID)),
        (stun.LIFETIME, b"\0\0\x02\x58")]))
    assert msg is not None
    assert announce.stun_announced(msg) == [(raw("198.51.100.48"), 50000, "XOR-RELAYED-ADDRESS"),
                                            (raw("2001:db8::7"), 40000, "XOR-MAPPED-ADDRESS")]
    # near misses: wrong family length, zero port, classic STUN (no cookie, no XOR)
    bad = stun.parse(stun.build(stun.BINDING_RESPONSE, TXID, [(stun.XOR_MAPPED_ADDRESS, b"\0\x02\x21\x12" + b"\0" * 4)]))
    assert bad is not None and announce.stun_announced(bad) == []
    classic = stun.parse(stun.build(stun.BINDING_RESPONSE, TXID, [(stun.XOR_PEER_ADDRESS, stun.xor_address(
        raw(PEER), 3000))], cookie=False))
    assert classic is not None and announce.stun_announced(classic) == []


def test_sdp_media_lines_and_their_rtcp() -> None:
    body = ("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n"
            "m=audio 30000 RTP/AVP 0 8\r\na=rtcp:30011\r\n"
            "m=video 30002 RTP/SAVPF 96\r\nc=IN IP4 192.0.2.20\r\n"
            "m=image 30004 udptl t38\r\n")
    message = b"SIP/2.0 200 OK\r\nContent-Type: application/sdp\r\n\r\n" + body.encode()
    assert announce.sdp_announced(message) == [
        (raw("192.0.2.10"), 30000, "SDP m= line"), (raw("192.0.2.10"), 30011, "SDP RTCP port"),
        (raw("192.0.2.20"), 30002, "SDP m= line"), (raw("192.0.2.20"), 30003, "SDP RTCP port")]
    assert announce.sdp_announced(b"SIP/2.0 200 OK\r\n\r\nv=0\r\nc=IN IP4 0.0.0.0\r\nm=audio 9 RTP/AVP 0\r\n") == []
    assert announce.sdp_announced(b"INVITE sip:x SIP/2.0\r\nContent-Length: 0\r\n\r\n") == []


def wa_allocate() -> bytes:
    return stun.build(stun.ALLOCATE_REQUEST, TXID, [(0x4000, b"w" * 40)])


def test_p2p_media_named_at_packet_1_from_an_earlier_xor_peer_address() -> None:
    c = Classifier(Policy("p", (Rule("calls", Match(apps=("WhatsAppCall",)), Action("drop"), 1),)),
                   knowledge=EMPTY)
    assert c.feed(ip.udp(PHONE, RELAY, 50000, 3478, wa_allocate()), 0.0).app == "WhatsAppCall"
    permission = stun.build(stun.CREATE_PERMISSION, TXID, [(stun.XOR_PEER_ADDRESS, stun.xor_address(raw(PEER), 41107))])
    c.feed(ip.udp(PHONE, RELAY, 50000, 3478, permission), 0.1)      # after the verdict: still read
    media = rtp.build(120, 1, 960, 9, b"s" * 90)                     # a new socket: only the announcement tells
    v = c.feed(ip.udp(PHONE, PEER, 50002, 41107, media), 0.5)
    assert v is not None and (v.app, v.packet_index, v.action.kind) == ("WhatsAppCall", 1, "drop")
    assert v.why.startswith(f"packet 1 to {PEER}:41107, which was announced by XOR-PEER-ADDRESS in packet 2 of "
                            f"UDP {PHONE}:50000 → {RELAY}:3478 (STUN attribute 0x4000 in packet 1)")


def test_announced_before_the_app_is_known_is_kept_until_it_is() -> None:
    c = Classifier(identify=True, knowledge=EMPTY)
    permission = stun.build(stun.CREATE_PERMISSION, TXID, [(stun.XOR_PEER_ADDRESS, stun.xor_address(raw(PEER), 5000))])
    assert c.feed(ip.udp(PHONE, RELAY, 50000, 3478, permission), 0.0) is None      # STUN, whose?
    realm = stun.build(stun.ALLOCATE_RESPONSE + 0x0010, TXID, [(stun.REALM, b"turn.voip.signal.org")])  # 0x0113
    assert c.feed(ip.udp(RELAY, PHONE, 3478, 50000, realm), 0.1).app == "SignalVoip"
    later = c.feed(ip.udp(PEER, PHONE, 5000, 50004, b"\x90" + b"x" * 60), 1.0)
    assert later is not None and later.app == "SignalVoip" and later.packet_index == 1


def test_media_named_at_packet_1_from_an_sdp_body() -> None:
    any_rtp = Policy("p", (Rule("rtp", Match(apps=("RTP",)), Action("drop"), 1),))
    c = Classifier(any_rtp, knowledge=EMPTY)
    invite = sip.invite("a@example.org", "b@example.org", "192.0.2.10", 5060, "cid-1", "br", "tg", 30000)
    assert c.feed(ip.udp("192.0.2.10", "198.51.100.5", 5060, 5060, invite), 0.0).app == "SIP"
    v = c.feed(ip.udp("198.51.100.200", "192.0.2.10", 42000, 30000, b"\x80\x00" + b"\0" * 170), 0.3)
    assert v is not None and (v.app, v.packet_index, v.action.kind) == ("RTP", 1, "drop")
    assert v.why.startswith("packet 1 to 192.0.2.10:30000, which was announced by SDP m= line of SIP INVITE in "
                            "packet 1 of UDP 192.0.2.10:5060 → 198.51.100.5:5060")
    rtcp = c.feed(ip.udp("198.51.100.200", "192.0.2.10", 42001, 30001, b"\x81\xc9" + b"\0" * 30), 0.3)
    assert rtcp is not None and rtcp.app == "RTP" and rtcp.packet_index == 1


def test_the_learned_table_stays_within_its_bound_under_a_flood() -> None:
    c = Classifier(identify=True, knowledge=EMPTY)
    c.association.memory = EndpointMemory(ttl=120.0, max_entries=500)
    for flow in range(300):                      # 300 call flows, each announcing 40 peers
        port = 10000 + flow
        peers = [stun.xor_address(struct.pack("!I", 0xC6330000 + flow * 64 + i), 1024 + i) for i in range(40)]
        c.feed(ip.udp(PHONE, RELAY, port, 3478, wa_allocate()), float(flow))
        flood = stun.build(stun.SEND_INDICATION, TXID, [(stun.XOR_PEER_ADDRESS, p) for p in peers[:20]])
        c.feed(ip.udp(PHONE, RELAY, port, 3478, flood), float(flow))
        c.feed(ip.udp(PHONE, RELAY, port, 3478, stun.build(stun.SEND_INDICATION, TXID, [
            (stun.XOR_PEER_ADDRESS, p) for p in peers[20:]])), float(flow))
        assert len(c.endpoints) <= 500
    flows = list(c.table.flows.values())
    assert all(f.state.get("announce-count", 0) == MAX_ANNOUNCED for f in flows if f.sport == 3478)
    assert len(c.endpoints) == 500                                    # full, oldest forgotten first
    assert c.endpoints.recall((raw(RELAY), 3478), 299.0) is not None  # the newest stay
    assert c.endpoints.recall((raw(PHONE), 10000), 299.0) is None     # the oldest went


def test_learned_endpoints_expire_when_idle() -> None:
    memory = EndpointMemory(ttl=60.0, max_entries=10)
    memory.remember((raw(PEER), 5000), "WhatsAppCall", "was announced", 0.0)
    assert memory.recall((raw(PEER), 5000), 59.0) is not None
    assert memory.recall((raw(PEER), 5000), 59.0 + 61.0) is None and len(memory) == 0
