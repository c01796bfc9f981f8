"""Real OpenVPN (Debian's 2.6) on the emulated network: the ``vpn`` (UDP 1194) and ``vpn-tcp443``
(TCP 443) strategies.

A server on the VPN host and a client in each subscriber host that has adopters, configured as
VPN providers ship them: TLS with ``tls-auth`` (SHA1 HMAC, the static key of
``openvpn --genkey``), certificates from the run's throw-away CA (``testbed.emu.pki``), no DCO
(``--disable-dco``: the kernel module is not there in namespaces). Several subscribers share a
host, so nothing routes a *host* into the tunnel: a call's sockets carry a mark (``MARKS``,
``FlowSpec.mark``) and ``ip rule fwmark`` sends exactly those through a table whose only route
is the tun device. The server NATs (MASQUERADE, in its own namespace) what comes out of the
tunnel and forwards it to the relay, so the relay sees the call coming from the VPN host.

Path delay and loss: see ``testbed.emu.shaping`` (packets into a tun device are not shaped; the
tunnel's packets and what the server forwards are).

The pure part (arguments, routing commands) is separate from starting processes (``OpenVpn``).
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testbed.emu.pki import Pki
from testbed.emu.shaping import TUNNEL_DEVICES
from testbed.emu.state import stop_processes

READY_TIMEOUT_S = 20.0
READY_LINE = "Initialization Sequence Completed"


@dataclass(frozen=True)
class Transport:
    """One OpenVPN service: its protocol and port, address pool, tun device, socket mark, table."""

    name: str          # the strategy it carries
    proto: str         # udp | tcp
    port: int
    pool: str          # /24 network of the tunnel addresses
    device: str
    mark: int
    table: int

    @property
    def server_ip(self) -> str:
        return self.pool.rsplit(".", 1)[0] + ".1"


TRANSPORTS = {t.name: t for t in (
    Transport("vpn", "udp", 1194, "10.8.0.0", f"{TUNNEL_DEVICES}0", 0x7B01, 101),
    Transport("vpn-tcp443", "tcp", 443, "10.9.0.0", f"{TUNNEL_DEVICES}1", 0x7B02, 102),
)}
MARKS = {name: t.mark for name, t in TRANSPORTS.items()}


def server_args(t: Transport, listen: str, pki: Pki, server_name: str, log: Path) -> list[str]:
    cert = pki.servers[server_name]
    return ["openvpn", "--server", t.pool, "255.255.255.0", "--topology", "subnet",
            "--proto", "udp4" if t.proto == "udp" else "tcp4-server", "--local", listen, "--port", str(t.port),
            "--dev", t.device, "--dev-type", "tun", "--disable-dco",
            "--ca", str(pki.ca), "--cert", str(cert.cert), "--key", str(cert.key), "--dh", "none",
            "--tls-auth", str(pki.tls_auth), "0", "--duplicate-cn", "--keepalive", "10", "60",
            "--tcp-nodelay",             # (pushed to the clients too) voice frames must not wait for ACKs
            "--verb", "3", "--log", str(log)]


def client_args(t: Transport, server: str, pki: Pki, server_name: str, log: Path, lport: int = 0) -> list[str]:
    """``lport``: the client's own port (its tunnel's 5-tuple known in advance); 0: any."""
    local = ["--bind", "--lport", str(lport)] if lport else ["--nobind"]
    return ["openvpn", "--client", "--remote", server, str(t.port),
            "--proto", "udp4" if t.proto == "udp" else "tcp4-client", *local,
            "--dev", t.device, "--dev-type", "tun", "--disable-dco",
            "--ca", str(pki.ca), "--cert", str(pki.client.cert), "--key", str(pki.client.key),
            "--tls-auth", str(pki.tls_auth), "1", "--remote-cert-tls", "server",
            "--verify-x509-name", server_name, "name",
            "--route-noexec",            # the server pushes no routes we want: the marks route
            "--connect-retry", "1", "--server-poll-timeout", "5",
            "--verb", "3", "--log", str(log)]


def kill_switch(t: Transport) -> list[list[str]]:
    """Commands in the client's host, before the tunnel: marked sockets look up their own table,
    which holds a blackhole until the tunnel's route comes — a marked flow never leaves the
    host outside the tunnel (its connect fails instead), tunnel up or not, as VPN apps' kill
    switches do."""
    return [["sh", "-c", f"ip rule del fwmark {hex(t.mark)} lookup {t.table} 2>/dev/null; "
                         f"ip rule add fwmark {hex(t.mark)} lookup {t.table} priority {t.table}"],
            ["ip", "route", "replace", "blackhole", "default", "metric", "4000", "table", str(t.table)]]


def client_routing(t: Transport) -> list[list[str]]:
    """Commands in the client's host once the tunnel is up: its table's route is the tun device.
    Reverse-path filtering is off on it: replies come back on it from addresses the main table
    routes out of the host's link."""
    return [["ip", "route", "replace", "default", "dev", t.device, "table", str(t.table)],
            ["sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0", f"net.ipv4.conf.{t.device}.rp_filter=0"]]


