"""The policy compiler checked on a fake flow table: what the switch does, without a switch."""

from __future__ import annotations

import random
import struct
from ipaddress import ip_address, ip_network

import pytest
from hypothesis import given
from hypothesis import strategies as st

pytest.importorskip("os_ken", reason="the 'emu' extra (os-ken) is not installed")

from os_ken.ofproto import ofproto_v1_3 as ofp

from testbed.dpi.classifier import Classifier, Verdict
from testbed.packets import ip
from testbed.policy import compiler
from testbed.policy.load import load_policy, resolve
from testbed.policy.model import TAP, Action, Match, Policy, Rule
from testbed.traffic.apps import PROFILES
from testbed.traffic.wire import Endpoints, packets
from tests.fakes.oftable import FakeOFTable

SUB, RELAY, SIP, WEB = "10.10.0.2", "157.240.1.60", "10.10.255.5", "93.184.216.34"


def udp(src: str, dst: str, sport: int, dport: int) -> dict:
    return {"eth_type": 0x800, "ip_proto": 17, "ipv4_src": src, "ipv4_dst": dst, "udp_src": sport, "udp_dst": dport}


def tcp(src: str, dst: str, sport: int, dport: int) -> dict:
    return {"eth_type": 0x800, "ip_proto": 6, "ipv4_src": src, "ipv4_dst": dst, "tcp_src": sport, "tcp_dst": dport}


def table_for(policy: Policy) -> tuple[compiler.Compiled, FakeOFTable]:
    compiled = compiler.compile_policy(policy)
    table = FakeOFTable()
    table.apply(compiler.setup_messages(compiled))
    return compiled, table


def policy(name: str) -> Policy:
    return load_policy(resolve(name))


def decide(pol: Policy, app: str, client: str, server: str, cport: int = 40000) -> Verdict:
    plan = PROFILES[app].build(random.Random(7), 24)[0]
    classifier = Classifier(pol)
    for t, pkt in packets(plan, Endpoints(client, cport, server, plan.server_port)):
        verdict = classifier.feed(pkt, t)
        if verdict is not None:
            return verdict
    return classifier.flush()[0]


