"""The internet side every topology shares: app relays, STUN/TURN, VPN, web, game, outside SIP.

Addresses are in the ranges the real services used, so address-based policies
behave as they did (e.g. WhatsApp's relay and chat servers share a Facebook /16).
"""

from __future__ import annotations

# name, address, traffic profiles it serves
INTERNET_SERVERS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("tbwa", "157.240.1.60/24", ("whatsapp",)),
    ("tbwac", "157.240.1.53/24", ("whatsapp_chat",)),
    ("tbvb", "52.0.252.2/24", ("viber",)),
    ("tbsk", "52.114.0.10/24", ("skype",)),
    ("tbimo", "185.155.137.30/24", ("imo",)),
    ("tbweb", "93.184.216.34/24", ("web",)),
    ("tbgame", "162.254.193.6/24", ("game",)),
    ("tbvpn", "198.51.100.10/24", ("vpn",)),
    ("tbturn", "198.51.100.20/24", ("turn",)),
    # a SIP service outside the operators (an international VoIP provider): what ANRT's decision
    # 04-04 reserves to licensed operators; SIPp answers there in emulation (testbed.emu.sipp)
    ("tbsipx", "203.0.113.50/24", ("sip_outside",)),
)

# The calling apps beyond the 2016 block, in the blocks endpoints/*.yaml lists for them. A
# topology builds them on request (operator_edge: calling_apps: 1): each is one more host,
# and one more agent process in an emulation.
CALLING_APP_SERVERS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("tbtg", "91.108.56.130/24", ("telegram",)),        # Telegram's AS62041
    ("tbfbm", "31.13.70.20/24", ("messenger",)),        # Meta, outside WhatsApp's published list
    ("tbzm", "170.114.0.10/24", ("zoom",)),             # Zoom's published ranges
    ("tbtm", "52.113.0.20/24", ("teams",)),             # Microsoft 365's Teams media relays
    ("tbft", "17.188.178.10/24", ("facetime",)),        # Apple's AS714
    ("tbrtc", "198.51.100.40/24", ("webrtc",)),         # a generic WebRTC service: documentation range
    ("tbbo", "198.51.100.30/24", ("botim",)),           # BOTIM publishes no ranges: documentation range
)

# What OONI's app tests reach (testbed.probe.ooni): the subscribers' DNS resolver, and one front end
# per app that serves TCP, TLS and HTTP under every name of the app's test (they all resolve to it).
# name, address, role, the apps whose test it answers
PROBE_SERVERS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("tbdns", "8.8.8.8/24", "resolver", ()),                     # a public resolver: queries cross the DPI
    ("tbwafe", "157.240.1.54/24", "frontend", ("whatsapp",)),   # e1-16.whatsapp.net, v. and web.whatsapp.com
)
# with the calling apps beyond 2016 (calling_apps: 1)
CALLING_APP_FRONT_ENDS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("tbtgfe", "149.154.167.51/24", "frontend", ("telegram",)),  # an access point ts-020 tries (AS62041)
    ("tbfbfe", "31.13.86.8/24", "frontend", ("messenger",)),     # star.c10r.facebook.com in ts-019 (AS32934)
)
