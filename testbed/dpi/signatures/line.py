"""LINE calls: the first bytes of LINE's UDP call packets to LINE's own servers (nDPI's line.c).

LINE publishes no protocol documentation; nDPI recognises its call packets by a
few fixed leading bytes and sizes — b6 18 00 6a (110 B), b6 13 00 06 (46 B),
b6 07 00 04 (8 B), b6 09 00 0c (16 B), d0 b3/b4/da/db, and da/db or d8/d9 headers
with 06 02 at bytes 4-5 — and, as nDPI does, only on flows to LINE's address
blocks (endpoints/line.yaml), where such bytes cannot be someone else's protocol.
Anywhere else it keys on a packet counter its set-up packets carry (``LineCounter``).
"""

from __future__ import annotations

from testbed.dpi.flow import Flow
from testbed.dpi.signature import Detection, Pkt, Signature
from testbed.packets import rtp
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


_GAVE_UP = "line-counter: no"


class LineCounter(Signature):
    """LINE's call set-up packets before its RTP (nDPI line.c): byte 3 counts packets, one counter a
    direction, each from its own base. Four in a row each way, with different bases, is LINE; a
    packet out of sequence ends the search; RTP/RTCP interleaved with them is skipped."""

    name = "line-counter"
    protos = frozenset({UDP})
    payload_packets = 12

    def inspect(self, pkt: Pkt, flow: Flow) -> Detection | None:
        data = pkt.payload
        state = flow.state.get("line")
        if len(data) <= 10 or state == _GAVE_UP:
            return None
        if state is None:
            state = flow.state["line"] = [-1, 0, -1, 0]      # base and packets counted, each way
        at = 2 * pkt.direction
        if state[at] < 0:
            state[at], state[at + 1] = data[3], 1
            return None
        head = rtp.parse(data)
        if head is not None and (rtp.assigned_payload_type(head.payload_type) or 200 <= data[1] <= 204):
            return None
        if (state[at] + state[at + 1]) & 0xFF != data[3]:
            flow.state["line"] = _GAVE_UP
            return None
        state[at + 1] += 1
        if state[1] >= 4 and state[3] >= 4:
            if state[0] == state[2]:
                flow.state["line"] = _GAVE_UP
                return None
            return Detection("LineCall", f"LINE call set-up packets counting in byte 3 from {state[0]} up and "
                                         f"{state[2]} down, 4 each way, by packet {pkt.index}")
        return None
