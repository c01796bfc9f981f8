"""Naming flows by what is known around them: the servers' owners and the call's own signalling.

Three sources, all combined with what the packets show (never an address alone
for a call):
- endpoint knowledge (``knowledge.py``, ``endpoints/*.yaml``): a flow to a
  service's block that shows a call — STUN, DTLS, RTP/RTCP, voice-like timing —
  is that service's call app; a TLS/QUIC server name is the service's app; a flow
  with nothing recognised in a block is the service's non-call app.
- sockets: a UDP endpoint that carried a call keeps its app for its next flows
  (``endpoints.py``, what nDPI does with its STUN cache).
- announcements: STUN/TURN XOR-*-ADDRESS attributes and SDP bodies name the
  endpoints of the call's next flows (``announce.py``), which are then named
  from their first packet. A flow announces at most ``MAX_ANNOUNCED`` endpoints,
  so one flow cannot flush the bounded memory.
"""

from __future__ import annotations

from testbed.dpi import announce
from testbed.dpi.catalog import CALL_APPS
from testbed.dpi.endpoints import EndpointMemory, endpoint_text
from testbed.dpi.flow import Flow
from testbed.dpi.knowledge import Knowledge, Known
from testbed.dpi.signature import Detection, Pkt
from testbed.dpi.signatures.stun import parse_stun
from testbed.packets import sip
from testbed.packets.ip import UDP

EVIDENCE = frozenset({"STUN", "DTLS", "RTP", "RTCP", "SRTP", "WebRTC"})  # a call, but whose?
NAMED_CARRIERS = frozenset({"TLS", "QUIC"})    # protocols whose server name tells the app
HARVEST_PACKETS = 64     # packets of a flow searched for announcements
MAX_ANNOUNCED = 16       # endpoints one flow may announce
STUN, SDP = 1, 2         # what a flow's announcements are read from
WATCHED = frozenset({"stun", "sip"})           # signatures whose flows announce endpoints
_STUN_LEADS = frozenset({0x00, 0x01, 0xFF})    # STUN message types; MS-TURN multiplexing (0xFF10)


def _l4(flow: Flow) -> str:
    return "UDP" if flow.proto == UDP else "TCP"


