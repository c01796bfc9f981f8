"""STUN/TURN: builder against parser, RFC 5389 details, and real messages rebuilt byte for byte."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from testbed.packets import stun
from testbed.packets.capture import read_ip
from testbed.packets.ip import UDP, parse_ip

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "pcap"
TXID = bytes(range(12))


def test_round_trip_with_padding_and_fingerprint() -> None:
    attrs = [(stun.USERNAME, b"abc"), (stun.PRIORITY, b"\x6e\x7f\x1e\xff"), (0x4000, b"x" * 102)]
    data = stun.build(stun.ALLOCATE_REQUEST, TXID, attrs, fingerprint=True)
    assert len(data) == 20 + (4 + 4) + (4 + 4) + (4 + 104) + 8
    msg = stun.parse(data)
    assert msg is not None and msg.cookie and msg.transaction_id == TXID
    assert [k for k, _ in msg.attributes] == [stun.USERNAME, stun.PRIORITY, 0x4000, stun.FINGERPRINT]
    assert msg.attribute(stun.USERNAME) == b"abc"  # padding stripped
    crc = struct.unpack("!I", msg.attribute(stun.FINGERPRINT))[0]
    assert crc == (zlib.crc32(data[:-8]) ^ 0x5354554E) & 0xFFFFFFFF  # RFC 5389 §15.5


def test_method_and_class() -> None:
    for msg_type, method, klass in ((0x0001, 1, 0), (0x0101, 1, 2), (0x0113, 3, 3), (0x0017, 7, 1), (0x0009, 9, 0)):
        msg = stun.parse(stun.build(msg_type, TXID))
        assert (msg.method, msg.klass) == (method, klass)


def test_whatsapp_unpadded_last_attribute_and_bad_lengths() -> None:
    padded = stun.build(stun.ALLOCATE_REQUEST, TXID, [(0x4000, b"y" * 102)])
    unpadded = padded[:2] + struct.pack("!H", 4 + 102) + padded[4:-2]
    assert stun.parse(unpadded).attribute(0x4000) == b"y" * 102
    assert stun.parse(padded[:-1]) is None                                  # length field disagrees
    assert stun.parse(b"\x80" + padded[1:]) is None                         # top bits must be 00
    broken = padded[:20] + struct.pack("!HH", 0x4000, 200) + padded[24:]   # attribute overruns
    assert stun.parse(broken) is None


def test_xor_mapped_address_decodes_back() -> None:
    value = stun.xor_address(bytes([192, 0, 2, 7]), 40000)
    family, port = value[1], struct.unpack("!H", value[2:4])[0] ^ 0x2112
    addr = bytes(a ^ b for a, b in zip(value[4:], struct.pack("!I", stun.MAGIC_COOKIE)))
    assert (family, port, addr) == (1, 40000, bytes([192, 0, 2, 7]))


def test_channel_data() -> None:
    frame = stun.channel_data(0x4001, b"abcde")
    assert frame[:4] == b"\x40\x01\x00\x05" and len(frame) == 12
    assert stun.is_channel_data(frame) and not stun.is_channel_data(b"\x80\x00\x00\x05abcde")


@pytest.mark.corpus
def test_real_messages_rebuilt_byte_for_byte() -> None:
    """Every STUN message of four real captures parses, and building it again gives its bytes
    (bar the padding WhatsApp leaves off its last attribute)."""
    exact = unpadded = 0
    for capture in ("stun.pcap", "stun_wa_call.pcapng", "skype-conference-call.pcap", "whatsapp_login_call.pcap"):
        for _, packet in read_ip(CORPUS / capture):
            d = parse_ip(packet)
            msg = stun.parse(d.payload) if d is not None and d.proto == UDP else None
            if msg is None or not msg.cookie:
                continue
            rebuilt = stun.build(msg.msg_type, msg.transaction_id, list(msg.attributes))
            if rebuilt == d.payload:
                exact += 1
            else:
                missing = len(rebuilt) - len(d.payload)
                assert 0 < missing < 4 and rebuilt[4:-missing] == d.payload[4:], capture
                unpadded += 1
    assert (exact, unpadded) == (387, 48)


@pytest.mark.corpus
def test_real_whatsapp_allocate() -> None:
    for _, packet in read_ip(CORPUS / "whatsapp_voice_and_message.pcap"):
        d = parse_ip(packet)
        msg = stun.parse(d.payload) if d is not None and d.proto == UDP else None
        if msg is not None and msg.msg_type == stun.ALLOCATE_REQUEST:
            assert [(k, len(v)) for k, v in msg.attributes] == [(0x4000, 102)]
            return
    pytest.fail("no Allocate request in whatsapp_voice_and_message.pcap")


# RFC 5769 test vectors, as the RFC prints them (its padding of SOFTWARE and USERNAME is 0x20).
RFC5769_REQUEST = bytes.fromhex("""
    00 01 00 58 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
    80 22 00 10 53 54 55 4e 20 74 65 73 74 20 63 6c 69 65 6e 74
    00 24 00 04 6e 00 01 ff 80 29 00 08 93 2f f9 b1 51 26 3b 36
    00 06 00 09 65 76 74 6a 3a 68 36 76 59 20 20 20
    00 08 00 14 9a ea a7 0c bf d8 cb 56 78 1e f2 b5 b2 d3 f2 49 c1 b5 71 a2
    80 28 00 04 e5 7a 3b cf""")
RFC5769_IPV4_RESPONSE = bytes.fromhex("""
    01 01 00 3c 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
    80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
    00 20 00 08 00 01 a1 47 e1 12 a6 43
    00 08 00 14 2b 91 f5 99 fd 9e 90 c3 8c 74 89 f9 2a f9 ba 53 f0 6b e7 d7
    80 28 00 04 c0 7d 4c 96""")
RFC5769_LONG_TERM = bytes.fromhex("""
    00 01 00 60 21 12 a4 42 78 ad 34 33 c6 ad 72 c0 29 da 41 2e
    00 06 00 12 e3 83 9e e3 83 88 e3 83 aa e3 83 83 e3 82 af e3 82 b9 00 00
    00 15 00 1c 66 2f 2f 34 39 39 6b 39 35 34 64 36 4f 4c 33 34 6f 4c 39 46 53 54 76 79 36 34 73 41
    00 14 00 0b 65 78 61 6d 70 6c 65 2e 6f 72 67 00
    00 08 00 14 f6 70 24 65 6d d6 4a 3e 02 b8 e0 71 2e 85 c9 a2 8c a8 96 66""")
SHORT_TERM_PASSWORD = b"VOkJxbRl1RmTxUk/WvJxBt"


def test_rfc5769_sample_request_and_response_verify() -> None:
    for vector in (RFC5769_REQUEST, RFC5769_IPV4_RESPONSE):
        assert len(vector) == 20 + struct.unpack_from("!H", vector, 2)[0]
        assert stun.verify_integrity(vector, SHORT_TERM_PASSWORD)   # short-term: the key is the password
        assert stun.verify_fingerprint(vector)
        assert not stun.verify_integrity(vector, SHORT_TERM_PASSWORD[:-1] + b"x")
        tampered = vector[:21] + bytes([vector[21] ^ 1]) + vector[22:]   # one bit of the cookie
        assert not stun.verify_fingerprint(tampered) and not stun.verify_integrity(tampered, SHORT_TERM_PASSWORD)
    mapped = stun.parse(RFC5769_IPV4_RESPONSE).attribute(stun.XOR_MAPPED_ADDRESS)
    assert mapped == stun.xor_address(bytes([192, 0, 2, 1]), 32853)   # the address RFC 5769 §2.2 states


def test_rfc5769_values_are_what_our_builder_computes() -> None:
    """Our builder, given the vector's attributes (and its 0x20 padding), writes the vector byte for byte."""
    mi_at = len(RFC5769_REQUEST) - 8 - 24
    assert stun.integrity(RFC5769_REQUEST[:mi_at], SHORT_TERM_PASSWORD) == RFC5769_REQUEST[mi_at + 4:mi_at + 24]
    assert stun.fingerprint_of(RFC5769_REQUEST[:-8]) == 0xE57A3BCF
    assert stun.fingerprint_of(RFC5769_IPV4_RESPONSE[:-8]) == 0xC07D4C96


