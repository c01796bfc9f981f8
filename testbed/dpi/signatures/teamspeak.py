"""TeamSpeak: TeamSpeak 3's UDP connection set-up and TeamSpeak 2's TCP header.

TeamSpeak 3 (the community protocol documentation, ReSpeak's "TS3 protocol"): the
first packets of a connection are Init packets whose 8-byte MAC field is the ASCII
"TS3INIT1", then a packet id and type (0x88: Init1, unencrypted) — the only
unencrypted handshake of the protocol. TeamSpeak 2 TCP messages open with
f4 be 0N 00 (nDPI's teamspeak.c). Default server port UDP 9987.
"""

from __future__ import annotations

from testbed.dpi.flow import Flow
from testbed.dpi.signature import Detection, Pkt, Signature
from testbed.packets.ip import TCP, UDP

INIT_MAC = b"TS3INIT1"
TS2 = (b"\xf4\xbe\x01\x00", b"\xf4\xbe\x02\x00", b"\xf4\xbe\x03\x00")


class TeamSpeak(Signature):
    name = "teamspeak"
    protos = frozenset({UDP, TCP})
    payload_packets = 4

    def leads(self, proto: int) -> frozenset[int] | None:
        return frozenset({ord("T")}) if proto == UDP else frozenset({0xF4})

    def inspect(self, pkt: Pkt, flow: Flow) -> Detection | None:
        data = pkt.payload
        if len(data) < 20:
            return None
        if pkt.proto == UDP and data[:8] == INIT_MAC:
            return Detection("TeamSpeak", f"TeamSpeak 3 Init packet (MAC 'TS3INIT1') in packet {pkt.index}")
        if pkt.proto == TCP and data[:4] in TS2:
            return Detection("TeamSpeak", f"TeamSpeak 2 header {data[:4].hex(' ')} in packet {pkt.index}")
        return None
