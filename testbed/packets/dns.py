"""DNS messages over UDP (RFC 1035 §4): A queries and their answers, as a stub resolver and a
small authoritative server exchange them.

One builder and one parser a direction: ``query`` / ``parse_query`` and ``response`` /
``parse_response``. Names are compressed in answers as every server does (a pointer to
the question's name, RFC 1035 §4.1.4); the parser follows pointers, bounded.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

PORT = 53
TYPE_A, CLASS_IN = 1, 1
RD, RA, QR, AA = 0x0100, 0x0080, 0x8000, 0x0400       # header flags
NOERROR, FORMERR, SERVFAIL, NXDOMAIN = 0, 1, 2, 3       # response codes
MAX_POINTERS = 16


class DnsError(ValueError):
    """Not a DNS message we read."""


@dataclass(frozen=True)
class Query:
    ident: int
    name: str
    qtype: int = TYPE_A
    recursion: bool = True


@dataclass(frozen=True)
class Response:
    ident: int
    name: str
    rcode: int
    addresses: tuple[str, ...]     # the A records answering the question
    ttl: int = 0


def encode_name(name: str) -> bytes:
    """``www.example.com`` → length-prefixed labels ending with the root (RFC 1035 §3.1)."""
    out = b""
    for label in name.rstrip(".").split(".") if name.strip(".") else []:
        raw = label.encode("ascii")
        if not 0 < len(raw) < 64:
            raise DnsError(f"label {label!r}: 1 to 63 characters")
        out += bytes([len(raw)]) + raw
    if len(out) + 1 > 255:
        raise DnsError("a name is at most 255 octets")
    return out + b"\x00"


def _read_name(data: bytes, offset: int) -> tuple[str, int]:
    """The name at ``offset`` and the offset after it (after the first pointer, if any)."""
    labels: list[str] = []
    end = None
    for _ in range(MAX_POINTERS + 128):
        if offset >= len(data):
            raise DnsError("name runs past the message")
        length = data[offset]
        if length & 0xC0 == 0xC0:
            if offset + 1 >= len(data):
                raise DnsError("truncated pointer")
            if end is None:
                end = offset + 2
            target = ((length & 0x3F) << 8) | data[offset + 1]
            if target >= offset:
                raise DnsError("a pointer must point back")
            offset = target
            continue
        if length & 0xC0:
            raise DnsError(f"label type 0x{length & 0xC0:02x}")
        if length == 0:
            return ".".join(labels), end if end is not None else offset + 1
        label = data[offset + 1:offset + 1 + length]
        if len(label) != length:
            raise DnsError("label runs past the message")
        labels.append(label.decode("ascii", "replace"))
        offset += 1 + length
    raise DnsError("too many labels or pointers")


def query(name: str, ident: int, qtype: int = TYPE_A) -> bytes:
    """A standard query with recursion desired, one question."""
    return struct.pack("!HHHHHH", ident & 0xFFFF, RD, 1, 0, 0, 0) + encode_name(name) + struct.pack("!HH", qtype, CLASS_IN)


def parse_query(data: bytes) -> Query:
    if len(data) < 12:
        raise DnsError("shorter than a DNS header")
    ident, flags, qd, _an, _ns, _ar = struct.unpack_from("!HHHHHH", data)
    if flags & QR or qd != 1:
        raise DnsError("not a query with one question")
    name, off = _read_name(data, 12)
    if off + 4 > len(data):
        raise DnsError("question truncated")
    qtype, _qclass = struct.unpack_from("!HH", data, off)
    return Query(ident, name, qtype, bool(flags & RD))


def response(q: Query, addresses: tuple[str, ...], ttl: int = 300, rcode: int | None = None) -> bytes:
    """The answer to ``q``: its question again and one A record per address (NXDOMAIN without)."""
    if rcode is None:
        rcode = NOERROR if addresses or q.qtype != TYPE_A else NXDOMAIN
    answers = addresses if q.qtype == TYPE_A and rcode == NOERROR else ()
    flags = QR | AA | RA | (RD if q.recursion else 0) | rcode
    out = struct.pack("!HHHHHH", q.ident, flags, 1, len(answers), 0, 0)
    out += encode_name(q.name) + struct.pack("!HH", q.qtype, CLASS_IN)
    for address in answers:
        out += struct.pack("!HHHIH", 0xC00C, TYPE_A, CLASS_IN, ttl, 4) + ipaddress.IPv4Address(address).packed
    return out


def parse_response(data: bytes) -> Response:
    if len(data) < 12:
        raise DnsError("shorter than a DNS header")
    ident, flags, qd, an, _ns, _ar = struct.unpack_from("!HHHHHH", data)
    if not flags & QR:
        raise DnsError("not a response")
    off, name = 12, ""
    for _ in range(qd):
        qname, off = _read_name(data, off)
        name = name or qname
        off += 4
    addresses, ttl = [], 0
    for _ in range(an):
        _owner, off = _read_name(data, off)
        if off + 10 > len(data):
            raise DnsError("answer truncated")
        rtype, rclass, rttl, length = struct.unpack_from("!HHIH", data, off)
        off += 10
        rdata = data[off:off + length]
        if len(rdata) != length:
            raise DnsError("record data truncated")
        off += length
        if rtype == TYPE_A and rclass == CLASS_IN and length == 4:
            addresses.append(str(ipaddress.IPv4Address(rdata)))
            ttl = rttl
    return Response(ident, name, flags & 0x000F, tuple(addresses), ttl)