def server_forwarding(t: Transport, intf: str) -> list[list[str]]:
    """Commands in the VPN host: forward out of the tunnel, NATed to the host's own address."""
    return [["sysctl", "-qw", "net.ipv4.ip_forward=1"],
            ["iptables", "-t", "nat", "-A", "POSTROUTING", "-s", f"{t.pool}/24", "-o", intf, "-j", "MASQUERADE"]]


def tunnel_address(ip_addr_output: str) -> str | None:
    """The IPv4 address in ``ip -o -4 addr show dev X`` output, or None."""
    for word, nxt in zip(ip_addr_output.split(), ip_addr_output.split()[1:]):
        if word == "inet":
            return nxt.split("/")[0]
    return None


class OpenVpn:
    """OpenVPN servers and clients on a running ``Session``; every process recorded in its run state."""

    def __init__(self, session: Any, pki: Pki, server_host: str = "tbvpn") -> None:
        self.s, self.pki, self.server_host = session, pki, server_host
        self.procs: dict[tuple[str, str], subprocess.Popen[bytes]] = {}
        self.logs = session.workdir / "logs"

    def _cmd(self, host: str, args: list[str]) -> None:
        done = self.s.net.get(host).popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = done.communicate(timeout=10)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} on {host}: {err.decode().strip()}")

    def _start(self, host: str, name: str, args: list[str]) -> Path:
        log = Path(args[args.index("--log") + 1])
        log.unlink(missing_ok=True)
        proc = self.s.net.get(host).popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.s.state.process(proc.pid, f"openvpn {name} on {host}")
        self.procs[(host, name)] = proc
        return log

    def _wait_ready(self, host: str, name: str, log: Path, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        proc = self.procs[(host, name)]
        while True:
            if log.exists() and READY_LINE in log.read_text(errors="replace"):
                return True
            if proc.poll() is not None:
                raise RuntimeError(f"openvpn {name} on {host} exited {proc.returncode}: "
                                   f"{log.read_text(errors='replace')[-800:] if log.exists() else ''}")
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)

    def start_server(self, name: str) -> None:
        t = TRANSPORTS[name]
        node = self.s.net.get(self.server_host)
        log = self._start(self.server_host, name, server_args(
            t, self.s.ips[self.server_host], self.pki, self.server_host, self.logs / f"openvpn-{self.server_host}-{name}.log"))
        if not self._wait_ready(self.server_host, name, log, READY_TIMEOUT_S):
            raise RuntimeError(f"the OpenVPN server ({name}) did not start; see {log}")
        for args in server_forwarding(t, str(node.defaultIntf())):
            self._cmd(self.server_host, args)

    def connect(self, host: str, name: str, timeout: float = READY_TIMEOUT_S, lport: int = 0) -> str | None:
        """Start the client in ``host`` and route marked sockets into it; its tunnel address, or
        None when the tunnel did not come up within ``timeout`` (blocked, for instance)."""
        return self.connect_all([host], name, timeout, {host: lport} if lport else None)[host]

    def connect_all(self, hosts: list[str], name: str, timeout: float = READY_TIMEOUT_S,
                    lports: dict[str, int] | None = None) -> dict[str, str | None]:
        """``connect`` for several hosts at once: every client started, then each waited for
        (one deadline for all)."""
        t = TRANSPORTS[name]
        for host in hosts:
            for args in kill_switch(t):
                self._cmd(host, args)
        logs = {h: self._start(h, name, client_args(t, self.s.ips[self.server_host], self.pki, self.server_host,
                                                    self.logs / f"openvpn-{h}-{name}.log", (lports or {}).get(h, 0)))
                for h in hosts}
        deadline = time.monotonic() + timeout
        out: dict[str, str | None] = {}
        for host in hosts:
            out[host] = None
            if self._wait_ready(host, name, logs[host], max(0.0, deadline - time.monotonic())):
                for args in client_routing(t):
                    self._cmd(host, args)
                out[host] = tunnel_address(self.s.net.get(host).cmd("ip", "-o", "-4", "addr", "show", "dev", t.device))
        return out

    def disconnect(self, host: str, name: str) -> None:
        """Stop a client; the table's route goes with the device, the kill switch stays."""
        proc = self.procs.pop((host, name), None)
        if proc is None:
            return
        stop_processes([proc])

    def close(self) -> None:
        for host, name in list(self.procs):
            self.disconnect(host, name)
