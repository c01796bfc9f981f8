"""IPv4/IPv6 with UDP/TCP: builders with correct checksums and a lean parser.

The parser is the DPI hot path: ``parse_ip`` reads only the fixed headers with
``struct.unpack_from`` and returns the 5-tuple and the L4 payload offset.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

UDP = 17
TCP = 6
L4_NAMES = {UDP: "UDP", TCP: "TCP"}

TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK = 0x01, 0x02, 0x04, 0x08, 0x10

_IPV4 = struct.Struct("!BBHHHBBH4s4s")
_UDP = struct.Struct("!HHHH")
_TCP = struct.Struct("!HHIIBBHHH")
_PORTS = struct.Struct("!HH")
_TCP_PORTS_SEQ = struct.Struct("!HHI")
_V4HEAD = struct.Struct("!BxHxxHxB2x4s4s")  # version/IHL, total length, flags/offset, protocol, addresses
_V4UDP = struct.Struct("!BxHxxHxB2x4s4sHH")       # ... and the ports
_V4TCP = struct.Struct("!BxHxxHxB2x4s4sHHI4xBB")  # ... the ports, sequence number, data offset and flags


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071)."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _pseudo_header(src: bytes, dst: bytes, proto: int, length: int) -> bytes:
    if len(src) == 4:
        return src + dst + struct.pack("!BBH", 0, proto, length)
    return src + dst + struct.pack("!IxxxB", length, proto)


def addr_bytes(addr: str) -> bytes:
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    return socket.inet_pton(family, addr)


def addr_text(raw: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET6 if len(raw) == 16 else socket.AF_INET, raw)


def udp(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    """An IP packet (v4 or v6 by address) carrying one UDP datagram."""
    s, d = addr_bytes(src), addr_bytes(dst)
    length = 8 + len(payload)
    header = _UDP.pack(sport, dport, length, 0)
    csum = checksum(_pseudo_header(s, d, UDP, length) + header + payload) or 0xFFFF
    return ip(s, d, UDP, _UDP.pack(sport, dport, length, csum) + payload)


def tcp(src: str, dst: str, sport: int, dport: int, payload: bytes = b"", *, seq: int = 0,
        ack: int = 0, flags: int = TCP_ACK | TCP_PSH, window: int = 64240) -> bytes:
    """An IP packet carrying one TCP segment (no options)."""
    s, d = addr_bytes(src), addr_bytes(dst)
    header = _TCP.pack(sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4, flags, window, 0, 0)
    csum = checksum(_pseudo_header(s, d, TCP, len(header) + len(payload)) + header + payload)
    header = header[:16] + struct.pack("!H", csum) + header[18:]
    return ip(s, d, TCP, header + payload)


def ip(src: bytes, dst: bytes, proto: int, l4: bytes, ttl: int = 64, ident: int = 0) -> bytes:
    if len(src) == 16:
        return struct.pack("!IHBB", 6 << 28, len(l4), proto, ttl) + src + dst + l4
    header = _IPV4.pack(0x45, 0, 20 + len(l4), ident, 0x4000, ttl, proto, 0, src, dst)
    return header[:10] + struct.pack("!H", checksum(header)) + header[12:] + l4


@dataclass(slots=True)
class Decoded:
    """The fields of one IP packet the DPI needs; ``payload`` is the L4 payload.

    Not frozen: a frozen dataclass costs 2 µs more to build, once per packet.
    """

    src: bytes
    dst: bytes
    proto: int
    sport: int
    dport: int
    payload: bytes
    tcp_flags: int
    ip_len: int
    seq: int = 0         # TCP: the segment's sequence number (where its payload sits in the stream)


_IPV6_EXT = {0, 43, 60, 51}  # hop-by-hop, routing, destination options, AH


IPIP, IPV6_IN_IP = 4, 41  # IP-in-IP (RFC 2003) and 6in4/IPv6 tunnels (RFC 4213)


def peek(data: bytes) -> tuple[int, bytes, int, bytes, int, int] | None:
    """(proto, src, sport, dst, dport, payload length) of an IPv4 TCP/UDP packet without options,
    as ``parse_ip`` would decode it but without copying the payload; None for anything else.

    The classifier's fast path for packets of flows already decided.
    """
    if len(data) < 40 or data[0] != 0x45:
        return None
    n = len(data)
    proto = data[9]
    if proto == TCP:
        _, total, frag, _, src, dst, sport, dport, _, doff, _ = _V4TCP.unpack_from(data)
        end = total if 20 <= total < n else n
        doff = (doff >> 4) * 4
        if frag & 0x1FFF or end < 40 or doff < 20:
            return None
        return TCP, src, sport, dst, dport, max(0, end - 20 - doff)
    if proto == UDP:
        _, total, frag, _, src, dst, sport, dport = _V4UDP.unpack_from(data)
        end = total if 20 <= total < n else n
        if frag & 0x1FFF or end < 28:
            return None
        return UDP, src, sport, dst, dport, end - 28
    return None


def parse_ip(data: bytes, depth: int = 0) -> Decoded | None:
    """Decode an IPv4/IPv6 packet with UDP or TCP; None for anything else or truncated.

    Non-first IPv4 fragments have no L4 header and are skipped. IP-in-IP and
    IPv6-in-IP tunnels (4in6, 6in4) are opened: the inner packet is the flow.
    """
    n = len(data)
    if n >= 40 and data[0] == 0x45:  # fast path: IPv4 without options, one unpack for IP and L4
        proto = data[9]
        if proto == TCP:
            _, total, frag, _, src, dst, sport, dport, seq, doff, flags = _V4TCP.unpack_from(data)
            end = total if 20 <= total < n else n
            doff = (doff >> 4) * 4
            if frag & 0x1FFF or end < 40 or doff < 20:
                return None
            return Decoded(src, dst, TCP, sport, dport, data[20 + doff:end], flags, n, seq)
        if proto == UDP:
            _, total, frag, _, src, dst, sport, dport = _V4UDP.unpack_from(data)
            end = total if 20 <= total < n else n
            if frag & 0x1FFF or end < 28:
                return None
            return Decoded(src, dst, UDP, sport, dport, data[28:end], 0, n)
    if n < 20:
        return None
    version = data[0] >> 4
    if version == 4:
        ver_ihl, total, frag, proto, src, dst = _V4HEAD.unpack_from(data)
        ihl = (ver_ihl & 0x0F) * 4
        if ihl < 20 or n < ihl or frag & 0x1FFF:
            return None
        end = (total if total < n else n) if total >= ihl else n
        off = ihl
    elif version == 6:
        if n < 40:
            return None
        proto = data[6]
        src, dst = data[8:24], data[24:40]
        end = min(n, 40 + struct.unpack_from("!H", data, 4)[0])
        off = 40
        while proto in _IPV6_EXT and off + 8 <= end:
            next_proto, ext_len = data[off], data[off + 1]
            off += (ext_len + 2) * 4 if proto == 51 else (ext_len + 1) * 8
            proto = next_proto
        if proto == 44:  # fragment header: only the first fragment has L4
            if off + 8 > end or struct.unpack_from("!H", data, off + 2)[0] & 0xFFF8:
                return None
            proto = data[off]
            off += 8
    else:
        return None
    if proto == UDP:
        if off + 8 > end:
            return None
        sport, dport = _PORTS.unpack_from(data, off)
        return Decoded(src, dst, proto, sport, dport, data[off + 8:end], 0, n)
    if proto == TCP:
        if off + 20 > end:
            return None
        sport, dport, seq = _TCP_PORTS_SEQ.unpack_from(data, off)
        doff = (data[off + 12] >> 4) * 4
        if doff < 20:
            return None
        return Decoded(src, dst, proto, sport, dport, data[off + doff:end], data[off + 13], n, seq)
    if proto in (IPIP, IPV6_IN_IP) and depth < 2:
        return parse_ip(data[off:end], depth + 1)
    return None
