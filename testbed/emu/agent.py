"""A traffic agent: one process per emulated host, started in the host's namespace.

It places and answers flows on real sockets, as the orchestrator tells it on
stdin (JSON lines), and reports on stdout (JSON lines):

- ``serve``: expect a flow from ``peer:peer_port`` on ``local_port``; it starts at
  the flow's first packet (UDP) or connection (TCP). Answered with ``ack``.
- ``open``: start a flow from ``local_port`` to ``peer:peer_port`` now; with ``mark``, its
  socket carries that SO_MARK (an ``ip rule fwmark`` sends the flow into a tunnel).
- ``end``: stop a flow now. ``shape``: bind the NFQUEUE delayer. ``quit``.

Each side sends its own ``segments`` (seconds after its start, payload bytes) —
the app's real opening — then, on a media flow, stamped media every ``frame_ms``
for ``hold`` seconds (``testbed.emu.media``). A side reports once (``report``):
when an exchange flow got all it expected, when a call's media ends, or when it
gives up: no answer within ``setup_timeout``, too much loss, ICMP unreachable
("refused") or a TCP reset ("reset").

    python -m testbed.emu.agent tbwa
"""

from __future__ import annotations

import contextlib
import errno
import functools
import heapq
import json
import os
import random
import selectors
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

from testbed.emu.media import Receiver, StreamSplitter, record_sizes, stamp

RCVBUF = 1 << 20
LOSS_CHECK_S = 1.0
STALL_S = 3.0      # media silent this long: the call is as good as dropped
TIMER_SLACK_S = 0.002  # a packet may leave up to 2 ms early (its stamp says when it left)


class Flow:
    """One side of one flow."""

    def __init__(self, agent: Agent, spec: dict[str, Any], client: bool) -> None:
        self.agent, self.spec, self.client = agent, spec, client
        self.id: str = spec["id"]
        self.tcp = spec["l4"] == "tcp"
        self.peer = (spec["peer"], int(spec["peer_port"]))
        self.segments = [(float(t), bytes.fromhex(p)) for t, p in spec["segments"]]
        self.templates = [bytes.fromhex(p) for p in spec.get("templates", ())]
        self.frame = float(spec.get("frame_ms", 20)) / 1000
        self.hold = float(spec.get("hold", 0))
        self.linger = float(spec.get("linger", 0.5))
        self.expect = int(spec.get("expect_bytes" if self.tcp else "expect_packets", 0))
        self.sock: socket.socket | None = None
        self.connected = not self.tcp or not client   # a TCP server side starts at accept
        self.recv = Receiver()
        self.start: float | None = None
        self.done = False
        self.error: str | None = None
        self.aborted: str | None = None
        self.sent = self.sent_bytes = self.sent_media = self.opening_sent = 0
        self.outbox = bytearray()
        peer_sizes = record_sizes(list(spec.get("peer_sizes", ())), list(spec.get("peer_media_sizes", ())))
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
        if self.client:
            timeout = float(self.spec.get("setup_timeout", 10))
            agent.at(now + self.opening_end + timeout if not self.templates else now + timeout,
                     self.check_answer)
        elif not self.templates:
            agent.at(now + self.opening_end + float(self.spec.get("setup_timeout", 10)),
                     lambda: self.finish("timeout"))

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
        self.maybe_complete(now)

    def maybe_complete(self, now: float) -> None:
        """An exchange (not a call's media) ends when both ways are through."""
        if not self.templates and not self.done and self._got_all() and self._sent_all():
            self.finish(None)

    def _got_all(self) -> bool:
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
        if stalled or self.recv.loss_pct() > float(self.spec.get("max_loss_pct", 100)):
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


