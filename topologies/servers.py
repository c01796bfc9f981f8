"""The internet side every topology shares: app relays, STUN/TURN, VPN, web, game.

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
)
