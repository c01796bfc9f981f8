"""Each signature on what it must find and on its near misses (built with our wire-format builders)."""

from __future__ import annotations

import struct

import pytest

from testbed.dpi.flow import Flow, FlowTable
from testbed.dpi.signature import Detection, Pkt, Signature
from testbed.dpi.signatures.dtls import Dtls
from testbed.dpi.signatures.h323 import H323
from testbed.dpi.signatures.iax import Iax
from testbed.dpi.signatures.imo import Imo
from testbed.dpi.signatures.mgcp import Mgcp
from testbed.dpi.signatures.rtp import Rtcp, Rtp
from testbed.dpi.signatures.sip import Sip
from testbed.dpi.signatures.skinny import Skinny
from testbed.dpi.signatures.stun import Stun
from testbed.dpi.signatures.tls import Tls
from testbed.dpi.signatures.viber import Viber
from testbed.dpi.signatures.vpn import OpenVpn, WireGuard
from testbed.dpi.signatures.whatsapp import WhatsAppChat
from testbed.packets import ip, rtp, sip, stun, tls, vpn
from testbed.packets.ip import TCP, UDP, parse_ip

TXID = b"T" * 12


def flow_of(l4: str = "udp", cport: int = 40000, sport: int = 3478) -> Flow:
    build = ip.udp if l4 == "udp" else ip.tcp
    d = parse_ip(build("10.0.0.1", "198.51.100.7", cport, sport, b""))
    assert d is not None
    return FlowTable().lookup(d, 0.0)[0]


def run(sig: Signature, payloads: list[bytes | tuple[int, bytes]], flow: Flow) -> Detection | None:
    """Feed payloads (optionally with a direction) in order; the first detection, or None."""
    for i, item in enumerate(payloads, 1):
        direction, data = item if isinstance(item, tuple) else (0, item)
        found = sig.inspect(Pkt(data, direction, i, i * 0.02, flow.proto, 0), flow)
        if found is not None:
            return found
    return None


@pytest.mark.parametrize("attrs,msg_type,app", [
    ([(0x4000, b"w" * 102)], stun.ALLOCATE_REQUEST, "WhatsAppCall"),
    ([(0x4002, b"w" * 8)], 0x0805, "WhatsAppCall"),
    ([(stun.MS_IMPLEMENTATION_VERSION, b"\0\0\0\x03")], stun.BINDING_REQUEST, "Skype_TeamsCall"),
    ([(stun.REALM, b"turn.l.google.com")], 0x0113, "GoogleCall"),
    ([(stun.REALM, b"turner.facebook")], 0x0113, "FacebookVoip"),
    ([(stun.REALM, b"signal.org")], 0x0113, "SignalVoip"),
    ([(stun.REALM, b"viber.com")], 0x0113, "ViberVoip"),
    ([(stun.GOOG_NETWORK_INFO, b"\0\x03\0\x0a")], stun.BINDING_REQUEST, "WebRTC"),
])
def test_stun_names_the_app(attrs: list, msg_type: int, app: str) -> None:
    found = run(Stun(), [stun.build(msg_type, TXID, attrs)], flow_of())
    assert found is not None and found.app == app and found.final


def test_stun_alone_is_not_final_and_classic_stun_only_binds() -> None:
    found = run(Stun(), [stun.build(stun.BINDING_REQUEST, TXID, [(stun.REALM, b"example.org")])], flow_of())
    assert found == Detection("STUN", "STUN message 0x0001 in packet 1", final=False)
    classic_allocate = stun.build(stun.ALLOCATE_REQUEST, TXID, cookie=False)
    assert run(Stun(), [classic_allocate], flow_of()) is None
    assert run(Stun(), [stun.build(stun.BINDING_REQUEST, TXID, cookie=False)], flow_of()).app == "STUN"
    assert run(Stun(), [stun.build(0x0005, TXID)], flow_of()) is None  # no such method


