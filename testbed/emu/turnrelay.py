"""Our TURN client on a real connection: relays one call's UDP flow through a TURN server over TCP
or TLS (the ``turn-tcp443`` strategy), run in the subscriber's host.

    python -m testbed.emu.turnrelay --server 198.51.100.20 --port 443 [--tls CA] \\
        --user U --password P --peer 157.240.1.60:3478 --listen 40123

It allocates a UDP relay with long-term credentials, asks for a permission and binds a channel
to the peer (``testbed.packets.turn``), then prints one JSON line ``{"ev": "allocated",
"relayed": [ip, port], ...}`` and carries datagrams both ways: what the app sends to
127.0.0.1:LISTEN goes to the server as padded ChannelData on the stream, and what comes back on
the channel goes to the app. It ends when stdin closes, the server closes, or on any TURN error
(printed as ``{"ev": "error", ...}``, exit 1).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import selectors
import socket
import ssl
import sys
import time

from testbed.packets import stun, turn

SETUP_TIMEOUT_S = 10.0
REFRESH_S = 300.0      # well inside the 600 s allocation lifetime coturn grants


def _say(event: str, **fields: object) -> None:
    sys.stdout.write(json.dumps({"ev": event, **fields}) + "\n")
    sys.stdout.flush()


class Relay:
    def __init__(self, args: argparse.Namespace) -> None:
        self.started = time.monotonic()   # the set-up's time on the network, from the connect (not the spawn)
        raw = socket.create_connection((args.server, args.port), timeout=SETUP_TIMEOUT_S,
                                       source_address=("0.0.0.0", args.tcp_port))
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)   # voice frames must not wait for ACKs
        if args.tls:
            context = ssl.create_default_context(cafile=args.tls)
            self.conn: socket.socket = context.wrap_socket(raw, server_hostname=args.server_name)
        else:
            self.conn = raw
        self.client = turn.TurnClient(args.user, args.password, random.Random(os.urandom(8)), software="testbed")
        self.peer_ip, peer_port = args.peer.rsplit(":", 1)
        self.peer_port = int(peer_port)
        self.buffer = b""
        self.app: tuple[str, int] | None = None
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", args.listen))

    def _exchange(self, request: bytes, method: int) -> None:
        """Send a request and read answers until it succeeded (re-sending after 401/438)."""
        deadline = time.monotonic() + SETUP_TIMEOUT_S
        self.conn.sendall(request)
        while method not in self.client.done:
            if time.monotonic() > deadline:
                raise turn.TurnError(f"no answer to 0x{method:03x} in {SETUP_TIMEOUT_S:g} s")
            data = self.conn.recv(65536)
            if not data:
                raise turn.TurnError("the server closed the connection")
            messages, self.buffer = turn.split_stream(self.buffer + data)
            for msg in messages:
                again = self.client.on_message(msg)
                if again is not None:
                    self.conn.sendall(again)

    def setup(self) -> None:
        self._exchange(self.client.allocate(), turn.ALLOCATE)
        self._exchange(self.client.create_permission(self.peer_ip), turn.CREATE_PERMISSION)
        self._exchange(self.client.channel_bind(turn.FIRST_CHANNEL, self.peer_ip, self.peer_port), turn.CHANNEL_BIND)
        _say("allocated", relayed=self.client.relayed, mapped=self.client.mapped, channel=turn.FIRST_CHANNEL,
             listen=self.udp.getsockname()[1], local=self.conn.getsockname()[1],
             setup_ms=round((time.monotonic() - self.started) * 1000, 3))

    def run(self) -> None:
        self.conn.settimeout(None)
        self.conn.setblocking(False)
        self.udp.setblocking(False)
        sel = selectors.DefaultSelector()
        sel.register(self.conn, selectors.EVENT_READ, self._from_server)
        sel.register(self.udp, selectors.EVENT_READ, self._from_app)
        sel.register(sys.stdin, selectors.EVENT_READ, None)
        refresh = time.monotonic() + REFRESH_S
        while True:
            for key, _ in sel.select(timeout=1.0):
                if key.data is None:
                    if not sys.stdin.readline():
                        return
                elif not key.data():
                    return
            if time.monotonic() > refresh:
                self.conn.setblocking(True)
                self.conn.sendall(self.client.refresh(600))
                self.conn.setblocking(False)
                refresh = time.monotonic() + REFRESH_S

    def _from_app(self) -> bool:
        while True:
            try:
                data, self.app = self.udp.recvfrom(65536)
            except BlockingIOError:
                return True
            self.conn.setblocking(True)     # a stream: the frame goes whole or not at all
            self.conn.sendall(stun.channel_data(turn.FIRST_CHANNEL, data))
            self.conn.setblocking(False)

    def _from_server(self) -> bool:
        """Read all there is (a TLS socket may hold decrypted bytes select() does not see)."""
        while True:
            try:
                data = self.conn.recv(65536)
            except (BlockingIOError, ssl.SSLWantReadError):
                return True
            if not data:
                return False
            messages, self.buffer = turn.split_stream(self.buffer + data)
            for msg in messages:
                if msg[0] >= 0x40:
                    _channel, payload = turn.channel_payload(msg)
                    if self.app is not None:
                        self.udp.sendto(payload, self.app)
                else:
                    self.client.on_message(msg)   # a Refresh answer; raises on an error


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="turnrelay")
    p.add_argument("--server", required=True)
    p.add_argument("--port", type=int, default=443)
    p.add_argument("--tls", help="CA certificate: speak TLS and verify the server with it")
    p.add_argument("--server-name", default="tbturn", help="the name in the server's certificate")
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--peer", required=True, help="IP:PORT the relay sends to")
    p.add_argument("--listen", type=int, default=0, help="local UDP port the app sends to (127.0.0.1)")
    p.add_argument("--tcp-port", type=int, default=0, help="the connection's own port (0: any)")
    args = p.parse_args(argv)
    try:
        relay = Relay(args)
        relay.setup()
        relay.run()
    except (OSError, turn.TurnError) as exc:
        _say("error", error=f"{type(exc).__name__}: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
