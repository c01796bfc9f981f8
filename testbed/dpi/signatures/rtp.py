"""RTP and RTCP (RFC 3550): decided on progression across packets, never one packet alone."""

from __future__ import annotations

from testbed.dpi.flow import Flow
from testbed.dpi.signature import Detection, Pkt, Signature
from testbed.packets import rtp
from testbed.packets.ip import UDP

_VERSION_2 = frozenset(range(0x80, 0xC0))  # RTP/RTCP version 2 in the top two bits


class Rtp(Signature):
    """Two packets one way with the same SSRC and payload type, sequence +1..+3, timestamp ahead."""

    name = "rtp"
    protos = frozenset({UDP})

    def leads(self, proto: int) -> frozenset[int] | None:
        return _VERSION_2

    def inspect(self, pkt: Pkt, flow: Flow) -> Detection | None:
        head = rtp.parse(pkt.payload)
        if head is None or 72 <= head.payload_type <= 76:  # 200-204 with the marker bit: RTCP
            return None
        key = ("rtp", pkt.direction)
        last = flow.state.get(key)
        flow.state[key] = (head.ssrc, head.payload_type, head.sequence, head.timestamp, pkt.index)
        if last is None:
            return None
        ssrc, ptype, seq, ts, index = last
        step = (head.sequence - seq) & 0xFFFF
        if ssrc == head.ssrc and ptype == head.payload_type and 1 <= step <= 3 \
                and 0 < (head.timestamp - ts) & 0xFFFFFFFF < 0x10000:
            return Detection("RTP", f"RTP SSRC 0x{head.ssrc:08x} seq {seq}→{head.sequence} "
                                    f"pt {head.payload_type} in packets {index} and {pkt.index}")
        return None


class Rtcp(Signature):
    name = "rtcp"
    protos = frozenset({UDP})

    def leads(self, proto: int) -> frozenset[int] | None:
        return _VERSION_2

    def inspect(self, pkt: Pkt, flow: Flow) -> Detection | None:
        packets = rtp.rtcp_packets(pkt.payload)
        if not packets or packets[0][0] not in (rtp.RTCP_SR, rtp.RTCP_RR):
            return None
        return Detection("RTCP", f"RTCP {'SR' if packets[0][0] == rtp.RTCP_SR else 'RR'} "
                                 f"({len(packets)} in the datagram) in packet {pkt.index}")
