"""What the DPI switch did, measured on its ports: synthetic two-port captures, written as
dumpcap writes them (pcapng, one interface per port, named), read back and paired."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from testbed.emu.capture import Evidence
from testbed.emu.forwarding import ACCESS, CORE, Passage, passages, port_sides
from testbed.packets import ip
from testbed.packets.capture import read_ip_ports
from topologies import TOPOLOGIES

IN, OUT = "tbdpi1-eth1", "tbdpi1-eth2"       # access side, core side
SIDES = {IN: ACCESS, OUT: CORE}
SUB, RELAY, WEB = "10.10.0.2", "157.240.1.60", "93.184.216.34"
T0 = 1_700_000_000.0


def _block(kind: int, body: bytes) -> bytes:
    pad = b"\0" * (-len(body) % 4)
    length = 12 + len(body) + len(pad)
    return struct.pack("<II", kind, length) + body + pad + struct.pack("<I", length)


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def write_pcapng(path: Path, ports: list[str], packets: list[tuple[str, float, bytes]]) -> None:
    """A pcapng with one Ethernet interface per port (if_name, nanosecond timestamps)."""
    out = [_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))]
    for port in ports:
        opts = _option(2, port.encode()) + _option(9, b"\x09") + _option(0, b"")
        out.append(_block(1, struct.pack("<HHI", 1, 0, 0) + opts))
    for port, ts, packet in packets:
        frame = b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + packet
        ticks = round(ts * 1e9)
        out.append(_block(6, struct.pack("<IIIII", ports.index(port), ticks >> 32, ticks & 0xFFFFFFFF,
                                         len(frame), len(frame)) + frame))
    path.write_bytes(b"".join(out))


def with_id(packet: bytes, ident: int) -> bytes:
    return packet[:4] + struct.pack("!H", ident) + packet[6:]


def with_dscp(packet: bytes, dscp: int) -> bytes:
    """As OVS's set_field does for a degrade: the IP header changes, the L4 segment does not."""
    return packet[:1] + bytes([dscp << 2]) + packet[2:10] + b"\xab\xcd" + packet[12:]


def up(n: int, payload: bytes = b"", ident: int | None = None) -> bytes:
    return with_id(ip.udp(SUB, RELAY, 40000, 3478, payload or bytes([n]) * 60), n if ident is None else ident)


def down(n: int, payload: bytes = b"", ident: int = 0) -> bytes:
    return with_id(ip.udp(RELAY, SUB, 3478, 40000, payload or bytes([n]) * 80), ident)


KEY = (17, ip.addr_bytes(SUB), 40000, ip.addr_bytes(RELAY), 3478)
WEB_KEY = (6, ip.addr_bytes(SUB), 50000, ip.addr_bytes(WEB), 443)


def test_inline_drop_at_the_third_packet_both_directions_counted(tmp_path: Path) -> None:
    caught = [
        (IN, T0 + 0.000, up(1)), (OUT, T0 + 0.0004, up(1)),        # forwarded
        (IN, T0 + 0.0101, down(2)),                                # its departure written before
        (OUT, T0 + 0.0100, down(2)),                               # its arrival (ports interleave)
        (IN, T0 + 0.020, up(3)),                                   # held: the verdict packet
        (IN, T0 + 0.040, up(4)), (OUT, T0 + 0.045, down(5)),       # dropped by the entry, both ways
        ("tbacc1-eth1", T0 + 0.041, up(4)),                        # not a DPI port
        (IN, T0 + 0.050, with_id(ip.udp(SUB, WEB, 1, 2, b"x" * 20), 9)),   # not a measured flow
    ]
    path = tmp_path / "dpi-anrt-2016--none.pcapng"
    write_pcapng(path, [IN, OUT, "tbacc1-eth1"], caught)
    assert [(p, round(t - T0, 4)) for p, t, _ in read_ip_ports(path)][:3] == [(IN, 0.0), (OUT, 0.0004), (IN, 0.0101)]
    got = Evidence(path, SIDES, {}).passages([KEY, WEB_KEY])
    assert got == {KEY: Passage(arrived=5, forwarded=2, arrived_up=3, forwarded_up=1, ttb_packets=3,
                                ttb_ms=pytest.approx(20.0, abs=1e-3))}
    assert got[KEY].blocked


def test_tap_forwards_until_the_entry_and_everything_else_passes() -> None:
    caught = []
    for n in range(1, 7):
        t = T0 + n * 0.02
        caught.append((IN, t, up(n)))
        if n <= 4:                                                 # the entry is in from packet 5
            caught.append((OUT, t + 0.0003, up(n)))
    got = passages(caught, SIDES, [KEY])[KEY]
    assert (got.arrived, got.forwarded, got.ttb_packets) == (6, 4, 5)
    assert got.ttb_ms == pytest.approx(80.0, abs=1e-3)
    allowed = [(side, T0 + n * 0.02 + d, up(n)) for n in range(1, 4) for side, d in ((IN, 0), (OUT, 0.0003))]
    assert passages(allowed, SIDES, [KEY])[KEY] == Passage(3, 3, 3, 3, None, None)


def test_identical_datagrams_pair_first_come_first_paired() -> None:
    """A server's unconnected UDP socket sends with IP id 0: the same bytes twice. The first
    copy passed, the second was dropped."""
    same = down(0, b"\x01\x01" + b"\0" * 40, ident=0)
    caught = [(IN, T0, up(1)), (OUT, T0 + 0.001, up(1)),
              (OUT, T0 + 0.010, same), (IN, T0 + 0.0103, same),
              (OUT, T0 + 0.030, same)]
    got = passages(caught, SIDES, [KEY])[KEY]
    assert (got.arrived, got.forwarded, got.ttb_packets) == (3, 2, 3)
    assert got.ttb_ms == pytest.approx(30.0, abs=1e-3)


