"""Imo's own UDP call protocol (fields as nDPI's imo.c recognises them).

Imo's media and keep-alives carry a small fixed header: a 10-byte 09 02 frame
(09 02, a 16-bit counter, 02 and zeros), its 11-byte 00 09 03 variant, and
1099-byte 88 49 1a 00 media frames. Imo uses random ports: no port check.
"""

from __future__ import annotations

from testbed.dpi.flow import Flow
from testbed.dpi.signature import Detection, Pkt, Signature
from testbed.packets.ip import UDP


class Imo(Signature):
    name = "imo"
    protos = frozenset({UDP})
    payload_packets = 8

    def leads(self, proto: int) -> frozenset[int] | None:
        return frozenset({0x09, 0x00, 0x88})

    def inspect(self, pkt: Pkt, flow: Flow) -> Detection | None:
        data = pkt.payload
        n = len(data)
        if n == 10 and data[0] == 0x09 and data[1] == 0x02:
            what = "09 02"
        elif n == 11 and data[:3] == b"\x00\x09\x03":
            what = "00 09 03"
        elif n == 1099 and data[:4] == b"\x88\x49\x1a\x00":
            what = "88 49 1a 00"
        else:
            return None
        return Detection("IMO", f"Imo {n}-byte frame {what} in packet {pkt.index}")