class Agent:
    """The event loop: sockets, timers, the control channel and the delayer's queues."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.sel = selectors.DefaultSelector()
        self.timers: list[tuple[float, int, Callable[[], None]]] = []
        self._n = 0
        self.flows: dict[str, Flow] = {}
        self.by_peer: dict[tuple[int, str, int], Flow] = {}    # (local port, peer ip, peer port)
        self.udp: dict[int, socket.socket] = {}
        self.listeners: dict[int, socket.socket] = {}
        self.delayer: Any = None
        self.quit = False
        self._line = b""
        os.set_blocking(0, False)
        self.sel.register(0, selectors.EVENT_READ, self.on_control)

    def at(self, when: float, fn: Callable[[], None]) -> None:
        self._n += 1
        heapq.heappush(self.timers, (when, self._n, fn))

    def say(self, event: str, **fields: Any) -> None:
        sys.stdout.write(json.dumps({"ev": event, "host": self.name, **fields}) + "\n")
        sys.stdout.flush()

    def run(self) -> None:
        self.say("ready", pid=os.getpid())
        while not self.quit:
            due = [t for t in (self.timers[0][0] if self.timers else None,
                               self.delayer.next_due() if self.delayer else None) if t is not None]
            timeout = max(0.0, min(due) - time.time()) if due else 1.0
            for key, mask in self.sel.select(timeout):
                key.data(key.fileobj, mask)
            # timers due within the slack run now: one wake-up serves many flows' packets
            horizon = time.time() + TIMER_SLACK_S
            while self.timers and self.timers[0][0] <= horizon:
                heapq.heappop(self.timers)[2]()
            if self.delayer is not None:
                self.delayer.release()

    # -- control ---------------------------------------------------------------------------
    def on_control(self, _fd: Any, _mask: int) -> None:
        data = os.read(0, 65536)
        if not data:
            self.quit = True
            return
        self._line += data
        *lines, self._line = self._line.split(b"\n")
        for line in lines:
            if line.strip():
                self.command(json.loads(line))

    def command(self, cmd: dict[str, Any]) -> None:
        op = cmd["op"]
        if op == "open":
            flow = Flow(self, cmd, client=True)
            if cmd.get("start_in"):
                self.at(time.time() + float(cmd["start_in"]), lambda: self.open(flow))
            else:
                self.open(flow)
        elif op == "serve":
            self.serve(Flow(self, cmd, client=False))
            self.say("ack", id=cmd["id"])
        elif op == "end":
            known = self.flows.get(cmd["id"])
            if known is not None:
                known.finish("ended")
        elif op == "shape":
            self.shape(cmd)
            self.say("ack", id=cmd["id"])
        elif op == "quit":
            self.quit = True
        else:
            raise ValueError(f"unknown command {op!r}")

    def shape(self, cmd: dict[str, Any]) -> None:
        from testbed.emu.delayer import Delayer, by_destination, constant

        if self.delayer is None:
            self.delayer = Delayer(random.Random(cmd.get("seed", 0)), time.time)
        queues = [(int(cmd["path_queue"]), by_destination(
            {socket.inet_aton(ip): (d, j) for ip, (d, j) in cmd.get("path", {}).items()}))]
        queues += [(int(q), constant(d, j)) for q, (d, j) in cmd.get("degrade", {}).items()]
        for num, rule in queues:
            queue = self.delayer.bind(num, rule)
            if queue is not None:
                self.sel.register(queue.get_fd(), selectors.EVENT_READ,
                                  lambda _f, _m, q=queue: q.run(block=False))

    # -- flows -----------------------------------------------------------------------------
    def _socket(self, tcp: bool) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
        sock.setblocking(False)
        return sock

    def open(self, flow: Flow) -> None:
        self.flows[flow.id] = flow
        sock = self._socket(flow.tcp)
        if flow.spec.get("mark"):   # routed by ``ip rule fwmark``: this flow, not the host, enters a tunnel
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, int(flow.spec["mark"]))
        sock.bind(("0.0.0.0", int(flow.spec["local_port"])))
        flow.sock = sock
        if flow.tcp:
            code = sock.connect_ex(flow.peer)
            if code not in (0, errno.EINPROGRESS):
                flow.fail("refused")
                return
            self.sel.register(sock, selectors.EVENT_WRITE, lambda s, m: self._connected(flow))
            self.at(time.time() + float(flow.spec.get("setup_timeout", 10)), flow.connect_timeout)
            return
        sock.connect(flow.peer)
        self.sel.register(sock, selectors.EVENT_READ, lambda s, m: self._read(flow))
        flow.begin(time.time())

    def _connected(self, flow: Flow) -> None:
        sock = flow.sock
        assert sock is not None
        code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            flow.fail("reset" if code == errno.ECONNRESET else "refused")
            return
        flow.connected = True
        self.sel.modify(sock, selectors.EVENT_READ, lambda s, m: self._read(flow))
        flow.begin(time.time())

    def serve(self, flow: Flow) -> None:
        port = int(flow.spec["local_port"])
        self.flows[flow.id] = flow
        self.by_peer[(port, *flow.peer)] = flow
        if flow.tcp and port not in self.listeners:
            sock = self._socket(True)
            sock.bind(("0.0.0.0", port))
            sock.listen(256)
            self.listeners[port] = sock
            self.sel.register(sock, selectors.EVENT_READ, lambda s, m, p=port: self._accept(p))
        elif not flow.tcp and port not in self.udp:
            sock = self._socket(False)
            sock.bind(("0.0.0.0", port))
            self.udp[port] = sock
            self.sel.register(sock, selectors.EVENT_READ, lambda s, m, p=port: self._read_udp(p))
        if not flow.tcp:
            flow.sock = self.udp[port]

    def _accept(self, port: int) -> None:
        try:
            conn, (ip, peer_port) = self.listeners[port].accept()
        except BlockingIOError:
            return
        flow = self.by_peer.get((port, ip, peer_port))
        if flow is None or flow.done:
            conn.close()
            return
        conn.setblocking(False)
        flow.sock = conn
        self.sel.register(conn, selectors.EVENT_READ, lambda s, m: self._read(flow))
        flow.begin(time.time())

    def _read_udp(self, port: int) -> None:
        sock = self.udp[port]
        while True:
            try:
                data, (ip, peer_port) = sock.recvfrom(65536)
            except BlockingIOError:
                return
            flow = self.by_peer.get((port, ip, peer_port))
            if flow is not None:
                flow.on_data(data, time.time())

    def _read(self, flow: Flow) -> None:
        sock = flow.sock
        while sock is not None and not flow.done:
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                return
            except ConnectionRefusedError:
                flow.fail("refused")
                return
            except ConnectionResetError:
                flow.fail("reset")
                return
            if not data:   # the peer closed: nothing more will come
                if flow.tcp:
                    flow.finish(None if flow._got_all() else "closed")
                return
            flow.on_data(data, time.time())

    def flush(self, flow: Flow) -> None:
        """Write a TCP flow's outbox as far as the socket takes it."""
        sock = flow.sock
        if sock is None or not flow.connected or not flow.outbox:
            return
        try:
            n = sock.send(flow.outbox)
        except BlockingIOError:
            n = 0
        except (ConnectionResetError, BrokenPipeError):
            flow.fail("reset")
            return
        del flow.outbox[:n]
        if flow.outbox:
            self.at(time.time() + 0.005, lambda: self.flush(flow))
        else:
            flow.maybe_complete(time.time())

    def report(self, flow: Flow) -> None:
        self.say("report", id=flow.id, side="client" if flow.client else "server", error=flow.error,
                 aborted=flow.aborted, start=flow.start, end=time.time(), sent=flow.sent,
                 sent_bytes=flow.sent_bytes, sent_media=flow.sent_media, recv=flow.recv.summary())

    def forget(self, flow: Flow) -> None:
        self.flows.pop(flow.id, None)
        self.by_peer.pop((int(flow.spec["local_port"]), *flow.peer), None)
        sock = flow.sock
        if sock is not None and (flow.client or flow.tcp):
            with contextlib.suppress(KeyError, ValueError):   # never registered: connect failed
                self.sel.unregister(sock)
            sock.close()
        flow.sock = None


def main() -> None:
    Agent(sys.argv[1]).run()


if __name__ == "__main__":
    main()
