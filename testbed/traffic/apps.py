"""Traffic profiles: what each app's flows look like in their first packets.

Each profile builds, from a seeded ``random.Random``, the opening of its flows as
real payload bytes with their timing (``Segment``); ``testbed.traffic.wire``
puts them into IP packets. The openings mirror the apps' real captures in
../shared/corpus (message types, attributes, framings, sizes) with random fields
(transaction ids, SSRCs, keys) drawn anew. After the opening, a flow is described
by its rate (``FlowPlan.kbps``).
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable
from dataclasses import dataclass

from testbed.dpi import catalog
from testbed.packets import rtp, sip, stun, tls
from testbed.traffic.codecs import G711, OPUS, SILK, Codec

SIGNALLING, MEDIA, DATA = "signalling", "media", "data"
OPENING_PACKETS = 24      # packets built per flow: more than any inspection window we ship
PROCESSING_MS = 40.0      # server-side call processing, part of the post-dial delay
CALL, FLOW = "call", "flow"


@dataclass(frozen=True)
class Segment:
    t: float        # seconds after the flow's first packet
    up: bool        # client → server
    payload: bytes  # L4 payload
    ringback: bool = False   # the answer on which the caller hears ringing (``testbed.call.plan`` marks it)


@dataclass(frozen=True)
class FlowPlan:
    role: str                       # signalling | media | data
    l4: str                         # udp | tcp
    server_port: int
    segments: tuple[Segment, ...]
    kbps: float = 0.0               # steady rate after the opening, each way


@dataclass(frozen=True)
class AppProfile:
    name: str
    title: str
    category: str                   # ground truth, for recall and collateral
    kind: str                       # call | flow
    codec: Codec | None
    setup_rtts: float               # signalling round trips before the callee rings
    build: Callable[[random.Random, int], tuple[FlowPlan, ...]]
    ott: bool = True                # an app over the internet (False: the operator's own service)
    mean_s: float = 0.0             # a flow's mean lifetime at ``FlowPlan.kbps`` (its load on the links)


def rtp_media(rng: random.Random, codec: Codec, count: int, t0: float, *,
              wrap: Callable[[bytes, int], bytes] | None = None, srtp_tag: int = 0,
              payload_type: int | None = None) -> list[Segment]:
    """``count`` voice packets alternating up/down every frame, RFC 3550 headers.

    ``wrap`` re-frames each RTP packet (an app's own framing); ``srtp_tag`` appends
    an SRTP authentication tag of that many bytes (the payload is random: encrypted).
    """
    ssrc = [rng.getrandbits(32), rng.getrandbits(32)]
    seq = [rng.getrandbits(15), rng.getrandbits(15)]
    ts = [rng.getrandbits(31), rng.getrandbits(31)]
    pt = codec.payload_type if payload_type is None else payload_type
    out = []
    for i in range(count):
        d = i % 2
        frame = i // 2
        size = codec.payload_bytes if codec is not OPUS else rng.randint(60, 120)
        packet = rtp.build(pt, seq[d] + frame, ts[d] + frame * codec.timestamp_step, ssrc[d],
                           rng.randbytes(size + srtp_tag), marker=frame == 0)
        if wrap is not None:
            packet = wrap(packet, frame)
        out.append(Segment(t0 + frame * codec.frame_ms / 1000 + d * 0.003, d == 0, packet))
    return out


def _txid(rng: random.Random) -> bytes:
    return rng.randbytes(12)


def whatsapp(rng: random.Random, n: int) -> tuple[FlowPlan, ...]:
    """TURN Allocate to the relay with WhatsApp's attribute 0x4000, then SRTP (Opus)."""
    txid = _txid(rng)
    req = stun.build(stun.ALLOCATE_REQUEST, txid, [(0x4000, rng.randbytes(102))])
    resp = stun.build(stun.ALLOCATE_RESPONSE, txid, [
        (stun.XOR_MAPPED_ADDRESS, stun.xor_address(rng.randbytes(4), rng.randint(1024, 65535))),
        (0x4002, rng.randbytes(4))])
    opening = [Segment(0.0, True, req), Segment(0.08, False, resp)]
    media = rtp_media(rng, OPUS, max(n - 2, 2), 0.1, srtp_tag=10, payload_type=120)
    return (FlowPlan(MEDIA, "udp", 3478, tuple(opening + media), OPUS.ip_kbps + 4),)


def _viber_frame(token: bytes, kind: int, body: bytes) -> bytes:
    return token + bytes([kind, 0]) + body


def viber(rng: random.Random, n: int) -> tuple[FlowPlan, ...]:
    """Viber's relay protocol on UDP 7985: a 2-byte session token, a type byte and 0x00."""
    token = rng.randbytes(2)
    session = rng.randbytes(8)
    opening = [
        Segment(0.0, True, _viber_frame(token, 0x01, b"\x05\x00" + session + rng.randbytes(243))),
        Segment(0.001, True, _viber_frame(token, 0x09, rng.randbytes(8) + session[:6])),
        Segment(0.034, False, _viber_frame(token, 0x0C, b"\x01\x00" + session + rng.randbytes(62))),
    ]

    def wrap(packet: bytes, frame: int) -> bytes:
        return _viber_frame(token, 0x0F, struct.pack("!H", frame & 0xFFFF) + packet)

    media = rtp_media(rng, OPUS, max(n - 3, 2), 0.05, wrap=wrap, srtp_tag=4)
    return (FlowPlan(MEDIA, "udp", 7985, tuple(opening + media), OPUS.ip_kbps + 8),)


def skype(rng: random.Random, n: int) -> tuple[FlowPlan, ...]:
    """ICE connectivity check with Microsoft's attributes (MS-ICE2), then SILK over RTP."""
    txid = _txid(rng)
    attrs = [(stun.USERNAME, rng.randbytes(32).hex()[:40].encode()),
             (stun.PRIORITY, struct.pack("!I", 0x6E7F1EFF)),
             (stun.ICE_CONTROLLING, rng.randbytes(8)),
             (stun.MS_CANDIDATE_IDENTIFIER, rng.randbytes(4)),
             (stun.MS_IMPLEMENTATION_VERSION, struct.pack("!I", 2)),
             (stun.MESSAGE_INTEGRITY, rng.randbytes(20))]
    req = stun.build(stun.BINDING_REQUEST, txid, attrs, fingerprint=True)
    resp = stun.build(stun.BINDING_RESPONSE, txid, [
        (stun.XOR_MAPPED_ADDRESS, stun.xor_address(rng.randbytes(4), rng.randint(1024, 65535))),
        (stun.MS_IMPLEMENTATION_VERSION, struct.pack("!I", 2)),
        (stun.MESSAGE_INTEGRITY, rng.randbytes(20))], fingerprint=True)
    opening = [Segment(0.0, True, req), Segment(0.09, False, resp)]
    media = rtp_media(rng, SILK, max(n - 2, 2), 0.12, srtp_tag=4)
    return (FlowPlan(MEDIA, "udp", 3480, tuple(opening + media), SILK.ip_kbps + 2),)


def imo(rng: random.Random, n: int) -> tuple[FlowPlan, ...]:
    """Imo's own UDP protocol, shaped as in its capture: 0x81/0x82 hellos, 0x00 replies, 0x89 media."""
    opening = [
        Segment(0.0, True, b"\x81\x3c\x0e" + rng.randbytes(197)),
        Segment(0.002, True, b"\x82\x47\x0d\x00" + rng.randbytes(325)),
        Segment(0.070, False, b"\x00\x09\x03\x21" + rng.randbytes(1) + b"\x02\x00\x00\x00\x00\x00"),
        Segment(0.071, False, b"\x00\x74\x0d\x00" + rng.randbytes(114)),
    ]
    media = [Segment(0.1 + i // 2 * 0.02 + (i % 2) * 0.003, i % 2 == 0,
                     b"\x89\x46\x1a\x00" + struct.pack("!I", i // 2) + rng.randbytes(rng.randint(60, 120)))
             for i in range(max(n - 4, 2))]
    return (FlowPlan(MEDIA, "udp", 36535, tuple(opening + media), OPUS.ip_kbps + 6),)


def operator_sip(rng: random.Random, n: int) -> tuple[FlowPlan, ...]:
    """The operator's own voice service: SIP INVITE on UDP 5060, then G.711 RTP."""
    call_id = f"{rng.getrandbits(64):016x}@ims.operator.ma"
    rtp_port = 10000 + 2 * rng.randrange(5000)
    invite = sip.invite("212600000001@ims.operator.ma", "212600000002@ims.operator.ma",
                        "10.10.0.2", 5060, call_id, f"{rng.getrandbits(32):08x}",
                        f"{rng.getrandbits(32):08x}", rtp_port)
    signalling = (Segment(0.0, True, invite),
                  Segment(0.05, False, sip.response(invite, 100, "Trying")),
                  Segment(0.15, False, sip.response(invite, 180, "Ringing")),
                  Segment(2.0, False, sip.response(invite, 200, "OK")))
    media = rtp_media(rng, G711, max(n, 4), 0.0)
    return (FlowPlan(SIGNALLING, "udp", 5060, signalling),
            FlowPlan(MEDIA, "udp", rtp_port, tuple(media), G711.ip_kbps))


def web(rng: random.Random, n: int) -> tuple[FlowPlan, ...]:
    """HTTPS: a TLS 1.3 ClientHello naming the site, then a server flight and data."""
    hello = tls.client_hello(rng.choice(["www.example.com", "www.hespress.com", "www.le360.ma"]),
                             rng.randbytes(32), rng.randbytes(32))
    flight = tls.server_hello(rng.randbytes(32), hello[44:76], rng.randbytes(32)) + tls.change_cipher_spec()
    flight += tls.encrypted(rng.randbytes(1200 - len(flight) - 5))[0]   # the encrypted certificate and Finished
    segs = [Segment(0.0, True, hello), Segment(0.06, False, flight)]
    segs += [Segment(0.07 + 0.001 * i, False, tls.encrypted(rng.randbytes(1395))[0]) for i in range(max(n - 2, 1))]
    return (FlowPlan(DATA, "tcp", 443, tuple(segs), 2000.0),)


def game(rng: random.Random, n: int) -> tuple[FlowPlan, ...]:
    """An online game (Source engine style): connectionless query, then 30 ms ticks both ways."""
    segs = [Segment(0.0, True, b"\xff\xff\xff\xffq" + rng.randbytes(4) + b"0000000000\x00"),
            Segment(0.05, False, b"\xff\xff\xff\xffA" + rng.randbytes(4))]
    segs += [Segment(0.1 + (i // 2) * 0.030 + (i % 2) * 0.004, i % 2 == 0,
                     struct.pack("<I", i // 2) + rng.randbytes(rng.randint(40, 160)))
             for i in range(max(n - 2, 2))]
    return (FlowPlan(DATA, "udp", 27015, tuple(segs), 80.0),)


def whatsapp_chat(rng: random.Random, n: int) -> tuple[FlowPlan, ...]:
    """WhatsApp messaging: its TCP connection opens with 'WA' 1.5, then Noise handshake and messages."""
    segs = [Segment(0.0, True, b"WA\x01\x05" + b"\x00\x00" + rng.randbytes(170)),
            Segment(0.09, False, rng.randbytes(78)),
            Segment(0.1, True, rng.randbytes(30))]
    segs += [Segment(0.3 + 0.4 * i, i % 2 == 0, rng.randbytes(rng.randint(20, 400))) for i in range(max(n - 3, 1))]
    return (FlowPlan(DATA, "tcp", 5222, tuple(segs), 2.0),)


# --- calling apps beyond the 2016 block (openings from their public documentation)

def _ice_check(rng: random.Random, extra: list[tuple[int, bytes]]) -> tuple[bytes, bytes]:
    """An ICE connectivity check (RFC 8445 §7.1) with ``extra`` attributes, and its success response."""
    txid = _txid(rng)
    attrs = [(stun.USERNAME, f"{rng.getrandbits(32):08x}:{rng.getrandbits(32):08x}".encode()),
             (stun.PRIORITY, struct.pack("!I", 0x6E001EFF)), (stun.ICE_CONTROLLING, rng.randbytes(8))]
    req = stun.build(stun.BINDING_REQUEST, txid, attrs + extra + [(stun.MESSAGE_INTEGRITY, rng.randbytes(20))],
                     fingerprint=True)
    resp = stun.build(stun.BINDING_RESPONSE, txid, [
        (stun.XOR_MAPPED_ADDRESS, stun.xor_address(rng.randbytes(4), rng.randint(1024, 65535))),
        (stun.MESSAGE_INTEGRITY, rng.randbytes(20))], fingerprint=True)
    return req, resp


def _dtls_hello(rng: random.Random, hello_type: int) -> bytes:
    """A DTLS 1.2 ClientHello (1) or ServerHello (2) record offering DTLS-SRTP (RFC 6347 §4.2.2, RFC 5764 §4.1.1)."""
    use_srtp = struct.pack("!HHHHB", 14, 5, 2, 0x0001, 0)           # SRTP_AES128_CM_HMAC_SHA1_80, no MKI
    groups = struct.pack("!HHHHH", 10, 4, 2, 0x0017, 0x001D) if hello_type == 1 else b""
    extensions = use_srtp + groups
    if hello_type == 1:
        suites = struct.pack("!HHH", 4, 0xC02B, 0xC02F)
        body = b"\xfe\xfd" + rng.randbytes(32) + b"\x00" + b"\x00" + suites + b"\x01\x00"
    else:
        body = b"\xfe\xfd" + rng.randbytes(32) + b"\x00" + struct.pack("!H", 0xC02B) + b"\x00"
    body += struct.pack("!H", len(extensions)) + extensions
    length = len(body).to_bytes(3, "big")
    handshake = bytes([hello_type]) + length + b"\x00\x00" + b"\x00\x00\x00" + length + body
    return b"\x16\xfe\xfd" + b"\x00\x00" + b"\x00" * 6 + struct.pack("!H", len(handshake)) + handshake


def webrtc(rng: random.Random, n: int) -> tuple[FlowPlan, ...]:
    """A libwebrtc call (RFC 8825 family): ICE check with GOOG-NETWORK-INFO, DTLS-SRTP, Opus over SRTP."""
    req, resp = _ice_check(rng, [(stun.GOOG_NETWORK_INFO, struct.pack("!HH", 1, 10))])
    opening = [Segment(0.0, True, req), Segment(0.06, False, resp),
               Segment(0.07, True, _dtls_hello(rng, 1)), Segment(0.13, False, _dtls_hello(rng, 2))]
    media = rtp_media(rng, OPUS, max(n - 4, 2), 0.2, srtp_tag=10, payload_type=111)
    return (FlowPlan(MEDIA, "udp", 3478, tuple(opening + media), OPUS.ip_kbps + 4),)


def _reflector(tag: bytes, tl_id: int, body: bytes) -> bytes:
    return tag + b"\xff" * 12 + struct.pack("<I", tl_id) + body


def telegram(rng: random.Random, n: int) -> tuple[FlowPlan, ...]:
    """Telegram through a reflector (libtgvoip): UDP ping and SELF_INFO answer, then 60 ms encrypted Opus.

    Every packet starts with the call's 16-byte peer tag; the reflector's own messages then
    carry 12×0xFF and a TL id (ping 0xFFFFFFFE, SELF_INFO 0xc01572c7); media is MTProto 2.0
    (a 16-byte message key and AES-IGE ciphertext). Reflectors listen on UDP 500-600.
    """
    # the tag is random; drawn here without 0xFF bytes, which nDPI's Telegram dissector (the first
    # run of 0xFF must be the 12 bytes) would trip on, as it does on the real ones that have one
    tag, query = bytes(rng.randrange(255) for _ in range(16)), rng.randbytes(8)
    self_info = struct.pack("<i", 1700000000) + query + b"\0" * 10 + b"\xff\xff" + rng.randbytes(4) + \
        struct.pack("<i", rng.randint(1024, 65535))
    opening = [Segment(0.0, True, _reflector(tag, 0xFFFFFFFE, query)),
               Segment(0.07, False, _reflector(tag, 0xC01572C7, self_info))]
    media = [Segment(0.1 + (i // 2) * 0.06 + (i % 2) * 0.004, i % 2 == 0,
                     tag + rng.randbytes(16) + rng.randbytes(16 * rng.randint(5, 8)))
             for i in range(max(n - 2, 2))]
    return (FlowPlan(MEDIA, "udp", 599, tuple(opening + media), 30.0),)


def messenger(rng: random.Random, n: int) -> tuple[FlowPlan, ...]:
    """Messenger's call: TURN Allocate (RFC 8656) to Meta's relay, 401 with its REALM, Allocate again, SRTP."""
    txid1, txid2 = _txid(rng), _txid(rng)
    realm, nonce = b"turner.facebook", rng.randbytes(16).hex().encode()
    transport = [(stun.REQUESTED_TRANSPORT, b"\x11\0\0\0")]
    opening = [
        Segment(0.0, True, stun.build(stun.ALLOCATE_REQUEST, txid1, transport)),
        Segment(0.06, False, stun.build(0x0113, txid1, [(stun.ERROR_CODE, b"\0\0\x04\x01Unauthorized"),
                                                        (stun.REALM, realm), (stun.NONCE, nonce)])),
        Segment(0.07, True, stun.build(stun.ALLOCATE_REQUEST, txid2, transport + [
            (stun.USERNAME, rng.randbytes(12).hex().encode()), (stun.REALM, realm), (stun.NONCE, nonce),
            (stun.MESSAGE_INTEGRITY, rng.randbytes(20))])),
        Segment(0.13, False, stun.build(stun.ALLOCATE_RESPONSE, txid2, [
            (stun.XOR_RELAYED_ADDRESS, stun.xor_address(rng.randbytes(4), rng.randint(40000, 65535))),
            (stun.XOR_MAPPED_ADDRESS, stun.xor_address(rng.randbytes(4), rng.randint(1024, 65535))),
            (stun.LIFETIME, struct.pack("!I", 600)), (stun.MESSAGE_INTEGRITY, rng.randbytes(20))])),
    ]
    media = rtp_media(rng, OPUS, max(n - 4, 2), 0.2, srtp_tag=10, payload_type=111)
    return (FlowPlan(MEDIA, "udp", 3478, tuple(opening + media), OPUS.ip_kbps + 4),)


def facetime(rng: random.Random, n: int) -> tuple[FlowPlan, ...]:
    """FaceTime, generic: Apple publishes ports (UDP 3478-3497, 16384-16387, 16393-16402), no framing.

    So: a plain ICE check and SRTP (AAC-ELD at 20 ms, sizes like Opus) to a FaceTime port.
    """
    req, resp = _ice_check(rng, [])
    opening = [Segment(0.0, True, req), Segment(0.07, False, resp)]
    media = rtp_media(rng, OPUS, max(n - 2, 2), 0.1, srtp_tag=10, payload_type=104)
    return (FlowPlan(MEDIA, "udp", 16393, tuple(opening + media), OPUS.ip_kbps + 4),)


def zoom(rng: random.Random, n: int) -> tuple[FlowPlan, ...]:
    """Zoom to its multimedia router on UDP 8801: SFU session packets (types 1 and 2), then type-5
    media packets whose encapsulation (type 15, audio) carries RTP 19 bytes in."""
    seq = rng.getrandbits(15)

    def sfu(kind: int, body: bytes, up: bool, number: int) -> bytes:   # the 8-byte SFU header
        head = struct.pack("!BHI", kind, (seq + number) & 0xFFFF, rng.getrandbits(32))
        return head + (b"\x00" if up else b"\x04") + body

    opening = [Segment(0.0, True, b"\x01\x00\x03" + rng.randbytes(90)),
               Segment(0.05, False, b"\x02\x00\x03" + rng.randbytes(40))]

    def wrap(packet: bytes, frame: int) -> bytes:
        media_head = b"\x0f" + rng.randbytes(8) + struct.pack("!HI", frame & 0xFFFF, frame * 960) + rng.randbytes(4)
        return sfu(5, media_head + packet, True, frame)

    media = rtp_media(rng, OPUS, max(n - 2, 2), 0.08, wrap=wrap, srtp_tag=4, payload_type=112)
    return (FlowPlan(MEDIA, "udp", 8801, tuple(opening + media), OPUS.ip_kbps + 10),)


def teams(rng: random.Random, n: int) -> tuple[FlowPlan, ...]:
    """Teams to its media relay (UDP 3478): TURN Allocate with [MS-TURN]'s MS-VERSION (0x8008) and
    MS-SEQUENCE-NUMBER (0x8050), then SRTP (SILK/Satin at 20 ms)."""
    txid = _txid(rng)
    ms = [(0x8008, struct.pack("!I", 6)), (0x8050, rng.randbytes(20) + struct.pack("!I", 1))]
    req = stun.build(stun.ALLOCATE_REQUEST, txid, ms + [(stun.USERNAME, rng.randbytes(24).hex().encode()),
                                                        (stun.MESSAGE_INTEGRITY, rng.randbytes(20))])
    resp = stun.build(stun.ALLOCATE_RESPONSE, txid, [
        (stun.XOR_RELAYED_ADDRESS, stun.xor_address(rng.randbytes(4), rng.randint(50000, 59999))),
        (stun.LIFETIME, struct.pack("!I", 480)), (0x8008, struct.pack("!I", 6)),
        (stun.MESSAGE_INTEGRITY, rng.randbytes(20))])
    opening = [Segment(0.0, True, req), Segment(0.05, False, resp)]
    media = rtp_media(rng, SILK, max(n - 2, 2), 0.1, srtp_tag=4)
    return (FlowPlan(MEDIA, "udp", 3478, tuple(opening + media), SILK.ip_kbps + 4),)


PROFILES: dict[str, AppProfile] = {p.name: p for p in (
    AppProfile("whatsapp", "WhatsApp call", catalog.VOIP, CALL, OPUS, 1.5, whatsapp),
    AppProfile("viber", "Viber call", catalog.VOIP, CALL, OPUS, 1.5, viber),
    AppProfile("skype", "Skype call", catalog.VOIP, CALL, SILK, 2.0, skype),
    AppProfile("imo", "Imo call", catalog.VOIP, CALL, OPUS, 1.5, imo),
    AppProfile("sip", "operator call (SIP)", catalog.VOIP, CALL, G711, 1.5, operator_sip, ott=False),
    AppProfile("telegram", "Telegram call (reflector)", catalog.VOIP, CALL, OPUS, 1.5, telegram),
    AppProfile("messenger", "Messenger call (TURN)", catalog.VOIP, CALL, OPUS, 1.5, messenger),
    AppProfile("zoom", "Zoom call (SFU)", catalog.VOIP, CALL, OPUS, 2.0, zoom),
    AppProfile("teams", "Teams call (MS-TURN)", catalog.VOIP, CALL, SILK, 2.0, teams),
    AppProfile("facetime", "FaceTime call (generic STUN+SRTP: no published framing)", catalog.VOIP, CALL, OPUS, 1.5,
               facetime),
    AppProfile("webrtc", "WebRTC call (generic libwebrtc)", catalog.VOIP, CALL, OPUS, 1.5, webrtc),
    AppProfile("botim", "BOTIM call (generic WebRTC: no published protocol)", catalog.VOIP, CALL, OPUS, 1.5,
               webrtc),
    # flow lifetimes: a web page's transfer, a game session, a chat session kept open
    AppProfile("web", "web (HTTPS)", catalog.WEB, FLOW, None, 0, web, mean_s=2.0),
    AppProfile("game", "online game", catalog.GAME, FLOW, None, 0, game, mean_s=900.0),
    AppProfile("whatsapp_chat", "WhatsApp chat", catalog.CHAT, FLOW, None, 0, whatsapp_chat, mean_s=60.0),
)}

CALL_APPS = [name for name, p in PROFILES.items() if p.kind == CALL]
FLOW_APPS = [name for name, p in PROFILES.items() if p.kind == FLOW]
