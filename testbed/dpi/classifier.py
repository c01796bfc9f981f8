"""The classifier: packets in, Verdicts out, with a human-readable reason.

Rules are tried in order and the first that matches wins, as in the policy. A
rule whose payload part (app, category, behaviour, SNI) cannot be settled yet
holds the decision back: the flow stays undecided (``feed`` returns None) until
that rule matches or can no longer match, or the inspection window ends.

The per-packet path is kept short: a decided flow costs a parse and a lookup;
an undecided one meets only the signatures that accept its first payload byte
(``Signature.leads``) and have not yet given up on it (``payload_packets``); the
rules are re-evaluated only when a packet taught something. A new UDP flow from
a socket that just carried a call inherits that call's app (``endpoints.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from testbed.dpi.behaviour import HORIZON as MEDIA_HORIZON
from testbed.dpi.behaviour import MediaTracker
from testbed.dpi.catalog import CALL_APPS, category_of
from testbed.dpi.endpoints import EndpointMemory, endpoint_text
from testbed.dpi.flow import Flow, FlowKey, FlowTable
from testbed.dpi.signature import Pkt, Signature
from testbed.dpi.signatures import default_signatures
from testbed.packets.ip import TCP, UDP, Decoded, addr_text, parse_ip
from testbed.policy.model import ALLOW, NO_POLICY, Action, Match, Policy, Rule

_ALLOW = Action(ALLOW)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the DPI decided for a flow, when, and why."""

    app: str | None
    category: str
    rule: str | None         # "anrt-2016/ott-calls", None when no rule matched
    packet_index: int        # the packet (both directions, from 1) that decided it
    action: Action
    why: str
    elapsed: float = 0.0     # seconds from the flow's first packet to that packet
    key: FlowKey | None = None


NOT_INSPECTED = Verdict(None, category_of(None), None, 0, _ALLOW, "not UDP or TCP over IP: not inspected")


