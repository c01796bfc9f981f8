"""DTLS (RFC 6347/9147) handshakes: the record header and a ClientHello or ServerHello.

WebRTC media is DTLS-SRTP after ICE: a DTLS flow names no app by itself (``DTLS``,
not final) — the STUN that comes first, or the socket's earlier flows, do.
"""

from __future__ import annotations

import struct

from testbed.dpi.flow import Flow
from testbed.dpi.signature import Detection, Pkt, Signature
from testbed.packets.ip import UDP

HANDSHAKE = 22
VERSIONS = {0xFEFF: "1.0", 0xFEFD: "1.2", 0xFEFC: "1.3"}
HELLOS = {1: "ClientHello", 2: "ServerHello", 3: "HelloVerifyRequest"}


class Dtls(Signature):
    name = "dtls"
    protos = frozenset({UDP})
    payload_packets = 6

    def leads(self, proto: int) -> frozenset[int] | None:
        return frozenset({HANDSHAKE})

    def inspect(self, pkt: Pkt, flow: Flow) -> Detection | None:
        data = pkt.payload
        if len(data) < 25 or data[0] != HANDSHAKE or "DTLS" in flow.labels:
            return None
        version, epoch, length = struct.unpack_from("!HH6xH", data, 1)
        if version not in VERSIONS or epoch != 0 or length + 13 > len(data) or data[13] not in HELLOS:
            return None
        return Detection("DTLS", f"DTLS {VERSIONS[version]} {HELLOS[data[13]]} in packet {pkt.index}", final=False)
