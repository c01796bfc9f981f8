"""VPN tunnels for policies that block them: OpenVPN (UDP or TCP) and WireGuard.

Both are recognised from how their headers relate across packets, not one
packet: an opcode byte and a random 8-byte session id (OpenVPN) or a 4-byte
index (WireGuard) could be anything once, but a tunnel repeats them.
- OpenVPN (openvpn/src/openvpn/ssl_pkt.h): each side keeps its session id in
  bytes 1-8 of every control packet; the server's first reply acknowledges the
  client's session id; a reset (opcode 7, 8 or 10) is followed by an ACK (5) or
  CONTROL (4) packet with the same session id.
- WireGuard (whitepaper §5.4): initiation 148 B, response 92 B and cookie 64 B
  have fixed sizes; transport data repeats the receiver index with a rising
  64-bit counter and is padded to 16 bytes.
"""

from __future__ import annotations

import struct

from testbed.dpi.flow import Flow
from testbed.dpi.signature import Detection, Pkt, Signature
from testbed.packets import vpn
from testbed.packets.ip import TCP, UDP

_RESETS = frozenset({vpn.OPENVPN_HARD_RESET_CLIENT_V2, vpn.OPENVPN_HARD_RESET_SERVER_V2, 10, 1, 2})
_CLIENT_RESETS = frozenset({vpn.OPENVPN_HARD_RESET_CLIENT_V2, 10, 1})
_CONTROL = frozenset({vpn.OPENVPN_CONTROL_V1, vpn.OPENVPN_ACK_V1})
_UDP_OPCODES = frozenset(range(1 << 3, 11 << 3))
_TCP_LENGTHS = frozenset(range(8))
_ECHO_SPAN = 96  # bytes of a reply searched for the acknowledged session id (covers tls-auth HMACs)


def openvpn_packet(data: bytes, proto: int) -> bytes | None:
    """The OpenVPN packet in a UDP payload or at the start of a TCP segment (16-bit length first)."""
    if proto == TCP:
        if len(data) < 3 or struct.unpack_from("!H", data)[0] > len(data) - 2:
            return None
        data = data[2:]
    return data if len(data) >= 14 else None


class OpenVpn(Signature):
    name = "openvpn"
    protos = frozenset({UDP, TCP})
    payload_packets = 6

    def leads(self, proto: int) -> frozenset[int] | None:
        # UDP: the opcode (1-10) in the top 5 bits; TCP: the top byte of a packet length under 2 KiB
        return _UDP_OPCODES if proto == UDP else _TCP_LENGTHS

    def inspect(self, pkt: Pkt, flow: Flow) -> Detection | None:
        data = openvpn_packet(pkt.payload, pkt.proto)
        if data is None:
            return None
        op, key, sid = data[0] >> 3, data[0] & 7, data[1:9]
        state = flow.state
        client = state.get("openvpn-client-reset")
        if client is not None and client[0] != pkt.direction and sid != client[1] \
                and client[1] in data[9:_ECHO_SPAN]:
            return Detection("OpenVPN", f"OpenVPN reply acknowledges session id {client[1].hex()} "
                                        f"(packet {client[2]}) in packet {pkt.index}")
        last = state.get(("openvpn", pkt.direction))
        if last is not None and last[1] == sid and last[0] in _RESETS and op in _CONTROL and op != last[0]:
            return Detection("OpenVPN", f"OpenVPN reset (opcode {last[0]}, packet {last[2]}) then opcode {op} "
                                        f"with session id {sid.hex()} in packet {pkt.index}")
        if key == 0 and (op in _RESETS or op in _CONTROL):
            state[("openvpn", pkt.direction)] = (op, sid, pkt.index)
            if op in _CLIENT_RESETS and client is None:
                state["openvpn-client-reset"] = (pkt.direction, sid, pkt.index)
        return None


class WireGuard(Signature):
    name = "wireguard"
    protos = frozenset({UDP})
    payload_packets = 6

    def leads(self, proto: int) -> frozenset[int] | None:
        return frozenset({vpn.WIREGUARD_INITIATION, vpn.WIREGUARD_RESPONSE, vpn.WIREGUARD_TRANSPORT})

    def inspect(self, pkt: Pkt, flow: Flow) -> Detection | None:
        data = pkt.payload
        n = len(data)
        if n < 32 or data[1:4] != b"\0\0\0":
            return None
        kind = data[0]
        if kind == vpn.WIREGUARD_INITIATION and n == 148:
            return Detection("WireGuard", f"WireGuard handshake initiation in packet {pkt.index}")
        if kind == vpn.WIREGUARD_RESPONSE and n == 92:
            return Detection("WireGuard", f"WireGuard handshake response in packet {pkt.index}")
        if kind != vpn.WIREGUARD_TRANSPORT or n % 16:
            return None
        receiver, counter = struct.unpack_from("<IQ", data, 4)
        key = ("wireguard", pkt.direction)
        last = flow.state.get(key)
        flow.state[key] = (receiver, counter, pkt.index)
        if last is not None and last[0] == receiver and 0 < counter - last[1] <= 64:
            return Detection("WireGuard", f"WireGuard transport data, receiver 0x{receiver:08x} counter "
                                          f"{last[1]}→{counter} in packets {last[2]} and {pkt.index}")
        return None
