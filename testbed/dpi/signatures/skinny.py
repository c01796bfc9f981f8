"""Cisco Skinny (SCCP) on TCP 2000: 8-byte headers (length, version, message id), little-endian."""

from __future__ import annotations

import struct

from testbed.dpi.flow import Flow
from testbed.dpi.signature import Detection, Pkt, Signature
from testbed.packets.ip import TCP

PORT = 2000
VERSIONS = frozenset({0x00} | set(range(0x10, 0x18)))  # basic, then CM 5.0 and later


def messages(data: bytes) -> list[int] | None:
    """Message ids of a segment made of whole SCCP messages, or None."""
    ids = []
    off = 0
    while off + 12 <= len(data):
        length, version, msg_id = struct.unpack_from("<III", data, off)
        if length < 4 or version not in VERSIONS or msg_id > 0x1FF and not 0x8000 <= msg_id <= 0x81FF:
            return None
        ids.append(msg_id)
        off += 8 + length
    return ids if ids and off == len(data) else None


class Skinny(Signature):
    name = "skinny"
    protos = frozenset({TCP})
    payload_packets = 4
    ports = frozenset({PORT})

    def inspect(self, pkt: Pkt, flow: Flow) -> Detection | None:
        ids = messages(pkt.payload)
        if ids is None:
            return None
        return Detection("CiscoSkinny", f"Skinny message 0x{ids[0]:04x} ({len(ids)} in the segment) "
                                        f"on port {PORT} in packet {pkt.index}")
