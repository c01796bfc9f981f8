"""STUN/TURN (RFC 5389/5766) and the apps that reveal themselves in it.

WhatsApp calls use TURN Allocate with its own attributes 0x4000-0x4007 (and
non-standard message types 0x0800-0x0805); Skype/Teams send Microsoft attributes
0x8054-0x8070; Google Meet/Duo send GOOG-NETWORK-INFO 0xC057.
"""

from __future__ import annotations

from testbed.dpi.flow import Flow
from testbed.dpi.signature import Detection, Pkt, Signature
from testbed.packets import stun
from testbed.packets.ip import TCP, UDP

WHATSAPP_ATTRS = range(0x4000, 0x4008)
WHATSAPP_TYPES = {0x0800, 0x0801, 0x0802, 0x0804, 0x0805}
MICROSOFT_ATTRS = range(0x8054, 0x8071)


def app_of(msg: stun.StunMessage) -> tuple[str, str] | None:
    """(app, reason) when a message carries an app's fingerprint."""
    if msg.msg_type in WHATSAPP_TYPES:
        return "WhatsAppCall", f"STUN message type 0x{msg.msg_type:04x}"
    for kind, _ in msg.attributes:
        if kind in WHATSAPP_ATTRS:
            return "WhatsAppCall", f"STUN attribute 0x{kind:04x}"
        if kind in MICROSOFT_ATTRS:
            return "Skype_TeamsCall", f"STUN attribute 0x{kind:04x} (Microsoft)"
        if kind == stun.GOOG_NETWORK_INFO:
            return "GoogleCall", "STUN attribute 0xc057 (GOOG-NETWORK-INFO)"
    return None


class Stun(Signature):
    name = "stun"
    protos = frozenset({UDP, TCP})

    def inspect(self, pkt: Pkt, flow: Flow) -> Detection | None:
        payload = pkt.payload
        if pkt.proto == TCP and len(payload) >= 22:  # RFC 4571 framing over TCP
            payload = payload[2:]
        msg = stun.parse(payload)
        if msg is None or not msg.cookie and msg.msg_type not in WHATSAPP_TYPES:
            return None
        found = app_of(msg)
        if found is not None:
            app, reason = found
            return Detection(app, f"{reason} in packet {pkt.index}")
        return Detection("STUN", f"STUN message 0x{msg.msg_type:04x} in packet {pkt.index}", final=False)
