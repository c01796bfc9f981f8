"""The calling apps beyond the 2016 block: bytes built from their documentation, and near misses."""

from __future__ import annotations

import struct

import pytest

from testbed.dpi.classifier import Classifier, Verdict
from testbed.dpi.flow import Flow, FlowTable
from testbed.dpi.knowledge import EMPTY
from testbed.dpi.signature import Detection, Pkt, Signature
from testbed.dpi.signatures.discord import Discord
from testbed.dpi.signatures.mumble import Mumble
from testbed.dpi.signatures.quic import Quic
from testbed.dpi.signatures.stun import Stun
from testbed.dpi.signatures.teamspeak import TeamSpeak
from testbed.dpi.signatures.telegram import TelegramRelay
from testbed.dpi.signatures.zoom import Zoom
from testbed.packets import ip, quic, rtp, stun, tls
from testbed.packets.ip import parse_ip
from testbed.policy.load import POLICY_DIR, load_policy
from testbed.policy.model import Action, Match, Policy, Rule

TXID = b"Z" * 12
PHONE = "10.10.0.2"


def flow_of(l4: str = "udp", cport: int = 40000, sport: int = 3478, server: str = "198.51.100.7") -> Flow:
    build = ip.udp if l4 == "udp" else ip.tcp
    d = parse_ip(build(PHONE, server, cport, sport, b""))
    assert d is not None
    return FlowTable().lookup(d, 0.0)[0]


def run(sig: Signature, payloads: list[bytes | tuple[int, bytes]], flow: Flow) -> Detection | None:
    for i, item in enumerate(payloads, 1):
        direction, data = item if isinstance(item, tuple) else (0, item)
        found = sig.inspect(Pkt(data, direction, i, i * 0.02, flow.proto, 0), flow)
        if found is not None:
            return found
    return None


def classify(packets: list[bytes], **kw: object) -> Verdict:
    c = Classifier(identify=True, **kw)  # type: ignore[arg-type]
    verdict = None
    for i, packet in enumerate(packets):
        verdict = c.feed(packet, i * 0.02) or verdict
    return verdict or c.flush()[0]


# --- Telegram's reflectors (libtgvoip)

def reflector(tl_id: int, body: bytes = b"\0" * 8) -> bytes:
    return b"\x5a" * 16 + b"\xff" * 12 + struct.pack("<I", tl_id) + body


def test_telegram_reflector_ping_and_self_info() -> None:
    ping = run(TelegramRelay(), [reflector(0xFFFFFFFE)], flow_of(sport=533))
    assert ping is not None and ping.app == "TelegramVoip" and "UDP ping" in ping.why
    info = run(TelegramRelay(), [(1, reflector(0xC01572C7, b"\0" * 36))], flow_of(sport=533))
    assert info is not None and "SELF_INFO" in info.why
    assert run(TelegramRelay(), [b"\x5a" * 16 + b"\xff" * 11 + b"\0" + struct.pack("<I", 0xFFFFFFFE) + b"\0" * 8],
               flow_of()) is None                                         # 11 × 0xFF
    assert run(TelegramRelay(), [reflector(0x12345678)], flow_of()) is None  # not a reflector message
    assert run(TelegramRelay(), [reflector(0xFFFFFFFE)[:30]], flow_of()) is None


# --- Zoom

def sfu(kind: int, media: bytes) -> bytes:
    return bytes([kind]) + struct.pack("!HIB", 7, 0, 0) + media


def test_zoom_sfu_framing_on_its_ports_only() -> None:
    opening = b"\x01\x00\x03" + b"\0" * 30
    assert run(Zoom(), [opening], flow_of(sport=8801)).app == "Zoom"  # type: ignore[union-attr]
    assert run(Zoom(), [opening], flow_of(sport=9000)) is None           # three bytes: too weak elsewhere
    audio = sfu(5, bytes([15]) + b"\0" * 18 + rtp.build(112, 1, 960, 5, b"a" * 60))
    found = run(Zoom(), [audio], flow_of(sport=8805))
    assert found is not None and "audio RTP (type 15)" in found.why
    assert run(Zoom(), [sfu(5, bytes([15]) + b"\0" * 18 + b"\x00" * 40)], flow_of(sport=8805)) is None  # no RTP
    assert run(Zoom(), [sfu(5, bytes([16]) + b"\0" * 18 + rtp.build(112, 1, 960, 5, b"a" * 60))],
               flow_of(sport=8805)) is None                               # video's RTP sits 24 bytes in


def test_zoom_peer_to_peer_opening_and_stun_attribute() -> None:
    address, ident = b"192.0.2.7", b"f" * 16
    p2p = b"\x1f\x02\x01" + b"\0" * 21 + struct.pack("!I", len(address)) + address + struct.pack(
        "!I", len(ident)) + ident + b"\0\0\0\0"
    assert run(Zoom(), [p2p], flow_of(sport=50000)).app == "Zoom"  # type: ignore[union-attr]
    assert run(Zoom(), [p2p[:-1] + b"\x01"], flow_of(sport=50000)) is None
    assert run(Zoom(), [p2p + b"\0"], flow_of(sport=50000)) is None      # lengths no longer add up
    found = run(Stun(), [stun.build(stun.BINDING_REQUEST, TXID, [(0x0103, b"\0\0\0\x01")])], flow_of())
    assert found is not None and found.app == "Zoom"


