"""Referees we did not write: what nDPI (``ndpiReader`` 4.2 from Debian, ``nfstream`` from PyPI
with its newer nDPI) names each flow of a capture and how sure it is, and what tshark's
expert system reports. Used by the referee tests and ``benchmarks/fidelity.py``.

A label counts when it names the intended app (either part of nDPI's
``Master.App``) *by DPI* — not by port, address or cache. What each generated flow
is meant to be comes from ``testbed.traffic.generate.GeneratedFlow``.
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from testbed.traffic.apps import MEDIA, SIGNALLING
from testbed.traffic.generate import GeneratedFlow

DPI = "DPI"
NDPI_READER, NFSTREAM = "ndpiReader", "nfstream"

# what nDPI calls each app's flows; a flow is right when a part of its Master.App label is here
INTENDED: dict[str, frozenset[str]] = {
    "whatsapp": frozenset({"WhatsAppCall"}),
    "viber": frozenset({"Viber"}),
    "skype": frozenset({"SkypeCall", "Skype_TeamsCall", "Skype_Teams", "TeamsCall", "Teams"}),
    "imo": frozenset({"IMO"}),
    "sip/" + SIGNALLING: frozenset({"SIP"}),
    "sip/" + MEDIA: frozenset({"RTP"}),
    "web": frozenset({"TLS"}),
    "whatsapp_chat": frozenset({"WhatsApp"}),
    "game": frozenset({"Source_Engine", "Steam"}),
    "vpn": frozenset({"OpenVPN"}),
    "vpn-tcp443": frozenset({"OpenVPN"}),
    "turn-tcp443": frozenset({"STUN", "TURN"}),
    "telegram": frozenset({"TelegramVoip", "Telegram"}),   # nDPI 4.2 names the reflector protocol Telegram
    "messenger": frozenset({"FacebookVoip"}),
    "zoom": frozenset({"Zoom"}),
    "teams": frozenset({"TeamsCall", "Skype_TeamsCall", "SkypeCall"}),
    # no published framing: judged as the generic STUN/DTLS-SRTP they are
    "facetime": frozenset({"FaceTime", "STUN", "SRTP", "RTP"}),
    "webrtc": frozenset({"STUN", "DTLS", "SRTP"}),
    "botim": frozenset({"STUN", "DTLS", "SRTP"}),
}

_NDPI_LINE = re.compile(r"^\s+\d+\s+(UDP|TCP) ([\d.]+):(\d+) <-> ([\d.]+):(\d+) .*?\[proto: [\d.]+/([^\]]+)\]"
                        r".*?\[Confidence: ([^\]]+)\]")


@dataclass(frozen=True)
class Label:
    """What a referee says of one flow (its two ends in either order)."""

    l4: str
    ends: frozenset[tuple[str, int]]
    label: str
    how: str          # DPI, Match by port, Match by IP, ...


def intended(flow: GeneratedFlow) -> str:
    """The key of ``INTENDED`` for a generated flow: its strategy if it wraps the call, else its app."""
    if flow.strategy != "none":
        return flow.strategy
    return f"{flow.app}/{flow.role}" if f"{flow.app}/{flow.role}" in INTENDED else flow.app


def right(flow: GeneratedFlow, label: Label | None) -> bool:
    """Is this the intended app, found by DPI?"""
    if label is None or label.how != DPI:
        return False
    return bool(set(label.label.split(".")) & INTENDED[intended(flow)])


def ndpi_reader(pcap: Path) -> list[Label]:
    """ndpiReader's per-flow labels (``-v 2`` prints every flow with its confidence)."""
    out = subprocess.run(["ndpiReader", "-i", str(pcap), "-v", "2"], capture_output=True, text=True,
                         check=True, timeout=300).stdout
    labels = []
    for line in out.splitlines():
        m = _NDPI_LINE.match(line)
        if m:
            l4, a, ap, b, bp, label, how = m.groups()
            labels.append(Label(l4, frozenset({(a, int(ap)), (b, int(bp))}), label, how))
    return labels


def _confidence_names() -> dict[int, str]:
    """nfstream reports nDPI's confidence as a number of its own nDPI's enum: ask that library."""
    import ctypes
    import glob
    import sysconfig

    found = glob.glob(str(Path(sysconfig.get_paths()["purelib"]) / "_lib_engine*.so"))
    if not found:
        raise RuntimeError("nfstream's nDPI engine library not found")
    name_of = ctypes.CDLL(found[0]).ndpi_confidence_get_name
    name_of.restype, name_of.argtypes = ctypes.c_char_p, [ctypes.c_int]
    return {i: (name_of(i) or b"?").decode() for i in range(10)}


def nfstream_labels(pcap: Path) -> list[Label]:
    """nfstream's per-flow labels (its bundled nDPI, newer than Debian's)."""
    import nfstream

    names = _confidence_names()
    labels = []
    for f in nfstream.NFStreamer(source=str(pcap), statistical_analysis=False, n_dissections=64):
        l4 = {6: "TCP", 17: "UDP"}.get(f.protocol, str(f.protocol))
        how = names.get(f.application_confidence, str(f.application_confidence))
        labels.append(Label(l4, frozenset({(f.src_ip, f.src_port), (f.dst_ip, f.dst_port)}),
                            f.application_name, how))
    return labels


