"""OpenVPN and WireGuard framings: builders against the fields, and real handshakes."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from testbed.packets import vpn
from testbed.packets.capture import read_ip
from testbed.packets.ip import parse_ip

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "pcap"


def test_openvpn_control_and_data() -> None:
    udp = vpn.openvpn_control(vpn.OPENVPN_HARD_RESET_CLIENT_V2, b"S" * 8, 0)
    assert udp[0] >> 3 == 7 and udp[1:9] == b"S" * 8 and len(udp) == 14
    tcp = vpn.openvpn_control(vpn.OPENVPN_CONTROL_V1, b"S" * 8, 3, b"tls", tcp=True)
    assert struct.unpack("!H", tcp[:2])[0] == len(tcp) - 2 and tcp[2] >> 3 == 4
    data = vpn.openvpn_data(0x00ABCDEF, b"x" * 20)
    assert data[0] >> 3 == vpn.OPENVPN_DATA_V2 and data[1:4] == b"\xab\xcd\xef"


def test_wireguard() -> None:
    init = vpn.wireguard_initiation(0x11223344, b"k" * 200)
    assert len(init) == 148 and init[:8] == b"\x01\0\0\0\x44\x33\x22\x11"
    transport = vpn.wireguard_transport(7, 9, b"c" * 32)
    assert struct.unpack("<BxxxIQ", transport[:16]) == (4, 7, 9)


@pytest.mark.corpus
def test_real_handshakes() -> None:
    first = {}
    for capture in ("openvpn.pcap", "wireguard.pcap"):
        for _, packet in read_ip(CORPUS / capture):
            d = parse_ip(packet)
            if d is not None and d.payload:
                first.setdefault(capture, d.payload)
    assert first["wireguard.pcap"][0] == vpn.WIREGUARD_INITIATION and len(first["wireguard.pcap"]) == 148
    assert first["openvpn.pcap"][0] >> 3 == vpn.OPENVPN_HARD_RESET_CLIENT_V2


def test_openvpn_tls_auth_layout_and_hmac() -> None:
    import hashlib
    import hmac

    key, client, server = b"k" * 20, b"C" * 8, b"S" * 8
    reset = vpn.openvpn_control(vpn.OPENVPN_HARD_RESET_CLIENT_V2, client, 0, tls_auth=key, replay_id=1, net_time=7)
    # opcode, session id, HMAC-SHA1, replay id 1 and time, empty ack array, message packet id 0
    assert len(reset) == 1 + 8 + 20 + 8 + 1 + 4 and reset[29:37] == struct.pack("!II", 1, 7)
    mac = hmac.new(key, reset[29:37] + reset[:9] + reset[37:], hashlib.sha1).digest()   # replay+time, header, rest
    assert reset[9:29] == mac
    reply = vpn.openvpn_control(vpn.OPENVPN_HARD_RESET_SERVER_V2, server, 0, tls_auth=key, acks=(0,),
                                remote_session=client)
    assert reply[37] == 1 and reply[38:42] == b"\0\0\0\0" and reply[42:50] == client
    ack = vpn.openvpn_control(vpn.OPENVPN_ACK_V1, client, 5, tls_auth=key, replay_id=2, acks=(0,), remote_session=server)
    assert len(ack) == 1 + 8 + 20 + 8 + 1 + 4 + 8        # a bare ACK has no message packet id
