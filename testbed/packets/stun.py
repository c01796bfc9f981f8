"""STUN (RFC 5389) and TURN (RFC 5766) messages, including app-specific attributes.

Real apps put their own attributes in STUN: WhatsApp's 0x4000-0x4007 in Allocate,
Microsoft's 0x8054-0x8070 (MS-TURN/MS-ICE2), Google's 0xC057 (network info) and
0xFF03/0xFF04. The parser keeps every attribute so signatures can look at them.

MESSAGE-INTEGRITY (RFC 5389 §15.4: HMAC-SHA1 over the message up to the attribute,
the header's length counting it) and FINGERPRINT (§15.5: CRC-32 of everything before
it, XOR 0x5354554e) are computed and verified here; the tests check both against
the RFC 5769 test vectors.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
import zlib
from dataclasses import dataclass

MAGIC_COOKIE = 0x2112A442
_COOKIE = struct.pack("!I", MAGIC_COOKIE)
_HEADER = struct.Struct("!HHI12s")

BINDING_REQUEST = 0x0001
BINDING_RESPONSE = 0x0101
ALLOCATE_REQUEST = 0x0003
ALLOCATE_RESPONSE = 0x0103
REFRESH_REQUEST = 0x0004
SEND_INDICATION = 0x0016
DATA_INDICATION = 0x0017
CREATE_PERMISSION = 0x0008
CHANNEL_BIND = 0x0009

MAPPED_ADDRESS = 0x0001
USERNAME = 0x0006
MESSAGE_INTEGRITY = 0x0008
ERROR_CODE = 0x0009
CHANNEL_NUMBER = 0x000C
LIFETIME = 0x000D
XOR_PEER_ADDRESS = 0x0012
DATA = 0x0013
REALM = 0x0014
NONCE = 0x0015
XOR_RELAYED_ADDRESS = 0x0016
REQUESTED_TRANSPORT = 0x0019
XOR_MAPPED_ADDRESS = 0x0020
PRIORITY = 0x0024
USE_CANDIDATE = 0x0025
SOFTWARE = 0x8022
FINGERPRINT = 0x8028
ICE_CONTROLLED = 0x8029
ICE_CONTROLLING = 0x802A
MS_CANDIDATE_IDENTIFIER = 0x8054
MS_IMPLEMENTATION_VERSION = 0x8070
GOOG_NETWORK_INFO = 0xC057


@dataclass(frozen=True, slots=True)
class StunMessage:
    msg_type: int
    length: int
    cookie: bool
    transaction_id: bytes
    attributes: tuple[tuple[int, bytes], ...]

    def attribute(self, attr_type: int) -> bytes | None:
        for kind, value in self.attributes:
            if kind == attr_type:
                return value
        return None

    @property
    def method(self) -> int:
        t = self.msg_type
        return (t & 0x000F) | ((t & 0x00E0) >> 1) | ((t & 0x3E00) >> 2)

    @property
    def klass(self) -> int:
        """0 request, 1 indication, 2 success response, 3 error response."""
        return ((self.msg_type >> 4) & 1) | ((self.msg_type >> 7) & 2)


FINGERPRINT_XOR = 0x5354554E
_MI_LEN = 4 + 20     # MESSAGE-INTEGRITY attribute: header and HMAC-SHA1
_FP_LEN = 4 + 4      # FINGERPRINT attribute: header and CRC-32


def long_term_key(username: str, realm: str, password: str) -> bytes:
    """The long-term credential key, MD5(username ":" realm ":" password) (RFC 5389 §15.4).

    The strings are used as given: SASLprep of the password is the caller's (ASCII is unchanged by it).
    """
    return hashlib.md5(f"{username}:{realm}:{password}".encode()).digest()


def _with_length(message: bytes, length: int) -> bytes:
    return message[:2] + struct.pack("!H", length) + message[4:]


def integrity(before: bytes, key: bytes) -> bytes:
    """The MESSAGE-INTEGRITY value for a message whose bytes up to that attribute are ``before``."""
    return hmac.new(key, _with_length(before, len(before) - 20 + _MI_LEN), hashlib.sha1).digest()


def fingerprint_of(before: bytes) -> int:
    """The FINGERPRINT value for a message whose bytes up to that attribute are ``before``."""
    return (zlib.crc32(_with_length(before, len(before) - 20 + _FP_LEN)) ^ FINGERPRINT_XOR) & 0xFFFFFFFF


def build(msg_type: int, transaction_id: bytes, attributes: list[tuple[int, bytes]] | tuple = (),
          *, fingerprint: bool = False, cookie: bool = True, key: bytes | None = None) -> bytes:
    """A STUN message; attribute values are padded to 4 bytes as RFC 5389 §15 says.

    ``key``: append MESSAGE-INTEGRITY computed with it (``long_term_key`` for TURN);
    ``fingerprint``: then FINGERPRINT, last.
    """
    if len(transaction_id) != 12:
        raise ValueError("a STUN transaction id is 12 bytes")
    body = b"".join(struct.pack("!HH", kind, len(value)) + value + b"\0" * (-len(value) % 4)
                    for kind, value in attributes)
    head = _COOKIE + transaction_id if cookie else transaction_id[:4] + transaction_id
    msg = struct.pack("!HH", msg_type, len(body)) + head[:16] + body
    if key is not None:
        msg = _with_length(msg, len(msg) - 20 + _MI_LEN)
        msg += struct.pack("!HH", MESSAGE_INTEGRITY, 20) + integrity(msg, key)
    if fingerprint:
        msg = _with_length(msg, len(msg) - 20 + _FP_LEN)
        msg += struct.pack("!HHI", FINGERPRINT, 4, fingerprint_of(msg))
    return msg


def _offset_of(payload: bytes, attr_type: int) -> int | None:
    """Where the first attribute of this type starts in a well-formed message, or None."""
    off, end = 20, min(len(payload), 20 + struct.unpack_from("!H", payload, 2)[0])
    while off + 4 <= end:
        kind, alen = struct.unpack_from("!HH", payload, off)
        if kind == attr_type:
            return off
        off += 4 + alen + (-alen % 4)
    return None


def verify_integrity(payload: bytes, key: bytes) -> bool:
    """Does the message carry a MESSAGE-INTEGRITY that ``key`` produced?"""
    if parse(payload) is None:
        return False
    off = _offset_of(payload, MESSAGE_INTEGRITY)
    if off is None or off + _MI_LEN > len(payload):
        return False
    return hmac.compare_digest(payload[off + 4:off + _MI_LEN], integrity(payload[:off], key))


def verify_fingerprint(payload: bytes) -> bool:
    """Is the message's last attribute a FINGERPRINT with the right CRC-32?"""
    if parse(payload) is None or len(payload) < 20 + _FP_LEN:
        return False
    off = len(payload) - _FP_LEN
    kind, alen, crc = struct.unpack_from("!HHI", payload, off)
    return kind == FINGERPRINT and alen == 4 and crc == fingerprint_of(payload[:off])