class Association:
    """Endpoint knowledge plus the learned-endpoint memory of one classifier."""

    def __init__(self, knowledge: Knowledge, memory: EndpointMemory | None = None) -> None:
        self.knowledge = knowledge
        self.memory = memory or EndpointMemory()

    def fresh(self) -> Association:
        return Association(self.knowledge, EndpointMemory(self.memory.ttl, self.memory.max_entries))

    # --- endpoint knowledge

    def look_up(self, flow: Flow) -> None:
        """Once per flow: which service's block holds its server (else client) address."""
        flow.known = self.knowledge.known(flow.server, flow.sport, flow.client, flow.cport)

    def refine(self, flow: Flow, found: Detection) -> Detection:
        """A generic finding made specific by the servers' owner or name, else ``found`` itself."""
        known: Known | None = flow.known
        if found.app in NAMED_CARRIERS and flow.sni:
            service = self.knowledge.sni_service(flow.sni)
            app = service and (service.sni_app or service.other_app)
            if service is not None and app:
                return Detection(app, f"{found.why}, a name of {service.service}", found.final)
        if known is None:
            return found
        service = known.service
        if found.app in EVIDENCE and service.call_app and service.call_port(_l4(flow).lower(), known.port):
            return Detection(service.call_app, f"{known.text()} and the flow is {found.why}, "
                                               f"{_l4(flow)} port {known.port}")
        if found.app in NAMED_CARRIERS and service.other_app:
            return Detection(service.other_app, f"{found.why}, to {known.text()}", found.final)
        return found

    def media_call(self, flow: Flow) -> Detection | None:
        """Voice-like timing (the behavioural detector) to a service's block: its call."""
        known: Known | None = flow.known
        if known is None or not known.service.call_app or flow.media is None or not flow.media.detected:
            return None
        if not known.service.call_port("udp", known.port):
            return None
        return Detection(known.service.call_app, f"{known.text()} and the flow carries "
                                                 f"{flow.media.why()}, UDP port {known.port}")

    def by_address(self, flow: Flow) -> Detection | None:
        """Nothing recognised: the service's non-call app, if it has one."""
        known: Known | None = flow.known
        if known is None or not known.service.other_app:
            return None
        return Detection(known.service.other_app, f"{known.text()}; nothing more specific seen in "
                                                  f"{flow.packets} packet(s)")

    # --- sockets and announcements

    def remember_call(self, flow: Flow, ts: float) -> None:
        """A call app is known: its endpoints, and those its signalling announced, keep it."""
        app = flow.app
        assert app is not None
        client, server = (flow.client, flow.cport), (flow.server, flow.sport)
        self.memory.remember(client, app, f"carried {app} before ({flow.app_why} of its flow with "
                                          f"{endpoint_text(server)})", ts)
        self.memory.remember(server, app, f"carried {app} before ({flow.app_why} of its flow with "
                                          f"{endpoint_text(client)})", ts)
        for raw, port, what, index in flow.state.pop("announced", ()):
            self._learn(flow, raw, port, what, index, app, ts)

    def recall(self, flow: Flow, ts: float) -> None:
        """A new UDP flow from or to an endpoint that carried or was announced for a call."""
        for side, endpoint in (("from", (flow.client, flow.cport)), ("to", (flow.server, flow.sport))):
            known = self.memory.recall(endpoint, ts)
            if known is not None:
                flow.label(known.app, f"packet {flow.packets} {side} {endpoint_text(endpoint)}, which "
                                      f"{known.why}", True)
                self.memory.remember(endpoint, known.app, known.why, ts)  # the call goes on
                return

    def watch(self, flow: Flow, signature: str) -> None:
        """Read this flow's later packets for announcements (its STUN or SIP was recognised)."""
        if signature == "stun":
            flow.harvest = STUN
        elif signature == "sip":
            flow.harvest = SDP

    def harvest(self, flow: Flow, pkt: Pkt) -> None:
        """The endpoints a packet of a watched flow announces, remembered or kept for later."""
        data = pkt.payload
        if flow.harvest == STUN:
            if data[0] not in _STUN_LEADS and pkt.proto == UDP:
                return
            msg = parse_stun(data, pkt.proto)
            found = announce.stun_announced(msg) if msg is not None else []
        else:
            found = announce.sdp_announced(data) if b"m=" in data else []
            if found:
                message = sip.parse(data)
                what = (message.method or f"{message.status} response") if message else "message"
                found = [(raw, port, f"{kind} of SIP {what}") for raw, port, kind in found]
        for raw, port, what in found:
            self._announced(flow, raw, port, what, pkt.index, pkt.ts)

    def _announced(self, flow: Flow, raw: bytes, port: int, what: str, index: int, ts: float) -> None:
        count = flow.state.get("announce-count", 0)
        if count >= MAX_ANNOUNCED:
            return
        flow.state["announce-count"] = count + 1
        if flow.harvest == SDP:
            self._learn(flow, raw, port, what, index, "RTP", ts)   # a SIP call's media: RTP, whoever's
        elif flow.app_final and flow.app in CALL_APPS:
            self._learn(flow, raw, port, what, index, flow.app, ts)
        else:   # the flow's app is not known yet: keep it until it is (remember_call)
            flow.state.setdefault("announced", []).append((raw, port, what, index))

    def _learn(self, flow: Flow, raw: bytes, port: int, what: str, index: int, app: str, ts: float) -> None:
        endpoint = (raw, port)
        if endpoint in ((flow.client, flow.cport), (flow.server, flow.sport)):
            return
        where = f"{_l4(flow)} {endpoint_text((flow.client, flow.cport))} → {endpoint_text((flow.server, flow.sport))}"
        self.memory.remember(endpoint, app, f"was announced by {what} in packet {index} of {where}"
                                            + (f" ({flow.app_why})" if app != "RTP" else ""), ts)
