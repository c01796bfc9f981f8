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
