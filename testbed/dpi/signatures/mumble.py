"""Mumble: the UDP ping every client sends before voice (Mumble protocol documentation, "UDP Ping").

Request: 12 bytes, a 32-bit zero (the request type) and a 64-bit identifier.
Response: 24 bytes, the server's version, the same identifier, then users, maximum
users and allowed bandwidth. Voice itself is encrypted (OCB2-AES128); the
identifier echoed across the two packets is the evidence (nDPI's mumble.c too).
"""

from __future__ import annotations

from testbed.dpi.flow import Flow
from testbed.dpi.signature import Detection, Pkt, Signature
from testbed.packets.ip import UDP


class Mumble(Signature):
    name = "mumble"
    protos = frozenset({UDP})
    payload_packets = 4

    def leads(self, proto: int) -> frozenset[int] | None:
        return frozenset({0x00})   # the request type, and the top byte of the server's version

    def inspect(self, pkt: Pkt, flow: Flow) -> Detection | None:
        data = pkt.payload
        if len(data) == 12 and data[:4] == b"\0\0\0\0" and pkt.direction == 0:
            flow.state["mumble"] = (data[4:12], pkt.index)
            return None
        asked = flow.state.get("mumble")
        if asked is None or len(data) != 24 or pkt.direction == 0 or data[4:12] != asked[0]:
            return None
        major, minor = data[1], data[2]
        return Detection("Mumble", f"Mumble UDP ping (packet {asked[1]}) answered by server version "
                                   f"{major}.{minor} with the same id in packet {pkt.index}")