@given(st.integers(0, 65535), st.integers(0, 65535))
def test_port_masks_cover_exactly_the_range(a: int, b: int) -> None:
    lo, hi = min(a, b), max(a, b)
    masks = compiler.port_masks(lo, hi)
    assert len(masks) <= 32
    probes = {lo, hi, max(lo - 1, 0), min(hi + 1, 65535), (lo + hi) // 2, 0, 65535}
    for port in probes:
        inside = any(port & m == v & m for v, m in masks)
        assert inside == (lo <= port <= hi), (port, masks)


def test_none_sends_new_tcp_and_udp_flows_to_the_classifier_and_passes_the_rest() -> None:
    _, table = table_for(policy("none"))
    assert table.to_controller(udp(SUB, RELAY, 40000, 3478))
    assert not table.is_output(udp(SUB, RELAY, 40000, 3478))          # inline: the app forwards it
    assert table.is_output({"eth_type": 0x806})                       # ARP
    assert table.is_output({"eth_type": 0x800, "ip_proto": 1, "ipv4_src": SUB, "ipv4_dst": RELAY})


def test_tap_forwards_and_copies() -> None:
    pol = policy("anrt-2016")
    _, table = table_for(Policy(pol.name, pol.rules, deployment=TAP))
    pkt = udp(SUB, RELAY, 40000, 3478)
    assert table.is_output(pkt) and table.to_controller(pkt)


def test_anrt_operator_voice_is_a_proactive_allow_both_ways() -> None:
    compiled, table = table_for(policy("anrt-2016"))
    assert [r.name for r in compiled.proactive] == ["operator-voice"]
    for pkt in (udp(SUB, SIP, 40000, 5060), udp(SIP, SUB, 5060, 40000), udp(SUB, SIP, 40002, 11000)):
        assert table.is_output(pkt) and not table.to_controller(pkt)
    assert table.to_controller(udp(SUB, RELAY, 40000, 3478))


def test_ip_block_drops_both_directions_and_only_the_prefixes() -> None:
    compiled, table = table_for(policy("ip-block"))
    assert len(compiled.dpi) == 0
    assert table.is_dropped(tcp(SUB, "157.240.1.53", 40000, 5222))
    assert table.is_dropped(udp(RELAY, SUB, 3478, 40000))
    assert table.is_dropped({"eth_type": 0x800, "ip_proto": 1, "ipv4_src": SUB, "ipv4_dst": RELAY})
    assert table.to_controller(tcp(SUB, WEB, 40000, 443))
    assert table.to_controller(udp(SUB, "52.0.253.2", 40000, 7985))   # next to, not in, 52.0.252.0/24


def test_port_block_ranges_and_mirrors() -> None:
    _, table = table_for(policy("port-block"))
    for port in (3478, 3479, 3480, 3481, 7985, 7987, 1194):
        assert table.is_dropped(udp(SUB, RELAY, 40000, port)), port
    assert table.is_dropped(udp(RELAY, SUB, 3478, 40000))             # the reply
    for port in (3477, 3482, 7984, 7988, 1195):
        assert table.to_controller(udp(SUB, RELAY, 40000, port)), port
    assert table.to_controller(tcp(SUB, RELAY, 40000, 3478))          # the rules say UDP


def test_throttle_is_decided_per_flow_with_a_meter_each_way() -> None:
    pol = policy("throttle-udp")
    compiled, table = table_for(pol)
    assert [r.name for r in compiled.proactive] == ["dns"]
    assert table.is_output(udp(SUB, "8.8.8.8", 40000, 53))
    verdict = decide(pol, "sip", SUB, SIP)
    assert verdict.action.kind == "throttle"
    meters = compiler.MeterPool()
    table.apply(compiler.verdict_messages(compiled, verdict, 1, meters))
    _, client, cport, server, sport = verdict.key
    up = table.lookup(udp(SUB, SIP, cport, sport))
    down = table.lookup(udp(SIP, SUB, sport, cport))
    assert up is not None and down is not None
    assert up.meter and down.meter and up.meter != down.meter
    band = table.meters[up.meter].bands[0]
    assert band.rate == 16 and table.meters[up.meter].flags & ofp.OFPMF_KBPS
    assert table.is_output(udp(SUB, SIP, cport, sport))
    assert table.to_controller(udp(SUB, SIP, cport + 1, sport))       # another flow: inspected anew
    assert meters.give_back(up.cookie) == up.meter


def test_drop_verdict_blocks_both_directions_of_that_flow_only() -> None:
    pol = policy("anrt-2016")
    compiled, table = table_for(pol)
    verdict = decide(pol, "whatsapp", SUB, RELAY)
    assert verdict.app == "WhatsAppCall" and verdict.action.kind == "drop"
    table.apply(compiler.verdict_messages(compiled, verdict, 1, compiler.MeterPool()))
    assert table.is_dropped(udp(SUB, RELAY, 40000, 3478))
    assert table.is_dropped(udp(RELAY, SUB, 3478, 40000))
    assert table.to_controller(udp(SUB, RELAY, 40001, 3478))
    entry = table.lookup(udp(SUB, RELAY, 40000, 3478))
    assert entry is not None and entry.idle_timeout == 30


def test_allow_verdict_forwards() -> None:
    pol = policy("anrt-2016")
    compiled, table = table_for(pol)
    verdict = decide(pol, "whatsapp_chat", SUB, "157.240.1.53")
    assert verdict.action.kind == "allow"
    table.apply(compiler.verdict_messages(compiled, verdict, 2, compiler.MeterPool()))
    assert table.is_output(tcp("157.240.1.53", SUB, 5222, 40000))
    assert not table.to_controller(tcp(SUB, "157.240.1.53", 40000, 5222))


def test_degrade_marks_dscp() -> None:
    pol = policy("degrade")
    compiled, table = table_for(pol)
    verdict = decide(pol, "whatsapp", SUB, RELAY)
    assert verdict.action.kind == "degrade"
    table.apply(compiler.verdict_messages(compiled, verdict, 1, compiler.MeterPool()))
    entry = table.lookup(udp(RELAY, SUB, 3478, 40000))
    assert entry is not None and entry.set_fields() == {"ip_dscp": compiled.marks[verdict.action]}
    assert table.is_output(udp(RELAY, SUB, 3478, 40000))


def test_proactive_prefix_stops_at_the_first_rule_only_the_classifier_can_decide() -> None:
    rules = (Rule("a", Match(l4="udp", dst_ports=((53, 53),)), Action("allow"), 1),
             Rule("b", Match(apps=("WhatsAppCall",)), Action("drop"), 2),
             Rule("c", Match(l4="udp", dst_ports=((3478, 3478),)), Action("drop"), 3))
    compiled, table = table_for(Policy("p", rules))
    assert [r.name for r in compiled.proactive] == ["a"]
    assert table.to_controller(udp(SUB, RELAY, 40000, 3478))          # "c" is the classifier's


def test_forward_inline_and_tap() -> None:
    pol = policy("anrt-2016")
    compiled = compiler.compile_policy(pol)
    tap = compiler.compile_policy(Policy(pol.name, pol.rules, deployment=TAP))
    frame = b"\x02" * 12 + b"\x08\x00" + ip.udp(SUB, RELAY, 40000, 3478, b"x")
    drop = decide(pol, "whatsapp", SUB, RELAY)
    assert len(compiler.forward(compiled, None, frame, 1)) == 1
    assert compiler.forward(compiled, drop, frame, 1) == []
    assert compiler.forward(tap, None, frame, 1) == []


def test_reset_packets() -> None:
    frame = (b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"
             + ip.tcp(SUB, WEB, 40000, 443, b"hello", seq=1000, ack=5000))
    back, on = compiler.reset_packets(frame, 3)
    assert back.in_port == ofp.OFPP_CONTROLLER and back.actions[0].port == 3
    d = ip.parse_ip(back.data[14:])
    assert d is not None and (ip.addr_text(d.src), d.sport, d.dport) == (WEB, 443, 40000)
    assert d.tcp_flags & ip.TCP_RST
    assert struct.unpack_from("!I", back.data, 14 + 20 + 4)[0] == 5000          # seq = the client's ack
    d2 = ip.parse_ip(on.data[14:])
    assert d2 is not None and d2.tcp_flags & ip.TCP_RST and on.actions[0].port == ofp.OFPP_NORMAL
    udp_frame = frame[:14] + ip.udp(SUB, RELAY, 40000, 3478, b"x" * 20)
    (icmp,) = compiler.reset_packets(udp_frame, 3)
    assert icmp.data[14 + 9] == 1 and icmp.data[14 + 20] == 3 and icmp.data[14 + 21] == 3
    assert ip.checksum(icmp.data[14 + 20:]) == 0


def test_dscp_rewrite_keeps_a_valid_header() -> None:
    frame = b"\x02" * 12 + b"\x08\x00" + ip.udp(SUB, RELAY, 40000, 3478, b"x")
    out = compiler._with_dscp(frame, 41)
    assert out[15] >> 2 == 41 and ip.checksum(out[14:34]) == 0 and out[34:] == frame[34:]


SHIPPED = ("none", "anrt-2016", "behavioural", "degrade", "ip-block", "port-block", "throttle-udp", "vpn-block")
EDGES = Policy("edges", (
    Rule("1", Match(l4="udp", src_ports=((5000, 5010),)), Action("drop"), 1),
    Rule("2", Match(l4="tcp", hosts=(ip_network("198.51.100.0/25"),), ports=((443, 443),)), Action("drop"), 2),
    Rule("3", Match(dst=(ip_network("203.0.113.0/24"),), src=(ip_network("10.10.0.0/16"),)), Action("allow"), 3),
    Rule("4", Match(l4="udp", dst_ports=((3478, 3481),)), Action("degrade", loss_pct=5), 4),
))


def _addresses() -> list[str]:
    """Every network's edges (inside and just outside) in the policies, and our hosts."""
    out = {SUB, RELAY, SIP, WEB}
    for pol in [policy(name) for name in SHIPPED] + [EDGES]:
        for rule in pol.rules:
            for net in rule.match.src + rule.match.dst + rule.match.hosts:
                if net.version == 4:
                    first, last = int(net.network_address), int(net.broadcast_address)
                    out |= {str(ip_address(a)) for a in (first, last, max(first - 1, 0), min(last + 1, 2**32 - 1))}
    return sorted(out)


def _ports() -> list[int]:
    out = {40000, 3478, 443, 5060, 80}
    for pol in [policy(name) for name in SHIPPED] + [EDGES]:
        for rule in pol.rules:
            for lo, hi in rule.match.src_ports + rule.match.dst_ports + rule.match.ports:
                out |= {lo, hi, max(lo - 1, 0), min(hi + 1, 65535)}
    return sorted(out)


ADDRESSES, PORTS = _addresses(), _ports()
TABLES = {name: table_for(policy(name)) for name in SHIPPED} | {"edges": table_for(EDGES)}


@given(st.sampled_from(sorted(TABLES)), st.sampled_from(("udp", "tcp")), st.sampled_from(ADDRESSES),
       st.sampled_from(ADDRESSES), st.sampled_from(PORTS), st.sampled_from(PORTS))
def test_proactive_rule_is_the_flow_entry_that_takes_both_directions(name: str, l4: str, client: str,
                                                                     server: str, cport: int, sport: int) -> None:
    """The pure match the emulation uses agrees with what the compiled table does to every packet of the flow."""
    compiled, table = TABLES[name]
    key = (ip.UDP if l4 == "udp" else ip.TCP, ip.addr_bytes(client), cport, ip.addr_bytes(server), sport)
    rule = compiler.proactive_rule(compiled, key)
    pkt = udp if l4 == "udp" else tcp
    for a, b, pa, pb in ((client, server, cport, sport), (server, client, sport, cport)):
        entry = table.lookup(pkt(a, b, pa, pb))
        assert entry is not None
        proactive = entry.priority > compiler.PRIO_VERDICT
        assert (entry.cookie if proactive else None) == (rule.index if rule else None), (a, b, pa, pb)
