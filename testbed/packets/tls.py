"""TLS ClientHello (RFC 8446 §4.1.2) with the server_name extension (RFC 6066 §3)."""

from __future__ import annotations

import struct


def client_hello(server_name: str, random: bytes, session_id: bytes = b"") -> bytes:
    """A TLS record holding a ClientHello that offers TLS 1.3 and names ``server_name`` (none if empty)."""
    name = server_name.encode("ascii")
    sni = struct.pack("!HBH", len(name) + 3, 0, len(name)) + name
    versions = b"\x04\x03\x04\x03\x03"  # supported_versions: TLS 1.3, TLS 1.2
    groups = b"\x00\x04\x00\x1d\x00\x17"
    extensions = ((struct.pack("!HH", 0, len(sni)) + sni if name else b"")
                  + struct.pack("!HH", 43, len(versions)) + versions
                  + struct.pack("!HH", 10, len(groups)) + groups)
    suites = b"\x13\x01\x13\x02\x13\x03\xc0\x2b\xc0\x2f"
    body = (b"\x03\x03" + random[:32].ljust(32, b"\0") + bytes([len(session_id)]) + session_id
            + struct.pack("!H", len(suites)) + suites + b"\x01\x00"
            + struct.pack("!H", len(extensions)) + extensions)
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack("!H", len(handshake)) + handshake


def server_name(data: bytes) -> str | None:
    """The SNI host name of a ClientHello record at the start of ``data``, or None."""
    if len(data) < 9 or data[0] != 0x16 or data[1] != 3:
        return None
    return hello_server_name(data[5:])


def hello_server_name(data: bytes) -> str | None:
    """The SNI host name of a ClientHello handshake message (type 1, as QUIC's CRYPTO frames carry it)."""
    try:
        if len(data) < 4 or data[0] != 1:
            return None
        off = 4 + 2 + 32
        off += 1 + data[off]                                  # session id
        off += 2 + struct.unpack_from("!H", data, off)[0]     # cipher suites
        off += 1 + data[off]                                  # compression methods
        end = off + 2 + struct.unpack_from("!H", data, off)[0]
        off += 2
        while off + 4 <= min(end, len(data)):
            kind, length = struct.unpack_from("!HH", data, off)
            off += 4
            if kind == 0:
                name_len = struct.unpack_from("!H", data, off + 3)[0]
                name = data[off + 5:off + 5 + name_len]
                if data[off + 2] != 0 or len(name) != name_len:
                    return None
                return name.decode("ascii")
            off += length
    except (struct.error, IndexError, UnicodeDecodeError):
        return None
    return None


MAX_RECORD = 1 << 14   # plaintext bytes a record may carry (RFC 8446 §5.1); ciphertext adds at most 256


def record(content_type: int, body: bytes, version: int = 0x0303) -> bytes:
    """One TLS record (RFC 8446 §5.1)."""
    if len(body) > MAX_RECORD + 256:
        raise ValueError(f"a TLS record carries at most {MAX_RECORD + 256} bytes, not {len(body)}")
    return struct.pack("!BHH", content_type, version, len(body)) + body


def server_hello(random: bytes, session_id: bytes, key_share: bytes) -> bytes:
    """A TLS 1.3 ServerHello record (TLS_AES_128_GCM_SHA256, x25519) echoing the client's session id."""
    extensions = (struct.pack("!HHH", 43, 2, 0x0304)
                  + struct.pack("!HHHH", 51, 4 + 32, 0x001D, 32) + key_share[:32].ljust(32, b"\0"))
    body = (b"\x03\x03" + random[:32].ljust(32, b"\0") + bytes([len(session_id)]) + session_id
            + b"\x13\x01\x00" + struct.pack("!H", len(extensions)) + extensions)
    return record(22, b"\x02" + len(body).to_bytes(3, "big") + body)


def change_cipher_spec() -> bytes:
    """The middlebox-compatibility ChangeCipherSpec a TLS 1.3 peer sends (RFC 8446 §D.4)."""
    return record(20, b"\x01")


def encrypted(ciphertext: bytes) -> list[bytes]:
    """Encrypted TLS 1.3 traffic (records of type application_data), cut into records no longer
    than TLS allows."""
    step = MAX_RECORD
    return [record(23, ciphertext[i:i + step]) for i in range(0, len(ciphertext), step)] or [record(23, b"")]
