"""DNS (RFC 1035): the builder and the parser against each other, and against hand-made bytes."""

from __future__ import annotations

import struct

import pytest

from testbed.packets import dns


def test_query_round_trip_and_bytes() -> None:
    data = dns.query("e1.whatsapp.net", 0x1234)
    # header: id, RD, one question; then 2"e1" 8"whatsapp" 3"net" 0, type A, class IN
    assert data[:12] == bytes.fromhex("1234 0100 0001 0000 0000 0000")
    assert data[12:] == b"\x02e1\x08whatsapp\x03net\x00\x00\x01\x00\x01"
    q = dns.parse_query(data)
    assert q == dns.Query(0x1234, "e1.whatsapp.net", dns.TYPE_A, True)


def test_response_answers_with_a_pointer_to_the_question() -> None:
    q = dns.parse_query(dns.query("web.telegram.org", 7))
    data = dns.response(q, ("149.154.167.51", "149.154.167.99"), ttl=60)
    flags = struct.unpack_from("!H", data, 2)[0]
    assert flags & dns.QR and flags & dns.RD and flags & 0xF == dns.NOERROR
    assert data.count(b"\xc0\x0c") == 2          # both answers name the question by pointer
    r = dns.parse_response(data)
    assert r == dns.Response(7, "web.telegram.org", dns.NOERROR, ("149.154.167.51", "149.154.167.99"), 60)


def test_unknown_name_is_nxdomain() -> None:
    r = dns.parse_response(dns.response(dns.parse_query(dns.query("nowhere.example", 9)), ()))
    assert r.rcode == dns.NXDOMAIN and r.addresses == ()


def test_bad_messages_raise() -> None:
    with pytest.raises(dns.DnsError):
        dns.parse_query(b"\x00" * 5)
    with pytest.raises(dns.DnsError):          # a response is not a query
        dns.parse_query(dns.response(dns.parse_query(dns.query("a.b", 1)), ("1.2.3.4",)))
    looping = bytes.fromhex("0001 0100 0001 0000 0000 0000") + b"\xc0\x0c\x00\x01\x00\x01"
    with pytest.raises(dns.DnsError):          # a pointer to itself never ends
        dns.parse_query(looping)
    with pytest.raises(dns.DnsError):
        dns.encode_name("a" * 64 + ".com")
    truncated = dns.response(dns.parse_query(dns.query("a.b", 1)), ("1.2.3.4",))[:-2]
    with pytest.raises(dns.DnsError):
        dns.parse_response(truncated)
