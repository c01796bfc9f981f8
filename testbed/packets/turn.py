"""TURN (RFC 5766 / RFC 8656) over TCP or TLS: a client without I/O, the server's answers, and
the stream framing.

The client is a state machine: it says what to send, and is told what came back.
Allocate goes out without credentials, the server answers 401 with a REALM and a
NONCE, and every request after that carries USERNAME, REALM, NONCE and a
MESSAGE-INTEGRITY keyed with MD5(username:realm:password), then a FINGERPRINT. A
438 (stale nonce) is answered by sending the same request again with the new
nonce. After the allocation: CreatePermission and ChannelBind for the peer, then
the media in ChannelData (channel 0x4000-0x7FFF), which over a stream is padded
to 4 bytes (RFC 5766 §11.5).

The same code builds the synthetic ``turn-tcp443`` strategy's bytes
(``testbed.traffic.circumvention``) and talks to real coturn in emulation
(``testbed.emu.turnrelay``).
"""

from __future__ import annotations

import random
import socket
import struct
from dataclasses import dataclass, field

from testbed.packets import stun

ALLOCATE, REFRESH, CREATE_PERMISSION, CHANNEL_BIND = 0x003, 0x004, 0x008, 0x009
SUCCESS, ERROR = 0x100, 0x110      # added to a request's type: its success / error response
UDP_TRANSPORT = b"\x11\0\0\0"      # REQUESTED-TRANSPORT: UDP (protocol 17), RFFU zero
FIRST_CHANNEL = 0x4000
UNAUTHORIZED, STALE_NONCE = 401, 438


def error_code(msg: stun.StunMessage) -> int | None:
    """The ERROR-CODE of an error response (class * 100 + number), or None."""
    value = msg.attribute(stun.ERROR_CODE)
    if value is None or len(value) < 4:
        return None
    return (value[2] & 0x07) * 100 + value[3]


