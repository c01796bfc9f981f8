"""LINE calls: the first bytes of LINE's UDP call packets to LINE's own servers (nDPI's line.c).

LINE publishes no protocol documentation; nDPI recognises its call packets by a
few fixed leading bytes and sizes — b6 18 00 6a (110 B), b6 13 00 06 (46 B),
b6 07 00 04 (8 B), b6 09 00 0c (16 B), d0 b3/b4/da/db, and da/db or d8/d9 headers
with 06 02 at bytes 4-5 — and, as nDPI does, only on flows to LINE's address
blocks (endpoints/line.yaml), where such bytes cannot be someone else's protocol.
"""

from __future__ import annotations

from testbed.dpi.flow import Flow
from testbed.dpi.signature import Detection, Pkt, Signature
from testbed.packets.ip import UDP

FIXED = {(b"\xb6\x18\x00\x6a", 110), (b"\xb6\x13\x00\x06", 46), (b"\xb6\x07\x00\x04", 8), (b"\xb6\x09\x00\x0c", 16)}
D0 = frozenset({0xB3, 0xB4, 0xDA, 0xDB})


def line_packet(data: bytes) -> str | None:
    n = len(data)
    if (data[:4], n) in FIXED:
        return f"{data[:4].hex(' ')} ({n} B)"
    if n >= 2 and data[0] == 0xD0 and data[1] in D0:
        return f"{data[:2].hex(' ')}"
    if n >= 150 and data[4:6] == b"\x06\x02" and (
            n >= 738 and data[0] in (0xDA, 0xDB) or data[0] in (0xD8, 0xD9) and data[1] & 0xF0 in (0x90, 0xD0, 0xE0)):
        return f"{data[:2].hex(' ')} .. 06 02 ({n} B)"
    return None


class LineCall(Signature):
    name = "line"
    protos = frozenset({UDP})
    payload_packets = 6

    def leads(self, proto: int) -> frozenset[int] | None:
        return frozenset({0xB6, 0xD0, 0xD8, 0xD9, 0xDA, 0xDB})

    def applies(self, flow: Flow) -> bool:
        return flow.known is not None and flow.known.service.call_app == "LineCall"

    def inspect(self, pkt: Pkt, flow: Flow) -> Detection | None:
        what = line_packet(pkt.payload)
        if what is None or flow.known is None:
            return None
        return Detection("LineCall", f"LINE call packet {what} to {flow.known.text()} in packet {pkt.index}")