def _in_ports(port: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(lo <= port <= hi for lo, hi in ranges)


_COMPILED: dict[int, tuple[tuple, tuple[tuple[int, int, int], ...]]] = {}


def _compiled(nets: tuple) -> tuple[tuple[int, int, int], ...]:
    """(address length, network, mask) as integers: matching costs no ipaddress objects.

    Cached by the tuple's identity (a policy's tuples live as long as the policy;
    hashing ipaddress networks on every new flow cost more than the match).
    """
    entry = _COMPILED.get(id(nets))
    if entry is None or entry[0] is not nets:
        entry = (nets, tuple((4 if net.version == 4 else 16, int(net.network_address), int(net.netmask))
                             for net in nets))
        _COMPILED[id(nets)] = entry
    return entry[1]


def _in_nets(raw: bytes, nets: tuple) -> bool:
    value = int.from_bytes(raw, "big")
    size = len(raw)
    return any(size == length and value & mask == network for length, network, mask in _compiled(nets))


def header_matches(m: Match, flow: Flow) -> bool:
    """The L3/L4 part of a match (what OpenFlow could match too)."""
    if m.l4 is not None and (m.l4 == "udp") != (flow.proto == UDP):
        return False
    if m.l4 is not None and flow.proto not in (UDP, TCP):
        return False
    if m.src and not _in_nets(flow.client, m.src):
        return False
    if m.dst and not _in_nets(flow.server, m.dst):
        return False
    if m.hosts and not (_in_nets(flow.client, m.hosts) or _in_nets(flow.server, m.hosts)):
        return False
    if m.src_ports and not _in_ports(flow.cport, m.src_ports):
        return False
    if m.dst_ports and not _in_ports(flow.sport, m.dst_ports):
        return False
    if m.ports and not (_in_ports(flow.cport, m.ports) or _in_ports(flow.sport, m.ports)):
        return False
    return True


def payload_status(m: Match, flow: Flow, done: bool, media_done: bool | None = None) -> bool | None:
    """Does the payload part hold: True, False, or None (not known yet)?

    ``done``: the signatures' window is over; ``media_done``: the behavioural
    detector's (longer) horizon too — it needs packets from both ways (default: ``done``).
    """
    if m.apps and not any(app in m.apps for app in flow.labels):
        if done or flow.app_final:
            return False
        return None
    if m.categories and not any(category_of(app) in m.categories for app in flow.labels):
        if done or flow.app_final:
            return False
        return None
    if m.behaviour is not None and not (flow.media is not None and flow.media.detected):
        if (done if media_done is None else media_done) or flow.proto != UDP \
                or (flow.media is not None and flow.media.ruled_out):
            return False
        return None
    if m.sni and not (flow.sni and any(flow.sni == s or flow.sni.endswith("." + s) for s in m.sni)):
        if done or flow.app_final or flow.payload_packets > 2:
            return False
        return None
    return True


def describe_header(m: Match, flow: Flow) -> str:
    """What an L3/L4 match saw, for a reason: "UDP 10.0.0.1:5000 → 10.9.0.1:3478"."""
    l4 = "UDP" if flow.proto == UDP else "TCP"
    return f"{l4} {addr_text(flow.client)}:{flow.cport} → {addr_text(flow.server)}:{flow.sport}"


_VERBS = {"drop": "drops it", "reset": "resets it", "allow": "allows it"}


def action_text(action: Action) -> str:
    if action.kind == "throttle":
        return f"throttles it to {action.kbps:g} kbps"
    if action.kind == "degrade":
        return (f"degrades it (loss {action.loss_pct:g}%, jitter {action.jitter_ms:g} ms"
                f"{f', delay {action.delay_ms:g} ms' if action.delay_ms else ''})")
    return _VERBS[action.kind]


class Classifier:
    """Feeds packets to the flow table, signatures and rules; returns Verdicts.

    ``identify``: keep inspecting until the app is known (or the window ends)
    even when no rule could match — for ``testbed classify``.
    ``keep_flows``: list every flow in ``table.history`` (expired ones too), for
    reports over a whole capture; see ``finish``.
    """

    def __init__(self, policy: Policy = NO_POLICY, signatures: Iterable[Signature] | None = None,
                 *, identify: bool = False, window: int | None = None,
                 idle_timeout: float | None = None, keep_flows: bool = False) -> None:
        self.policy = policy
        self.window = window or policy.inspect_packets
        self.identify = identify
        self.table = FlowTable(idle_timeout or policy.idle_timeout_s, keep_history=keep_flows)
        self.endpoints = EndpointMemory()
        sigs = list(default_signatures() if signatures is None else signatures)
        self._sigs = {UDP: [s for s in sigs if UDP in s.protos], TCP: [s for s in sigs if TCP in s.protos]}
        self._track_media = identify or any(r.match.behaviour for r in policy.rules)
        # behaviour and SNI rules can settle on a packet that labelled nothing
        self._every_packet = any(r.match.behaviour or r.match.sni for r in policy.rules)
        self._prune_at = frozenset(s.payload_packets for s in sigs if s.payload_packets)
        self._tables: dict[tuple[int, tuple[Signature, ...]], list[tuple[Signature, ...]]] = {}

    def reset(self) -> None:
        """Forget every flow and endpoint, keep what was compiled: a fresh classifier, cheaply."""
        table = self.table
        self.table = FlowTable(table.idle_timeout, table.max_flows, keep_history=table.history is not None)
        self.endpoints = EndpointMemory(self.endpoints.ttl, self.endpoints.max_entries)

    def feed(self, data: bytes, ts: float) -> Verdict | None:
        """One IP packet (no link layer). Returns the flow's Verdict, or None while undecided."""
        d = parse_ip(data)
        if d is None:
            return NOT_INSPECTED
        return self.feed_decoded(d, ts)

    def feed_decoded(self, d: Decoded, ts: float) -> Verdict | None:
        flow, direction, new = self.table.lookup(d, ts)
        if flow.verdict is not None:
            return flow.verdict  # type: ignore[no-any-return]
        if new:
            flow.candidates = tuple(r for r in self.policy.rules if header_matches(r.match, flow))
            flow.sigs = tuple(s for s in self._sigs.get(flow.proto, ()) if s.applies(flow))
            flow.dispatch = self._dispatch(flow.proto, flow.sigs)
        changed = new
        if d.payload and not flow.app_final:
            pkt = Pkt(d.payload, direction, flow.packets, ts, d.proto, d.tcp_flags)
            for sig in flow.dispatch[d.payload[0]]:
                found = sig.inspect(pkt, flow)
                if found is not None:
                    changed = True
                    flow.label(found.app, found.why, found.final)
                    if flow.app_final:
                        if flow.proto == UDP and flow.app in CALL_APPS:
                            self._remember(flow, ts)
                        break
            if flow.payload_packets in self._prune_at:
                count = flow.payload_packets
                flow.sigs = tuple(s for s in flow.sigs if not s.payload_packets or s.payload_packets > count)
                flow.dispatch = self._dispatch(flow.proto, flow.sigs)
        if new and not flow.app_final and flow.proto == UDP and len(self.endpoints):
            self._recall(flow, ts)
        if self._track_media and d.proto == UDP:
            if flow.media is None:
                flow.media = MediaTracker()
            flow.media.add(d.payload, ts, direction)
        if changed or self._every_packet or flow.packets >= self.window:
            return self._decide(flow, ts)
        return None  # nothing learned from this packet: the answer is still "not yet"

    def _dispatch(self, proto: int, sigs: tuple[Signature, ...]) -> list[tuple[Signature, ...]]:
        """For each possible first payload byte, the signatures of ``sigs`` that could match it.

        Shared by all flows with the same signatures: built once per combination.
        """
        table = self._tables.get((proto, sigs))
        if table is None:
            leads = [(s, s.leads(proto)) for s in sigs]
            table = [tuple(s for s, lead in leads if lead is None or byte in lead) for byte in range(256)]
            self._tables[(proto, sigs)] = table
        return table

    def _remember(self, flow: Flow, ts: float) -> None:
        """A call app is known: its endpoints keep it for the call's next flows."""
        assert flow.app is not None
        client, server = (flow.client, flow.cport), (flow.server, flow.sport)
        self.endpoints.remember(client, flow.app, f"{flow.app_why} of its flow with {endpoint_text(server)}", ts)
        self.endpoints.remember(server, flow.app, f"{flow.app_why} of its flow with {endpoint_text(client)}", ts)

    def _recall(self, flow: Flow, ts: float) -> None:
        """A new UDP flow from an endpoint that carried a call: the same call (endpoints.py)."""
        for endpoint in ((flow.client, flow.cport), (flow.server, flow.sport)):
            known = self.endpoints.recall(endpoint, ts)
            if known is not None:
                flow.label(known.app, f"packet {flow.packets} from {endpoint_text(endpoint)}, which carried "
                                      f"{known.app} before ({known.why})", True)
                self.endpoints.remember(endpoint, known.app, known.why, ts)  # the call goes on
                return

    def flush(self) -> list[Verdict]:
        """Settle every undecided flow as if its window had ended (end of a capture or opening)."""
        return [self.settle(flow) for flow in self.table.flows.values() if flow.verdict is None]

    def finish(self) -> list[Verdict]:
        """Every flow's verdict, in order of first packet (needs ``keep_flows``); settles the undecided."""
        if self.table.history is None:
            raise ValueError("finish() needs Classifier(keep_flows=True)")
        return [self.settle(flow) for flow in self.table.history]

    def settle(self, flow: Flow) -> Verdict:
        """The flow's verdict; an undecided flow is decided now, as if its window had ended."""
        if flow.verdict is not None:
            return flow.verdict  # type: ignore[no-any-return]
        verdict = self._decide(flow, flow.last_ts, done=True)
        assert verdict is not None
        return verdict

    def _decide(self, flow: Flow, ts: float, done: bool = False) -> Verdict | None:
        media_done = done or flow.packets >= max(self.window, MEDIA_HORIZON)
        done = done or flow.packets >= self.window
        for rule in flow.candidates:
            status = payload_status(rule.match, flow, done, media_done)
            if status is None:
                return None
            if status:
                return self._settle(flow, rule, ts)
        if self.identify and not (flow.app_final or done):
            return None
        return self._settle(flow, None, ts)

    def _settle(self, flow: Flow, rule: Rule | None, ts: float) -> Verdict:
        app = flow.app
        if app is None and flow.media is not None and flow.media.detected:
            app = "RTPLike"
            flow.app_why = flow.media.why()
            flow.app_packet = flow.packets
        seen = f"{flow.app_why} → {app}" if app else ""
        if rule is None:
            why = seen or f"nothing recognised in {flow.packets} packet(s)"
            if self.policy.rules:
                why += "; no rule matches"
            action = _ALLOW
        else:
            if not rule.match.needs_payload:
                seen = describe_header(rule.match, flow)
            why = f"{seen}; rule {rule.label(self.policy.name)} {action_text(rule.action)}"
            action = rule.action
        verdict = Verdict(app, category_of(app), rule.label(self.policy.name) if rule else None,
                          flow.packets, action, why, ts - flow.first_ts, flow.key)
        flow.verdict = verdict
        return verdict


