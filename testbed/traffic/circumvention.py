"""Circumvention strategies: how users re-wrap their calls to get past the DPI.

Each strategy turns a call's flow plans into what the operator sees instead:
- ``vpn``: one OpenVPN tunnel (UDP 1194) to a VPN server; everything inside is encrypted.
- ``vpn-tcp443``: OpenVPN over TCP port 443, to look like HTTPS.
- ``turn-tcp443``: the media relayed by a standard TURN server (coturn) over TCP 443,
  in ChannelData frames; no app attributes in the STUN exchange.
- ``port-hopping``: the app's own payloads on random high ports.
- ``obfuscation``: the app's packets fully encrypted and padded: no header or attribute
  left to match; only size and timing remain.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Callable
from dataclasses import dataclass, replace

from testbed.packets import stun, tls, turn, vpn
from testbed.traffic.apps import MEDIA, FlowPlan, Segment

HEADER_BYTES = {"udp": 20 + 8, "tcp": 20 + 20}   # IPv4 + UDP / TCP without options
OVERHEAD_SAMPLE = 8                               # media packets compared to measure a strategy's overhead


@dataclass(frozen=True)
class Strategy:
    name: str
    description: str
    via: str | None            # the server profile the traffic goes through ("vpn", "turn")
    over_tcp: bool             # a TCP stream: losses are retransmitted, late, in order
    setup_rtts: float          # round trips to the first hop a call needs before the app's own packets
    transform: Callable[[tuple[FlowPlan, ...], random.Random], tuple[FlowPlan, ...]]


def media_packet_bytes(plans: tuple[FlowPlan, ...]) -> float:
    """The mean size on the wire of the last media packets of a call's flows (what its media
    phase repeats), IP and L4 headers included; 0 without media."""
    sizes = [len(s.payload) + HEADER_BYTES[p.l4] for p in plans if p.role == MEDIA for s in p.segments]
    tail = sizes[-OVERHEAD_SAMPLE:]
    return sum(tail) / len(tail) if tail else 0.0


def overhead_bytes(strategy: Strategy, inner: tuple[FlowPlan, ...], rng: random.Random) -> float:
    """What ``strategy`` adds to each of the app's media packets on the wire, measured on the
    bytes it builds: the app's last media packets wrapped on their own, their mean size (IP and
    L4 headers included) minus that of the same packets unwrapped."""
    media = [p for p in inner if p.role == MEDIA]
    if not media:
        return 0.0
    sample = replace(media[-1], segments=media[-1].segments[-OVERHEAD_SAMPLE:])
    wrapped = [p for p in strategy.transform((sample,), rng) if p.role == MEDIA]
    after = [len(s.payload) + HEADER_BYTES[p.l4] for p in wrapped for s in p.segments][-len(sample.segments):]
    before = [len(s.payload) + HEADER_BYTES[sample.l4] for s in sample.segments]
    return sum(after) / len(after) - sum(before) / len(before)


def _merged(plans: tuple[FlowPlan, ...]) -> list[Segment]:
    return sorted((s for p in plans for s in p.segments), key=lambda s: s.t)


def _openvpn(tcp: bool) -> Callable[[tuple[FlowPlan, ...], random.Random], tuple[FlowPlan, ...]]:
    def transform(plans: tuple[FlowPlan, ...], rng: random.Random) -> tuple[FlowPlan, ...]:
        return openvpn_tunnel(plans, rng, tcp)
    return transform


def openvpn_tunnel(plans: tuple[FlowPlan, ...], rng: random.Random, tcp: bool) -> tuple[FlowPlan, ...]:
    """OpenVPN 2.6 as providers configure it (TLS with ``tls-auth``, SHA1), in the order the real
    daemon sends its packets (recorded in emulation, ``testbed.emu.openvpn``): the hard resets,
    the TLS 1.3 handshake in P_CONTROL_V1 packets that carry their ACKs along, a few bare ACKs,
    the key exchange and the pushed options, then the media in P_DATA_V2."""
    sid, key = (rng.randbytes(8), rng.randbytes(8)), rng.randbytes(20)
    replay = [1, 1]          # tls-auth replay packet ids, per sender
    when = int(1_450_000_000 + rng.random() * 3e7)

    def control(up: bool, opcode: int, packet_id: int, payload: bytes = b"", ack: int | None = None) -> bytes:
        me = 0 if up else 1
        out = vpn.openvpn_control(opcode, sid[me], packet_id, payload, tcp=tcp, tls_auth=key,
                                  replay_id=replay[me], net_time=when,
                                  acks=() if ack is None else (ack,), remote_session=sid[1 - me])
        replay[me] += 1
        return out

    def sealed(size: int) -> bytes:
        return b"".join(tls.encrypted(rng.randbytes(size)))

    client_hello = tls.client_hello("", rng.randbytes(32), rng.randbytes(32))   # OpenVPN names no server
    server_hello = (tls.server_hello(rng.randbytes(32), client_hello[44:76], rng.randbytes(32))
                    + tls.change_cipher_spec() + sealed(rng.randint(950, 1050)))
    ctl, ack = vpn.OPENVPN_CONTROL_V1, vpn.OPENVPN_ACK_V1
    steps = [  # (seconds, client → server, opcode, message packet id, TLS bytes, acknowledged packet id)
        (0.0, True, vpn.OPENVPN_HARD_RESET_CLIENT_V2, 0, b"", None),
        (0.05, False, vpn.OPENVPN_HARD_RESET_SERVER_V2, 0, b"", 0),
        (0.051, True, ctl, 1, client_hello, 0),
        (0.10, False, ctl, 1, server_hello, 1),
        (0.101, False, ctl, 2, sealed(rng.randint(120, 200)), None),
        (0.102, True, ack, 0, b"", 1),
        (0.15, True, ctl, 2, tls.change_cipher_spec() + sealed(rng.randint(1000, 1100)), 2),
        (0.151, True, ctl, 3, sealed(rng.randint(250, 350)), None),
        (0.20, False, ack, 0, b"", 2),
        (0.201, False, ctl, 3, sealed(rng.randint(180, 260)), 3),
        (0.25, True, ack, 0, b"", 3),
        (0.251, True, ctl, 4, sealed(rng.randint(300, 380)), None),
        (0.30, False, ack, 0, b"", 4),
        (0.301, False, ctl, 4, sealed(rng.randint(230, 300)), None),
        (0.35, True, ack, 0, b"", 4),
    ]
    hello = [Segment(t, up, control(up, op, pid, payload, acked)) for t, up, op, pid, payload, acked in steps]
    # the inner IP/UDP headers (28 B) travel encrypted, plus a 16 B tag and 4 B packet id
    data = [replace(s, t=0.4 + s.t, payload=vpn.openvpn_data(1, rng.randbytes(len(s.payload) + 48), tcp=tcp))
            for s in _merged(plans)]
    kbps = sum(p.kbps for p in plans)
    return (FlowPlan(MEDIA, "tcp" if tcp else "udp", 443 if tcp else 1194, tuple(hello + data), kbps),)


TURN_USER, TURN_PASSWORD, TURN_REALM = "testbed", "testbed-turn-secret", "turn.testbed.example"


def _ip(rng: random.Random) -> str:
    return socket.inet_ntoa(rng.randbytes(4))


def _turn_tcp(plans: tuple[FlowPlan, ...], rng: random.Random) -> tuple[FlowPlan, ...]:
    """A real TURN exchange (``testbed.packets.turn``: 401, then long-term credentials with valid
    MESSAGE-INTEGRITY and FINGERPRINT), then the media in padded ChannelData."""
    client = turn.TurnClient(TURN_USER, TURN_PASSWORD, rng)
    server = turn.TurnServer(TURN_REALM, TURN_PASSWORD, (_ip(rng), rng.randint(49152, 65535)),
                             rng.randbytes(8).hex().encode())
    me, peer = (_ip(rng), rng.randint(1024, 65535)), (_ip(rng), rng.randint(1024, 65535))
    opening: list[Segment] = []
    t = 0.0

    def exchange(request: bytes) -> None:
        nonlocal t
        while True:
            answer = server.answer(request, me)
            opening.extend([Segment(t, True, request), Segment(t + 0.05, False, answer)])
            t += 0.06
            again = client.on_message(answer)
            if again is None:
                return
            request = again

    exchange(client.allocate())
    exchange(client.create_permission(peer[0]))
    exchange(client.channel_bind(turn.FIRST_CHANNEL, *peer))
    media = [replace(s, t=t + s.t, payload=stun.channel_data(turn.FIRST_CHANNEL, s.payload))
             for p in plans if p.role == MEDIA for s in p.segments]
    return (FlowPlan(MEDIA, "tcp", 443, tuple(opening + media), sum(p.kbps for p in plans if p.role == MEDIA)),)


def _port_hopping(plans: tuple[FlowPlan, ...], rng: random.Random) -> tuple[FlowPlan, ...]:
    return tuple(FlowPlan(p.role, p.l4, rng.randint(20000, 65000), p.segments, p.kbps) for p in plans)


def _obfuscation(plans: tuple[FlowPlan, ...], rng: random.Random) -> tuple[FlowPlan, ...]:
    return tuple(FlowPlan(p.role, p.l4, p.server_port,
                          tuple(replace(s, payload=rng.randbytes(len(s.payload) + rng.randint(0, 16)))
                                for s in p.segments), p.kbps + 3) for p in plans)


def _none(plans: tuple[FlowPlan, ...], rng: random.Random) -> tuple[FlowPlan, ...]:
    return plans


STRATEGIES: dict[str, Strategy] = {s.name: s for s in (
    Strategy("none", "the app as it is", None, False, 0, _none),
    # the tunnel is up before the call (set up once per subscriber): no round trips of its own
    Strategy("vpn", "OpenVPN over UDP 1194", "vpn", False, 0, _openvpn(tcp=False)),
    Strategy("vpn-tcp443", "OpenVPN over TCP 443", "vpn", True, 0, _openvpn(tcp=True)),
    # per call: the TCP handshake, Allocate (401, then authenticated), CreatePermission, ChannelBind
    Strategy("turn-tcp443", "TURN (coturn) over TCP 443, ChannelData", "turn", True, 5, _turn_tcp),
    Strategy("port-hopping", "the app on random high ports", None, False, 0, _port_hopping),
    Strategy("obfuscation", "encrypted, padded packets: no header left to match", None, False, 0, _obfuscation),
)}
