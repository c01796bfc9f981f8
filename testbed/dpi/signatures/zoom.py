"""Zoom's own media framing (Princeton's zoom-analysis; Citizen Lab 2020; nDPI's zoom.c).

Zoom media servers (multimedia routers) listen on UDP 8801-8810 (Zoom's firewall
documentation). Between client and server every datagram carries an 8-byte "SFU"
header — type, sequence, 4 bytes, direction — and media datagrams (type 5) then a
"media encapsulation" header whose first byte says what follows it: 15 audio (RTP
19 bytes in), 16 video (RTP at 24), 13 screen sharing (RTP at 27), 33-35 RTCP (at
16). Sessions open with types 1 and 2 (01 00 03 / 01 00 02 from the client, 02 00
0x from the server). Peer-to-peer calls skip the SFU header and open with a 0x1f
0x02 0x01 packet listing an address and an id, length-prefixed, ending in 4 zeros.
"""

from __future__ import annotations

import struct

from testbed.dpi.flow import Flow
from testbed.dpi.signature import Detection, Pkt, Signature
from testbed.packets import rtp
from testbed.packets.ip import UDP

PORTS = frozenset(range(8801, 8811))
SFU_HEADER = 8
OPENINGS = (b"\x01\x00\x03", b"\x01\x00\x02", b"\x02\x00\x03", b"\x02\x00\x02")
MEDIA_RTP = {15: ("audio", 19), 16: ("video", 24), 13: ("screen sharing", 27), 30: ("P2P screen sharing", 20)}
MEDIA_RTCP = {33: 16, 34: 16, 35: 16}
P2P_OPENING = b"\x1f\x02\x01"


def media(data: bytes) -> str | None:
    """What a Zoom media encapsulation carries, if its RTP/RTCP sits where the type says."""
    if not data:
        return None
    kind = data[0]
    if kind in MEDIA_RTP:
        what, at = MEDIA_RTP[kind]
        head = rtp.parse(data[at:])
        return f"{what} RTP (type {kind})" if head is not None and rtp.assigned_payload_type(head.payload_type) \
            else None
    if kind in MEDIA_RTCP and rtp.rtcp_packets(data[MEDIA_RTCP[kind]:]) is not None:
        return f"RTCP (type {kind})"
    return None


def p2p_opening(data: bytes) -> bool:
    """0x1f 02 01, a 24-byte header, length-prefixed address and id, 4 zero bytes at the end."""
    if len(data) <= 36 or data[:3] != P2P_OPENING or data[-4:] != b"\0\0\0\0":
        return False
    ip_len = struct.unpack_from("!I", data, 24)[0]
    if 24 + 4 + ip_len + 4 > len(data):
        return False
    id_len = struct.unpack_from("!I", data, 28 + ip_len)[0]
    return len(data) == 24 + 4 + ip_len + 4 + id_len + 4


class Zoom(Signature):
    name = "zoom"
    protos = frozenset({UDP})
    payload_packets = 6

    def leads(self, proto: int) -> frozenset[int] | None:
        return frozenset({0x01, 0x02, 0x05, 0x1F})

    def inspect(self, pkt: Pkt, flow: Flow) -> Detection | None:
        data = pkt.payload
        if flow.sport in PORTS or flow.cport in PORTS:
            port = flow.sport if flow.sport in PORTS else flow.cport
            if len(data) > SFU_HEADER and data[:3] in OPENINGS:
                return Detection("Zoom", f"Zoom SFU session packet type {data[0]} ({data[:3].hex(' ')}) "
                                         f"on UDP {port} in packet {pkt.index}")
            if data[:1] == b"\x05":
                what = media(data[SFU_HEADER:])
                if what is not None:
                    return Detection("Zoom", f"Zoom SFU media header carrying {what} on UDP {port} "
                                             f"in packet {pkt.index}")
        if p2p_opening(data):
            return Detection("Zoom", f"Zoom peer-to-peer opening (1f 02 01, address and id) in packet {pkt.index}")
        return None