def test_rfc5769_long_term_credentials() -> None:
    # username マトリックス, realm example.org, password "The\u00adM\u00aatr\u2168" whose SASLprep is "TheMatrIX"
    key = stun.long_term_key("\u30de\u30c8\u30ea\u30c3\u30af\u30b9", "example.org", "TheMatrIX")
    assert len(RFC5769_LONG_TERM) == 20 + 0x60
    assert stun.verify_integrity(RFC5769_LONG_TERM, key)
    assert not stun.verify_integrity(RFC5769_LONG_TERM, stun.long_term_key("x", "example.org", "TheMatrIX"))
    msg = stun.parse(RFC5769_LONG_TERM)
    assert msg.attribute(stun.NONCE) == b"f//499k954d6OL34oL9FSTvy64sA" and msg.attribute(stun.REALM) == b"example.org"
    rebuilt = stun.build(stun.BINDING_REQUEST, msg.transaction_id,
                         [(k, v) for k, v in msg.attributes if k != stun.MESSAGE_INTEGRITY], key=key)
    assert rebuilt == RFC5769_LONG_TERM


def test_built_integrity_and_fingerprint_verify() -> None:
    key = stun.long_term_key("user", "realm.example", "secret")
    data = stun.build(stun.ALLOCATE_REQUEST, TXID, [(stun.REQUESTED_TRANSPORT, b"\x11\0\0\0"),
                                                    (stun.USERNAME, b"user")], key=key, fingerprint=True)
    msg = stun.parse(data)
    assert [k for k, _ in msg.attributes][-2:] == [stun.MESSAGE_INTEGRITY, stun.FINGERPRINT]
    assert stun.verify_integrity(data, key) and stun.verify_fingerprint(data)
    assert not stun.verify_integrity(data, stun.long_term_key("user", "realm.example", "wrong"))
    assert not stun.verify_fingerprint(stun.build(stun.BINDING_REQUEST, TXID, [(stun.USERNAME, b"u")]))
