"""One signature a protocol. ``default_signatures()`` is the engine's set, in the order tried."""

from __future__ import annotations

from testbed.dpi.signature import Signature


def default_signatures() -> list[Signature]:
    from testbed.dpi.signatures.rtp import Rtcp, Rtp
    from testbed.dpi.signatures.sip import Sip
    from testbed.dpi.signatures.stun import Stun
    from testbed.dpi.signatures.tls import Tls
    from testbed.dpi.signatures.vpn import OpenVpn, WireGuard
    from testbed.dpi.signatures.whatsapp import WhatsAppChat

    return [Stun(), Sip(), WhatsAppChat(), Tls(), OpenVpn(), WireGuard(), Rtcp(), Rtp()]