def test_stun_over_tcp_with_and_without_rfc4571_framing() -> None:
    msg = stun.build(stun.ALLOCATE_REQUEST, TXID, [(0x4000, b"w" * 8)])
    for data in (msg, struct.pack("!H", len(msg)) + msg):
        assert run(Stun(), [data], flow_of("tcp", sport=443)).app == "WhatsAppCall"


def test_viber_framings_on_its_ports_only() -> None:
    tcp_a = struct.pack("<H", 101) + b"\x0a\0\0\0" + b"z" * 95
    tcp_b = struct.pack("<H", 24) + b"\0\0\0\0\xfc\xff\x05\x80" + b"z" * 14
    udp = b"\xed\xf6\x01\x00\x05\x00" + b"z" * 251
    assert run(Viber(), [tcp_a], flow_of("tcp", sport=4244)).why.startswith("Viber TCP framing (length 101, type 0x0a)")
    assert run(Viber(), [tcp_b], flow_of("tcp", sport=5242)).why.startswith("Viber TCP framing (length 24, type 0x8005)")
    assert run(Viber(), [udp], flow_of(sport=7985)).app == "Viber"
    assert not Viber().applies(flow_of("tcp", sport=443)) and not Viber().applies(flow_of(sport=4244))
    assert run(Viber(), [tcp_a[:-1]], flow_of("tcp", sport=4244)) is None     # length disagrees
    assert run(Viber(), [b"\xed\xf6\x01\x00\x06\x00" + b"z" * 251], flow_of(sport=7985)) is None
    assert run(Viber(), [b"\xed\xf6\x42\x00" + b"z" * 20], flow_of(sport=7985)) is None


def test_imo_frames() -> None:
    for data in (b"\x09\x02\xdc\x9a\x02" + b"\0" * 5, b"\x00\x09\x03\x21\x9a\x02" + b"\0" * 5,
                 b"\x88\x49\x1a\x00" + b"m" * 1095):
        assert run(Imo(), [data], flow_of(sport=36535)).app == "IMO"
    for data in (b"\x09\x02" + b"\0" * 9, b"\x00\x09\x04" + b"\0" * 8, b"\x07", b"\x88\x49\x1a\x00"):
        assert run(Imo(), [data], flow_of(sport=36535)) is None


def test_h323_call_signalling_ras_and_not_rdp() -> None:
    q931 = b"\x08\x02\x00\x01\x05" + b"\x7e\x00\x10\x05\x20\xa8\x06\x00\x08\x91\x4a\x00\x04"
    tpkt = struct.pack("!BBH", 3, 0, 4 + len(q931)) + q931
    assert "Q.931" in run(H323(), [tpkt], flow_of("tcp", sport=1720)).why
    ras = b"\x02\x20\x00\x00\x06\x00\x08\x91\x4a\x00\x04\x00\x11"
    assert "RAS" in run(H323(), [ras], flow_of(sport=1719)).why
    rdp = b"\x03\x00\x00\x13\x0e\xe0\x00\x00\x00\x00\x00\x01\x00\x08\x00\x03\x00\x00\x00"
    assert run(H323(), [rdp], flow_of("tcp", sport=3389)) is None
    assert run(H323(), [tpkt[:-1]], flow_of("tcp", sport=1720)) is None


def test_mgcp_commands() -> None:
    assert run(Mgcp(), [b"RQNT 1 *@gw44.example.com MGCP 0.1\rR: l/hd(n)\r"], flow_of(sport=2427)).app == "MGCP"
    assert "CRCX" in run(Mgcp(), [b"CRCX 1204 aaln/1@gw MGCP 1.0\r\nC: A3C47F2\r\n"], flow_of(sport=2427)).why
    for data in (b"200 1204 OK\r\n", b"RQNT one *@gw MGCP 1.0\r\n", b"RQNT 1 *@gw HTTP 1.0\r\n"):
        assert run(Mgcp(), [data], flow_of(sport=2427)) is None


