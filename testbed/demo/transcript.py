"""What the demo prints (pure): a line per event of a call or flow, and the word for its outcome.

Both networks describe what happened in the same terms — each flow as the DPI met it
(``FlowView``: the packets it inspected, its decision and why, what passed), then the
call's ``Delivery`` and record — and this module turns them into the transcript's lines.
The outcome's word is what a lesson is about, and what the tests read:

- ``passed``: the call completed (or the flow was let through);
- ``blocked``: a policy action hit it and it failed (a flow: dropped or reset);
- ``restored``: it completed through a circumvention strategy after the same subscriber's
  call on the same app was blocked;
- ``failed``: it failed with no policy action on it (the callee did not answer, a full relay,
  a link too poor).
"""

from __future__ import annotations

from dataclasses import dataclass

from testbed.call.model import SIGNALLING_PHASE, Delivery, Seen
from testbed.call.records import COMPLETED, CallRecord
from testbed.demo import decode
from testbed.traffic.apps import SIGNALLING

PASSED, BLOCKED, RESTORED, FAILED = "passed", "blocked", "restored", "failed"
WORDS = (PASSED, BLOCKED, RESTORED, FAILED)
NOT_INSPECTED = "not inspected: no rule of the policy needs this flow's packets"


@dataclass(frozen=True)
class FlowView:
    """One flow of a call (or a non-VoIP flow) as the operator's DPI met it."""

    role: str                          # signalling | media | data | tunnel (a VPN client's own)
    l4: str                            # udp | tcp
    client: str                        # "10.10.0.2:41234": who sent the first packet
    server: str                        # "157.240.1.60:3478": its first hop
    seen: Seen                         # what the DPI did
    why: str = NOT_INSPECTED           # the DPI's reason (the classifier's, or the header rule's)
    decided_at: int = 0                # the packet (both directions, from 1) that decided; 0: none
    inspected: tuple[tuple[float, bytes], ...] = ()   # (seconds since its first packet, IP packet)
    sent: int | None = None            # measured (emulation): packets the client sent
    received: int | None = None        # ... of which the far end received
    measured: str = "reached the far end"   # ... or where else ``received`` was counted
    note: str = ""                     # one more line about it (a tunnel: up or not)


@dataclass(frozen=True)
class Result:
    """What one ``call``, ``chat`` or ``web`` command did."""

    command: str                       # call | chat | web
    host: str
    app: str                           # the traffic profile
    strategy: str                      # the circumvention the call went through ("none")
    far_end: str                       # "tbwa 157.240.1.60"
    via: str                           # "" or the first hop when it is not the far end ("tbvpn 198.51.100.10")
    flows: tuple[FlowView, ...]
    word: str                          # PASSED | BLOCKED | RESTORED | FAILED
    outcome: str                       # the call's outcome, or the flow's action
    record: CallRecord | None = None   # a call's record (MOS, PDD, time-to-block)
    delivery: Delivery | None = None   # a call's delivery


def word_for(outcome: str, seen: tuple[Seen, ...], strategy: str, blocked_before: bool) -> str:
    """The outcome's word for a call (``outcome`` one of ``testbed.call.records``')."""
    if outcome == COMPLETED:
        return RESTORED if strategy != "none" and blocked_before else PASSED
    return BLOCKED if any(s.hit for s in seen) else FAILED


def flow_word(seen: Seen) -> str:
    return BLOCKED if seen.stops else PASSED


def shown_flows(flows: tuple[FlowView, ...], delivery: Delivery | None) -> tuple[FlowView, ...]:
    """The flows that went out: none of the media when the signalling got no answer (the app
    never starts it; the simulator classifies it all the same)."""
    if delivery is None or (delivery.signalled and delivery.reset != SIGNALLING_PHASE):
        return flows
    return tuple(f for f in flows if f.role == SIGNALLING) or flows[:1]


def decision(flow: FlowView) -> str:
    """"packet 1: STUN attribute 0x4000 in packet 1 → WhatsAppCall → rule anrt-2016/ott-calls → drop"."""
    if not flow.decided_at:
        return flow.why
    evidence = flow.why.split("; ")[0]     # the classifier's: "<evidence> → <app>; rule X drops it"
    rule = f"rule {flow.seen.rule}" if flow.seen.rule else "no rule"
    return f"packet {flow.decided_at}: {evidence} → {rule} → {flow.seen.action}"


