"""The applications the DPI can name, with their category (nDPI's names where it has one).

Policies refer to these names; ``testbed check`` rejects a name not listed here.
"""

from __future__ import annotations

VOIP = "VoIP"
CHAT = "Chat"
VPN = "VPN"
WEB = "Web"
NETWORK = "Network"
GAME = "Game"
UNKNOWN = "Unknown"

APPS: dict[str, str] = {
    # calls of the apps the 2016 block targeted, and their peers
    "WhatsAppCall": VOIP,
    "Viber": VOIP,
    "ViberVoip": VOIP,
    "Skype_TeamsCall": VOIP,
    "IMO": VOIP,
    "GoogleCall": VOIP,
    "FacebookVoip": VOIP,
    "SignalVoip": VOIP,
    "TelegramVoip": VOIP,
    "WebRTC": VOIP,   # an ICE check of libwebrtc (GOOG-NETWORK-INFO) whose app is not named
    "Fuze": VOIP,
    # standard VoIP
    "SIP": VOIP,
    "RTP": VOIP,
    "RTCP": VOIP,
    "SRTP": VOIP,
    "H323": VOIP,
    "IAX": VOIP,
    "MGCP": VOIP,
    "CiscoSkinny": VOIP,
    "RTPLike": VOIP,  # the behavioural detector's name for unnamed media
    # messaging of the same apps: must keep working
    "WhatsApp": CHAT,
    "Telegram": CHAT,
    "Signal": CHAT,
    "ViberChat": CHAT,  # Viber's HTTPS (media, stickers): its calls run on its own framings
    # tunnels
    "OpenVPN": VPN,
    "WireGuard": VPN,
    # everything else we name
    "STUN": NETWORK,
    "DTLS": NETWORK,
    "DNS": NETWORK,
    "TLS": WEB,
    "HTTP": WEB,
    "QUIC": WEB,
}

CATEGORIES = sorted(set(APPS.values()) | {UNKNOWN})

# Apps whose calls move between 5-tuples from one socket: a UDP endpoint that
# carried one of them keeps the app for its next flows (see testbed.dpi.endpoints).
CALL_APPS = frozenset({"WhatsAppCall", "Viber", "ViberVoip", "Skype_TeamsCall", "IMO", "GoogleCall",
                       "FacebookVoip", "SignalVoip", "TelegramVoip", "WebRTC"})


def category_of(app: str | None) -> str:
    return APPS.get(app or "", UNKNOWN)
