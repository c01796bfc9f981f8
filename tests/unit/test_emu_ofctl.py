"""Reading ``ovs-ofctl dump-flows`` back: the counters a cell and the integration tests read."""
# ruff: noqa: E501 - the dump's lines are as long as ovs-ofctl prints them

from __future__ import annotations

from testbed.emu.ofctl import RuleCount, flow_entries, parse, rule_counters

DUMP = """OFPST_FLOW reply (OF1.3) (xid=0x2):
 cookie=0x1, duration=2.551s, table=0, n_packets=0, n_bytes=0, priority=29999,ip,nw_src=10.10.255.0/24 actions=NORMAL
 cookie=0x2, duration=2.551s, table=0, n_packets=12, n_bytes=1200, priority=29998,ip,nw_dst=157.240.0.0/16 actions=drop
 cookie=0x2, duration=2.551s, table=0, n_packets=3, n_bytes=180, priority=29998,ip,nw_src=157.240.0.0/16 actions=drop
 cookie=0x8000000000000002, duration=2.272s, table=0, n_packets=35, n_bytes=5433, idle_timeout=30, priority=20000,udp,nw_src=10.10.0.3,nw_dst=157.240.1.60,tp_src=32768,tp_dst=3478 actions=drop
 cookie=0x8000000000000003, duration=2.272s, table=0, n_packets=0, n_bytes=0, idle_timeout=30, priority=20000,udp,nw_src=157.240.1.60,nw_dst=10.10.0.3,tp_src=3478,tp_dst=32768 actions=drop
 cookie=0x0, duration=2.551s, table=0, n_packets=1, n_bytes=170, priority=100,udp actions=CONTROLLER:65535
 cookie=0x0, duration=2.551s, table=0, n_packets=2, n_bytes=84, priority=0 actions=NORMAL
"""


def test_parse_dump_flows() -> None:
    entries = parse(DUMP)
    assert [e.priority for e in entries] == [29999, 29998, 29998, 20000, 20000, 100, 0]
    assert entries[0].match == {"nw_src": "10.10.255.0/24", "ip": ""} and entries[0].cookie == 1
    drop = entries[3]
    assert drop.drops and drop.n_packets == 35 and drop.n_bytes == 5433 and drop.cookie == (1 << 63) | 2
    assert entries[5].actions == "CONTROLLER:65535" and entries[6].actions == "NORMAL"


def test_rule_counters_sum_a_rules_entries_both_ways() -> None:
    assert rule_counters(parse(DUMP), 20000) == {1: RuleCount(0, 0), 2: RuleCount(15, 1380)}


def test_flow_entries_finds_one_direction() -> None:
    entries = parse(DUMP)
    (up,) = flow_entries(entries, "10.10.0.3", 32768, "157.240.1.60", 3478)
    assert up.n_packets == 35
    (down,) = flow_entries(entries, "157.240.1.60", 3478, "10.10.0.3", 32768)
    assert down.n_packets == 0
    assert flow_entries(entries, "10.10.0.3", 32769, "157.240.1.60", 3478) == []


def test_an_entrys_flags_are_not_its_match() -> None:
    """A throttled verdict's entries ask for flow-removed messages: OVS prints the flag before the
    priority, with a space (as dumped from a throttle-calls run)."""
    line = (" cookie=0x8000000000000002, duration=3.1s, table=0, n_packets=160, n_bytes=25099, "
            "send_flow_rem idle_timeout=30, priority=20000,udp,nw_src=10.10.0.3,nw_dst=157.240.1.60,"
            "tp_src=32768,tp_dst=3478 actions=meter:1,NORMAL")
    (entry,) = parse(line)
    assert entry.priority == 20000 and entry.actions == "meter:1,NORMAL"
    assert entry.match == {"udp": "", "nw_src": "10.10.0.3", "nw_dst": "157.240.1.60", "tp_src": "32768",
                           "tp_dst": "3478"}
    assert rule_counters([entry], 20000) == {}     # a verdict's entry, not a rule's