def error_value(code: int, reason: str) -> bytes:
    return struct.pack("!HBB", 0, code // 100, code % 100) + reason.encode()


def xor_address_of(value: bytes, transaction_id: bytes = b"") -> tuple[str, int]:
    """(address, port) of an IPv4 XOR-*-ADDRESS value."""
    if len(value) < 8 or value[1] != 1:
        raise ValueError("not an IPv4 XOR address")
    port = struct.unpack_from("!H", value, 2)[0] ^ (stun.MAGIC_COOKIE >> 16)
    raw = bytes(a ^ b for a, b in zip(value[4:8], struct.pack("!I", stun.MAGIC_COOKIE)))
    return socket.inet_ntoa(raw), port


def xor_address(ip: str, port: int) -> bytes:
    return stun.xor_address(socket.inet_aton(ip), port)


class TurnError(RuntimeError):
    """The server refused a request, or answered something that is not TURN."""


@dataclass
class TurnClient:
    """One allocation's client side. ``rng`` draws transaction ids.

    Call ``allocate()`` and send it; feed every message the server sends to
    ``on_message``, which returns the request to send next (after a 401 or 438), or
    None. ``relayed`` is set once the allocation succeeded.
    """

    username: str
    password: str
    rng: random.Random
    software: str = ""
    realm: str = ""
    nonce: bytes = b""
    relayed: tuple[str, int] | None = None
    mapped: tuple[str, int] | None = None
    lifetime: int = 0
    done: set[int] = field(default_factory=set)          # methods that succeeded
    _pending: dict[bytes, tuple[int, list[tuple[int, bytes]]]] = field(default_factory=dict)

    @property
    def key(self) -> bytes:
        return stun.long_term_key(self.username, self.realm, self.password)

    def _request(self, method: int, attrs: list[tuple[int, bytes]]) -> bytes:
        txid = self.rng.randbytes(12)
        self._pending[txid] = (method, attrs)
        head = [(stun.SOFTWARE, self.software.encode())] if self.software else []
        if not self.realm:   # before the 401 the client knows no realm: no credentials yet
            return stun.build(method, txid, head + attrs, fingerprint=True)
        auth = [(stun.USERNAME, self.username.encode()), (stun.REALM, self.realm.encode()),
                (stun.NONCE, self.nonce)]
        return stun.build(method, txid, head + attrs + auth, key=self.key, fingerprint=True)

    def allocate(self, lifetime: int = 600) -> bytes:
        return self._request(ALLOCATE, [(stun.REQUESTED_TRANSPORT, UDP_TRANSPORT),
                                        (stun.LIFETIME, struct.pack("!I", lifetime))])

    def create_permission(self, peer_ip: str) -> bytes:
        return self._request(CREATE_PERMISSION, [(stun.XOR_PEER_ADDRESS, xor_address(peer_ip, 0))])

    def channel_bind(self, channel: int, peer_ip: str, peer_port: int) -> bytes:
        if not 0x4000 <= channel <= 0x7FFF:
            raise ValueError("a TURN channel number is 0x4000-0x7FFF")
        return self._request(CHANNEL_BIND, [(stun.CHANNEL_NUMBER, struct.pack("!HH", channel, 0)),
                                            (stun.XOR_PEER_ADDRESS, xor_address(peer_ip, peer_port))])

    def refresh(self, lifetime: int) -> bytes:
        """``lifetime`` 0 deletes the allocation."""
        return self._request(REFRESH, [(stun.LIFETIME, struct.pack("!I", lifetime))])

    def on_message(self, data: bytes) -> bytes | None:
        """A STUN message from the server: the request to (re)send, or None. Raises TurnError."""
        msg = stun.parse(data)
        if msg is None:
            raise TurnError(f"not a STUN message: {data[:20].hex()}")
        pending = self._pending.pop(msg.transaction_id, None)
        if pending is None:
            return None     # an indication, or an answer to a request we already gave up on
        method, attrs = pending
        if msg.msg_type == method | ERROR:
            code = error_code(msg)
            if code in (UNAUTHORIZED, STALE_NONCE) and msg.attribute(stun.NONCE) is not None \
                    and not (code == UNAUTHORIZED and self.realm and self.nonce == msg.attribute(stun.NONCE)):
                self.realm = (msg.attribute(stun.REALM) or self.realm.encode()).decode()
                self.nonce = msg.attribute(stun.NONCE) or b""
                return self._request(method, attrs)
            reason = (msg.attribute(stun.ERROR_CODE) or b"    ")[4:].decode(errors="replace")
            raise TurnError(f"TURN request 0x{method:03x} refused: {code} {reason}")
        if msg.msg_type != method | SUCCESS:
            raise TurnError(f"unexpected STUN message type 0x{msg.msg_type:04x}")
        if self.realm and not stun.verify_integrity(data, self.key):
            raise TurnError(f"bad MESSAGE-INTEGRITY in the answer to 0x{method:03x}")
        if method == ALLOCATE:
            relayed, mapped = msg.attribute(stun.XOR_RELAYED_ADDRESS), msg.attribute(stun.XOR_MAPPED_ADDRESS)
            if relayed is None:
                raise TurnError("Allocate succeeded without XOR-RELAYED-ADDRESS")
            self.relayed = xor_address_of(relayed)
            self.mapped = xor_address_of(mapped) if mapped else None
            life = msg.attribute(stun.LIFETIME)
            self.lifetime = struct.unpack("!I", life)[0] if life else 0
        self.done.add(method)
        return None


@dataclass
class TurnServer:
    """A TURN server's answers, for synthetic traffic and tests (coturn's behaviour: 401 with a
    realm and a nonce, answers with MESSAGE-INTEGRITY and FINGERPRINT)."""

    realm: str
    password: str
    address: tuple[str, int]     # the relayed address it hands out
    nonce: bytes
    software: str = ""

    def answer(self, data: bytes, client: tuple[str, int]) -> bytes:
        msg = stun.parse(data)
        if msg is None:
            raise TurnError("not a STUN request")
        head = [(stun.SOFTWARE, self.software.encode())] if self.software else []
        username = msg.attribute(stun.USERNAME)
        if username is None or msg.attribute(stun.MESSAGE_INTEGRITY) is None:
            return stun.build(msg.msg_type | ERROR, msg.transaction_id, head + [
                (stun.ERROR_CODE, error_value(UNAUTHORIZED, "Unauthorized")),
                (stun.NONCE, self.nonce), (stun.REALM, self.realm.encode())], fingerprint=True)
        key = stun.long_term_key(username.decode(), self.realm, self.password)
        if not stun.verify_integrity(data, key):
            return stun.build(msg.msg_type | ERROR, msg.transaction_id, head + [
                (stun.ERROR_CODE, error_value(UNAUTHORIZED, "Unauthorized")),
                (stun.NONCE, self.nonce), (stun.REALM, self.realm.encode())], fingerprint=True)
        attrs: list[tuple[int, bytes]] = []
        if msg.msg_type == ALLOCATE:
            attrs = [(stun.XOR_RELAYED_ADDRESS, xor_address(*self.address)),
                     (stun.LIFETIME, struct.pack("!I", 600)),
                     (stun.XOR_MAPPED_ADDRESS, xor_address(*client))]
        return stun.build(msg.msg_type | SUCCESS, msg.transaction_id, head + attrs, key=key, fingerprint=True)


def split_stream(buffer: bytes) -> tuple[list[bytes], bytes]:
    """Cut a TURN-over-TCP byte stream into whole messages (STUN, or ChannelData with its padding);
    returns (messages, the incomplete rest)."""
    out = []
    off = 0
    while len(buffer) - off >= 4:
        first = buffer[off]
        length = struct.unpack_from("!H", buffer, off + 2)[0]
        if first < 0x40:                          # STUN: 20-byte header, the length excludes it
            size = 20 + length
        elif first < 0x80:                        # ChannelData: 4-byte header, padded over a stream
            size = 4 + length + (-length % 4)
        else:
            raise TurnError(f"neither STUN nor ChannelData at byte {off}: 0x{first:02x}")
        if len(buffer) - off < size:
            break
        out.append(buffer[off:off + size])
        off += size
    return out, buffer[off:]


def channel_payload(message: bytes) -> tuple[int, bytes]:
    """(channel, application data) of one ChannelData message, its padding removed."""
    channel, length = struct.unpack_from("!HH", message)
    return channel, message[4:4 + length]
