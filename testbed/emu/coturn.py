"""Real coturn (Debian's ``turnserver`` 4.6) on the emulated network: the ``turn-tcp443`` strategy.

coturn listens on the TURN host's port 443 for TURN over TCP and, on the same port, TURN over
TLS (coturn tells them apart by the first bytes) with a certificate from the run's CA;
long-term credentials (one user, one realm: ``testbed.traffic.circumvention``'s); UDP relay
endpoints. A call's relay client (``testbed.emu.turnrelay``, our TURN implementation) runs in
the subscriber's host; the app's socket sends to it on loopback, and the callee sees the call
coming from the relayed address coturn allocated.
"""

from __future__ import annotations

import json
import select
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testbed.emu.pki import Pki
from testbed.emu.state import stop_processes
from testbed.traffic.circumvention import TURN_PASSWORD, TURN_REALM, TURN_USER

PORT = 443
RELAY_PORTS = (49152, 65535)
LISTEN_PORTS = range(20000, 25000)   # the relay clients' loopback ports: below the agents' client ports
READY_TIMEOUT_S = 15.0


def server_args(listen: str, pki: Pki, name: str, private: Path, log: Path) -> list[str]:
    cert = pki.servers[name]
    return ["turnserver", "-n", "--listening-ip", listen, "--relay-ip", listen, "--listening-port", str(PORT),
            "--tls-listening-port", "5349", "--no-dtls", "--no-udp", "--no-tcp-relay",
            "--lt-cred-mech", "--user", f"{TURN_USER}:{TURN_PASSWORD}", "--realm", TURN_REALM, "--fingerprint",
            "--cert", str(cert.cert), "--pkey", str(cert.key), "--no-tlsv1", "--no-tlsv1_1",
            "--min-port", str(RELAY_PORTS[0]), "--max-port", str(RELAY_PORTS[1]),
            "--userdb", str(private / "turndb"), "--pidfile", str(private / "turnserver.pid"),
            "--no-cli", "--no-rfc5780", "--no-stun-backward-compatibility",
            "--log-file", str(log), "--simple-log", "--no-stdout-log"]


def relay_args(server: str, peer: tuple[str, int], listen: int, ca: Path | None, tcp_port: int = 0) -> list[str]:
    args = [sys.executable, "-m", "testbed.emu.turnrelay", "--server", server, "--port", str(PORT),
            "--user", TURN_USER, "--password", TURN_PASSWORD, "--peer", f"{peer[0]}:{peer[1]}",
            "--listen", str(listen), "--tcp-port", str(tcp_port)]
    return args + ["--tls", str(ca)] if ca is not None else args


@dataclass
class RelayClient:
    """A relay client: where the app sends, where the callee sees the call from (once allocated),
    and the connection's own port (the 5-tuple the DPI sees)."""

    host: str
    proc: subprocess.Popen[bytes]
    listen: int
    relayed: tuple[str, int] = ("", 0)
    tcp_port: int = 0
    error: str = ""
    log: Path | None = None
    setup_ms: float = 0.0      # the relay's connect, Allocate, CreatePermission and ChannelBind, timed by it

    def poll(self) -> bool:
        """Has it answered (allocated, or failed)? Never blocks."""
        if self.relayed[1] or self.error:
            return True
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 0)
        if not ready:
            if self.proc.poll() is not None:
                self.error = f"exited {self.proc.returncode}"
                return True
            return False
        line = self.proc.stdout.readline()
        msg = json.loads(line) if line.startswith(b"{") else {"ev": "error", "error": f"exited {self.proc.poll()}"}
        if msg["ev"] == "allocated":
            self.relayed, self.tcp_port = tuple(msg["relayed"]), int(msg["local"])  # type: ignore[assignment]
            self.setup_ms = float(msg.get("setup_ms", 0.0))
        else:
            self.error = str(msg.get("error"))
        return True

    def stop(self) -> None:
        if self.proc.stdin is not None and self.proc.poll() is None:
            self.proc.stdin.close()     # the relay ends when its stdin closes
        try:
            self.proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Coturn:
    """coturn on the TURN host of a running ``Session``, and relay clients for calls."""

    def __init__(self, session: Any, pki: Pki, server_host: str = "tbturn") -> None:
        self.s, self.pki, self.host = session, pki, server_host
        self.server: subprocess.Popen[bytes] | None = None
        self.relays: list[RelayClient] = []
        self._listen = iter(LISTEN_PORTS)
        self.log = session.workdir / "logs" / f"coturn-{server_host}.log"

    def start(self) -> None:
        node = self.s.net.get(self.host)
        args = server_args(self.s.ips[self.host], self.pki, self.host, self.s.state.private, self.log)
        self.server = node.popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.s.state.process(self.server.pid, f"turnserver on {self.host}")
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:   # listening on 443: what ss in its namespace says
            if f":{PORT} " in node.cmd("ss", "-Htln", "sport", "=", f":{PORT}"):
                return
            if self.server.poll() is not None:
                break
            time.sleep(0.1)
        tail = self.log.read_text(errors="replace")[-800:] if self.log.exists() else ""
        raise RuntimeError(f"coturn did not start listening on {PORT}: {tail}")

    def start_relay(self, host: str, peer: tuple[str, int], tls: bool = False, tcp_port: int = 0) -> RelayClient:
        """Start a relay client in ``host`` for one call to ``peer`` (``poll`` says when it allocated)."""
        node = self.s.net.get(host)
        listen = next(self._listen)
        logs = self.s.workdir / "logs" / f"turnrelay-{host}-{listen}.log"
        with open(logs, "wb") as err:
            proc = node.popen(relay_args(self.s.ips[self.host], peer, listen, self.pki.ca if tls else None, tcp_port),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
        self.s.state.process(proc.pid, f"turn relay client on {host}")
        # the connection's port known before it allocates: a relay the DPI stops never reports it
        client = RelayClient(host, proc, listen, tcp_port=tcp_port, log=logs)
        self.relays.append(client)
        return client

    def relay(self, host: str, peer: tuple[str, int], tls: bool = False, tcp_port: int = 0) -> RelayClient:
        """``start_relay``, waiting until it allocated; raises if it did not."""
        client = self.start_relay(host, peer, tls, tcp_port)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not client.poll():
            if time.monotonic() > deadline:
                client.error = "no answer"
                break
            time.sleep(0.02)
        if client.error:
            client.stop()
            raise RuntimeError(f"TURN relay client on {host}: {client.error} (see {client.log})")
        return client

    def forget(self, client: RelayClient) -> None:
        """A call's relay is over: stop it."""
        client.stop()
        if client in self.relays:
            self.relays.remove(client)

    def close(self) -> None:
        for client in self.relays:
            client.stop()
        self.relays.clear()
        if self.server is not None:
            stop_processes([self.server])
