"""Capture files in and out, down to the IP packet: pcap and pcapng read, pcap written.

A pcapng file may hold several interfaces (a switch's ports captured together):
``read_ip_ports`` says which interface, by name, saw each packet.

Link layers: Ethernet (with 802.1Q/QinQ tags), Linux cooked v1/v2, raw IP, BSD
loopback, Cisco HDLC. Anything else is skipped and counted.

Reading walks the memory-mapped file with ``struct`` instead of going through
dpkt, for two measured reasons: dpkt's pcap reader builds an object per record
header (270 k packets/s here against 1.6 M for this loop, and reading is half of
the DPI's per-packet budget), and its pcapng reader keeps only the first
Interface Description Block, so captures merged from several sources (nDPI's
test files are) get the link type and timestamps of the later ones wrong by
1000x. dpkt still writes our pcaps and is the tests' reference reader.
"""

from __future__ import annotations

import contextlib
import mmap
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dpkt

DLT_NULL, DLT_EN10MB, DLT_RAW, DLT_RAW_OPENBSD, DLT_LINUX_SLL = 0, 1, 101, 12, 113
DLT_IPV4, DLT_IPV6, DLT_LINUX_SLL2, DLT_LOOP, DLT_C_HDLC = 228, 229, 276, 108, 104
_ETHER_IP = {0x0800, 0x86DD}
_ETHER_IP_BYTES = (b"\x08\x00", b"\x86\xdd")
_VLAN = {0x8100, 0x88A8, 0x9100}

PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
# classic pcap magic as it appears in the file → (byte order, fraction divisor)
PCAP_MAGICS = {b"\xd4\xc3\xb2\xa1": ("<", 1e6), b"\xa1\xb2\xc3\xd4": (">", 1e6),
               b"\x4d\x3c\xb2\xa1": ("<", 1e9), b"\xa1\xb2\x3c\x4d": (">", 1e9)}
_SHB, _IDB, _PB, _SPB, _EPB = 0x0A0D0D0A, 1, 2, 3, 6
_OPT_NAME, _OPT_TSRESOL, _OPT_TSOFFSET = 2, 9, 14


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
    if linktype == DLT_C_HDLC:
        if len(frame) < 4 or struct.unpack_from("!H", frame, 2)[0] not in _ETHER_IP:
            return None
        return frame[4:]
    return None


@dataclass
class Interface:
    """A pcapng Interface Description Block: what a packet's timestamp and link layer mean."""

    linktype: int
    divisor: float = 1e6
    offset: float = 0.0
    name: str = ""     # if_name, e.g. the switch port "tbdpi1-eth1" ("" if not given)


def _interface(body: bytes, order: str) -> Interface:
    """An Interface Description Block body: link type, name and timestamp options."""
    iface = Interface(struct.unpack_from(order + "H", body)[0])
    off = 8
    while off + 4 <= len(body):
        code, length = struct.unpack_from(order + "HH", body, off)
        value = body[off + 4:off + 4 + length]
        if code == 0:
            break
        if code == _OPT_NAME:
            iface.name = value.rstrip(b"\0").decode("utf-8", "replace")
        elif code == _OPT_TSRESOL and length >= 1:
            base = 2 if value[0] & 0x80 else 10
            iface.divisor = float(base ** (value[0] & 0x7F))
        elif code == _OPT_TSOFFSET and length == 8:
            iface.offset = float(struct.unpack(order + "q", value)[0])
        off += 4 + length + (-length % 4)
    return iface


def pcapng_frames(data: bytes) -> Iterator[tuple[int, float, bytes]]:
    """(link type, timestamp, frame) of every packet block of a pcapng file's bytes.

    Raises ValueError at the first damaged block, after yielding those before it.
    """
    return _pcapng(data, False)


def pcapng_interface_frames(data: bytes) -> Iterator[tuple[Interface, float, bytes]]:
    """(interface, timestamp, frame) of every packet block of a pcapng file's bytes.

    Raises ValueError at the first damaged block, after yielding those before it.
    """
    return _pcapng(data, True)


def _pcapng(data: bytes, interfaces: bool) -> Iterator[tuple]:
    """The walk of both: the same generator (no second one per packet), yielding the
    interface or only its link type."""
    order = "<"
    ifaces: list[Interface] = []
    off, end = 0, len(data)
    while off + 12 <= end:
        kind = struct.unpack_from(order + "I", data, off)[0]
        if kind == _SHB:  # a new section: its own byte order and interfaces
            bom = data[off + 8:off + 12]
            if bom not in (b"\x4d\x3c\x2b\x1a", b"\x1a\x2b\x3c\x4d"):
                raise ValueError(f"bad byte-order magic at offset {off}")
            order = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
            ifaces = []
        length = struct.unpack_from(order + "I", data, off + 4)[0]
        if length < 12 or length % 4 or off + length > end:
            raise ValueError(f"bad block length {length} at offset {off}")
        body = data[off + 8:off + length - 4]
        off += length
        if kind == _EPB and len(body) >= 20:
            iface_id, high, low, caplen = struct.unpack_from(order + "IIII", body)
            if iface_id >= len(ifaces):
                raise ValueError(f"packet of undeclared interface {iface_id}")
            iface = ifaces[iface_id]
            yield (iface if interfaces else iface.linktype), iface.offset + ((high << 32) | low) / iface.divisor, \
                body[20:20 + caplen]
        elif kind == _IDB and len(body) >= 8:
            ifaces.append(_interface(body, order))
        elif kind == _SPB and len(body) >= 4 and ifaces:
            first = ifaces[0]
            yield (first if interfaces else first.linktype), 0.0, body[4:4 + struct.unpack_from(order + "I", body)[0]]
        elif kind == _PB and len(body) >= 20:
            iface_id, _drops, high, low, caplen = struct.unpack_from(order + "HHIII", body)
            if iface_id >= len(ifaces):
                raise ValueError(f"packet of undeclared interface {iface_id}")
            iface = ifaces[iface_id]
            yield (iface if interfaces else iface.linktype), iface.offset + ((high << 32) | low) / iface.divisor, \
                body[20:20 + caplen]
    if off != end:
        raise ValueError(f"{end - off} trailing bytes")