def passed(flow: FlowView) -> str:
    """What got past the DPI, and what the far end received when it was measured."""
    if flow.seen.stops:
        past = (f"nothing from packet {flow.seen.packets} on" if flow.seen.packets > 1 or not flow.seen.packets
                else "nothing")
        past += f" ({flow.seen.action} by {flow.seen.rule})"
    elif flow.seen.hit:
        past = f"every packet, {flow.seen.action} by {flow.seen.rule}"
    else:
        past = "every packet"
    if flow.sent is not None:
        past += f"; measured: {flow.received} of {flow.sent} packets {flow.measured}"
    return f"past the DPI: {past}"


def flow_lines(index: int, flow: FlowView, trace: bool) -> list[str]:
    out = [f"  flow {index} {flow.role} {flow.l4.upper()} {flow.client} → {flow.server}"]
    if trace:
        if flow.inspected:
            out.append(f"    │ the packets the DPI inspected ({len(flow.inspected)}):")
            out.append("    │ " + decode.HEADER)
            out += [f"    │ {decode.line(i, t, p)}" for i, (t, p) in enumerate(flow.inspected, 1)]
        else:
            out.append("    │ the DPI inspected no packet of it")
    out.append(f"    DPI: {decision(flow)}")
    out.append(f"    {passed(flow)}")
    if flow.note:
        out.append(f"    {flow.note}")
    return out


def callee(d: Delivery) -> str:
    if d.reset == SIGNALLING_PHASE:
        return "callee: never rang (reset before the answer)"
    if not d.signalled:
        return "callee: never rang (the signalling got no answer)"
    rang = f"rang after {d.pdd_ms:.0f} ms" if d.pdd_ms is not None else "no ringback came back"
    if d.reset:
        return f"callee: {rang}, then the call was reset"
    if d.media is None:
        return f"callee: {rang}; no media came through"
    m = d.media
    return (f"callee: {rang}; media both ways for {d.held_s:.0f} s: {m.loss_pct:.1f}% lost or late, "
            f"jitter {m.jitter_ms:.1f} ms, one-way delay {m.delay_ms:.0f} ms")


def heading(command: str, host: str, app: str, strategy: str, far_end: str, via: str) -> str:
    """"tb1s1 calls whatsapp → tbwa 157.240.1.60 through tbvpn 198.51.100.10 (vpn)"."""
    verb = "calls" if command == "call" else "opens"
    through = f" through {via} ({strategy})" if via else (f" ({strategy})" if strategy != "none" else "")
    return f"{host} {verb} {app} → {far_end}{through}"


def outcome_line(r: Result) -> str:
    rec = r.record
    if rec is None:
        hit = next((f.seen for f in r.flows if f.seen.hit), None)
        why = f" by {hit.rule} at packet {hit.packets}" if hit is not None and r.word == BLOCKED else ""
        return f"  outcome: {r.outcome} → {r.word.upper()}{why}"
    quality = f", MOS {rec.mos:.2f}" if rec.mos else ""
    tail = ""
    if r.word == BLOCKED:
        tail = f" by {rec.rule} at packet {rec.ttb_packets} ({rec.ttb_ms:.0f} ms into the flow)"
    elif r.word == RESTORED:
        tail = f" through {r.strategy} (blocked without it)"
    elif rec.rule:
        tail = f" ({rec.action} by {rec.rule})"
    return f"  outcome: {rec.outcome}{quality} → {r.word.upper()}{tail}"


def end_lines(r: Result) -> list[str]:
    """After the flows: what reached the callee (a call), and the outcome."""
    return (["  " + callee(r.delivery)] if r.delivery is not None else []) + [outcome_line(r)]


def outcomes(text: str, prompt: str = "demo> ") -> list[tuple[str, str]]:
    """(command, word) of each call, chat and web of a transcript, in order: what a lesson showed."""
    found, command = [], ""
    for row in text.splitlines():
        if row.startswith(prompt):
            command = row[len(prompt):].strip()
        elif row.startswith("  outcome: ") and " → " in row:
            found.append((command, row.split(" → ", 1)[1].split()[0].lower()))
    return found
