"""An OONI test's flows as the bytes a probe sends, and what the DPI's verdicts mean for it (pure).

Per target: a DNS lookup (UDP to the resolver, RFC 1035) unless the target is an address,
then one TCP connection — the handshake only (``tcp``), a TLS 1.3 handshake naming the host
(SNI) and a GET inside it (``https``), or a plain request (``http``). The simulator feeds
these bytes, timed, to its classifier with the cell's policy (``ReachPlan.simulate``);
the emulation sends the real thing (``testbed.probe.client``) through the DPI switch.

What a verdict means: an action that stops a flow (drop, reset) at packet *k* (both
directions, from 1) fails the first operation that needed packet *k* — the SYN or SYN-ACK
fail the connect, the ClientHello or the server's flight the TLS handshake, the request or
its response the HTTP transaction — with a timeout (drop) or a reset. Throttling and
degrading slow a handshake down without failing it, as OONI's tests would see.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace

from testbed.dpi.classifier import Classifier, Verdict
from testbed.packets import dns, tls
from testbed.policy.model import DROP
from testbed.policy.model import RESET as RESET_ACTION
from testbed.probe.ooni import (
    CONNECT,
    DNS,
    HTTP,
    HTTP_TRANSACTION,
    HTTPS,
    NXDOMAIN,
    RESET,
    RESOLVE,
    TIMEOUT,
    TLS_HANDSHAKE,
    OoniTest,
    Reached,
    Target,
)
from testbed.traffic.apps import DATA, FlowPlan, Segment
from testbed.traffic.wire import Endpoints, packets

RTT_S = 0.1                   # the probe's round trip in the simulator's timing of its packets
USER_AGENT = "testbed-probe/1 (OONI-like)"


def http_request(target: Target) -> bytes:
    host = target.host if target.port in (80, 443) else f"{target.host}:{target.port}"
    body = b"" if target.method == "GET" else b"{}"
    return (f"{target.method} {target.path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {USER_AGENT}\r\n"
            f"Accept: */*\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body


def http_response(target: Target) -> bytes:
    """What our front ends answer: a plain-HTTP GET is sent to HTTPS (as web.whatsapp.com does)."""
    if target.kind == HTTP and target.method == "GET":
        return (f"HTTP/1.1 301 Moved Permanently\r\nLocation: https://{target.host}{target.path}\r\n"
                f"Content-Length: 0\r\nConnection: close\r\n\r\n").encode()
    return b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"


@dataclass(frozen=True)
class ProbeFlow:
    operation: str           # RESOLVE, or the target's connection
    plan: FlowPlan
    server: str              # address
    milestones: tuple[tuple[str, int], ...]   # (operation, the packet that completes it), in order


def _milestones(plan: FlowPlan, ops: list[tuple[str, int]]) -> tuple[tuple[str, int], ...]:
    """(operation, packet count once its last segment is through) for each (operation, segments)."""
    ends = Endpoints("10.0.0.1", 40000, "10.0.0.2", plan.server_port)
    out = []
    for op, n in ops:
        cut = replace(plan, segments=plan.segments[:n])
        out.append((op, 2 if op == CONNECT else sum(1 for _ in packets(cut, ends, RTT_S))))
    return tuple(out)


def dns_flow(name: str, resolver: str, address: str | None, rng: random.Random) -> ProbeFlow:
    q = dns.query(name, rng.getrandbits(16))
    answer = dns.response(dns.parse_query(q), (address,) if address else ())
    plan = FlowPlan(DATA, "udp", dns.PORT, (Segment(0.0, True, q), Segment(RTT_S, False, answer)))
    return ProbeFlow(RESOLVE, plan, resolver, ((RESOLVE, 2),))


def connection_flow(target: Target, address: str, rng: random.Random) -> ProbeFlow:
    """The target's TCP connection, with what it carries."""
    segs: tuple[Segment, ...]
    if target.kind == HTTPS:
        hello = tls.client_hello(target.host, rng.randbytes(32), rng.randbytes(32))
        flight = tls.server_hello(rng.randbytes(32), hello[44:76], rng.randbytes(32)) + tls.change_cipher_spec()
        flight += b"".join(tls.encrypted(rng.randbytes(1100)))      # certificate, verify, Finished
        finished = tls.change_cipher_spec() + tls.encrypted(rng.randbytes(53))[0]
        request = tls.encrypted(http_request(target) + rng.randbytes(17))[0]
        answer = tls.encrypted(http_response(target) + rng.randbytes(17))[0]
        segs = (Segment(0.0, True, hello), Segment(RTT_S, False, flight), Segment(RTT_S + 0.001, True, finished),
                Segment(RTT_S + 0.002, True, request), Segment(2 * RTT_S + 0.002, False, answer))
        ops = [(CONNECT, 0), (TLS_HANDSHAKE, 3), (HTTP_TRANSACTION, 5)]
    elif target.kind == HTTP:
        segs = (Segment(0.0, True, http_request(target)), Segment(RTT_S, False, http_response(target)))
        ops = [(CONNECT, 0), (HTTP_TRANSACTION, 2)]
    else:
        segs, ops = (), [(CONNECT, 0)]
    plan = FlowPlan(DATA, "tcp", target.port, segs)
    return ProbeFlow(target.kind, plan, address, _milestones(plan, ops))


