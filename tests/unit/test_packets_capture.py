"""Capture files: pcap written and read back, pcapng with several interfaces, link layers, damage."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from testbed.packets import capture, ip
from testbed.packets.capture import ReadStats, read_ip, strip_link, write_ip

PACKETS = [(1700000000.5 + i * 0.02, ip.udp("10.0.0.1", "10.0.0.2", 5000, 7985 + i, bytes([i]) * (20 + i)))
           for i in range(5)]


def _pcapng(*sections: bytes) -> bytes:
    return b"".join(sections)


def _block(kind: int, body: bytes) -> bytes:
    length = 12 + len(body) + (-len(body) % 4)
    return struct.pack("<II", kind, length) + body + b"\0" * (-len(body) % 4) + struct.pack("<I", length)


def _idb(linktype: int, tsresol: int | None) -> bytes:
    opts = b"" if tsresol is None else struct.pack("<HHB3x", 9, 1, tsresol) + b"\0\0\0\0"
    return _block(1, struct.pack("<HHI", linktype, 0, 65535) + opts)


def _epb(iface: int, ticks: int, frame: bytes) -> bytes:
    return _block(6, struct.pack("<IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF, len(frame), len(frame)) + frame)


SHB = _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
ETHER = b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00"


def test_pcap_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "x.pcap"
    write_ip(path, PACKETS)
    stats = ReadStats()
    got = list(read_ip(path, stats))
    assert got == [(pytest.approx(ts, abs=1e-6), packet) for ts, packet in PACKETS]
    assert (stats.packets, stats.ip_packets, stats.skipped, stats.error, stats.linktypes) == (5, 5, 0, "", {101})


def test_pcap_byte_orders_and_nanoseconds() -> None:
    frame = ETHER + PACKETS[0][1]
    for magic, order, frac in ((b"\xd4\xc3\xb2\xa1", "<", 250000), (b"\xa1\xb2\xc3\xd4", ">", 250000),
                               (b"\x4d\x3c\xb2\xa1", "<", 250000000), (b"\xa1\xb2\x3c\x4d", ">", 250000000)):
        head = magic + struct.pack(order + "HHiIII", 2, 4, 0, 0, 65535, 1)
        data = head + struct.pack(order + "IIII", 100, frac, len(frame), len(frame)) + frame
        assert list(capture.pcap_frames(data)) == [(1, 100.25, frame)]


def test_pcapng_interfaces_keep_their_link_type_and_resolution(tmp_path: Path) -> None:
    """The case dpkt gets wrong: a second interface in nanoseconds, raw IP."""
    raw = PACKETS[1][1]
    data = _pcapng(SHB, _idb(1, None), _idb(101, 9), _epb(0, 1_700_000_000_250_000, ETHER + PACKETS[0][1]),
                   _epb(1, 1_700_000_001_500_000_000, raw), _block(5, b"statistics"))
    path = tmp_path / "two.pcapng"
    path.write_bytes(data)
    stats = ReadStats()
    got = list(read_ip(path, stats))
    assert got == [(pytest.approx(1700000000.25), PACKETS[0][1]), (pytest.approx(1700000001.5), raw)]
    assert stats.linktypes == {1, 101} and stats.error == ""


@pytest.mark.parametrize("linktype,frame", [
    (capture.DLT_EN10MB, b"\x02" * 12 + b"\x81\x00\x00\x05" + b"\x86\xdd" + b"IP"),                # 802.1Q
    (capture.DLT_EN10MB, b"\x02" * 12 + b"\x88\xa8\x00\x05\x81\x00\x00\x06\x08\x00" + b"IP"),    # QinQ
    (capture.DLT_LINUX_SLL, b"\0" * 14 + b"\x08\x00" + b"IP"),
    (capture.DLT_LINUX_SLL2, b"\x86\xdd" + b"\0" * 18 + b"IP"),
    (capture.DLT_NULL, b"\x02\0\0\0" + b"IP"),
    (capture.DLT_C_HDLC, b"\x0f\x00\x08\x00" + b"IP"),
    (capture.DLT_RAW, b"IP"),
])
def test_link_layers(linktype: int, frame: bytes) -> None:
    assert strip_link(linktype, frame) == b"IP"


def test_non_ip_is_skipped() -> None:
    assert strip_link(capture.DLT_EN10MB, b"\x02" * 12 + b"\x08\x06" + b"ARP") is None
    assert strip_link(capture.DLT_LINUX_SLL, b"\0" * 14 + b"\x08\x06") is None
    assert strip_link(147, b"anything") is None


def test_damaged_files_keep_what_was_read(tmp_path: Path) -> None:
    path = tmp_path / "cut.pcap"
    write_ip(path, PACKETS)
    whole = path.read_bytes()
    path.write_bytes(whole[:-10])
    stats = ReadStats()
    assert [packet for _, packet in read_ip(path, stats)] == [p for _, p in PACKETS[:4]]
    assert stats.error.startswith("stopped after 4 packets: record cut short")
    for content, error in ((b"", "not a capture file: empty file"), (b"garbage" * 10, "not a capture file: not a pcap"),
                           (SHB + struct.pack("<III", 6, 7, 0), "not a capture file: bad block length 7")):
        path.write_bytes(content)
        stats = ReadStats()
        assert list(read_ip(path, stats)) == []
        assert stats.error.startswith(error)
