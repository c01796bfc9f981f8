"""The classifier: packets in, Verdicts out, with a human-readable reason.

Rules are tried in order and the first that matches wins, as in the policy. A
rule whose payload part (app, category, behaviour, SNI) cannot be settled yet
holds the decision back: the flow stays undecided (``feed`` returns None) until
that rule matches or can no longer match, or the inspection window ends.

The per-packet path is kept short: a decided flow costs a parse and a lookup;
an undecided one meets only the signatures that accept its first payload byte
(``Signature.leads``) and have not yet given up on it (``payload_packets``); the
rules are re-evaluated only when a packet taught something. What is known around
a flow names it too (``association.py``): the service whose address block it
reaches, once a packet shows a call; a socket that just carried a call; an
endpoint the call's own STUN or SDP announced. Address lookups are once a flow.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from testbed.dpi.association import EVIDENCE, HARVEST_PACKETS, NAMED_CARRIERS, WATCHED, Association
from testbed.dpi.behaviour import HORIZON as MEDIA_HORIZON
from testbed.dpi.behaviour import MediaTracker
from testbed.dpi.catalog import CALL_APPS, category_of
from testbed.dpi.endpoints import EndpointMemory
from testbed.dpi.fingerprint import OpcodeFingerprint
from testbed.dpi.flow import Flow, FlowKey, FlowTable
from testbed.dpi.knowledge import Knowledge
from testbed.dpi.rules import action_text, describe_header, has_header_part, header_matches, payload_status
from testbed.dpi.signature import Pkt, Signature
from testbed.dpi.signatures import default_signatures
from testbed.packets.ip import TCP, UDP, Decoded, parse_ip
from testbed.policy.model import ALLOW, NO_POLICY, OPENVPN_FINGERPRINT, RTP_LIKE, Action, Policy, Rule

__all__ = ["NOT_INSPECTED", "Classifier", "Verdict", "action_text", "describe_header", "header_matches",
           "payload_status"]

_ALLOW = Action(ALLOW)
REFINABLE = EVIDENCE | NAMED_CARRIERS   # findings that endpoint knowledge can make specific


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


class Classifier:
    """Feeds packets to the flow table, signatures and rules; returns Verdicts.

    ``identify``: keep inspecting until the app is known (or the window ends)
    even when no rule could match — for ``testbed classify``.
    ``keep_flows``: list every flow in ``table.history`` (expired ones too), for
    reports over a whole capture; see ``finish``.
    """

    def __init__(self, policy: Policy = NO_POLICY, signatures: Iterable[Signature] | None = None,
                 *, identify: bool = False, window: int | None = None,
                 idle_timeout: float | None = None, keep_flows: bool = False,
                 knowledge: Knowledge | None = None) -> None:
        self.policy = policy
        self.window = window or policy.inspect_packets
        self.identify = identify
        self.table = FlowTable(idle_timeout or policy.idle_timeout_s, keep_history=keep_flows)
        if knowledge is None:
            from testbed.config.endpoints import default_knowledge  # endpoints/*.yaml, once a process

            knowledge = default_knowledge()
        self.association = Association(knowledge)
        sigs = list(default_signatures() if signatures is None else signatures)
        self._sigs = {proto: tuple(s for s in sigs if proto in s.protos) for proto in (UDP, TCP)}
        # the signatures that look only at some flows (ports, a service's blocks), by position
        self._conditional = {proto: tuple(i for i, s in enumerate(group) if s.ports or
                                          type(s).applies is not Signature.applies)
                             for proto, group in self._sigs.items()}
        self._use(policy)
        self._prunes: dict[tuple[int, int], tuple[tuple[Signature, ...], list]] = {}
        self._keep: list[tuple[Signature, ...]] = []   # the tuples ``_prunes`` keys by id stay alive
        self._openings: dict[tuple[int, tuple[bool, ...]], tuple[tuple[Signature, ...], list]] = {}
        self._prune_at = frozenset(s.payload_packets for s in sigs if s.payload_packets)
        self._tables: dict[tuple[int, tuple[Signature, ...]], list[tuple[Signature, ...]]] = {}

    @property
    def endpoints(self) -> EndpointMemory:
        """The learned endpoints (sockets of calls, announced media)."""
        return self.association.memory

    def _use(self, policy: Policy) -> None:
        self.policy = policy
        self._rules = tuple((r, has_header_part(r.match)) for r in policy.rules)
        self._any_header = any(header for _, header in self._rules)
        self._candidates = tuple(policy.rules)   # when no rule looks at headers: all of them, always
        self._track_media = self.identify or any(r.match.behaviour == RTP_LIKE for r in policy.rules)
        self._fingerprint_n = policy.fingerprint_packets if any(
            r.match.behaviour == OPENVPN_FINGERPRINT for r in policy.rules) else 0
        # behaviour and SNI rules can settle on a packet that labelled nothing
        self._every_packet = any(r.match.behaviour or r.match.sni for r in policy.rules)

    def set_policy(self, policy: Policy) -> None:
        """Judge by another policy's rules from now on (a reload on a running switch): decided
        flows keep their verdicts, undecided ones meet the new rules, and
        what was learned (flows, endpoints) stays. Window and idle timeout stay as they were."""
        self._use(policy)
        for flow in self.table.flows.values():
            if flow.verdict is None:
                flow.candidates = self._candidates if not self._any_header else \
                    tuple(r for r, header in self._rules if not header or header_matches(r.match, flow))

    def reset(self) -> None:
        """Forget every flow and endpoint, keep what was compiled: a fresh classifier, cheaply."""
        table = self.table
        self.table = FlowTable(table.idle_timeout, table.max_flows, keep_history=table.history is not None)
        self.association = self.association.fresh()

    def feed(self, data: bytes, ts: float) -> Verdict | None:
        """One IP packet (no link layer). Returns the flow's Verdict, or None while undecided."""
        verdict = self.table.decided(data, ts)
        if verdict is not None:
            return verdict  # type: ignore[no-any-return]
        d = parse_ip(data)
        if d is None:
            return NOT_INSPECTED
        return self.feed_decoded(d, ts)

    def feed_decoded(self, d: Decoded, ts: float) -> Verdict | None:
        flow, direction, new = self.table.lookup(d, ts)
        if flow.verdict is not None:
            if flow.harvest:
                if flow.packets > HARVEST_PACKETS:
                    flow.harvest = 0     # read enough: back to the fast path
                elif d.payload:
                    self.association.harvest(flow, Pkt(d.payload, direction, flow.packets, ts, d.proto,
                                                       d.tcp_flags))
            return flow.verdict  # type: ignore[no-any-return]
        association = self.association
        if new:
            association.look_up(flow)   # before the signatures: some apply only to a service's blocks
            if flow.known is not None and flow.proto == UDP and flow.known.service.call_app:
                flow.media = MediaTracker()   # voice-like timing to a service's block names its call
            flow.candidates = self._candidates if not self._any_header else \
                tuple(r for r, header in self._rules if not header or header_matches(r.match, flow))
            flow.sigs, flow.dispatch = self._opening(flow)
        changed = new
        if d.payload and not flow.app_final:
            pkt = Pkt(d.payload, direction, flow.packets, ts, d.proto, d.tcp_flags)
            for sig in flow.dispatch[d.payload[0]]:
                found = sig.inspect(pkt, flow)
                if found is not None:
                    changed = True
                    if found.app in REFINABLE:
                        found = association.refine(flow, found)
                    if sig.name in WATCHED:
                        association.watch(flow, sig.name)
                    flow.label(found.app, found.why, found.final)
                    if flow.app_final:
                        if flow.proto == UDP and flow.app in CALL_APPS:
                            association.remember_call(flow, ts)
                        break
            if flow.harvest and flow.packets <= HARVEST_PACKETS:
                association.harvest(flow, pkt)
            if flow.payload_packets in self._prune_at:
                flow.sigs, flow.dispatch = self._pruned(flow.proto, flow.sigs, flow.payload_packets)
        if new and not flow.app_final and flow.proto == UDP and len(association.memory):
            association.recall(flow, ts)
        if self._fingerprint_n and d.payload:
            if flow.fingerprint is None:
                flow.fingerprint = OpcodeFingerprint(self._fingerprint_n)
            flow.fingerprint.add(d.payload, direction, d.proto, d.seq)
        if flow.media is not None or self._track_media and d.proto == UDP:
            self._media(flow, d.payload, ts, direction)
        if changed or self._every_packet or flow.packets >= self.window:
            return self._decide(flow, ts)
        return None  # nothing learned from this packet: the answer is still "not yet"

    def _media(self, flow: Flow, payload: bytes, ts: float, direction: int) -> None:
        """Voice-like timing: for behaviour rules, and as call evidence to a known service."""
        if flow.media is None:
            flow.media = MediaTracker()
        elif flow.app_final and not self._track_media:
            return   # named already: the timing was only wanted as evidence
        flow.media.add(payload, ts, direction)
        if flow.media.detected and flow.known is not None and not flow.app_final:
            found = self.association.media_call(flow)
            if found is not None:
                flow.label(found.app, found.why, found.final)
                self.association.remember_call(flow, ts)

    def _opening(self, flow: Flow) -> tuple[tuple[Signature, ...], list[tuple[Signature, ...]]]:
        """The signatures that look at a new flow, and their dispatch table: built once per combination."""
        group = self._sigs.get(flow.proto, ())
        conditional = self._conditional.get(flow.proto, ())
        mask = tuple(group[i].applies(flow) for i in conditional)
        found = self._openings.get((flow.proto, mask))
        if found is None:
            left_out = {i for i, applies in zip(conditional, mask) if not applies}
            chosen = tuple(s for i, s in enumerate(group) if i not in left_out)
            found = self._openings[(flow.proto, mask)] = (chosen, self._dispatch(flow.proto, chosen))
        return found

    def _pruned(self, proto: int, sigs: tuple[Signature, ...],
                count: int) -> tuple[tuple[Signature, ...], list[tuple[Signature, ...]]]:
        """``sigs`` without those whose last packet to look at was the ``count``-th: cached per set."""
        key = (id(sigs), count)   # the tuples are the cached ones: their ids are stable
        found = self._prunes.get(key)
        if found is None:
            kept = tuple(s for s in sigs if not s.payload_packets or s.payload_packets > count)
            found = self._prunes[key] = (kept, self._dispatch(proto, kept))
            self._keep.append(sigs)
        return found

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
        if done and flow.fingerprint is not None:
            flow.fingerprint.finish()
        if done and not flow.app_final and flow.known is not None:
            found = self.association.by_address(flow)
            if found is not None and (flow.app is None or flow.app in NAMED_CARRIERS):
                flow.label(found.app, found.why, found.final)
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
        if app is None and flow.fingerprint is not None and flow.fingerprint.detected:
            app = "OpenVPN"
            flow.app_why = flow.fingerprint.reason
            flow.app_packet = flow.packets
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


