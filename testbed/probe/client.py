"""An OONI-like test's client, for the emulation: run in a subscriber host's namespace.

    python -m testbed.probe.client < request > results

Its request and results are typed messages of the emulation (``testbed.emu.messages``:
``ReachRequest`` in, ``ReachResults`` out, one JSON line each).

The request names the resolver, the CA file that signs the front ends' certificate, the
timeout and the targets, each with the local ports its DNS and TCP sockets use (so the
orchestrator can find the DPI's verdict on each flow). Per target, as OONI's tests do:
resolve the name (UDP to the resolver, two tries), connect, and for ``https`` a TLS
handshake naming the host (SNI) with the certificate verified, then a GET; for ``http``
a plain request. Targets run concurrently. Each result says how far it got:
``failed_operation`` and ``failure`` in OONI's terms, or none.
"""

from __future__ import annotations

import random
import socket
import ssl
import sys
from concurrent.futures import ThreadPoolExecutor

from testbed.emu.messages import ReachItem, ReachRequest, ReachResult, ReachResults, decode, encode
from testbed.packets import dns
from testbed.probe.ooni import (
    CONNECT,
    DNS,
    HTTP_TRANSACTION,
    HTTPS,
    NXDOMAIN,
    REFUSED,
    RESET,
    RESOLVE,
    TCP,
    TIMEOUT,
    TLS_HANDSHAKE,
    Target,
)
from testbed.probe.reach import http_request

DNS_TRIES = 2


class Failed(Exception):
    def __init__(self, operation: str, failure: str) -> None:
        super().__init__(f"{operation}: {failure}")
        self.operation, self.failure = operation, failure


def _failure(exc: BaseException) -> str:
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return TIMEOUT
    if isinstance(exc, ConnectionResetError):
        return RESET
    if isinstance(exc, ConnectionRefusedError):
        return REFUSED
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "ssl_invalid_hostname" if "hostname" in str(exc) else "ssl_unknown_authority"
    if isinstance(exc, (ssl.SSLError, EOFError)):
        return "ssl_failed_handshake"
    return f"unknown_failure: {exc}"


def resolve(name: str, resolver: str, local_port: int, timeout: float) -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("0.0.0.0", local_port))
        sock.settimeout(timeout)
        ident = random.getrandbits(16)
        for _ in range(DNS_TRIES):
            sock.sendto(dns.query(name, ident), (resolver, dns.PORT))
            try:
                while True:
                    answer = dns.parse_response(sock.recv(4096))
                    if answer.ident == ident:
                        break
            except TimeoutError:
                continue
            except dns.DnsError as exc:
                raise Failed(RESOLVE, f"dns_bogus_answer: {exc}") from None
            if answer.rcode == dns.NXDOMAIN or not answer.addresses:
                raise Failed(RESOLVE, NXDOMAIN)
            return answer.addresses[0]
    raise Failed(RESOLVE, TIMEOUT)


def _read_response(conn: socket.socket | ssl.SSLSocket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    if not data.startswith(b"HTTP/1."):
        raise Failed(HTTP_TRANSACTION, "eof_error" if not data else "http_bogus_response")
    return data


def reach(target: Target, address: str, local_port: int, cafile: str, timeout: float) -> None:
    """Connect, then what the target asks for; raises ``Failed`` at the operation that failed."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.settimeout(timeout)
    try:
        sock.bind(("0.0.0.0", local_port))
        try:
            sock.connect((address, target.port))
        except OSError as exc:
            raise Failed(CONNECT, _failure(exc)) from None
        if target.kind == TCP:
            return
        conn: socket.socket | ssl.SSLSocket = sock
        if target.kind == HTTPS:
            context = ssl.create_default_context(cafile=cafile)
            try:
                conn = context.wrap_socket(sock, server_hostname=target.host)
            except OSError as exc:
                raise Failed(TLS_HANDSHAKE, _failure(exc)) from None
        try:
            conn.sendall(http_request(target))
            response = _read_response(conn)
        except OSError as exc:
            raise Failed(HTTP_TRANSACTION, _failure(exc)) from None
        location = next((h for h in response.split(b"\r\n") if h.lower().startswith(b"location:")), b"")
        if target.kind != HTTPS and target.method == "GET" and b"https://" not in location:
            raise Failed(HTTP_TRANSACTION, "http_no_redirect_to_https")   # ts-018: the HTTP URL redirects to HTTPS
    finally:
        sock.close()


def run_one(item: ReachItem, request: ReachRequest) -> ReachResult:
    target = item.target
    address = target.host if target.literal else ""
    try:
        if not target.literal:
            address = resolve(target.host, request.resolver, item.dns_port, request.timeout)
        if target.kind != DNS:
            reach(target, address, item.tcp_port, request.cafile, request.timeout)
    except Failed as f:
        return ReachResult(address, f.operation, f.failure)
    return ReachResult(address)


def main() -> None:
    request = decode(sys.stdin.buffer.read())
    if not isinstance(request, ReachRequest):
        raise SystemExit(f"expected a reach request, got {type(request).__name__}")
    items = request.items
    with ThreadPoolExecutor(max_workers=min(32, max(1, len(items)))) as pool:
        results = tuple(pool.map(lambda item: run_one(item, request), items))
    sys.stdout.buffer.write(encode(ReachResults(results)))


if __name__ == "__main__":
    main()
