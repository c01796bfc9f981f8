"""IAX2 (RFC 5456): full frames with a valid frame type, on UDP 4569 or opening a call (NEW)."""

from __future__ import annotations

from testbed.dpi.flow import Flow
from testbed.dpi.signature import Detection, Pkt, Signature
from testbed.packets.ip import UDP

PORT = 4569
FRAME_TYPES = range(0x01, 0x0D)   # DTMF end .. DTMF begin (RFC 5456 §8.2)
IAX_CONTROL, NEW = 0x06, 0x01
IE_VERSION = 0x0B


def _new_with_version_2(data: bytes) -> bool:
    """A NEW control frame whose first IE is VERSION = 2 (RFC 5456 §8.6.10)."""
    return data[10] == IAX_CONTROL and data[11] == NEW and data[12:16] == b"\x0b\x02\x00\x02"


class Iax(Signature):
    name = "iax"
    protos = frozenset({UDP})
    payload_packets = 4

    def leads(self, proto: int) -> frozenset[int] | None:
        return frozenset(range(0x80, 0x100))  # full frames have the F bit set

    def inspect(self, pkt: Pkt, flow: Flow) -> Detection | None:
        data = pkt.payload
        if len(data) < 12 or not data[0] & 0x80 or data[10] not in FRAME_TYPES:
            return None
        on_port = flow.sport == PORT or flow.cport == PORT
        if not on_port and not (len(data) >= 16 and _new_with_version_2(data)):
            return None
        return Detection("IAX", f"IAX2 full frame (type 0x{data[10]:02x}, subclass 0x{data[11]:02x}) "
                                f"in packet {pkt.index}")
