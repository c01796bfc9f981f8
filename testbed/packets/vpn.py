"""Tunnel framings a VPN puts on the wire: OpenVPN (UDP and TCP) and WireGuard."""

from __future__ import annotations

import struct

OPENVPN_HARD_RESET_CLIENT_V2 = 7
OPENVPN_HARD_RESET_SERVER_V2 = 8
OPENVPN_CONTROL_V1 = 4
OPENVPN_ACK_V1 = 5
OPENVPN_DATA_V2 = 9

WIREGUARD_INITIATION = 1
WIREGUARD_RESPONSE = 2
WIREGUARD_TRANSPORT = 4


def openvpn_control(opcode: int, session_id: bytes, packet_id: int, payload: bytes = b"",
                    *, tcp: bool = False, acks: tuple[int, ...] = (), remote_session: bytes = b"") -> bytes:
    """An OpenVPN control packet without tls-auth: opcode/key-id byte, session id, the ack
    array (count, acked packet ids, then the peer's session id when acking), packet id."""
    ack = bytes([len(acks)]) + b"".join(struct.pack("!I", a) for a in acks)
    if acks:
        ack += remote_session[:8].ljust(8, b"\0")
    packet = bytes([opcode << 3]) + session_id[:8].ljust(8, b"\0") + ack + struct.pack("!I", packet_id) + payload
    return struct.pack("!H", len(packet)) + packet if tcp else packet


def openvpn_data(peer_id: int, ciphertext: bytes, *, tcp: bool = False) -> bytes:
    """A P_DATA_V2 packet: opcode 9, key 0, 24-bit peer id, then the encrypted payload."""
    packet = bytes([OPENVPN_DATA_V2 << 3]) + peer_id.to_bytes(3, "big") + ciphertext
    return struct.pack("!H", len(packet)) + packet if tcp else packet


def wireguard_initiation(sender: int, rest: bytes) -> bytes:
    """Handshake initiation: type 1, three zero bytes, sender index, 140 bytes of crypto."""
    return struct.pack("<BxxxI", WIREGUARD_INITIATION, sender) + rest[:140].ljust(140, b"\0")


def wireguard_transport(receiver: int, counter: int, ciphertext: bytes) -> bytes:
    return struct.pack("<BxxxIQ", WIREGUARD_TRANSPORT, receiver, counter) + ciphertext