# --- Discord, Mumble, TeamSpeak

def discovery(kind: int, address: bytes) -> bytes:
    return struct.pack("!HHI", kind, 70, 123456) + address.ljust(64, b"\0") + struct.pack("!H", 50004)


def test_discord_ip_discovery() -> None:
    assert run(Discord(), [discovery(1, b"")], flow_of(sport=50004)).app == "Discord"  # type: ignore[union-attr]
    answer = run(Discord(), [(1, discovery(2, b"203.0.113.9"))], flow_of(sport=50004))
    assert answer is not None and "203.0.113.9" in answer.why
    assert run(Discord(), [discovery(2, b"203.0.113.9")[:-1]], flow_of()) is None       # 73 bytes
    assert run(Discord(), [discovery(3, b"")], flow_of()) is None                        # no such type
    assert run(Discord(), [discovery(2, b"\x01\x02garbage")], flow_of()) is None         # not an address


def test_mumble_ping_needs_its_id_echoed() -> None:
    ping = b"\0\0\0\0" + b"IDENT-42"
    reply = b"\x00\x01\x04\x05" + b"IDENT-42" + struct.pack("!III", 3, 100, 72000)
    found = run(Mumble(), [ping, (1, reply)], flow_of(sport=64738))
    assert found is not None and found.app == "Mumble" and "version 1.4" in found.why
    assert run(Mumble(), [ping, (1, reply.replace(b"42", b"43"))], flow_of()) is None
    assert run(Mumble(), [(1, reply)], flow_of()) is None                                # no request


def test_teamspeak_init_and_ts2() -> None:
    init = b"TS3INIT1" + struct.pack("!HHB", 0x65, 0, 0x88) + b"\x06\x3b\xec\xe9" + b"\0" * 21
    assert run(TeamSpeak(), [init], flow_of(sport=9987)).app == "TeamSpeak"  # type: ignore[union-attr]
    assert run(TeamSpeak(), [b"TS3INIT2" + init[8:]], flow_of(sport=9987)) is None
    assert run(TeamSpeak(), [b"\xf4\xbe\x03\x00" + b"\0" * 30], flow_of("tcp", sport=8767)).app == "TeamSpeak"  # type: ignore[union-attr]


# --- Snapchat calls: QUIC with RTP on the same 5-tuple

def test_quic_sni_then_rtp_is_a_snapchat_call() -> None:
    hello = tls.client_hello("usc.sc-cdn.net", b"r" * 32)[5:]
    initial = quic.build_initial(b"\x42" * 8, b"\x43" * 8, hello)
    flow = flow_of(sport=443)
    sig = Quic()
    first = run(sig, [initial], flow)
    assert first is not None and (first.app, first.final, flow.sni) == ("QUIC", False, "usc.sc-cdn.net")
    media = rtp.build(111, 9, 960, 77, b"o" * 70)
    later = sig.inspect(Pkt(media, 1, 5, 0.1, flow.proto, 0), flow)
    assert later is not None and later.app == "SnapchatCall" and "multiplexed with QUIC" in later.why
    alone = flow_of(sport=443)
    assert sig.inspect(Pkt(media, 1, 1, 0.1, alone.proto, 0), alone) is None          # RTP without QUIC first
    greased = b"\x8d\x00\x00\x00\x01" + b"\x08" * 40                                    # QUIC long header
    assert sig.inspect(Pkt(greased, 1, 6, 0.1, flow.proto, 0), flow) is None


def test_quic_name_through_endpoint_data() -> None:
    hello = tls.client_hello("app.snapchat.com", b"r" * 32)[5:]
    initial = ip.udp(PHONE, "198.51.100.8", 40000, 443, quic.build_initial(b"\x42" * 8, b"", hello))
    v = classify([initial])
    assert v.app == "Snapchat" and "a name of Snapchat" in v.why
    media = ip.udp("198.51.100.8", PHONE, 443, 40000, rtp.build(111, 9, 960, 77, b"o" * 70))
    call = classify([initial, media])                      # the name does not end the search for a call
    assert call.app == "SnapchatCall" and call.packet_index == 2, call.why


# --- apps known by their servers: the packets show a call, the data say whose