def outcome(flow: ProbeFlow, verdict: Verdict | None) -> tuple[str | None, str | None]:
    """(failed operation, failure) of a flow the DPI gave this verdict; (None, None) if it got through."""
    if verdict is None or verdict.action.kind not in (DROP, RESET_ACTION):
        return None, None
    for op, last in flow.milestones:
        if verdict.packet_index <= last:
            return op, RESET if verdict.action.kind == RESET_ACTION else TIMEOUT
    return None, None


def trace_line(flow: ProbeFlow, verdict: Verdict | None) -> str:
    if verdict is None:
        return f"{flow.operation} to {flow.server}: not inspected"
    return f"{flow.operation} to {flow.server}:{flow.plan.server_port}: {decision_text(verdict)}"


def decision_text(v: Verdict) -> str:
    """``packet 4: TLS SNI web.telegram.org → Telegram; rule x/y → drop``."""
    seen = v.why.split("; rule ")[0]
    rule = f" → rule {v.rule} → {v.action}" if v.rule else f" → {v.action}"
    return f"packet {v.packet_index}: {seen}{rule}"


Classify = Callable[[ProbeFlow, int, float], Verdict | None]   # (flow, client port, start) → the DPI's verdict


@dataclass(frozen=True)
class ReachPlan:
    """An OONI test as a topology answers it: its targets, the resolver and its records."""

    test: OoniTest
    resolver: str
    records: dict[str, str]

    def simulate(self, classify: Classify, seed: str) -> tuple[Reached, ...]:
        """Each target's flows through ``classify`` (one DPI for the whole test, as one probe run)."""
        rng = random.Random(f"probe:{seed}:{self.test.app}")
        out, clock = [], iter(range(1 << 30))

        def send(flow: ProbeFlow, trace: list[str]) -> tuple[str | None, str | None]:
            n = next(clock)
            verdict = classify(flow, 40000 + n, float(n))    # a second apart: the flows never share a 5-tuple
            trace.append(trace_line(flow, verdict))
            return outcome(flow, verdict)

        for target in self.test.targets:
            trace: list[str] = []
            address = target.host if target.literal else ""
            if not target.literal:
                failed, failure = send(dns_flow(target.host, self.resolver, self.records.get(target.host), rng), trace)
                if failed is None:
                    address = self.records.get(target.host, "")
                    failed, failure = (None, None) if address else (RESOLVE, NXDOMAIN)
                if failed is not None or target.kind == DNS:
                    out.append(Reached(target, address, failed, failure, tuple(trace)))
                    continue
            failed, failure = send(connection_flow(target, address, rng), trace)
            out.append(Reached(target, address, failed, failure, tuple(trace)))
        return tuple(out)


def wire_packets(flow: ProbeFlow, client: str, port: int) -> list[tuple[float, bytes]]:
    """The flow's packets as the DPI sees them (for the classifier and for captures)."""
    return list(packets(flow.plan, Endpoints(client, port, flow.server, flow.plan.server_port), RTT_S, RTT_S / 2,
                        close=flow.plan.l4 == "tcp"))


def classify_with(classifier: Classifier, client: str) -> Classify:
    """``Classify`` by feeding a classifier the flow's packets from ``client`` (the simulator's DPI)."""
    def classify(flow: ProbeFlow, port: int, start: float) -> Verdict | None:
        for t, packet in wire_packets(flow, client, port):
            verdict = classifier.feed(packet, start + t)
            if verdict is not None:
                return verdict
        return next(iter(classifier.flush()), None)
    return classify
