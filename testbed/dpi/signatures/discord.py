"""Discord voice: the IP discovery exchange that opens every voice UDP connection.

Discord's developer documentation (Voice Connections, IP Discovery): the client
sends a 74-byte packet — type 0x1 (request), length 70, its SSRC, a 64-byte
address field and a port — and the voice server answers type 0x2 with the
client's public address as a null-terminated string. nDPI's discord.c keys on the
same header (0x00010046 / 0x00020046) and on Discord's 8-byte 0x1337cafe keep-alive.
Discord's voice is RTP: named Discord (Collaborative), it is no blocked app's call.
"""

from __future__ import annotations

import struct

from testbed.dpi.flow import Flow
from testbed.dpi.signature import Detection, Pkt, Signature
from testbed.packets.ip import UDP

SIZE, LENGTH = 74, 70
REQUEST, RESPONSE = 1, 2
KEEPALIVE = b"\x13\x37\xca\xfe"


def _address(field: bytes) -> bool:
    """Empty (a request) or a printable address, null-terminated and zero-padded."""
    text, _, rest = field.partition(b"\0")
    return not rest.strip(b"\0") and all(0x21 <= b < 0x7F for b in text)


class Discord(Signature):
    name = "discord"
    protos = frozenset({UDP})
    payload_packets = 5

    def leads(self, proto: int) -> frozenset[int] | None:
        return frozenset({0x00, 0x13})

    def inspect(self, pkt: Pkt, flow: Flow) -> Detection | None:
        data = pkt.payload
        if len(data) == 8 and data[:4] == KEEPALIVE:
            return Detection("Discord", f"Discord keep-alive 0x1337cafe in packet {pkt.index}")
        if len(data) != SIZE:
            return None
        kind, length, ssrc = struct.unpack_from("!HHI", data)
        if length != LENGTH or kind not in (REQUEST, RESPONSE) or not _address(data[8:72]):
            return None
        address = data[8:72].split(b"\0", 1)[0].decode()
        what = "request" if kind == REQUEST else f"response (address {address})"
        return Detection("Discord", f"Discord voice IP discovery {what}, SSRC {ssrc}, in packet {pkt.index}")
