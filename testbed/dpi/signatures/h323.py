"""H.323: H.225.0 call signalling and H.245 in TPKT over TCP; H.225.0 RAS over UDP.

TPKT (RFC 1006) is a 4-byte header 03 00 and the packet length. H.225.0 call
signalling puts Q.931 in it (protocol discriminator 0x08); H.245 puts PER-encoded
messages (anything but the X.224 header that RDP and ISO-TSAP put there). RAS
messages carry the H.225.0 protocol identifier, the object identifier
0.0.8.2250.0.N, encoded 06 00 08 91 4a 00 0N.
"""

from __future__ import annotations

import struct

from testbed.dpi.flow import Flow
from testbed.dpi.signature import Detection, Pkt, Signature
from testbed.packets.ip import TCP, UDP

H225_OID = b"\x06\x00\x08\x91\x4a\x00"
Q931 = 0x08
X224_TYPES = frozenset({0xE0, 0xD0, 0x80, 0xC0, 0xF0, 0x10, 0x60, 0x20, 0x50, 0x70})


class H323(Signature):
    name = "h323"
    protos = frozenset({UDP, TCP})
    payload_packets = 4

    def leads(self, proto: int) -> frozenset[int] | None:
        return frozenset({3}) if proto == TCP else None  # TPKT version 3; RAS starts anywhere

    def inspect(self, pkt: Pkt, flow: Flow) -> Detection | None:
        data = pkt.payload
        if pkt.proto == UDP:
            at = data.find(H225_OID, 0, 16)
            if at < 0 or at + 7 > len(data):
                return None
            return Detection("H323", f"H.225.0 RAS (protocol id 0.0.8.2250.0.{data[at + 6]}) in packet {pkt.index}")
        if len(data) < 8 or data[0] != 3 or data[1] != 0 or struct.unpack_from("!H", data, 2)[0] != len(data):
            return None
        if data[4] == Q931 and data[5] <= 15:  # call reference length
            return Detection("H323", f"H.225.0 call signalling (Q.931 in TPKT) in packet {pkt.index}")
        if data[5] in X224_TYPES or data[4] == len(data) - 5:
            return None  # X.224/COTP: RDP, ISO-TSAP (S7), not H.323
        if flow.sport == 1720 or flow.cport == 1720 or H225_OID in data:
            return Detection("H323", f"H.323 TPKT message on port {flow.sport} in packet {pkt.index}")
        return Detection("H323", f"H.245 in TPKT (not X.224) in packet {pkt.index}")
