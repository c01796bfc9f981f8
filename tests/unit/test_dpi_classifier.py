"""The classifier: rules first-match-wins with undecided payload parts, reasons, windows, memory."""

from __future__ import annotations

import ipaddress
import struct

from testbed.dpi.classifier import NOT_INSPECTED, Classifier
from testbed.dpi.signatures.stun import Stun
from testbed.packets import ip, rtp, sip, stun
from testbed.policy.load import POLICY_DIR, load_policy
from testbed.policy.model import Action, Match, Policy, Rule

PHONE, RELAY, PEER = "10.8.0.1", "198.51.100.48", "93.33.118.87"  # RELAY: in no known block
TXID = b"T" * 12


def policy(*rules: tuple[str, Match, str], window: int = 12) -> Policy:
    return Policy("p", tuple(Rule(name, m, Action(kind), i) for i, (name, m, kind) in enumerate(rules, 1)),
                  inspect_packets=window)


def binding(attrs: list | None = None) -> bytes:
    return stun.build(stun.BINDING_REQUEST, TXID, attrs or [(stun.MESSAGE_INTEGRITY, b"m" * 20)])


def wa_allocate() -> bytes:
    return stun.build(stun.ALLOCATE_REQUEST, TXID, [(0x4000, b"w" * 102)])


def test_undecided_until_the_app_is_known_then_the_reason() -> None:
    c = Classifier(policy(("calls", Match(apps=("WhatsAppCall",)), "drop")))
    assert c.feed(ip.udp(PHONE, RELAY, 53620, 3478, binding()), 1.0) is None          # STUN: maybe an app
    v = c.feed(ip.udp(RELAY, PHONE, 3478, 53620, wa_allocate()), 1.05)
    assert v is not None and v.action.kind == "drop" and v.rule == "p/calls"
    assert (v.app, v.category, v.packet_index, round(v.elapsed, 3)) == ("WhatsAppCall", "VoIP", 2, 0.05)
    assert v.why == "STUN attribute 0x4000 in packet 2 → WhatsAppCall; rule p/calls drops it"
    assert c.feed(ip.udp(PHONE, RELAY, 53620, 3478, b"later"), 2.0) is v                   # decided once


def test_first_match_wins_and_header_rules_decide_at_once() -> None:
    c = Classifier(policy(("mine", Match(hosts=(ipaddress.ip_network("10.10.255.0/24"),)), "allow"),
                          ("sip", Match(apps=("SIP",)), "drop"),
                          ("udp5060", Match(l4="udp", dst_ports=((5060, 5060),)), "reset")))
    invite = sip.invite("a@x", "b@x", "10.10.0.2", 5060, "cid", "b", "t", 10000)
    own = c.feed(ip.udp("10.10.0.2", "10.10.255.5", 5060, 5060, invite), 0.0)
    assert own.action.kind == "allow" and own.why == "UDP 10.10.0.2:5060 → 10.10.255.5:5060; rule p/mine allows it"
    other = c.feed(ip.udp("10.10.0.2", "203.0.113.9", 5061, 5060, invite), 0.0)
    assert other.rule == "p/sip" and other.action.kind == "drop" and other.packet_index == 1


def test_window_ends_the_wait() -> None:
    c = Classifier(policy(("calls", Match(apps=("WhatsAppCall",)), "drop"), window=3))
    assert [c.feed(ip.udp(PHONE, RELAY, 1, 3478, binding()), t) for t in (0.0, 0.1)] == [None, None]
    v = c.feed(ip.udp(PHONE, RELAY, 1, 3478, binding()), 0.2)
    assert (v.action.kind, v.app, v.packet_index) == ("allow", "STUN", 3)
    assert v.why == "STUN message 0x0001 in packet 1 → STUN; no rule matches"


def test_not_inspected_and_no_payload() -> None:
    c = Classifier(policy(("calls", Match(apps=("SIP",)), "drop")))
    icmp = ip.ip(ip.addr_bytes("10.0.0.1"), ip.addr_bytes("10.0.0.2"), 1, b"\x08\0\0\0")
    assert c.feed(icmp, 0.0) is NOT_INSPECTED
    assert c.feed(ip.tcp("10.0.0.1", "10.0.0.2", 40000, 5060, b"", flags=ip.TCP_SYN), 0.0) is None