def test_iax2_full_frames() -> None:
    new = b"\x80\x04\x00\x00\x00\x00\x00\x01\x00\x00\x06\x01" + b"\x0b\x02\x00\x02" + b"\x0c\x01x"
    assert run(Iax(), [new], flow_of(sport=50000)).app == "IAX"              # NEW + VERSION 2 anywhere
    ack = b"\x80\x17\x00\x04\x00\x00\x00\x01\x00\x01\x06\x04"
    assert run(Iax(), [ack], flow_of(sport=4569)).app == "IAX"
    assert run(Iax(), [ack], flow_of(sport=50000)) is None                   # off-port, not a NEW
    assert run(Iax(), [b"\x80" + ack[1:10] + b"\x42\x01"], flow_of(sport=4569)) is None


def test_skinny_messages_on_port_2000() -> None:
    register = struct.pack("<III", 4 + 16, 0, 0x0001) + b"S" * 16
    keepalive = struct.pack("<III", 4, 0x14, 0x0000)
    assert run(Skinny(), [register + keepalive], flow_of("tcp", sport=2000)).why.startswith(
        "Skinny message 0x0001 (2 in the segment)")
    assert run(Skinny(), [register[:-1]], flow_of("tcp", sport=2000)) is None
    assert run(Skinny(), [struct.pack("<III", 4, 0x99, 1)], flow_of("tcp", sport=2000)) is None
    assert not Skinny().applies(flow_of("tcp", sport=2001))


