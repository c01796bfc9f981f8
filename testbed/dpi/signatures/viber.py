"""Viber's own framings on the ports Viber documents (TCP 4244/5242/5243, UDP 5243/7985/7987/9785).

TCP: every message starts with its length as a little-endian 16-bit word (the
whole segment for the first one), then either a 16-bit message type and two
zero bytes, or 4 bytes and the word 0xfffc. UDP (call relays): a 2-byte session
token, a message type, a zero byte; the types seen in calls are listed.
nDPI (viber.c) recognises the same fields.
"""

from __future__ import annotations

import struct

from testbed.dpi.flow import Flow
from testbed.dpi.signature import Detection, Pkt, Signature
from testbed.packets.ip import TCP, UDP

TCP_PORTS = frozenset({4244, 5242, 5243})
UDP_PORTS = frozenset({5243, 7985, 7987, 9785})
UDP_TYPES = frozenset({0x01, 0x03, 0x09, 0x0B, 0x0C, 0x0F, 0x11, 0x19, 0x1A, 0x1B})


def tcp_framed(data: bytes) -> str | None:
    """Which of Viber's TCP framings ``data`` starts with, or None."""
    if len(data) < 8 or struct.unpack_from("<H", data)[0] != len(data):
        return None
    if data[2] and data[3:6] == b"\0\0\0":
        return f"type 0x{data[2]:02x}"
    if data[6:8] == b"\xfc\xff":
        return f"type 0x{data[9]:02x}{data[8]:02x}"
    return None


class Viber(Signature):
    name = "viber"
    protos = frozenset({UDP, TCP})
    payload_packets = 4
    ports = TCP_PORTS | UDP_PORTS

    def applies(self, flow: Flow) -> bool:
        ports = TCP_PORTS if flow.proto == TCP else UDP_PORTS
        return flow.sport in ports or flow.cport in ports

    def inspect(self, pkt: Pkt, flow: Flow) -> Detection | None:
        data = pkt.payload
        port = flow.sport
        if pkt.proto == TCP:
            framing = tcp_framed(data)
            if framing is None:
                return None
            return Detection("Viber", f"Viber TCP framing (length {len(data)}, {framing}) "
                                      f"on port {port} in packet {pkt.index}")
        if len(data) < 12 or data[3] != 0 or data[2] not in UDP_TYPES:
            return None
        if data[2] == 0x01 and data[4:6] != b"\x05\x00":
            return None
        return Detection("Viber", f"Viber UDP header (type 0x{data[2]:02x}) on port {port} in packet {pkt.index}")