def parse(payload: bytes) -> StunMessage | None:
    """Parse a STUN message (RFC 5389, or classic RFC 3489 without the cookie).

    Returns None unless the header and every attribute fit exactly in ``payload``
    (the padding of the last attribute may be missing, as WhatsApp sends it).
    """
    if len(payload) < 20 or payload[0] & 0xC0:
        return None
    msg_type, length, cookie, txid = _HEADER.unpack_from(payload)
    if 20 + length != len(payload):
        return None
    attrs = []
    off, end = 20, 20 + length
    while off < end:
        if off + 4 > end:
            return None
        kind, alen = struct.unpack_from("!HH", payload, off)
        off += 4
        if off + alen > end:
            return None
        attrs.append((kind, bytes(payload[off:off + alen])))
        off += alen
        if off + (-alen % 4) <= end:  # WhatsApp omits the padding of its last attribute
            off += -alen % 4
    if off != end:
        return None
    return StunMessage(msg_type, length, cookie == MAGIC_COOKIE, txid, tuple(attrs))


def xor_address(ip4: bytes, port: int) -> bytes:
    """An XOR-MAPPED-ADDRESS value for an IPv4 address (RFC 5389 §15.2)."""
    xport = port ^ (MAGIC_COOKIE >> 16)
    xaddr = bytes(a ^ b for a, b in zip(ip4, _COOKIE))
    return struct.pack("!BBH", 0, 1, xport) + xaddr


def is_channel_data(payload: bytes) -> bool:
    """TURN ChannelData (RFC 5766 §11.4): channel 0x4000-0x7FFF and a fitting length."""
    if len(payload) < 4 or not 0x40 <= payload[0] <= 0x7F:
        return False
    length = struct.unpack_from("!H", payload, 2)[0]
    return 4 + length <= len(payload) <= 4 + length + 3


def channel_data(channel: int, data: bytes, *, pad: bool = True) -> bytes:
    """A ChannelData message (RFC 5766 §11.4); over TCP it is padded to 4 bytes (§11.5), over UDP it
    need not be."""
    return struct.pack("!HH", channel, len(data)) + data + (b"\0" * (-len(data) % 4) if pad else b"")
