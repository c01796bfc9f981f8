"""QUIC Initial protection (RFC 9001 §5, RFC 9369): the RFCs' own test vectors, builder against parser."""

from __future__ import annotations

import pytest

from testbed.packets import quic, tls

DCID = bytes.fromhex("8394c8f03e515708")   # RFC 9001 Appendix A


def test_rfc_9001_appendix_a_keys_and_header_protection_mask() -> None:
    key, iv, hp = quic.client_keys(DCID)
    assert (key.hex(), iv.hex(), hp.hex()) == ("1f369613dd76d5467730efcbe3b1a22d", "fa044b2f42a3fd3b46fb255c",
                                               "9f50449e04a0e810283a1e9933adedd2")
    assert quic._mask(hp, bytes.fromhex("d1b1c98dd7689fb8ec11d242b123dc9b"))[:5].hex() == "437b9aec36"  # A.2


def test_rfc_9369_appendix_a_key_of_version_2() -> None:
    assert quic.client_keys(DCID, quic.V2)[0].hex() == "8b1a0bc121284290a29e0971b5cd045d"


@pytest.mark.parametrize("version", [quic.V1, quic.V2])
def test_initial_round_trip_carries_the_client_hello(version: int) -> None:
    hello = tls.client_hello("cf-st.sc-cdn.net", b"r" * 32)[5:]
    packet = quic.build_initial(b"\x11" * 8, b"\x22" * 4, hello, number=3, version=version)
    assert len(packet) == 1200 and quic.is_initial(packet) == version
    number, frames = quic.decrypt_initial(packet)   # type: ignore[misc]
    assert number == 3 and tls.hello_server_name(quic.crypto_data(frames)) == "cf-st.sc-cdn.net"


def test_near_misses_do_not_decrypt() -> None:
    packet = quic.build_initial(b"\x11" * 8, b"", tls.client_hello("a.example", b"r" * 32)[5:])
    tampered = packet[:-1] + bytes([packet[-1] ^ 1])                  # the AEAD tag no longer holds
    assert quic.decrypt_initial(tampered) is None
    assert quic.decrypt_initial(packet[:40]) is None                  # cut short
    assert quic.is_initial(b"\xe0" + packet[1:]) is None               # a Handshake packet, not Initial
    assert quic.is_initial(packet[:1] + b"\xfa\xce\xb0\x0c" + packet[5:]) is None   # unknown version


def test_crypto_frames_gathered_across_packets_and_out_of_order() -> None:
    hello = tls.client_hello("x.example.org", b"r" * 32)[5:]
    half = len(hello) // 2
    second = bytes([quic.CRYPTO]) + quic.encode_varint(half) + quic.encode_varint(len(hello) - half) + hello[half:]
    first = bytes([quic.PING, quic.CRYPTO]) + quic.encode_varint(0) + quic.encode_varint(half) + hello[:half]
    chunks = quic.crypto_chunks(second)
    assert quic.contiguous(chunks) == b""
    assert quic.contiguous(quic.crypto_chunks(first + b"\0" * 10, chunks)) == hello
