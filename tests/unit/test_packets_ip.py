"""IPv4/IPv6 + UDP/TCP: builders against the parser, checksums, and real packets against dpkt."""

from __future__ import annotations

import struct
from pathlib import Path

import dpkt
import pytest

from testbed.packets import ip
from testbed.packets.capture import read_ip
from testbed.packets.ip import TCP, UDP, addr_bytes, checksum, parse_ip

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "pcap"


def _l4_checksum_ok(packet: bytes) -> bool:
    """The UDP/TCP checksum verifies: the sum over pseudo-header and segment is zero."""
    if packet[0] >> 4 == 4:
        ihl = (packet[0] & 15) * 4
        src, dst, proto, seg = packet[12:16], packet[16:20], packet[9], packet[ihl:]
        pseudo = src + dst + struct.pack("!BBH", 0, proto, len(seg))
    else:
        src, dst, proto, seg = packet[8:24], packet[24:40], packet[6], packet[40:]
        pseudo = src + dst + struct.pack("!IxxxB", len(seg), proto)
    return checksum(pseudo + seg) == 0


@pytest.mark.parametrize("src,dst", [("10.0.0.1", "93.184.216.34"), ("2001:db8::1", "2001:db8::2")])
def test_udp_round_trip(src: str, dst: str) -> None:
    packet = ip.udp(src, dst, 40000, 3478, b"hello stun")
    d = parse_ip(packet)
    assert d is not None
    assert (d.src, d.dst, d.proto, d.sport, d.dport, d.payload) == \
        (addr_bytes(src), addr_bytes(dst), UDP, 40000, 3478, b"hello stun")
    assert d.ip_len == len(packet) == (20 if ":" not in src else 40) + 8 + 10
    assert _l4_checksum_ok(packet)


@pytest.mark.parametrize("src,dst", [("192.168.1.2", "157.240.1.53"), ("fe80::1", "2a03:2880::1")])
def test_tcp_round_trip(src: str, dst: str) -> None:
    packet = ip.tcp(src, dst, 51000, 5222, b"WA\x01\x05", seq=7, flags=ip.TCP_PSH | ip.TCP_ACK)
    d = parse_ip(packet)
    assert d is not None
    assert (d.proto, d.sport, d.dport, d.payload, d.tcp_flags) == (TCP, 51000, 5222, b"WA\x01\x05", 0x18)
    assert _l4_checksum_ok(packet)


def test_ipv4_header_checksum() -> None:
    packet = ip.udp("10.1.2.3", "10.3.2.1", 1, 2, b"")
    assert checksum(packet[:20]) == 0
    assert checksum(b"\x45\x00\x00\x1c") == (~(0x4500 + 0x001C)) & 0xFFFF  # RFC 1071 by hand


def test_fragments_options_and_tunnels() -> None:
    whole = ip.udp("10.0.0.1", "10.0.0.2", 1000, 2000, b"x" * 40)
    later = whole[:6] + struct.pack("!H", 0x2000 | 10) + whole[8:]   # offset 80 bytes: no L4 header
    first = whole[:6] + struct.pack("!H", 0x2000) + whole[8:]        # more fragments, offset 0
    assert parse_ip(later) is None
    assert parse_ip(first) is not None and parse_ip(first).dport == 2000
    options = bytes([0x46]) + whole[1:2] + struct.pack("!H", len(whole) + 4) + whole[4:20] + b"\x01" * 4 + whole[20:]
    assert parse_ip(options).payload == b"x" * 40
    inner = ip.udp("10.8.0.1", "31.13.64.48", 53620, 3478, b"inner")
    for outer_src, outer_dst, proto in (("192.0.2.1", "192.0.2.2", ip.IPIP), ("2001:db8::1", "2001:db8::2", ip.IPV6_IN_IP)):
        outer = ip.ip(addr_bytes(outer_src), addr_bytes(outer_dst), proto, inner)
        assert parse_ip(outer).payload == b"inner"
    hop_by_hop = struct.pack("!IHBB", 6 << 28, 8 + 8 + 5, 0, 64) + addr_bytes("::1") * 2 \
        + bytes([UDP, 0]) + b"\x01\x04\0\0\0\0" + struct.pack("!HHHH", 5, 6, 13, 0) + b"hello"
    assert parse_ip(hop_by_hop).payload == b"hello"


def test_every_truncation_is_none_or_shorter() -> None:
    packet = ip.tcp("10.0.0.1", "10.0.0.2", 1, 2, b"payload")
    for n in range(len(packet)):
        d = parse_ip(packet[:n])
        assert d is None or len(d.payload) < len(b"payload")
    assert parse_ip(b"") is None and parse_ip(b"\x60" * 39) is None


def _dpkt_fields(frame: bytes) -> tuple | None:
    eth = dpkt.ethernet.Ethernet(frame)
    net = eth.data
    if not isinstance(net, (dpkt.ip.IP, dpkt.ip6.IP6)) or not isinstance(net.data, (dpkt.udp.UDP, dpkt.tcp.TCP)):
        return None
    l4 = net.data
    return bytes(net.src), bytes(net.dst), l4.sport, l4.dport, bytes(l4.data)


@pytest.mark.corpus
@pytest.mark.parametrize("capture", ["whatsapp_login_call.pcap", "sip.pcap", "skype-conference-call.pcap"])
def test_real_packets_decoded_as_dpkt_decodes_them(capture: str) -> None:
    """Addresses, ports and payload of every UDP/TCP packet, as dpkt sees them (IPv4 and IPv6)."""
    checked = 0
    with open(CORPUS / capture, "rb") as f:
        frames = [bytes(frame) for _, frame in dpkt.pcap.Reader(f)]
    ours = [packet for _, packet in read_ip(CORPUS / capture)]
    for frame, packet in zip([f for f in frames if f[12:14] in (b"\x08\x00", b"\x86\xdd")], ours):
        expected = _dpkt_fields(frame)
        d = parse_ip(packet)
        if expected is None:
            continue
        assert d is not None
        assert (d.src, d.dst, d.sport, d.dport, d.payload) == expected
        checked += 1
    assert checked > 100
