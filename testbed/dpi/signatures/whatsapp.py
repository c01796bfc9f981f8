"""WhatsApp messaging: its chat connection opens with "WA" and a protocol version."""

from __future__ import annotations

from testbed.dpi.flow import Flow
from testbed.dpi.signature import Detection, Pkt, Signature
from testbed.packets.ip import TCP


class WhatsAppChat(Signature):
    name = "whatsapp-chat"
    protos = frozenset({TCP})
    payload_packets = 3

    def leads(self, proto: int) -> frozenset[int] | None:
        return frozenset({ord("W")})

    def inspect(self, pkt: Pkt, flow: Flow) -> Detection | None:
        data = pkt.payload
        if pkt.direction == 0 and len(data) >= 4 and data[:2] == b"WA" and data[2] < 16:
            return Detection("WhatsApp", f"WhatsApp chat header 'WA' v{data[2]}.{data[3]} in packet {pkt.index}")
        return None
