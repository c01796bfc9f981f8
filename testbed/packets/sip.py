"""SIP (RFC 3261) requests and responses as text: enough to place and parse a call."""

from __future__ import annotations

from dataclasses import dataclass

METHODS = ("INVITE", "ACK", "BYE", "CANCEL", "REGISTER", "OPTIONS", "PRACK", "SUBSCRIBE",
           "NOTIFY", "PUBLISH", "INFO", "REFER", "MESSAGE", "UPDATE")


@dataclass(frozen=True, slots=True)
class SipMessage:
    start_line: str
    method: str | None  # None for a response
    status: int | None
    headers: dict[str, str]


def invite(caller: str, callee: str, local_ip: str, local_port: int, call_id: str, branch: str,
           tag: str, rtp_port: int, payload_type: int = 0) -> bytes:
    """An INVITE with an SDP offer for one audio stream."""
    sdp = (f"v=0\r\no=- 0 0 IN IP4 {local_ip}\r\ns=call\r\nc=IN IP4 {local_ip}\r\nt=0 0\r\n"
           f"m=audio {rtp_port} RTP/AVP {payload_type}\r\na=rtpmap:{payload_type} "
           f"{'PCMU/8000' if payload_type == 0 else 'G729/8000'}\r\n")
    lines = [
        f"INVITE sip:{callee} SIP/2.0",
        f"Via: SIP/2.0/UDP {local_ip}:{local_port};branch=z9hG4bK{branch}",
        "Max-Forwards: 70",
        f"From: <sip:{caller}>;tag={tag}",
        f"To: <sip:{callee}>",
        f"Call-ID: {call_id}",
        "CSeq: 1 INVITE",
        f"Contact: <sip:{caller.split('@')[0]}@{local_ip}:{local_port}>",
        "Content-Type: application/sdp",
        f"Content-Length: {len(sdp)}",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n" + sdp).encode()


def response(request: bytes, status: int, reason: str) -> bytes:
    """A response copying Via, From, To, Call-ID and CSeq of ``request``."""
    msg = parse(request)
    if msg is None:
        raise ValueError("not a SIP request")
    keep = [f"{name}: {msg.headers[name.lower()]}" for name in ("Via", "From", "To", "Call-ID", "CSeq")
            if name.lower() in msg.headers]
    return (f"SIP/2.0 {status} {reason}\r\n" + "\r\n".join(keep) + "\r\nContent-Length: 0\r\n\r\n").encode()


def parse(data: bytes) -> SipMessage | None:
    """Parse the start line and headers; None unless it is a SIP/2.0 message."""
    head = data[:4096].split(b"\r\n\r\n", 1)[0]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return None
    lines = text.split("\r\n")
    first = lines[0]
    method = status = None
    if first.startswith("SIP/2.0 "):
        parts = first.split(" ", 2)
        if len(parts) < 2 or not parts[1].isdigit() or len(parts[1]) != 3:
            return None
        status = int(parts[1])
    else:
        parts = first.split(" ")
        if len(parts) != 3 or parts[2] != "SIP/2.0" or parts[0] not in METHODS:
            return None
        method = parts[0]
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return SipMessage(first, method, status, headers)
