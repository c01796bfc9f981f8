"""One signature a protocol. ``default_signatures()`` is the engine's set, in the order tried."""

from __future__ import annotations

from testbed.dpi.signature import Signature


def default_signatures() -> list[Signature]:
    """Cheap and specific first; RTP/RTCP last, as they need the most packets."""
    from testbed.dpi.signatures.discord import Discord
    from testbed.dpi.signatures.dtls import Dtls
    from testbed.dpi.signatures.h323 import H323
    from testbed.dpi.signatures.iax import Iax
    from testbed.dpi.signatures.imo import Imo
    from testbed.dpi.signatures.line import LineCall, LineCounter
    from testbed.dpi.signatures.mgcp import Mgcp
    from testbed.dpi.signatures.mumble import Mumble
    from testbed.dpi.signatures.quic import Quic
    from testbed.dpi.signatures.rtp import Rtcp, Rtp
    from testbed.dpi.signatures.sip import Sip
    from testbed.dpi.signatures.skinny import Skinny
    from testbed.dpi.signatures.stun import Stun
    from testbed.dpi.signatures.teamspeak import TeamSpeak
    from testbed.dpi.signatures.telegram import TelegramRelay
    from testbed.dpi.signatures.tls import Tls
    from testbed.dpi.signatures.viber import Viber
    from testbed.dpi.signatures.vpn import OpenVpn, WireGuard
    from testbed.dpi.signatures.whatsapp import WhatsAppChat
    from testbed.dpi.signatures.zoom import Zoom

    return [Stun(), Viber(), Imo(), TelegramRelay(), Zoom(), Discord(), Mumble(), TeamSpeak(), LineCall(),
            Sip(), Mgcp(), H323(), Iax(), Skinny(), WhatsAppChat(), Tls(), Quic(), OpenVpn(), WireGuard(),
            LineCounter(), Dtls(), Rtcp(), Rtp()]
