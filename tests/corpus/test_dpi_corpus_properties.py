"""Truncated and garbled real packets and capture files: nothing raises, ever.

The parser, the flow table, every signature and the whole classifier get real
packets from the corpus cut short and with bytes overwritten; the capture
reader gets real files cut and overwritten at random places.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
from groundtruth import captures
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from testbed.dpi.classifier import NOT_INSPECTED, Classifier
from testbed.dpi.flow import FlowTable
from testbed.dpi.signature import Pkt
from testbed.dpi.signatures import default_signatures
from testbed.packets.capture import ReadStats, read_ip
from testbed.packets.ip import TCP, UDP, parse_ip
from testbed.policy.load import POLICY_DIR, load_policy

pytestmark = pytest.mark.corpus

SIGNATURES = default_signatures()
POLICY = load_policy(POLICY_DIR / "anrt-2016.yaml")


@cache
def real_packets() -> tuple[bytes, ...]:
    """Up to 40 IP packets of every capture: all link types, protocols and apps of the corpus."""
    out = []
    for path in captures():
        for i, (_, packet) in enumerate(read_ip(path)):
            if i >= 40:
                break
            out.append(packet)
    return tuple(out)


@cache
def capture_files() -> tuple[Path, ...]:
    return tuple(p for p in captures() if p.stat().st_size < 200_000)


def garble(packet: bytes, cut: int, edits: list[tuple[int, int]]) -> bytes:
    data = bytearray(packet[:cut] if cut < len(packet) else packet)
    for at, value in edits:
        if data:
            data[at % len(data)] = value
    return bytes(data)


PACKET = st.integers(min_value=0, max_value=10**9)
EDITS = st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), max_size=6)
SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_enough_real_packets() -> None:
    assert len(real_packets()) > 5000


@SETTINGS
@given(PACKET, st.integers(0, 1600), EDITS)
def test_garbled_real_packets_through_parser_and_flow_table(which: int, cut: int, edits: list) -> None:
    packets = real_packets()
    data = garble(packets[which % len(packets)], cut, edits)
    decoded = parse_ip(data)
    if decoded is None:
        return
    assert decoded.proto in (UDP, TCP)
    assert len(decoded.payload) <= len(data)
    table = FlowTable(30.0)
    flow, direction, new = table.lookup(decoded, 1.0)
    assert new and direction == 0 and flow.packets == 1


@SETTINGS
@given(PACKET, st.integers(0, 1600), EDITS, st.integers(0, 1))
def test_garbled_real_payloads_through_every_signature(which: int, cut: int, edits: list, direction: int) -> None:
    packets = real_packets()
    decoded = parse_ip(packets[which % len(packets)])
    if decoded is None or not decoded.payload:
        return
    payload = garble(decoded.payload, cut, edits)
    table = FlowTable(30.0)
    flow, _, _ = table.lookup(decoded, 1.0)
    for sig in SIGNATURES:
        if decoded.proto in sig.protos:
            found = sig.inspect(Pkt(payload, direction, 1, 1.0, decoded.proto, decoded.tcp_flags), flow)
            assert found is None or found.app and found.why


@SETTINGS
@given(st.lists(st.tuples(PACKET, st.integers(0, 1600), EDITS), min_size=1, max_size=30))
def test_garbled_real_packet_sequences_through_the_classifier(items: list) -> None:
    packets = real_packets()
    classifier = Classifier(POLICY, keep_flows=True)
    for i, (which, cut, edits) in enumerate(items):
        verdict = classifier.feed(garble(packets[which % len(packets)], cut, edits), float(i))
        assert verdict is None or verdict is NOT_INSPECTED or verdict.why
    for verdict in classifier.finish():
        assert verdict.packet_index >= 1 and verdict.why


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 10**6), st.integers(0, 10**9), EDITS)
def test_cut_and_overwritten_capture_files_read_without_raising(
        tmp_path_factory: pytest.TempPathFactory, which: int, cut: int, edits: list) -> None:
    files = capture_files()
    original = files[which % len(files)].read_bytes()
    data = garble(original, cut % (len(original) + 1), edits)
    path = tmp_path_factory.mktemp("garbled") / "capture"
    path.write_bytes(data)
    stats = ReadStats()
    count = sum(1 for _ in read_ip(path, stats))
    assert count == stats.ip_packets <= stats.packets
    if data == original:
        assert stats.error == ""