def match(flows: Iterable[GeneratedFlow], labels: list[Label]) -> list[tuple[GeneratedFlow, Label | None]]:
    """Each generated flow with the referee's label of it (None: the referee did not list it)."""
    index = {(lab.l4, lab.ends): lab for lab in labels}
    return [(f, index.get((f.l4.upper(), frozenset({f.client, f.server})))) for f in flows]


def confusion(referee: str, pairs: list[tuple[GeneratedFlow, Label | None]]) -> Counter[tuple[str, str, str, str]]:
    """(intended, referee, label, how) → flows."""
    return Counter((intended(f), referee, lab.label if lab else "(not listed)", lab.how if lab else "-")
                   for f, lab in pairs)


def table(rows: Counter[tuple[str, str, str, str]]) -> str:
    """The confusion table as text, one line per (intended app, referee, label, how)."""
    head = ("intended", "referee", "label", "how", "flows")
    lines = [head] + [(*key, str(n)) for key, n in sorted(rows.items())]
    widths = [max(len(r[i]) for r in lines) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in lines) + "\n"


@dataclass(frozen=True)
class Expert:
    """What tshark's expert system and dissectors said of a capture."""

    errors: Counter[str]         # summary → count, severity error (malformed packets included)
    malformed: int
    protocols: Counter[str]      # top protocol of each frame

    def undecoded(self) -> int:
        return sum(n for p, n in self.protocols.items() if p in ("udp", "tcp", "data"))


RTP_INSIDE = ("whatsapp", "skype")      # apps whose media is (S)RTP on the port their STUN used


def decode_as(flows: Iterable[GeneratedFlow]) -> list[str]:
    """tshark ``-d`` rules for what tshark cannot tell by port: RTP on a SIP call's media port and on
    the client port of the apps that send SRTP after their STUN (tshark tries the lower port first,
    so STUN on 3478/3480 stays STUN), OpenVPN and TURN on TCP 443."""
    rules: dict[str, None] = {}
    for f in flows:
        if f.strategy == "vpn-tcp443":
            rules["tcp.port==443,openvpn"] = None
        elif f.strategy == "turn-tcp443":
            rules["tcp.port==443,stun"] = None
        elif f.strategy == "none" and f.role == MEDIA and f.app == "sip":
            rules[f"udp.port=={f.server[1]},rtp"] = None
        elif f.strategy == "none" and f.app in RTP_INSIDE:
            rules[f"udp.port=={f.client[1]},rtp"] = None
    return list(rules)


# tshark's RTCP-over-UDP heuristic is on by default and takes any datagram whose first two bytes
# look like an RTCP header for RTCP: one in 250 of Viber's random session tokens. Where our
# calls carry RTP or RTCP, ``decode_as`` says so instead. Its CLTP-over-UDP heuristic (R-GOOSE)
# takes Zoom's SFU header for CLTP unit data whenever the sequence number's top byte is 0x4X.
NO_HEURISTICS = ("rtcp_udp", "cltp_udp")


# Our OpenVPN runs with tls-auth (as providers configure it). Wireshark guesses whether a packet
# carries the HMAC and, for about one control packet in 8000, guesses wrong and leaves it as
# data; its documentation says to tell it instead.
OPENVPN_PREFS = ("openvpn.tls_auth_detection_override:TRUE", "openvpn.tls_auth:TRUE")


def preferences(flows: Iterable[GeneratedFlow]) -> list[str]:
    """tshark ``-o`` preferences the generated flows need."""
    return list(OPENVPN_PREFS) if any(f.strategy in ("vpn", "vpn-tcp443") for f in flows) else []


def tshark(pcap: Path, decode_as: Iterable[str] = (), disable: Iterable[str] = NO_HEURISTICS,
           only: str = "", prefs: Iterable[str] = ()) -> Expert:
    """Run tshark over the capture; ``decode_as``: ``-d`` rules like ``tcp.port==443,openvpn``;
    ``only``: a display filter, the packets that count (``-d`` rules go by port, so a capture with
    OpenVPN and TURN on the same port is read once for each, each time counting its packets)."""
    args = ["tshark", "-n", "-r", str(pcap)]
    for rule in decode_as:
        args += ["-d", rule]
    for heuristic in disable:
        args += ["--disable-heuristic", heuristic]
    for pref in prefs:
        args += ["-o", pref]
    fields = subprocess.run(args + (["-Y", only] if only else []) + [
        "-T", "fields", "-e", "frame.protocols", "-e", "_ws.malformed", "-e", "_ws.expert.severity"],
                            capture_output=True, text=True, check=True, timeout=600).stdout
    protocols: Counter[str] = Counter()
    malformed = 0
    for line in fields.splitlines():
        stack, bad, *_ = (line.split("\t") + ["", ""])[:3]
        top = stack.split(":")[-1]
        protocols[top] += 1
        malformed += bool(bad) or top == "_ws.malformed"
    tap = "expert,error" + (f",{only}" if only else "")
    report = subprocess.run(args + ["-q", "-z", tap], capture_output=True, text=True, check=True, timeout=600).stdout
    errors: Counter[str] = Counter()
    for line in report.splitlines():
        m = re.match(r"^\s+(\d+)\s+\S+\s+\S+\s+(.+)$", line)
        if m and not line.strip().startswith("Frequency"):
            errors[m.group(2).strip()] += int(m.group(1))
    return Expert(errors, malformed, protocols)
