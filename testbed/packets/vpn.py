"""Tunnel framings a VPN puts on the wire: OpenVPN (UDP and TCP) and WireGuard.

OpenVPN's control channel (openvpn/src/openvpn/ssl_pkt.h, reliable.c): opcode and
key id in one byte, the sender's 8-byte session id, then — with ``tls-auth``, as VPN
providers configure it — an HMAC-SHA1 of the packet and a replay packet id (from 1)
with the time, then the acknowledgements (count, packet ids, the peer's session id)
and, except in a bare ACK, the message's own packet id and its TLS bytes. Over TCP
each packet is preceded by its 16-bit length.
"""

from __future__ import annotations

import hashlib
import hmac
import struct

OPENVPN_HARD_RESET_CLIENT_V2 = 7
OPENVPN_HARD_RESET_SERVER_V2 = 8
OPENVPN_CONTROL_V1 = 4
OPENVPN_ACK_V1 = 5
OPENVPN_DATA_V2 = 9

WIREGUARD_INITIATION = 1
WIREGUARD_RESPONSE = 2
WIREGUARD_TRANSPORT = 4


OPENVPN_HMAC_LEN = 20   # tls-auth with OpenVPN's default digest, SHA1


def openvpn_control(opcode: int, session_id: bytes, packet_id: int, payload: bytes = b"",
                    *, tcp: bool = False, acks: tuple[int, ...] = (), remote_session: bytes = b"",
                    tls_auth: bytes | None = None, replay_id: int = 1, net_time: int = 0) -> bytes:
    """An OpenVPN control packet: opcode/key-id byte, session id, [tls-auth: HMAC, replay
    packet id, time], the ack array (count, acked packet ids, then the peer's session id when
    acking), and the message packet id (none in a bare P_ACK_V1).

    ``tls_auth``: the HMAC key; the HMAC covers the replay id and time, then the opcode,
    session id and the rest, as OpenVPN orders them before signing (``swap_hmac``).
    """
    head = bytes([opcode << 3]) + session_id[:8].ljust(8, b"\0")
    rest = bytes([len(acks)]) + b"".join(struct.pack("!I", a) for a in acks)
    if acks:
        rest += remote_session[:8].ljust(8, b"\0")
    if opcode != OPENVPN_ACK_V1:
        rest += struct.pack("!I", packet_id)
    rest += payload
    if tls_auth is None:
        packet = head + rest
    else:
        replay = struct.pack("!II", replay_id, net_time)
        mac = hmac.new(tls_auth, replay + head + rest, hashlib.sha1).digest()
        packet = head + mac + replay + rest
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
