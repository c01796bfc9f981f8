"""One side of one flow on a host agent: its opening, its media, what it received, its end.

The side sends its own ``segments`` (seconds after its start, payload bytes) —
the app's real opening — then, on a media flow, stamped media every ``frame_ms``
for ``hold`` seconds (``testbed.emu.media``). It reports once: when an exchange
flow got all it expected, when a call's media ends, or when it gives up: no
answer within ``setup_timeout``, too much loss, ICMP unreachable ("refused") or a
TCP reset ("reset"). The agent (``testbed.emu.agent``) owns its socket and timers.

A call's signalling over UDP (SIP, STUN) is as reliable as those protocols make it: a
client that has heard nothing back repeats its request after T1 = 500 ms, then 1 s, 2 s...
(RFC 3261 §17.1.1.2 Timer A; RFC 5389 §7.2.1), and the exchange is through when the peer's
final answer arrives (a lost provisional response — 100 Trying, 180 Ringing — is not
repeated in SIP and does not stop the call). Not modelled: SIP's repeated 2xx until the ACK
(our INVITE exchange has no ACK), so a lost final answer still ends the exchange
"incomplete".
"""

from __future__ import annotations

import functools
import socket
import time
from typing import TYPE_CHECKING

from testbed.emu.media import Receiver, StreamSplitter, record_sizes, stamp
from testbed.emu.messages import SideSpec

if TYPE_CHECKING:
    from testbed.emu.agent import Agent

LOSS_CHECK_S = 1.0
T1_S = 0.5         # SIP's T1 and STUN's initial RTO: the first repeat of an unanswered request
STALL_S = 3.0      # media silent this long: the call is as good as dropped


class FlowSide:
    """One side of one flow, run by ``agent`` (its timers, sockets and reports)."""

    def __init__(self, agent: Agent, spec: SideSpec, client: bool) -> None:
        self.agent, self.spec, self.client = agent, spec, client
        self.id = spec.id
        self.tcp = spec.l4 == "tcp"
        self.peer = (spec.peer, spec.peer_port)
        self.segments = spec.segments
        self.templates = spec.templates
        self.frame = spec.frame_ms / 1000
        self.hold = spec.hold
        self.linger = spec.linger
        self.expect = spec.expect_bytes if self.tcp else spec.expect_packets
        self.final = spec.peer_final     # UDP signalling: through at this answer
        self.final_seen = False
        self.rto = T1_S
        self.sock: socket.socket | None = None
        self.connected = not self.tcp or not client   # a TCP server side starts at accept
        self.recv = Receiver()
        self.opened: float | None = None   # a client's dial: when it was told to start
        self.start: float | None = None
        self.done = False
        self.error: str | None = None
        self.aborted: str | None = None
        self.sent = self.sent_bytes = self.sent_media = self.opening_sent = 0
        self.outbox = bytearray()
        peer_sizes = record_sizes(list(spec.peer_sizes), list(spec.peer_media_sizes))
        self.splitter = StreamSplitter(peer_sizes) if self.tcp else None
        self.opening_end = max((t for t, _ in self.segments), default=0.0)

    # -- starting and sending ------------------------------------------------------------
    def begin(self, now: float) -> None:
        self.start = now
        agent = self.agent
        for t, payload in self.segments:
            agent.at(now + t, functools.partial(self.send, payload, True))
        if self.templates:
            agent.at(now + self.opening_end + self.frame, self.media_tick)
            agent.at(now + self.opening_end + self.hold + self.linger, lambda: self.finish(None))
        if self.client and self.final:
            agent.at(now + self.opening_end + self.rto, self.repeat)
        if self.client:
            timeout = self.spec.setup_timeout
            agent.at(now + self.opening_end + timeout if not self.templates else now + timeout,
                     self.check_answer)
        elif not self.templates:
            agent.at(now + self.opening_end + self.spec.setup_timeout,
                     lambda: self.finish("timeout"))

    def repeat(self) -> None:
        """A UDP request with no answer at all yet: sent again, the next wait twice as long."""
        if self.done or self.recv.packets:
            return
        for _, payload in self.segments:
            self.send(payload)
        self.rto *= 2
        self.agent.at(time.time() + self.rto, self.repeat)

    def media_tick(self) -> None:
        if self.done:
            return
        tmpl = self.templates[self.sent_media % len(self.templates)]
        now = time.time()
        self.send(stamp(tmpl, self.sent_media, now))
        self.sent_media += 1
        assert self.start is not None
        nxt = self.start + self.opening_end + (self.sent_media + 1) * self.frame
        if nxt < self.start + self.opening_end + self.hold:
            self.agent.at(nxt, self.media_tick)

    def send(self, payload: bytes, last: bool = False) -> None:
        """Send one payload; ``last``: an opening segment, after which an exchange may be complete."""
        if self.done or self.sock is None:
            return
        self.sent += 1
        self.sent_bytes += len(payload)
        self.opening_sent += last
        if self.tcp:
            self.outbox += payload
            self.agent.flush(self)
            return
        try:
            if self.client:
                self.sock.send(payload)
            else:
                self.sock.sendto(payload, self.peer)
        except ConnectionRefusedError:
            self.fail("refused")
        except (BlockingIOError, PermissionError):
            pass  # a full socket buffer, or the link's emulated loss (an OUTPUT drop is EPERM)
        if last:
            self.maybe_complete(time.time())

    # -- receiving -------------------------------------------------------------------------
    def on_data(self, data: bytes, now: float) -> None:
        if self.done:
            return
        if self.start is None:   # a server's flow starts with its first packet
            self.begin(now)
        if self.splitter is not None:
            for record in self.splitter.feed(data):
                self.recv.add(record, now)
        else:
            self.recv.add(data, now)
            self.final_seen = self.final_seen or data == self.final
        self.maybe_complete(now)

    def maybe_complete(self, now: float) -> None:
        """An exchange (not a call's media) ends when both ways are through."""
        if not self.templates and not self.done and self._got_all() and self._sent_all():
            self.finish(None)

    def _got_all(self) -> bool:
        if self.final:
            return self.final_seen
        return (self.recv.octets if self.tcp else self.recv.packets) >= self.expect

    def _sent_all(self) -> bool:
        return self.opening_sent == len(self.segments) and not self.outbox

    def check_answer(self) -> None:
        """A client's setup timer: nothing (or not all) back from the server by now."""
        if self.done:
            return
        if self.templates:
            if self.recv.media == 0:   # the opening may have come back, the media did not
                self.finish("no-answer" if self.recv.packets == 0 else "no-media")
            else:
                self.agent.at(time.time() + LOSS_CHECK_S, self.check_loss)
        elif not self._got_all():
            self.finish("incomplete")

    def check_loss(self) -> None:
        """Give up on a call whose media is lost beyond what a user bears, or has stopped."""
        if self.done:
            return
        now = time.time()
        stalled = self.recv.last is not None and now - self.recv.last > STALL_S
        if stalled or self.recv.loss_pct() > self.spec.max_loss_pct:
            self.finish("poor")
        else:
            self.agent.at(time.time() + LOSS_CHECK_S, self.check_loss)

    def connect_timeout(self) -> None:
        if not self.done and not self.connected:
            self.finish("no-answer")

    def fail(self, error: str) -> None:
        self.error = error
        self.finish(error)

    def finish(self, aborted: str | None) -> None:
        if self.done:
            return
        self.done = True
        self.aborted = aborted
        self.agent.report(self)
        self.agent.forget(self)