def test_a_degraded_packet_is_still_forwarded_and_a_reset_is_not_an_arrival() -> None:
    syn = with_id(ip.tcp(SUB, WEB, 50000, 443, seq=1, flags=ip.TCP_SYN), 1)
    rst = with_id(ip.tcp(WEB, SUB, 443, 50000, seq=7, ack=2, flags=ip.TCP_RST | ip.TCP_ACK), 0)
    caught = [(IN, T0, up(1)), (OUT, T0 + 0.001, with_dscp(up(1), 40)),
              (IN, T0 + 0.002, syn), (IN, T0 + 0.003, rst)]          # the switch's RST back to the client
    got = passages(caught, SIDES, [KEY, WEB_KEY])
    assert got[KEY] == Passage(1, 1, 1, 1, None, None)
    assert got[WEB_KEY] == Passage(1, 0, 1, 0, 1, 0.0)             # the SYN held, the RST not counted


def test_simultaneous_arrivals_keep_the_capture_order() -> None:
    caught = [(IN, T0, up(1)), (OUT, T0, down(2)), (OUT, T0 + 0.001, up(1))]
    got = passages(caught, SIDES, [KEY])[KEY]
    assert (got.ttb_packets, got.ttb_ms) == (2, 0.0)


def test_nothing_seen_nothing_reported_and_no_capture_no_passages() -> None:
    assert passages([(IN, T0, up(1))], SIDES, [WEB_KEY]) == {}
    assert Evidence(None, SIDES, {}).passages([KEY]) == {}


def test_port_sides_face_the_subscribers_or_the_core() -> None:
    topo = TOPOLOGIES["three_operators"](subscribers=1)       # the core reaches the others' subscribers
    assert port_sides({"tbdpi2-eth1": "tbacc2", "tbdpi2-eth2": "tbcore2"}, topo, "tbdpi2") == \
        {"tbdpi2-eth1": ACCESS, "tbdpi2-eth2": CORE}                # only through their DPIs


def test_measured_times_the_hit_calls_and_confirms_proactive_drops(tmp_path: Path) -> None:
    """EmuNetwork.measured on a stand-in session: a call an ip-block entry dropped (confirmed
    by the packets and the rule's counter) and one the classifier's tap verdict stopped."""
    pytest.importorskip("os_ken", reason="the 'emu' extra (os-ken) is not installed")
    import random
    from types import SimpleNamespace

    from testbed.call.records import CallRecord
    from testbed.config.scenario import load_scenario
    from testbed.dpi.classifier import Verdict
    from testbed.emu.messages import Decided
    from testbed.emu.network import EmuNetwork
    from testbed.emu.ofctl import RuleCount
    from testbed.emu.placement import FlowSpec
    from testbed.policy import compiler
    from testbed.policy.load import load_policy, resolve
    from testbed.policy.model import Action
    from testbed.traffic.apps import PROFILES

    plan = PROFILES["whatsapp"].build(random.Random(1), 24)[0]
    dropped = FlowSpec("f1", "tb1s1", "tbwa", SUB, RELAY, 40000, plan)
    tapped = FlowSpec("f2", "tb1s1", "tbwa", SUB, RELAY, 40002, plan)
    verdict = Verdict("WhatsAppCall", "VoIP", "anrt-2016/ott-calls", 1, Action("drop"), "sig", 0.0, tapped.key)
    session = SimpleNamespace(topo=TOPOLOGIES["operator_edge"](subscribers=1), verdicts={tapped.key: Decided(0, "12", 1, verdict)},
                              compiled={"tbdpi1": compiler.compile_policy(load_policy(resolve("ip-block")))})
    network = EmuNetwork(session, load_scenario("scenarios/morocco-2016.yaml").workload, 1)  # type: ignore[arg-type]
    operator = str(session.topo.nodeInfo("tbdpi1")["operator"])
    assert network._seen(1, 1, [dropped], operator)[0].packets == 1       # until measured: the model's
    network._seen(2, 1, [tapped], operator)
    records = [CallRecord(call_id=i, intent_id=i, attempt=1, t_start=0.0, subscriber=1, operator=operator,
                          app="whatsapp", strategy="none", outcome="signalling-blocked", action="drop")
               for i in (1, 2)]
    on_tap = [with_id(ip.udp(SUB, RELAY, 40002, 3478, bytes([n]) * 50), n) for n in range(1, 4)]
    caught = [(IN, T0 + n * 0.02, with_id(ip.udp(SUB, RELAY, 40000, 3478, bytes([n]) * 50), n)) for n in range(1, 4)]
    caught += [(IN, T0 + n * 0.02, p) for n, p in enumerate(on_tap)] + [(OUT, T0 + 0.001, on_tap[0]),
                                                                         (OUT, T0 + 0.021, on_tap[1])]
    path = tmp_path / "dpi-ip-block--none.pcapng"
    write_pcapng(path, [IN, OUT], caught)
    tally = network.measured(Evidence(path, SIDES, {"tbdpi1": {1: RuleCount(3, 234)}}), records)
    assert tally == {"ttb_measured": 2, "proactive_confirmed": 1, "proactive_unconfirmed": 0}
    assert (records[0].ttb_packets, records[0].ttb_ms) == (1, 0.0)
    assert (records[1].ttb_packets, records[1].ttb_ms) == (3, pytest.approx(40.0, abs=1e-3))
    # the rule's counter saw nothing: the model's answer is not what the switch did
    tally = network.measured(Evidence(path, SIDES, {"tbdpi1": {}}), records)
    assert tally["proactive_unconfirmed"] == 1
