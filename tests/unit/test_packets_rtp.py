"""RTP/RTCP (RFC 3550): builder against parser, header lengths, real G.711 and compound RTCP."""

from __future__ import annotations

import itertools
import struct
from pathlib import Path

import pytest

from testbed.packets import rtp
from testbed.packets.capture import read_ip
from testbed.packets.ip import addr_text, parse_ip

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "pcap"


def test_round_trip() -> None:
    data = rtp.build(rtp.PT_OPUS, 65535, 0xFFFFFFFF, 0xDEADBEEF, b"\x01" * 80, marker=True)
    head = rtp.parse(data)
    assert head is not None
    assert (head.version, head.marker, head.payload_type, head.sequence, head.timestamp, head.ssrc,
            head.header_len) == (2, True, 111, 65535, 0xFFFFFFFF, 0xDEADBEEF, 12)
    assert rtp.build(0, 65536 + 5, 2**32 + 7, 1, b"")[2:8] == b"\x00\x05\x00\x00\x00\x07"  # wraps


def test_csrc_and_extension_lengths() -> None:
    base = bytearray(rtp.build(0, 1, 2, 3, b""))
    base[0] = 0x80 | 0x10 | 2                                    # X bit, two CSRCs
    data = bytes(base) + b"\0" * 8 + b"\xbe\xde" + struct.pack("!H", 1) + b"\0" * 4 + b"voice"
    assert rtp.parse(data).header_len == 12 + 8 + 4 + 4
    assert rtp.parse(data[:12 + 8 + 2]) is None                  # extension header cut
    assert rtp.parse(b"\x40" + data[1:]) is None                  # version 1


def test_rtcp_receiver_report() -> None:
    data = rtp.build_rtcp_rr(0x1234, reports=2)
    assert rtp.rtcp_packets(data) == [(rtp.RTCP_RR, 8 + 2 * 24)]
    assert rtp.rtcp_packets(data[:-1]) is None
    assert rtp.rtcp_packets(data + rtp.build_rtcp_rr(5)) == [(201, 56), (201, 8)]


@pytest.mark.corpus
def test_real_g711_stream() -> None:
    """skinny.pcap's phone-to-phone media: PCMU, 160 samples a packet, sequence +1 each time."""
    heads = []
    for _, packet in read_ip(CORPUS / "skinny.pcap"):
        d = parse_ip(packet)
        if d is not None and (addr_text(d.src), d.sport) == ("192.168.195.58", 32150):
            heads.append(rtp.parse(d.payload))
    assert len(heads) >= 15 and all(h is not None for h in heads)
    assert {h.payload_type for h in heads} == {rtp.PT_PCMU}
    assert all(b.sequence - a.sequence == 1 and b.timestamp - a.timestamp == 160 for a, b in itertools.pairwise(heads))
    rebuilt = rtp.build(heads[1].payload_type, heads[1].sequence, heads[1].timestamp, heads[1].ssrc, b"")
    assert len(rebuilt) == heads[1].header_len == 12


@pytest.mark.corpus
def test_real_compound_rtcp() -> None:
    for _, packet in read_ip(CORPUS / "rtcp_multiple_pkts_in_the_same_datagram.pcap"):
        d = parse_ip(packet)
        assert d is not None
        assert rtp.rtcp_packets(d.payload) == [(rtp.RTCP_SR, 52), (rtp.RTCP_SDES, 60)]
        return
