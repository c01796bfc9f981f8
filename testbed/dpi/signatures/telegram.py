"""Telegram calls through its relays ("reflectors"): libtgvoip's reflector packets.

Every packet to or from a reflector starts with the call's 16-byte peer tag. The
reflector's own messages then carry 12 bytes of 0xFF and a TL constructor id
(little-endian): the UDP ping (0xFFFFFFFE), SELF_INFO (0xc01572c7), PEER_INFO
(0x27d9371c, IPv6 0x83fc73b1), REQUEST/LAST_PACKETS_INFO (0x1a06fc96, 0x0e107305)
(libtgvoip VoIPController.cpp / PrivateDefines.h, public domain; nDPI's telegram.c
keys on the same twelve 0xFF bytes). Reflectors relay calls only: TelegramVoip.
"""

from __future__ import annotations

import struct

from testbed.dpi.flow import Flow
from testbed.dpi.signature import Detection, Pkt, Signature
from testbed.packets.ip import UDP

PEER_TAG = 16
MARK = b"\xff" * 12
TL_IDS = {0xFFFFFFFE: "UDP ping", 0xC01572C7: "UDP_REFLECTOR_SELF_INFO", 0x27D9371C: "UDP_REFLECTOR_PEER_INFO",
          0x83FC73B1: "UDP_REFLECTOR_PEER_INFO_IPV6", 0x1A06FC96: "UDP_REFLECTOR_REQUEST_PACKETS_INFO",
          0x0E107305: "UDP_REFLECTOR_LAST_PACKETS_INFO"}


class TelegramRelay(Signature):
    name = "telegram-relay"
    protos = frozenset({UDP})
    payload_packets = 4   # the reflector's ping and answer open the flow

    def inspect(self, pkt: Pkt, flow: Flow) -> Detection | None:
        data = pkt.payload
        if len(data) < 36 or data[PEER_TAG:PEER_TAG + 12] != MARK:
            return None
        tl_id = struct.unpack_from("<I", data, PEER_TAG + 12)[0]
        what = TL_IDS.get(tl_id)
        if what is None:
            return None
        return Detection("TelegramVoip", f"Telegram reflector {what} (peer tag, 12×0xFF, TL id 0x{tl_id:08x}) "
                                         f"in packet {pkt.index}")
