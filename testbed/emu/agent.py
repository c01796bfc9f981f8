"""A traffic agent: one process per emulated host, started in the host's namespace.

It places and answers flows on real sockets, as the orchestrator commands it on
stdin, and reports on stdout (``testbed.emu.messages``, one JSON line each):

- ``Serve``: expect a flow from ``peer:peer_port`` on ``local_port``; it starts at
  the flow's first packet (UDP) or connection (TCP). Answered with ``Ack``.
- ``Open``: start a flow from ``local_port`` to ``peer:peer_port``; with ``mark``, its
  socket carries that SO_MARK (an ``ip rule fwmark`` sends the flow into a tunnel).
- ``End``: stop a flow now. ``Shape``: bind the NFQUEUE delayer (``Ack``). ``Quit``.

What one side of a flow does is ``testbed.emu.flowside``; it ends with one
``Report``. This module is the event loop: sockets, timers, the control channel
and the delayer's queues.

    python -m testbed.emu.agent tbwa
"""

from __future__ import annotations

import contextlib
import errno
import heapq
import os
import random
import selectors
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

from testbed.emu.flowside import FlowSide
from testbed.emu.messages import Ack, AgentReady, End, Message, Open, Quit, Report, Serve, Shape, decode, encode

RCVBUF = 1 << 20
TIMER_SLACK_S = 0.002  # a packet may leave up to 2 ms early (its stamp says when it left)


class Agent:
    """The event loop: sockets, timers, the control channel and the delayer's queues."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.sel = selectors.DefaultSelector()
        self.timers: list[tuple[float, int, Callable[[], None]]] = []
        self._n = 0
        self.flows: dict[str, FlowSide] = {}
        self.by_peer: dict[tuple[int, str, int], FlowSide] = {}    # (local port, peer ip, peer port)
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

    def say(self, msg: Message) -> None:
        sys.stdout.buffer.write(encode(msg))
        sys.stdout.flush()

    def run(self) -> None:
        self.say(AgentReady(self.name, os.getpid()))
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
                self.command(decode(line))

    def command(self, cmd: Message) -> None:
        if isinstance(cmd, Open):
            flow = FlowSide(self, cmd.side, client=True)
            if cmd.start_in:
                self.at(time.time() + cmd.start_in, lambda: self.open(flow, cmd.mark))
            else:
                self.open(flow, cmd.mark)
        elif isinstance(cmd, Serve):
            self.serve(FlowSide(self, cmd.side, client=False))
            self.say(Ack(self.name, cmd.side.id))
        elif isinstance(cmd, End):
            known = self.flows.get(cmd.id)
            if known is not None:
                known.finish("ended")
        elif isinstance(cmd, Shape):
            self.shape(cmd)
            self.say(Ack(self.name, cmd.id))
        elif isinstance(cmd, Quit):
            self.quit = True
        else:
            raise ValueError(f"not a command: {cmd!r}")

    def shape(self, cmd: Shape) -> None:
        from testbed.emu.delayer import Delayer, by_destination, constant

        if self.delayer is None:
            self.delayer = Delayer(random.Random(cmd.seed), time.time)
        queues = [(cmd.path_queue, by_destination({socket.inet_aton(ip): dj for ip, dj in cmd.path.items()}))]
        queues += [(q, constant(d, j)) for q, (d, j) in cmd.degrade.items()]
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
        if tcp:   # voice frames must not wait for ACKs (Nagle), as our tunnels set it too
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        return sock

    def open(self, flow: FlowSide, mark: int = 0) -> None:
        self.flows[flow.id] = flow
        flow.opened = time.time()
        sock = self._socket(flow.tcp)
        if mark:   # routed by ``ip rule fwmark``: this flow, not the host, enters a tunnel
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, mark)
        sock.bind(("0.0.0.0", flow.spec.local_port))
        flow.sock = sock
        if flow.tcp:
            code = sock.connect_ex(flow.peer)
            if code not in (0, errno.EINPROGRESS):
                flow.fail("refused")
                return
            self.sel.register(sock, selectors.EVENT_WRITE, lambda s, m: self._connected(flow))
            self.at(time.time() + flow.spec.setup_timeout, flow.connect_timeout)
            return
        try:
            sock.connect(flow.peer)
        except OSError:   # no route: a tunnel's kill switch while the tunnel is down
            flow.fail("refused")
            return
        self.sel.register(sock, selectors.EVENT_READ, lambda s, m: self._read(flow))
        flow.begin(time.time())

    def _connected(self, flow: FlowSide) -> None:
        sock = flow.sock
        assert sock is not None
        code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            flow.fail("reset" if code == errno.ECONNRESET else "refused")
            return
        flow.connected = True
        self.sel.modify(sock, selectors.EVENT_READ, lambda s, m: self._read(flow))
        flow.begin(time.time())

    def serve(self, flow: FlowSide) -> None:
        port = flow.spec.local_port
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
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
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

    def _read(self, flow: FlowSide) -> None:
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

    def flush(self, flow: FlowSide) -> None:
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

    def report(self, flow: FlowSide) -> None:
        self.say(Report(self.name, flow.id, "client" if flow.client else "server", flow.error, flow.aborted,
                        flow.opened, flow.start, time.time(), flow.sent, flow.sent_bytes, flow.sent_media,
                        flow.recv.summary()))

    def forget(self, flow: FlowSide) -> None:
        self.flows.pop(flow.id, None)
        self.by_peer.pop((flow.spec.local_port, *flow.peer), None)
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
