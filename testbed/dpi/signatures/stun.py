"""STUN/TURN (RFC 5389/5766/8489) and the apps that reveal themselves in it.

A valid STUN message alone names no app (``STUN``, not final): every WebRTC
page, game and VPN client uses it. The app shows in what it adds:
- WhatsApp: TURN Allocate with its own attributes 0x4000-0x4007 and its own
  message types 0x0800-0x0805 (nDPI stun.c; seen in every WhatsApp call capture).
- Skype/Teams: Microsoft attributes of [MS-ICE2] (0x8054 CANDIDATE-IDENTIFIER,
  0x8070 IMPLEMENTATION-VERSION) and [MS-TURN] (0x8008 MS-VERSION, 0x8050
  MS-SEQUENCE-NUMBER, 0x8055 MS-SERVICE-QUALITY, 0x8090-0x8095 bandwidth management).
- Google, Facebook/Messenger, Signal, Telegram, Viber: the REALM of their TURN servers.
- Zoom: attributes 0x0101 and 0x0103 in its STUN (nDPI stun.c).
- libwebrtc (Chrome, Meet, Duo, Messenger...): 0xC057 GOOG-NETWORK-INFO in ICE checks.
Microsoft's TURN servers may multiplex several sessions on one flow ([MS-TURN]
§2.2.3): a 12-byte header (type 0xFF10, length, session id) before each message.
"""

from __future__ import annotations

import struct

from testbed.dpi.flow import Flow
from testbed.dpi.signature import Detection, Pkt, Signature
from testbed.packets import stun
from testbed.packets.ip import TCP, UDP

WHATSAPP_ATTRS = frozenset(range(0x4000, 0x4008))
WHATSAPP_TYPES = frozenset(range(0x0800, 0x0806))
MICROSOFT_ATTRS = frozenset({0x8008, 0x8050, 0x8054, 0x8055, 0x8070} | set(range(0x8090, 0x8096)))
GOOGLE_ATTRS = frozenset({0xFF03, 0xFF04})  # Google's legacy ICE attributes (nDPI: Hangout/Duo)
ZOOM_ATTRS = frozenset({0x0101, 0x0103})
MS_MULTIPLEXED = b"\xff\x10"

# REALM suffix of a TURN server → app (RFC 5389 §15.7: the realm names the server's domain)
REALMS = (
    ("google.com", "GoogleCall"),
    ("facebook", "FacebookVoip"),    # turner.facebook, *.facebook.com
    ("whispersystems.org", "SignalVoip"),
    ("signal.org", "SignalVoip"),
    ("viber.com", "ViberVoip"),
    ("telegram", "TelegramVoip"),    # nDPI stun.c: any realm naming Telegram
    ("whatsapp", "WhatsAppCall"),
)

# STUN/TURN methods of RFC 5389/5766/6062 (binding, allocate, refresh, send, data,
# create-permission, channel-bind, connect, connection-bind, connection-attempt)
METHODS = frozenset({1, 3, 4, 6, 7, 8, 9, 10, 11, 12})


_UDP_LEADS = frozenset({0x00, 0x01, 0x08, 0xFF})  # types below 0x0200, WhatsApp's 0x08xx, MS-TURN 0xFF10
# over TCP an RFC 4571 length may come first: its top byte, for messages under 1 KiB
_TCP_LEADS = _UDP_LEADS | {0x02, 0x03}


def _realm_app(realm: bytes) -> str | None:
    text = realm.decode("ascii", "replace").lower()
    for part, app in REALMS:
        if part in text:
            return app
    return None


def app_of(msg: stun.StunMessage) -> tuple[str, str] | None:
    """(app, reason) when a message carries an app's fingerprint."""
    if msg.msg_type in WHATSAPP_TYPES:
        return "WhatsAppCall", f"STUN message type 0x{msg.msg_type:04x}"
    for kind, value in msg.attributes:
        if kind in WHATSAPP_ATTRS:
            return "WhatsAppCall", f"STUN attribute 0x{kind:04x}"
        if kind in MICROSOFT_ATTRS:
            return "Skype_TeamsCall", f"STUN attribute 0x{kind:04x} (Microsoft MS-ICE2/MS-TURN)"
        if kind in GOOGLE_ATTRS:
            return "GoogleCall", f"STUN attribute 0x{kind:04x} (Google)"
        if kind in ZOOM_ATTRS:
            return "Zoom", f"STUN attribute 0x{kind:04x} (Zoom)"
        if kind == stun.REALM:
            app = _realm_app(value)
            if app is not None:
                return app, f"STUN REALM '{value.decode('ascii', 'replace')}'"
    for kind, _ in msg.attributes:
        if kind == stun.GOOG_NETWORK_INFO:
            return "WebRTC", "STUN attribute 0xc057 GOOG-NETWORK-INFO (libwebrtc ICE check)"
    return None


def parse_stun(payload: bytes, proto: int) -> stun.StunMessage | None:
    """A STUN message as UDP carries it, or TCP with or without RFC 4571 framing."""
    if len(payload) < 20:
        return None
    if payload[:2] == MS_MULTIPLEXED and len(payload) >= 32 \
            and struct.unpack_from("!H", payload, 2)[0] + 4 == len(payload):
        payload = payload[12:]
    msg = stun.parse(payload)
    if msg is None and proto == TCP and len(payload) >= 22 \
            and struct.unpack_from("!H", payload)[0] == len(payload) - 2:
        msg = stun.parse(payload[2:])
    if msg is None:
        return None
    if msg.msg_type in WHATSAPP_TYPES:
        return msg
    if msg.method not in METHODS or not msg.cookie and msg.method != 1:
        return None  # classic RFC 3489 STUN (no magic cookie) had only Binding
    return msg


class Stun(Signature):
    name = "stun"
    protos = frozenset({UDP, TCP})

    def leads(self, proto: int) -> frozenset[int] | None:
        return _UDP_LEADS if proto == UDP else _TCP_LEADS

    def inspect(self, pkt: Pkt, flow: Flow) -> Detection | None:
        msg = parse_stun(pkt.payload, pkt.proto)
        if msg is None:
            return None
        found = app_of(msg)
        if found is not None:
            app, reason = found
            return Detection(app, f"{reason} in packet {pkt.index}")
        if "STUN" in flow.labels:
            return None
        kind = "classic STUN" if not msg.cookie else "STUN"
        return Detection("STUN", f"{kind} message 0x{msg.msg_type:04x} in packet {pkt.index}", final=False)
