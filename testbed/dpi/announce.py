"""Where a call's media will flow, as its own signalling announces it — pure parsing.

- STUN/TURN (RFC 8489 §14.2, RFC 8656 §18): XOR-MAPPED-ADDRESS (the client's
  address as the server saw it), XOR-RELAYED-ADDRESS (the relay's address
  allocated for the client) and XOR-PEER-ADDRESS (the peer a TURN client sends to
  or hears from) are the other ends of the call's next flows.
- SIP with SDP (RFC 4566 §5.7, §5.14): ``c=IN IP4 addr`` and ``m=audio port
  RTP/...`` say where a party wants its RTP; RTCP goes to the next port (RFC 3550
  §11) unless ``a=rtcp:`` says otherwise.
"""

from __future__ import annotations

import ipaddress
import struct

from testbed.packets import stun

_COOKIE = struct.pack("!I", stun.MAGIC_COOKIE)
XOR_ATTRS = {stun.XOR_MAPPED_ADDRESS: "XOR-MAPPED-ADDRESS", stun.XOR_RELAYED_ADDRESS: "XOR-RELAYED-ADDRESS",
             stun.XOR_PEER_ADDRESS: "XOR-PEER-ADDRESS"}
MAX_SDP = 8192  # bytes of a SIP message searched for a body

Announced = tuple[bytes, int, str]  # raw address, port, what announced it


def xor_address(value: bytes, transaction_id: bytes) -> tuple[bytes, int] | None:
    """Decode an XOR-*-ADDRESS value (family 1 IPv4, 2 IPv6); None when malformed."""
    if len(value) < 8 or value[0] != 0:
        return None
    family, xport = value[1], struct.unpack_from("!H", value, 2)[0]
    port = xport ^ (stun.MAGIC_COOKIE >> 16)
    if family == 1 and len(value) == 8:
        return bytes(a ^ b for a, b in zip(value[4:8], _COOKIE)), port
    if family == 2 and len(value) == 20:
        key = _COOKIE + transaction_id
        return bytes(a ^ b for a, b in zip(value[4:20], key)), port
    return None


def stun_announced(msg: stun.StunMessage) -> list[Announced]:
    """The endpoints a STUN/TURN message names (cookie messages only: RFC 3489 had no XOR)."""
    if not msg.cookie:
        return []
    out = []
    for kind, value in msg.attributes:
        name = XOR_ATTRS.get(kind)
        if name is not None:
            found = xor_address(value, msg.transaction_id)
            if found is not None and found[1] and any(found[0]):
                out.append((found[0], found[1], name))
    return out


def _address(text: str) -> bytes | None:
    try:
        return ipaddress.ip_address(text).packed
    except ValueError:
        return None


def sdp_announced(message: bytes) -> list[Announced]:
    """RTP and RTCP endpoints of the SDP body of a SIP message (session or media ``c=`` lines)."""
    head, sep, body = message[:MAX_SDP].partition(b"\r\n\r\n")
    if not sep or b"m=" not in body:
        return []
    out: list[Announced] = []
    session: bytes | None = None
    media: list[tuple[int, bytes | None, int | None]] = []  # port, its own c= address, a=rtcp port
    for raw in body.replace(b"\r", b"").split(b"\n"):
        line = raw.decode("ascii", "replace").strip()
        if line.startswith("c=IN IP"):
            parts = line.split()
            address = _address(parts[2].split("/")[0]) if len(parts) >= 3 else None
            if media:
                media[-1] = (media[-1][0], address, media[-1][2])
            else:
                session = address
        elif line.startswith("m="):
            parts = line[2:].split()
            if len(parts) >= 3 and parts[1].isdigit() and "RTP" in parts[2] and 0 < int(parts[1]) < 65536:
                media.append((int(parts[1]), None, None))
            else:
                media.append((0, None, None))  # not RTP (e.g. T.38 over UDPTL): no RTCP pair
        elif line.startswith("a=rtcp:") and media:
            words = line[7:].split()
            if words and words[0].isdigit():
                media[-1] = (media[-1][0], media[-1][1], int(words[0]))
    for port, address, rtcp in media:
        where = address or session
        if not port or where is None or not any(where):
            continue
        out.append((where, port, "SDP m= line"))
        out.append((where, rtcp or port + 1, "SDP RTCP port"))
    return out