def test_sip_and_not_http() -> None:
    invite = sip.invite("a@x", "b@x", "10.0.0.1", 5060, "cid-9", "b", "t", 10000)
    assert run(Sip(), [invite], flow_of(sport=5060)).why == "SIP INVITE (Call-ID cid-9) in packet 1"
    assert run(Sip(), [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"], flow_of("tcp", sport=5060)) is None


def test_rtp_needs_two_packets_that_progress() -> None:
    def pkt(seq: int, ts: int, ssrc: int = 7, pt: int = 0) -> bytes:
        return rtp.build(pt, seq, ts, ssrc, b"v" * 160)
    assert run(Rtp(), [pkt(10, 1600)], flow_of(sport=20000)) is None
    assert run(Rtp(), [pkt(10, 1600), pkt(11, 1760)], flow_of(sport=20000)).why.startswith("RTP SSRC 0x00000007 seq 10→11")
    assert run(Rtp(), [pkt(10, 1600), pkt(15, 2400)], flow_of(sport=20000)) is None          # sequence jumps
    assert run(Rtp(), [pkt(10, 1600), pkt(11, 1760, ssrc=8)], flow_of(sport=20000)) is None  # another source
    assert run(Rtp(), [pkt(10, 1600), (1, pkt(11, 1760))], flow_of(sport=20000)) is None     # other direction
    assert run(Rtp(), [pkt(10, 1600, pt=72), pkt(11, 1760, pt=72)], flow_of(sport=20000)) is None  # RTCP range


def test_rtcp() -> None:
    assert run(Rtcp(), [rtp.build_rtcp_rr(0x55, 1)], flow_of(sport=20001)).app == "RTCP"
    assert run(Rtcp(), [rtp.build_rtcp_rr(0x55, 1)[:-4]], flow_of(sport=20001)) is None


def test_tls_sni_and_whatsapp_chat() -> None:
    flow = flow_of("tcp", sport=443)
    found = run(Tls(), [tls.client_hello("mmg.whatsapp.net", b"r" * 32)], flow)
    assert (found.app, flow.sni) == ("TLS", "mmg.whatsapp.net")   # whose name it is: endpoints/*.yaml
    assert run(Tls(), [tls.client_hello("www.example.com", b"r" * 32)], flow_of("tcp", sport=443)).app == "TLS"
    assert run(Tls(), [(1, tls.client_hello("x.whatsapp.net", b"r" * 32))], flow_of("tcp", sport=443)) is None
    assert run(WhatsAppChat(), [b"WA\x01\x05" + b"\0" * 20], flow_of("tcp", sport=5222)).app == "WhatsApp"
    assert run(WhatsAppChat(), [b"WA\x42\x05"], flow_of("tcp", sport=5222)) is None


def test_openvpn_needs_the_session_to_show_twice() -> None:
    client, server = b"C" * 8, b"S" * 8
    reset = vpn.openvpn_control(vpn.OPENVPN_HARD_RESET_CLIENT_V2, client, 0)
    reply = bytes([vpn.OPENVPN_HARD_RESET_SERVER_V2 << 3]) + server + b"\x01" + b"\0\0\0\0" + client + b"\0\0\0\0"
    control = vpn.openvpn_control(vpn.OPENVPN_CONTROL_V1, client, 1, b"\x16\x03\x01")
    assert "acknowledges session id" in run(OpenVpn(), [reset, (1, reply)], flow_of(sport=1194)).why
    assert "reset (opcode 7, packet 1) then opcode 4" in run(OpenVpn(), [reset, control], flow_of(sport=1194)).why
    assert run(OpenVpn(), [reset], flow_of(sport=1194)) is None
    assert run(OpenVpn(), [reset, reset], flow_of(sport=1194)) is None      # a retransmission (or an NFS call)
    tcp = [vpn.openvpn_control(vpn.OPENVPN_HARD_RESET_CLIENT_V2, client, 0, tcp=True),
           vpn.openvpn_control(vpn.OPENVPN_ACK_V1, client, 0, tcp=True, acks=(0,), remote_session=server)]
    assert run(OpenVpn(), tcp, flow_of("tcp", sport=443)).app == "OpenVPN"


def test_wireguard_handshake_and_transport() -> None:
    assert run(WireGuard(), [vpn.wireguard_initiation(1, b"k" * 140)], flow_of(sport=51820)).app == "WireGuard"
    a, b = vpn.wireguard_transport(9, 100, b"c" * 32), vpn.wireguard_transport(9, 101, b"c" * 48)
    assert "counter 100→101" in run(WireGuard(), [a, b], flow_of(sport=51820)).why
    assert run(WireGuard(), [a, vpn.wireguard_transport(10, 101, b"c" * 48)], flow_of(sport=51820)) is None
    assert run(WireGuard(), [a, vpn.wireguard_transport(9, 101, b"c" * 47)], flow_of(sport=51820)) is None


def test_leads_cover_what_each_signature_matches() -> None:
    """The first-byte dispatch must never hide a packet a signature would match."""
    samples = {Stun(): stun.build(stun.BINDING_REQUEST, TXID), Imo(): b"\x09\x02" + b"\0" * 8,
               Sip(): b"INVITE", Mgcp(): b"RSIP", Iax(): b"\x80", Tls(): b"\x16", WhatsAppChat(): b"WA",
               WireGuard(): b"\x04", Rtp(): rtp.build(0, 1, 1, 1, b""), Rtcp(): rtp.build_rtcp_rr(1)}
    for sig, data in samples.items():
        lead = sig.leads(UDP if UDP in sig.protos else TCP)
        assert lead is not None and data[0] in lead, sig.name


def test_dtls_hello_names_dtls_not_an_app() -> None:
    body = b"\xfe\xfd" + b"r" * 32 + b"\x00\x00\x00\x02\xc0\x2b\x01\x00"
    handshake = b"\x01" + len(body).to_bytes(3, "big") + b"\x00\x00" + b"\x00" * 3 + len(body).to_bytes(3, "big") + body
    record = b"\x16\xfe\xfd\x00\x00" + b"\x00" * 6 + struct.pack("!H", len(handshake)) + handshake
    assert run(Dtls(), [record], flow_of(sport=3478)) == Detection("DTLS", "DTLS 1.2 ClientHello in packet 1", final=False)
    assert run(Dtls(), [record[:3] + b"\x00\x01" + record[5:]], flow_of(sport=3478)) is None  # epoch 1: not a hello
    assert run(Dtls(), [b"\x17" + record[1:]], flow_of(sport=3478)) is None