def pcap_frames(data: bytes) -> Iterator[tuple[int, float, bytes]]:
    """(link type, timestamp, frame) of every record of a classic pcap file's bytes.

    Raises ValueError for a bad header or a cut record, after yielding those before it.
    """
    if len(data) < 24 or data[:4] not in PCAP_MAGICS:
        raise ValueError("not a pcap or pcapng file")
    order, divisor = PCAP_MAGICS[data[:4]]
    linktype = struct.unpack_from(order + "I", data, 20)[0] & 0x0FFFFFFF  # high bits: FCS flags
    unpack = struct.Struct(order + "IIII").unpack_from
    off, end = 24, len(data)
    while off + 16 <= end:
        sec, frac, caplen, _ = unpack(data, off)
        off += 16
        if off + caplen > end:
            raise ValueError(f"record cut short at offset {off - 16}")
        yield linktype, sec + frac / divisor, data[off:off + caplen]
        off += caplen
    if off != end:
        raise ValueError(f"{end - off} trailing bytes")


@contextlib.contextmanager
def _mapped(path: str | Path) -> Iterator[Iterator[tuple[int, float, bytes]]]:
    """The records of a capture file, read from a memory map while the context is open."""
    with open(path, "rb") as f:
        if f.seek(0, 2) == 0:
            raise ValueError("empty file")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            walk = pcapng_frames if data[:4] == PCAPNG_MAGIC else pcap_frames
            yield walk(data)  # type: ignore[arg-type]


def frames(path: str | Path) -> Iterator[tuple[int, float, bytes]]:
    """(link type, timestamp, frame) for every packet of a pcap or pcapng file."""
    with _mapped(path) as records:
        yield from records


def read_ip(path: str | Path, stats: ReadStats | None = None) -> Iterator[tuple[float, bytes]]:
    """(timestamp, IP packet) for every IP packet in a pcap/pcapng file.

    A truncated or damaged file yields what could be read; the error is kept in
    ``stats.error``, never raised past the packets already read.
    """
    stats = stats if stats is not None else ReadStats()
    packets = ip_packets = 0       # counted here, written to ``stats`` when reading stops (per-packet
    last_linktype = -1             # attribute and set updates are a good part of this loop)
    try:
        with _mapped(path) as records:   # not through frames(): one generator less per packet
            for linktype, ts, frame in records:
                packets += 1
                if linktype != last_linktype:
                    stats.linktypes.add(linktype)
                    last_linktype = linktype
                if linktype == DLT_EN10MB and frame[12:14] in _ETHER_IP_BYTES:
                    ip: bytes | None = frame[14:]  # the common cases, without a call
                elif linktype == DLT_RAW:
                    ip = frame
                else:
                    ip = strip_link(linktype, frame)
                if ip is None:
                    stats.skipped += 1
                    continue
                ip_packets += 1
                yield ts, ip
    except (ValueError, struct.error, OSError) as exc:
        # OSError: files that cannot be mapped or sought (/proc, /sys), a read error mid-way
        read = stats.packets + packets
        what = "not a capture file" if read == 0 else f"stopped after {read} packets"
        stats.error = f"{what}: {exc.strerror if isinstance(exc, OSError) and exc.strerror else exc}"
    finally:
        stats.packets += packets
        stats.ip_packets += ip_packets


def read_ip_ports(path: str | Path, stats: ReadStats | None = None) -> Iterator[tuple[str, float, bytes]]:
    """(interface name, timestamp, IP packet) for every IP packet of a pcapng file, in file order
    (interfaces interleave: timestamps need not rise). Damage is handled as ``read_ip`` does."""
    stats = stats if stats is not None else ReadStats()
    try:
        with open(path, "rb") as f:
            if f.seek(0, 2) == 0:
                raise ValueError("empty file")
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
                if data[:4] != PCAPNG_MAGIC:
                    raise ValueError("not a pcapng file: no interface names")
                for iface, ts, frame in pcapng_interface_frames(data):  # type: ignore[arg-type]
                    stats.packets += 1
                    stats.linktypes.add(iface.linktype)
                    ip = strip_link(iface.linktype, frame)
                    if ip is None:
                        stats.skipped += 1
                        continue
                    stats.ip_packets += 1
                    yield iface.name, ts, ip
    except (ValueError, struct.error) as exc:
        what = "not a capture file" if stats.packets == 0 else f"stopped after {stats.packets} packets"
        stats.error = f"{what}: {exc}"


def write_ip(path: str | Path, packets: list[tuple[float, bytes]]) -> None:
    """Write raw IP packets as a pcap (linktype 101) that Wireshark and tshark open."""
    with open(path, "wb") as f:
        writer = dpkt.pcap.Writer(f, linktype=DLT_RAW)
        for ts, packet in packets:
            writer.writepkt(packet, ts=ts)
