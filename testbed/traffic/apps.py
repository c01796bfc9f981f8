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


PROFILES: dict[str, AppProfile] = {p.name: p for p in (
    AppProfile("whatsapp", "WhatsApp call", catalog.VOIP, CALL, OPUS, 1.5, whatsapp),
    AppProfile("viber", "Viber call", catalog.VOIP, CALL, OPUS, 1.5, viber),
    AppProfile("skype", "Skype call", catalog.VOIP, CALL, SILK, 2.0, skype),
    AppProfile("imo", "Imo call", catalog.VOIP, CALL, OPUS, 1.5, imo),
    AppProfile("sip", "operator call (SIP)", catalog.VOIP, CALL, G711, 1.5, operator_sip, ott=False),
    # flow lifetimes: a web page's transfer, a game session, a chat session kept open
    AppProfile("web", "web (HTTPS)", catalog.WEB, FLOW, None, 0, web, mean_s=2.0),
    AppProfile("game", "online game", catalog.GAME, FLOW, None, 0, game, mean_s=900.0),
    AppProfile("whatsapp_chat", "WhatsApp chat", catalog.CHAT, FLOW, None, 0, whatsapp_chat, mean_s=60.0),
)}

CALL_APPS = [name for name, p in PROFILES.items() if p.kind == CALL]
FLOW_APPS = [name for name, p in PROFILES.items() if p.kind == FLOW]
