"""RTP and RTCP (RFC 3550): fixed headers, built and parsed."""

from __future__ import annotations

import struct
from dataclasses import dataclass

_RTP = struct.Struct("!BBHII")

PT_PCMU = 0
PT_PCMA = 8
PT_G729 = 18
PT_OPUS = 111  # dynamic; what WebRTC-style apps negotiate

RTCP_SR = 200
RTCP_RR = 201
RTCP_SDES = 202
RTCP_BYE = 203


@dataclass(frozen=True, slots=True)
class RtpHeader:
    version: int
    padding: bool
    extension: bool
    csrc_count: int
    marker: bool
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    header_len: int


def assigned_payload_type(payload_type: int) -> bool:
    """Static audio/video types 0-34 or the dynamic range 96-127 (IANA RTP parameters; RFC 3551)."""
    return payload_type <= 34 or 96 <= payload_type <= 127


def build(payload_type: int, sequence: int, timestamp: int, ssrc: int, payload: bytes,
          *, marker: bool = False) -> bytes:
    return _RTP.pack(0x80, (0x80 if marker else 0) | payload_type, sequence & 0xFFFF,
                     timestamp & 0xFFFFFFFF, ssrc) + payload


def parse(data: bytes) -> RtpHeader | None:
    """The RTP fixed header, or None if this cannot be RTP version 2."""
    if len(data) < 12 or data[0] >> 6 != 2:
        return None
    b0, b1, seq, ts, ssrc = _RTP.unpack_from(data)
    cc = b0 & 0x0F
    hlen = 12 + 4 * cc
    if b0 & 0x10:
        if len(data) < hlen + 4:
            return None
        hlen += 4 + 4 * struct.unpack_from("!H", data, hlen + 2)[0]
    if len(data) < hlen:
        return None
    return RtpHeader(2, bool(b0 & 0x20), bool(b0 & 0x10), cc, bool(b1 & 0x80), b1 & 0x7F,
                     seq, ts, ssrc, hlen)


def build_rtcp_rr(ssrc: int, reports: int = 0) -> bytes:
    """A receiver report with ``reports`` zeroed report blocks."""
    words = 1 + 6 * reports
    return struct.pack("!BBHI", 0x80 | reports, RTCP_RR, words, ssrc) + b"\0" * 24 * reports


def rtcp_packets(data: bytes) -> list[tuple[int, int]] | None:
    """(packet type, length in bytes) of each packet of a compound RTCP datagram, or None."""
    out = []
    off = 0
    while off < len(data):
        if off + 4 > len(data) or data[off] >> 6 != 2:
            return None
        ptype = data[off + 1]
        length = (struct.unpack_from("!H", data, off + 2)[0] + 1) * 4
        if not 192 <= ptype <= 223 or off + length > len(data):
            return None
        out.append((ptype, length))
        off += length
    return out or None
