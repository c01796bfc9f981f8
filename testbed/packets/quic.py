"""QUIC Initial packets (RFC 9000 §17.2.2) protected as RFC 9001 §5 says, and the ClientHello inside.

A QUIC client's first packet is encrypted, but with keys anyone can derive from
the packet itself: HKDF over the Destination Connection ID with a salt the RFC
publishes. Decrypting it gives the CRYPTO frames that carry the TLS ClientHello,
hence the server name (SNI). Versions 1 (RFC 9000) and 2 (RFC 9369).
"""

from __future__ import annotations

import hashlib
import hmac
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

V1, V2 = 0x00000001, 0x6B3343CF
# RFC 9001 §5.2 and RFC 9369 §3.3.1: initial salts, and the packet type bits of Initial
SALTS = {V1: bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a"),
         V2: bytes.fromhex("0dede3def700a6db819381be6e269dcbf9bd2ed9")}
INITIAL_TYPE = {V1: 0, V2: 1}
LABELS = {V1: (b"quic key", b"quic iv", b"quic hp"), V2: (b"quicv2 key", b"quicv2 iv", b"quicv2 hp")}
CRYPTO, PADDING, PING, ACK, ACK_ECN = 0x06, 0x00, 0x01, 0x02, 0x03


def _expand_label(secret: bytes, label: bytes, length: int) -> bytes:
    """HKDF-Expand-Label of TLS 1.3 (RFC 8446 §7.1) with SHA-256 and an empty context."""
    full = b"tls13 " + label
    info = struct.pack("!HB", length, len(full)) + full + b"\x00"
    out, block, i = b"", b"", 1
    while len(out) < length:
        block = hmac.new(secret, block + info + bytes([i]), hashlib.sha256).digest()
        out += block
        i += 1
    return out[:length]


def client_keys(dcid: bytes, version: int = V1) -> tuple[bytes, bytes, bytes]:
    """(key, iv, header protection key) of the client's Initial packets."""
    initial = hmac.new(SALTS[version], dcid, hashlib.sha256).digest()       # HKDF-Extract
    secret = _expand_label(initial, b"client in", 32)
    key_label, iv_label, hp_label = LABELS[version]
    return _expand_label(secret, key_label, 16), _expand_label(secret, iv_label, 12), \
        _expand_label(secret, hp_label, 16)


def _mask(hp: bytes, sample: bytes) -> bytes:
    encryptor = Cipher(algorithms.AES(hp), modes.ECB()).encryptor()
    return encryptor.update(sample) + encryptor.finalize()


def varint(data: bytes, off: int) -> tuple[int, int]:
    """A QUIC variable-length integer (RFC 9000 §16) at ``off``: (value, next offset)."""
    first = data[off]
    size = 1 << (first >> 6)
    if off + size > len(data):
        raise IndexError("varint past the end")
    value = first & 0x3F
    for b in data[off + 1:off + size]:
        value = (value << 8) | b
    return value, off + size


def encode_varint(value: int) -> bytes:
    for size, prefix in ((1, 0x00), (2, 0x40), (4, 0x80), (8, 0xC0)):
        if value < 1 << (8 * size - 2):
            return (value | prefix << (8 * size - 8)).to_bytes(size, "big")
    raise ValueError("too large for a QUIC varint")


def is_initial(data: bytes) -> int | None:
    """The version when ``data`` starts with a long-header Initial packet of a known version."""
    if len(data) < 7 or data[0] & 0xC0 != 0xC0:
        return None
    version = struct.unpack_from("!I", data, 1)[0]
    if version not in SALTS or (data[0] >> 4) & 3 != INITIAL_TYPE[version]:
        return None
    return int(version)


