"""The applications the DPI can name, with their category (nDPI's names and categories).

Policies refer to these names; ``testbed check`` rejects a name not listed here.
The categories follow nDPI's, the corpus's referee: RTP and SRTP are Media (a
stream, not yet a call of anyone), Zoom is Video, Teams and Discord are
Collaborative. A policy against calling apps names the apps it means.
"""

from __future__ import annotations

VOIP = "VoIP"
CHAT = "Chat"
VPN = "VPN"
WEB = "Web"
NETWORK = "Network"
GAME = "Game"
MEDIA = "Media"
VIDEO = "Video"
COLLABORATIVE = "Collaborative"
SOCIAL = "SocialNetwork"
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
    # calling apps beyond the 2016 block
    "FaceTime": VOIP,
    "Webex": VOIP,
    "LineCall": VOIP,
    "KakaoTalk_Voice": VOIP,
    "SnapchatCall": VOIP,
    "Mumble": VOIP,
    "TeamSpeak": VOIP,
    "Zoom": VIDEO,
    "Teams": COLLABORATIVE,
    "Discord": COLLABORATIVE,
    # standard VoIP
    "SIP": VOIP,
    "RTCP": VOIP,
    "RTP": MEDIA,     # a media stream: whose call it is shows elsewhere (signalling, endpoints)
    "SRTP": MEDIA,
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
    "Messenger": CHAT,
    "Line": CHAT,
    "KakaoTalk": CHAT,
    "GoogleMeet": CHAT,  # meet.google.com, the web page (nDPI's category); its media is GoogleCall
    "Facebook": SOCIAL,
    "Snapchat": SOCIAL,
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
                       "FacebookVoip", "SignalVoip", "TelegramVoip", "WebRTC", "FaceTime", "Webex",
                       "LineCall", "KakaoTalk_Voice", "SnapchatCall", "Zoom", "Discord"})


def category_of(app: str | None) -> str:
    return APPS.get(app or "", UNKNOWN)
