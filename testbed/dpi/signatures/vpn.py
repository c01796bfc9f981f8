"""VPN handshakes: OpenVPN (UDP or TCP) and WireGuard, for policies that block tunnels."""

from __future__ import annotations

import struct

from testbed.dpi.flow import Flow
from testbed.dpi.signature import Detection, Pkt, Signature
from testbed.packets import vpn
from testbed.packets.ip import TCP, UDP

_RESETS = {vpn.OPENVPN_HARD_RESET_CLIENT_V2, 10}  # v2, v3 (tls-crypt-v2)


class OpenVpn(Signature):
    name = "openvpn"
    protos = frozenset({UDP, TCP})

    def inspect(self, pkt: Pkt, flow: Flow) -> Detection | None:
        data = pkt.payload
        if pkt.proto == TCP:
            if len(data) < 3 or struct.unpack_from("!H", data)[0] != len(data) - 2:
                return None
            data = data[2:]
        if pkt.direction != 0 or len(data) < 14 or data[0] >> 3 not in _RESETS or data[0] & 7:
            return None
        return Detection("OpenVPN", f"OpenVPN P_CONTROL_HARD_RESET_CLIENT (opcode {data[0] >> 3}) "
                                    f"in packet {pkt.index}")


class WireGuard(Signature):
    name = "wireguard"
    protos = frozenset({UDP})

    def inspect(self, pkt: Pkt, flow: Flow) -> Detection | None:
        data = pkt.payload
        if len(data) == 148 and data[0] == vpn.WIREGUARD_INITIATION and data[1:4] == b"\0\0\0":
            return Detection("WireGuard", f"WireGuard handshake initiation in packet {pkt.index}")
        return None
