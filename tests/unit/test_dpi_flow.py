"""The flow table: both directions, counters, idle expiry, size bound, history."""

from __future__ import annotations

from testbed.dpi.flow import DOWN, UP, FlowTable
from testbed.packets import ip
from testbed.packets.ip import parse_ip


def d(src: str, dst: str, sport: int, dport: int, payload: bytes = b"x"):
    decoded = parse_ip(ip.udp(src, dst, sport, dport, payload))
    assert decoded is not None
    return decoded


def test_both_directions_are_one_flow() -> None:
    table = FlowTable(30.0)
    a, direction, new = table.lookup(d("10.0.0.1", "10.0.0.2", 1000, 2000), 0.0)
    b, back, again = table.lookup(d("10.0.0.2", "10.0.0.1", 2000, 1000, b""), 0.5)
    assert a is b and (direction, back, new, again) == (UP, DOWN, True, False)
    assert (a.packets, a.up_packets, a.down_packets, a.payload_packets, a.cport, a.sport) == (2, 1, 1, 1, 1000, 2000)
    assert a.bytes == 29 + 28 and len(table.flows) == 1


def test_idle_flows_start_anew_and_history_keeps_them() -> None:
    table = FlowTable(5.0, keep_history=True)
    first, _, _ = table.lookup(d("10.0.0.1", "10.0.0.2", 1, 2), 0.0)
    second, direction, new = table.lookup(d("10.0.0.2", "10.0.0.1", 2, 1), 6.0)
    assert new and second is not first and direction == UP and second.client == first.server
    assert table.expired == 1 and table.history == [first, second] and list(table.flows.values()) == [second]


def test_size_bound_expires_idle_flows() -> None:
    table = FlowTable(1.0, max_flows=2)
    table.lookup(d("10.0.0.1", "10.0.0.2", 1, 2), 0.0)
    table.lookup(d("10.0.0.1", "10.0.0.2", 3, 4), 0.0)
    table.lookup(d("10.0.0.1", "10.0.0.2", 5, 6), 5.0)
    assert len(table.flows) == 1 and table.expired == 2