def decrypt_initial(data: bytes) -> tuple[int, bytes] | None:
    """(packet number, plaintext frames) of a client Initial, or None if it does not decrypt."""
    version = is_initial(data)
    if version is None:
        return None
    try:
        off = 5
        dcid = data[off + 1:off + 1 + data[off]]
        off += 1 + data[off]
        off += 1 + data[off]                             # source connection id
        token_len, off = varint(data, off)
        off += token_len
        length, off = varint(data, off)
        if off + length > len(data) or length < 20:
            return None
        key, iv, hp = client_keys(dcid, version)
        mask = _mask(hp, data[off + 4:off + 20])
        first = data[0] ^ (mask[0] & 0x0F)
        pn_len = (first & 3) + 1
        pn_bytes = bytes(a ^ b for a, b in zip(data[off:off + pn_len], mask[1:1 + pn_len]))
        header = bytes([first]) + data[1:off] + pn_bytes
        number = int.from_bytes(pn_bytes, "big")
        nonce = (int.from_bytes(iv, "big") ^ number).to_bytes(12, "big")
        plain = AESGCM(key).decrypt(nonce, data[off + pn_len:off + length], header)
    except Exception:
        return None
    return number, plain


def crypto_chunks(frames: bytes, chunks: dict[int, bytes] | None = None) -> dict[int, bytes]:
    """The CRYPTO frames of decrypted ``frames`` by offset, added to ``chunks`` (a ClientHello may span
    several Initial packets; Chrome splits and reorders its frames)."""
    chunks = {} if chunks is None else chunks
    off = 0
    try:
        while off < len(frames):
            kind = frames[off]
            if kind in (PADDING, PING):
                off += 1
            elif kind == CRYPTO:
                start, off = varint(frames, off + 1)
                length, off = varint(frames, off)
                chunks[start] = frames[off:off + length]
                off += length
            elif kind in (ACK, ACK_ECN):
                _, off = varint(frames, off + 1)          # largest acknowledged
                _, off = varint(frames, off)              # delay
                ranges, off = varint(frames, off)
                _, off = varint(frames, off)              # first range
                for _ in range(2 * ranges):
                    _, off = varint(frames, off)
                if kind == ACK_ECN:
                    for _ in range(3):
                        _, off = varint(frames, off)
            else:
                break   # a frame an Initial does not carry: stop here
    except IndexError:
        pass
    return chunks


def contiguous(chunks: dict[int, bytes]) -> bytes:
    """The bytes from offset 0 as far as they are contiguous."""
    out = b""
    while len(out) in chunks and chunks[len(out)]:
        out += chunks[len(out)]
    return out


def crypto_data(frames: bytes) -> bytes:
    """The CRYPTO bytes of one packet's frames, from offset 0, contiguous."""
    return contiguous(crypto_chunks(frames))


def build_initial(dcid: bytes, scid: bytes, crypto: bytes, number: int = 0, version: int = V1,
                  size: int = 1200) -> bytes:
    """A client Initial carrying ``crypto`` in one CRYPTO frame, padded to ``size`` bytes (RFC 9000 §14.1)."""
    pn = number.to_bytes(4, "big")
    frames = bytes([CRYPTO]) + encode_varint(0) + encode_varint(len(crypto)) + crypto
    head_len = 1 + 4 + 1 + len(dcid) + 1 + len(scid) + 1 + 2 + len(pn)
    frames += b"\x00" * max(0, size - head_len - len(frames) - 16)
    first = 0xC0 | INITIAL_TYPE[version] << 4 | (len(pn) - 1)
    header = (bytes([first]) + struct.pack("!I", version) + bytes([len(dcid)]) + dcid + bytes([len(scid)]) + scid
              + b"\x00" + (0x4000 | (len(frames) + 16 + len(pn))).to_bytes(2, "big") + pn)
    key, iv, hp = client_keys(dcid, version)
    nonce = (int.from_bytes(iv, "big") ^ number).to_bytes(12, "big")
    sealed = AESGCM(key).encrypt(nonce, frames, header)
    pn_off = len(header) - len(pn)
    mask = _mask(hp, (pn + sealed)[4:20])
    protected = bytes([header[0] ^ (mask[0] & 0x0F)]) + header[1:pn_off] + bytes(
        a ^ b for a, b in zip(pn, mask[1:5]))
    return protected + sealed
