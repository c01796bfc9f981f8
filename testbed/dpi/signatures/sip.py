"""SIP (RFC 3261): a request or status line of SIP/2.0 and its headers."""

from __future__ import annotations

from testbed.dpi.flow import Flow
from testbed.dpi.signature import Detection, Pkt, Signature
from testbed.packets import sip
from testbed.packets.ip import TCP, UDP

_UPPER = frozenset(range(ord("A"), ord("Z") + 1))


class Sip(Signature):
    name = "sip"
    protos = frozenset({UDP, TCP})
    payload_packets = 4

    def leads(self, proto: int) -> frozenset[int] | None:
        return _UPPER  # a method name or "SIP/2.0"

    def inspect(self, pkt: Pkt, flow: Flow) -> Detection | None:
        if len(pkt.payload) < 12 or not (pkt.payload[:1].isalpha()):
            return None
        msg = sip.parse(pkt.payload)
        if msg is None:
            return None
        what = msg.method or f"{msg.status} response"
        return Detection("SIP", f"SIP {what} (Call-ID {msg.headers.get('call-id', '?')}) in packet {pkt.index}")
