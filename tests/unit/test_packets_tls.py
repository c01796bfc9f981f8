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


def test_server_flight_records() -> None:
    hello = tls.server_hello(b"r" * 32, b"s" * 32, b"k" * 32)
    assert hello[:3] == b"\x16\x03\x03" and int.from_bytes(hello[3:5], "big") == len(hello) - 5
    assert hello[5] == 2 and int.from_bytes(hello[6:9], "big") == len(hello) - 9
    assert tls.change_cipher_spec() == b"\x14\x03\x03\x00\x01\x01"
    records = tls.encrypted(b"x" * 40000)
    assert [len(r) - 5 for r in records] == [16384, 16384, 40000 - 2 * 16384]
    assert tls.client_hello("", b"r" * 32)[:1] == b"\x16" and tls.server_name(tls.client_hello("", b"r" * 32)) is None
    with pytest.raises(ValueError):
        tls.record(23, b"x" * (16384 + 257))
