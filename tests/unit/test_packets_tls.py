"""TLS ClientHello SNI: built and read back; real ClientHellos read as tshark reads them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from testbed.packets import tls
from testbed.packets.capture import read_ip
from testbed.packets.ip import TCP, parse_ip

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "pcap"


def test_round_trip() -> None:
    hello = tls.client_hello("web.whatsapp.com", b"r" * 32, b"s" * 32)
    assert tls.server_name(hello) == "web.whatsapp.com"
    assert all(tls.server_name(hello[:n]) is None for n in range(len(hello) - 20))
    assert tls.server_name(b"\x17" + hello[1:]) is None  # application data, not a handshake


@pytest.mark.corpus
@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark (apt) is the referee here")
@pytest.mark.parametrize("capture", ["sites.pcapng", "viber.pcap"])
def test_real_server_names_as_tshark_reads_them(capture: str) -> None:
    """Every SNI of a TCP ClientHello (QUIC's are encrypted: not ours to read)."""
    ours = set()
    for _, packet in read_ip(CORPUS / capture):
        d = parse_ip(packet)
        if d is not None and d.proto == TCP and d.payload[:1] == b"\x16":
            name = tls.server_name(d.payload)
            if name:
                ours.add(name)
    out = subprocess.run(["tshark", "-r", str(CORPUS / capture), "-Y", "tls.handshake.type == 1 && tcp", "-T", "fields",
                          "-e", "tls.handshake.extensions_server_name"], capture_output=True, text=True, check=True)
    theirs = {line.strip() for line in out.stdout.splitlines() if line.strip()}
    assert len(theirs) >= 6
    assert ours == theirs
