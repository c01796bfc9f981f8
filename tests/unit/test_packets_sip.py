"""SIP (RFC 3261): INVITE and responses built and parsed; real REGISTER and 401."""

from __future__ import annotations

from pathlib import Path

import pytest

from testbed.packets import sip
from testbed.packets.capture import read_ip
from testbed.packets.ip import parse_ip

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "pcap"


def test_invite_and_response_round_trip() -> None:
    invite = sip.invite("212600000001@ims.example", "212600000002@ims.example", "10.10.0.2", 5060,
                        "call-1@ims.example", "b1", "t1", 10000)
    msg = sip.parse(invite)
    assert msg is not None and msg.method == "INVITE" and msg.status is None
    assert msg.headers["call-id"] == "call-1@ims.example"
    assert msg.headers["content-length"] == str(len(invite.split(b"\r\n\r\n", 1)[1]))
    ringing = sip.parse(sip.response(invite, 180, "Ringing"))
    assert ringing.status == 180 and ringing.method is None
    assert {k: ringing.headers[k] for k in ("via", "from", "call-id", "cseq")} == \
        {k: msg.headers[k] for k in ("via", "from", "call-id", "cseq")}


def test_not_sip() -> None:
    for data in (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"INVITE sip:x SIP/3.0\r\n\r\n",
                 b"SIP/2.0 2000 OK\r\n\r\n", b"\xff\xfe INVITE", b"hello"):
        assert sip.parse(data) is None
    with pytest.raises(ValueError):
        sip.response(b"hello", 200, "OK")


@pytest.mark.corpus
def test_real_register_and_challenge() -> None:
    seen = []
    for _, packet in read_ip(CORPUS / "sip.pcap"):
        d = parse_ip(packet)
        msg = sip.parse(d.payload) if d is not None and d.payload else None
        if msg is not None:
            seen.append(msg.method or msg.status)
    assert seen[:2] == ["REGISTER", 401]
    assert seen.count("INVITE") >= 3 and len(seen) >= 40
