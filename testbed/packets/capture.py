"""Capture files in and out: pcap and pcapng through dpkt, down to the IP packet.

Link layers: Ethernet (with 802.1Q/QinQ tags), Linux cooked v1/v2, raw IP, BSD
loopback. Anything else is skipped and counted.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import dpkt

DLT_NULL, DLT_EN10MB, DLT_RAW, DLT_RAW_OPENBSD, DLT_LINUX_SLL = 0, 1, 101, 12, 113
DLT_IPV4, DLT_IPV6, DLT_LINUX_SLL2, DLT_LOOP = 228, 229, 276, 108
_ETHER_IP = {0x0800, 0x86DD}
_VLAN = {0x8100, 0x88A8, 0x9100}


@dataclass
class ReadStats:
    packets: int = 0
    ip_packets: int = 0
    skipped: int = 0
    error: str = ""
    linktypes: set[int] = field(default_factory=set)


def strip_link(linktype: int, frame: bytes) -> bytes | None:
    """The IP packet inside a frame of ``linktype``, or None."""
    if linktype == DLT_EN10MB:
        if len(frame) < 14:
            return None
        off, ethertype = 12, struct.unpack_from("!H", frame, 12)[0]
        while ethertype in _VLAN and len(frame) >= off + 6:
            off += 4
            ethertype = struct.unpack_from("!H", frame, off)[0]
        return frame[off + 2:] if ethertype in _ETHER_IP else None
    if linktype in (DLT_RAW, DLT_RAW_OPENBSD, DLT_IPV4, DLT_IPV6):
        return frame
    if linktype == DLT_LINUX_SLL:
        if len(frame) < 16 or struct.unpack_from("!H", frame, 14)[0] not in _ETHER_IP:
            return None
        return frame[16:]
    if linktype == DLT_LINUX_SLL2:
        if len(frame) < 20 or struct.unpack_from("!H", frame, 0)[0] not in _ETHER_IP:
            return None
        return frame[20:]
    if linktype in (DLT_NULL, DLT_LOOP):
        return frame[4:] if len(frame) > 4 else None
    return None


def _reader(f: BinaryIO) -> tuple[Iterator[tuple[float, bytes]], int]:
    magic = f.read(4)
    f.seek(0)
    if magic == b"\x0a\x0d\x0d\x0a":
        r = dpkt.pcapng.Reader(f)
    else:
        r = dpkt.pcap.Reader(f)
    return iter(r), r.datalink()


def read_ip(path: str | Path, stats: ReadStats | None = None) -> Iterator[tuple[float, bytes]]:
    """(timestamp, IP packet) for every IP packet in a pcap/pcapng file.

    A truncated or damaged file yields what could be read; the error is kept in
    ``stats.error``, never raised past the packets already read.
    """
    stats = stats if stats is not None else ReadStats()
    with open(path, "rb") as f:
        try:
            packets, linktype = _reader(f)
        except (ValueError, dpkt.dpkt.Error, struct.error) as exc:
            stats.error = f"not a capture file: {exc}"
            return
        stats.linktypes.add(linktype)
        while True:
            try:
                ts, frame = next(packets)
            except StopIteration:
                return
            except (ValueError, dpkt.dpkt.Error, struct.error, EOFError) as exc:
                stats.error = f"stopped after {stats.packets} packets: {exc}"
                return
            stats.packets += 1
            ip = strip_link(linktype, frame)
            if ip is None:
                stats.skipped += 1
                continue
            stats.ip_packets += 1
            yield float(ts), ip


def write_ip(path: str | Path, packets: list[tuple[float, bytes]]) -> None:
    """Write raw IP packets as a pcap (linktype 101) that Wireshark and tshark open."""
    with open(path, "wb") as f:
        writer = dpkt.pcap.Writer(f, linktype=DLT_RAW)
        for ts, packet in packets:
            writer.writepkt(packet, ts=ts)