@pytest.mark.parametrize("server,port,payload,app", [
    ("17.188.20.5", 16393, stun.build(stun.BINDING_REQUEST, TXID), "FaceTime"),      # Apple, FaceTime's port
    ("62.109.200.9", 9000, rtp.build(0, 1, 160, 3, b"u" * 160), "Webex"),           # Webex, meeting media
    ("1.201.3.4", 12000, struct.pack("!BBHI", 0x81, 200, 13, 5) + b"\0" * 48, "KakaoTalk_Voice"),  # RTCP SR
    ("31.13.70.9", 3478, stun.build(stun.BINDING_REQUEST, TXID), "FacebookVoip"),    # Meta (Messenger)
    ("52.113.0.9", 3479, stun.build(stun.BINDING_REQUEST, TXID), "Skype_TeamsCall"),  # Teams media relays
    ("74.125.250.129", 19305, stun.build(stun.BINDING_REQUEST, TXID), "GoogleCall"),  # Meet media
    ("91.108.56.100", 599, reflector(0xFFFFFFFE), "TelegramVoip"),
    ("147.92.160.10", 20000, b"\xb6\x13\x00\x06" + b"\0" * 42, "LineCall"),           # LINE's block
])
def test_a_call_to_a_known_service(server: str, port: int, payload: bytes, app: str) -> None:
    packets = [ip.udp(PHONE, server, 40000, port, payload)]
    if payload[:1] == b"\x80":   # RTP shows across two packets
        packets.append(ip.udp(PHONE, server, 40000, port, rtp.build(0, 2, 320, 3, b"u" * 160)))
    verdict = classify(packets)
    assert verdict.app == app, verdict.why


@pytest.mark.parametrize("server,port,payload", [
    ("17.188.20.5", 443, stun.build(stun.BINDING_REQUEST, TXID)),       # Apple, not FaceTime's ports
    ("1.201.3.4", 12000, b"\x17\x03\x03" + b"\0" * 40),                  # KINX, no RTP/RTCP
    ("203.0.113.10", 20000, b"\xb6\x13\x00\x06" + b"\0" * 42),           # LINE's bytes, not LINE's block
])
def test_near_misses_of_known_services(server: str, port: int, payload: bytes) -> None:
    verdict = classify([ip.udp(PHONE, server, 40000, port, payload)])
    assert verdict.app not in ("FaceTime", "KakaoTalk_Voice", "LineCall"), verdict.why


def test_the_same_bytes_name_no_call_without_endpoint_data() -> None:
    v = classify([ip.udp(PHONE, "31.13.70.9", 40000, 3478, stun.build(stun.BINDING_REQUEST, TXID))],
                 knowledge=EMPTY)
    assert v.app == "STUN"


def test_stun_realm_of_telegram_and_ms_multiplexed_turn() -> None:
    found = run(Stun(), [stun.build(0x0113, TXID, [(stun.REALM, b"telegram.org")])], flow_of())
    assert found is not None and found.app == "TelegramVoip"
    inner = stun.build(stun.BINDING_REQUEST, TXID, [(stun.MS_IMPLEMENTATION_VERSION, b"\0\0\0\x03")])
    framed = b"\xff\x10" + struct.pack("!H", len(inner) + 8) + b"\0" * 8 + inner   # [MS-TURN] 2.2.3
    found = run(Stun(), [framed], flow_of())
    assert found is not None and found.app == "Skype_TeamsCall"
    assert run(Stun(), [framed[:-1]], flow_of()) is None


# --- RTP alone is nobody's call

GAME_VOICE = [rtp.build(120, seq, seq * 960, 0xD15C, b"v" * 80) for seq in range(1, 4)]


def test_rtp_streams_are_not_calls_of_a_blocked_app_unless_asked() -> None:
    anrt = load_policy(POLICY_DIR / "anrt-2016.yaml")
    any_rtp = Policy("any-rtp", (Rule("rtp", Match(apps=("RTP",)), Action("drop"), 1),))
    for policy, expected in ((anrt, "allow"), (any_rtp, "drop")):
        c = Classifier(policy)
        verdicts = [c.feed(ip.udp(PHONE, "203.0.113.50", 40000, 27015, p), i * 0.02) for i, p in enumerate(GAME_VOICE)]
        verdict = next(v for v in verdicts + c.flush() if v is not None)
        assert (verdict.app, verdict.category, verdict.action.kind) == ("RTP", "Media", expected), verdict.why
    # Discord's voice server: the IP discovery names it Discord, not a call
    c = Classifier(anrt)
    verdict = c.feed(ip.udp(PHONE, "203.0.113.51", 40001, 50004, discovery(1, b"")), 0.0)
    assert verdict is not None and (verdict.app, verdict.category, verdict.action.kind) == (
        "Discord", "Collaborative", "allow")


def test_line_counter_in_byte_3_each_way() -> None:
    from testbed.dpi.signatures.line import LineCounter

    def setup(base: int, i: int) -> bytes:
        return b"\x12\x34\x56" + bytes([(base + i) & 0xFF]) + b"\x99" * 20

    both = [item for i in range(4) for item in ((0, setup(250, i)), (1, setup(7, i)))]
    found = run(LineCounter(), both, flow_of(sport=20000))
    assert found is not None and found.app == "LineCall" and "from 250 up and 7 down" in found.why
    media = rtp.build(111, 5, 960, 1, b"m" * 40)
    assert run(LineCounter(), both[:4] + [(0, media)] + both[4:], flow_of()) is not None   # RTP skipped
    assert run(LineCounter(), [item for i in range(4) for item in ((0, setup(7, i)), (1, setup(7, i)))],
               flow_of()) is None                                                      # the same base each way
    broken = list(both)
    broken[4] = (0, setup(250, 5))                                                     # a number skipped
    assert run(LineCounter(), broken, flow_of()) is None
