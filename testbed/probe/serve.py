"""The servers OONI's app tests reach, for the emulation: run in a host's namespace.

    python -m testbed.probe.serve resolver ZONE   (a ``Zone`` message of ``testbed.emu.messages``)
    python -m testbed.probe.serve frontend CERT KEY PORT...

``resolver``: a DNS server on UDP 53 answering A queries from the zone (``{name: address}``,
RFC 1035; NXDOMAIN for other names). ``frontend``: TCP listeners on the ports; a
connection whose first byte is a TLS handshake record gets a real TLS handshake (Python's
``ssl``, the certificate made at run time for every name the front end answers) and then
an HTTP answer; a plain HTTP request gets its answer at once (a GET is sent to HTTPS, as
web.whatsapp.com does); a connection that sends nothing (a connect-only test) is held
until the client closes it. Prints ``ready`` once listening; ends on SIGTERM or stdin EOF.
"""

from __future__ import annotations

import socket
import ssl
import sys
import threading
from pathlib import Path

from testbed.emu.messages import Zone, decode
from testbed.packets import dns
from testbed.probe.ooni import HTTP, HTTPS, Target
from testbed.probe.reach import http_response

IDLE_S = 10.0          # a connection that sends nothing for this long is closed
MAX_REQUEST = 16384


def resolver(zone: dict[str, str]) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("0.0.0.0", dns.PORT))
    _ready()
    while True:
        data, peer = sock.recvfrom(4096)
        try:
            q = dns.parse_query(data)
        except dns.DnsError:
            continue
        address = zone.get(q.name.lower().rstrip("."))
        sock.sendto(dns.response(q, (address,) if address else ()), peer)


def _request(conn: socket.socket | ssl.SSLSocket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data and len(data) < MAX_REQUEST:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def _answer(conn: socket.socket | ssl.SSLSocket, request: bytes, tls: bool) -> None:
    line = request.split(b"\r\n", 1)[0].decode("ascii", "replace").split()
    host = next((h.split(b":", 1)[1].strip().decode("ascii", "replace") for h in request.split(b"\r\n")
                 if h.lower().startswith(b"host:")), "")
    if len(line) >= 2:
        target = Target(HTTPS if tls else HTTP, host.split(":")[0], 0, line[1], line[0])
        conn.sendall(http_response(target))


def _serve(conn: socket.socket, context: ssl.SSLContext) -> None:
    try:
        conn.settimeout(IDLE_S)
        first = conn.recv(1, socket.MSG_PEEK)
        if not first:
            return
        if first[0] == 0x16:       # a TLS handshake record
            with context.wrap_socket(conn, server_side=True) as tls:
                _answer(tls, _request(tls), True)
                tls.unwrap()
        else:
            _answer(conn, _request(conn), False)
    except (OSError, ssl.SSLError):
        pass                       # the DPI dropped or reset it: the client tells what happened
    finally:
        conn.close()


def frontend(cert: str, key: str, ports: list[int]) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listeners = []
    for port in ports:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("0.0.0.0", port))
        sock.listen(256)
        listeners.append(sock)

    def accept(sock: socket.socket) -> None:
        while True:
            conn, _ = sock.accept()
            threading.Thread(target=_serve, args=(conn, context), daemon=True).start()

    for sock in listeners:
        threading.Thread(target=accept, args=(sock,), daemon=True).start()
    _ready()
    sys.stdin.read()               # until the orchestrator closes our stdin (or kills us)


def _ready() -> None:
    print("ready", flush=True)


def main(argv: list[str]) -> None:
    if argv[0] == "resolver":
        zone = decode(Path(argv[1]).read_bytes())
        if not isinstance(zone, Zone):
            raise SystemExit(f"{argv[1]}: expected a zone, got {type(zone).__name__}")
        records = {k.lower(): v for k, v in zone.records.items()}
        threading.Thread(target=resolver, args=(records,), daemon=True).start()
        sys.stdin.read()
    else:
        frontend(argv[1], argv[2], [int(p) for p in argv[3:]])


if __name__ == "__main__":
    main(sys.argv[1:])