def test_identify_goes_on_until_the_app_is_final() -> None:
    c = Classifier(identify=True)
    assert c.feed(ip.udp(PHONE, RELAY, 2, 3478, binding()), 0.0) is None
    v = c.feed(ip.udp(PHONE, RELAY, 2, 3478, wa_allocate()), 0.1)
    assert (v.app, v.rule, v.action.kind, v.why) == ("WhatsAppCall", None, "allow",
                                                     "STUN attribute 0x4000 in packet 2 → WhatsAppCall")


def test_a_call_keeps_its_app_on_new_flows_from_the_same_socket() -> None:
    """WhatsApp's peer-to-peer media: plain STUN checks from the socket that allocated on the relay."""
    c = Classifier(policy(("calls", Match(apps=("WhatsAppCall",)), "drop")))
    c.feed(ip.udp(PHONE, RELAY, 53620, 3478, wa_allocate()), 10.0)
    v = c.feed(ip.udp(PEER, PHONE, 41107, 53620, binding()), 11.0)
    assert (v.app, v.packet_index, v.action.kind) == ("WhatsAppCall", 1, "drop")
    assert v.why.startswith("packet 1 to 10.8.0.1:53620, which carried WhatsAppCall before "
                            "(STUN attribute 0x4000 in packet 1 of its flow with 198.51.100.48:3478)")
    other_socket = c.feed(ip.udp(PHONE, PEER, 53621, 41107, binding()), 11.0)
    assert other_socket is None                                                    # plain STUN, still waiting
    late = c.feed(ip.udp(PEER, PHONE, 41108, 53620, binding()), 11.0 + 500)
    assert late is None                                                            # forgotten after its TTL


def test_finish_reports_every_flow_including_expired_ones() -> None:
    c = Classifier(policy(("sip", Match(apps=("SIP",)), "drop")), keep_flows=True, idle_timeout=5)
    c.feed(ip.udp(PHONE, RELAY, 5, 3478, binding()), 0.0)
    c.feed(ip.udp(PHONE, RELAY, 5, 3478, binding()), 100.0)                        # idle: a new flow
    verdicts = c.finish()
    assert [v.packet_index for v in verdicts] == [1, 1] and c.table.expired == 1
    assert all(v.action.kind == "allow" and v.why.endswith("no rule matches") for v in verdicts)


def test_custom_signatures_and_behaviour_rule() -> None:
    only_stun = Classifier(identify=True, signatures=[Stun()])
    assert only_stun.feed(ip.udp("10.0.0.1", "10.0.0.2", 5060, 5060,
                                 sip.invite("a@x", "b@x", "10.0.0.1", 5060, "c", "b", "t", 1)), 0.0) is None
    c = Classifier(policy(("voice", Match(behaviour="rtp-like"), "degrade")))
    verdict = None
    for i in range(40):
        up = i % 2 == 0
        payload = rtp.build(0, i, i * 160, 1 if up else 2, b"\x55" * 160)
        packet = ip.udp("10.0.0.1", "10.0.0.2", 4000, 4002, payload) if up else ip.udp("10.0.0.2", "10.0.0.1", 4002, 4000, payload)
        verdict = c.feed(packet, (i // 2) * 0.02 + (0.003 if not up else 0.0))
        if verdict is not None:
            break
    assert verdict is not None and verdict.action.kind == "degrade"
    assert verdict.app == "RTP"  # the RTP signature named it; the behaviour rule acted


def test_anrt_2016_keeps_messaging_and_blocks_calls() -> None:
    anrt = load_policy(POLICY_DIR / "anrt-2016.yaml")
    c = Classifier(anrt)
    chat = c.feed(ip.tcp("10.10.0.2", "157.240.1.53", 40000, 5222, b"WA\x01\x05" + b"\0" * 30), 0.0)
    assert (chat.app, chat.action.kind, chat.packet_index) == ("WhatsApp", "allow", 1)
    call = c.feed(ip.udp("10.10.0.2", "157.240.1.60", 40001, 3478, wa_allocate()), 0.0)
    assert call.action.kind == "drop" and call.rule == "anrt-2016/ott-calls"
    viber = c.feed(ip.udp("10.10.0.3", "52.0.252.2", 40002, 7985, b"\xed\xf6\x01\x00\x05\x00" + b"z" * 251), 0.0)
    assert viber.action.kind == "drop"
    skype = c.feed(ip.udp("10.10.0.4", "52.114.0.10", 40003, 3480,
                          binding([(stun.MS_IMPLEMENTATION_VERSION, struct.pack("!I", 3))])), 0.0)
    assert skype.app == "Skype_TeamsCall" and skype.action.kind == "drop"
