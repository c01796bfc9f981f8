"""Every corpus capture is read whole, as dpkt (the reference reader) and tshark count it."""

from __future__ import annotations

import struct
from pathlib import Path

import dpkt
import pytest
from groundtruth import captures

from testbed.dpi.replay import run_capture
from testbed.packets.capture import PCAPNG_MAGIC, ReadStats, frames, read_ip

pytestmark = pytest.mark.corpus

PACKETS = 44310      # records in the 237 captures
IP_PACKETS = 43892   # of them IP (ARP, LLDP, STP... are skipped)


def _dpkt_records(path: Path) -> list[tuple[float, bytes]]:
    with open(path, "rb") as f:
        magic = f.read(4)
        f.seek(0)
        reader = dpkt.pcapng.Reader(f) if magic == PCAPNG_MAGIC else dpkt.pcap.Reader(f)
        return [(float(ts), bytes(frame)) for ts, frame in reader]


def _interfaces(path: Path) -> int:
    """Interface Description Blocks of a pcapng file (0 for pcap)."""
    data = path.read_bytes()
    if data[:4] != PCAPNG_MAGIC:
        return 0
    order = "<" if data[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
    count, off = 0, 0
    while off + 8 <= len(data):
        kind, length = struct.unpack_from(order + "II", data, off)
        count += kind == 1
        off += length
    return count


def test_every_capture_read_like_dpkt() -> None:
    """Same frames in the same order; same timestamps wherever dpkt gets them right."""
    total = ip_total = 0
    for path in captures():
        ours = list(frames(path))
        reference = _dpkt_records(path)
        assert [frame for _, _, frame in ours] == [frame for _, frame in reference], path.name
        if _interfaces(path) <= 1:  # dpkt applies the first interface's resolution to all
            assert [ts for _, ts, _ in ours] == pytest.approx([ts for ts, _ in reference], abs=1e-6), path.name
        stats = ReadStats()
        ip_total += sum(1 for _ in read_ip(path, stats))
        assert stats.error == "", path.name
        total += stats.packets
    assert (total, ip_total) == (PACKETS, IP_PACKETS)


def test_several_interfaces_keep_their_own_timestamp_resolution() -> None:
    """viber.pcap joins a µs and a ns capture: all its times fall in 2018-2024, none 1000x off."""
    path = next(p for p in captures() if p.name == "viber.pcap")
    assert _interfaces(path) == 2
    times = [ts for ts, _ in read_ip(path)]
    assert min(times) > 1.5e9 and max(times) < 1.72e9


def test_every_capture_classified_with_a_reason() -> None:
    flows = named = 0
    for path in captures():
        result = run_capture(path, identify=True)
        assert all(row.why and row.decided_at_packet >= 1 for row in result.rows), path.name
        flows += len(result.rows)
        named += sum(1 for row in result.rows if row.app)
    assert flows >= 2300
    assert named >= 500  # measured 537: calls, chat, tunnels and TLS get names; most else stays unnamed
