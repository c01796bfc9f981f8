"""``testbed demo`` on the simulator: the shipped lesson's story, each command as a function, what
``trace`` and ``capture`` show of the DPI, completion, and bad input (one line, nothing started)."""

from __future__ import annotations

import struct
from pathlib import Path

import dpkt
import pytest

from testbed import cli
from testbed.config.errors import ConfigError
from testbed.demo import decode
from testbed.demo.console import Demo, DemoError, Vocabulary, load_named_policy, parse
from testbed.demo.emu import arrivals, ends, of_flow, passage
from testbed.demo.shell import DEFAULT_TOPOLOGY, Shell, build_topology
from testbed.demo.sim import SimDemo
from testbed.demo.transcript import BLOCKED, PASSED, RESTORED, outcomes
from testbed.packets import ip, rtp, sip, stun, vpn

REPO = Path(__file__).resolve().parents[2]
LESSON = REPO / "lessons" / "morocco-2016.txt"
STORY = [("call tb1s1 whatsapp", "passed"),     # before the block
         ("call tb1s1 whatsapp", "blocked"),    # anrt-2016
         ("chat tb1s1 whatsapp", "passed"),     # the same app's chat
         ("call tb1s2 sip", "passed"),          # the operator's own voice
         ("call tb1s1 whatsapp", "restored"),   # through a VPN
         ("call tb1s1 whatsapp", "blocked")]    # the VPN blocked too


@pytest.fixture
def demo() -> Demo:
    topo = build_topology(DEFAULT_TOPOLOGY)
    policy = load_named_policy("none")
    lines: list[str] = []
    d = Demo(SimDemo(topo, policy, list(Vocabulary.of(topo).apps), seed=1), topo, policy, out=lines.append)
    d.lines = lines  # type: ignore[attr-defined]
    return d


def test_the_lesson_tells_the_2016_story(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["demo", "--script", str(LESSON)]) == 0
    out = capsys.readouterr().out
    assert outcomes(out) == STORY
    commands = [row for row in out.splitlines() if row.startswith("demo> ")]
    assert 8 <= len(commands) <= 12                         # "about ten commands"
    assert "STUN attribute 0x4000" in out and "rule anrt-2016/ott-calls → drop" in out
    assert "rule vpn-fingerprint/openvpn-fingerprint → drop" in out


def test_each_command_is_a_function_with_numbers(demo: Demo, tmp_path: Path) -> None:
    before = demo.call("tb1s1", "whatsapp")
    assert before.word == PASSED and before.record is not None and before.record.mos > 4.0
    demo.set_policy("anrt-2016")
    blocked = demo.call("tb1s1", "whatsapp")
    rec = blocked.record
    assert blocked.word == BLOCKED and rec is not None
    assert (rec.rule, rec.ttb_packets, rec.mos) == ("anrt-2016/ott-calls", 1, 0.0)
    assert [f.decided_at for f in blocked.flows] == [1] and blocked.flows[0].seen.stops
    assert demo.chat("tb1s1", "whatsapp").word == PASSED
    operator = demo.call("tb1s2", "sip")
    assert operator.word == PASSED and [f.seen.rule for f in operator.flows] == ["anrt-2016/operator-voice"] * 2
    demo.use("vpn", "tb1s1")
    tunnelled = demo.call("tb1s1", "whatsapp")
    assert tunnelled.word == RESTORED and tunnelled.via.startswith("tbvpn ")
    assert [f.seen.app for f in tunnelled.flows] == ["OpenVPN"] and tunnelled.record.mos > 4.0  # type: ignore[union-attr]
    assert demo.call("tb1s2", "sip").strategy == "none"     # the operator's SIP never goes through the VPN
    rule = demo.add_rule("{name: tunnels, match: {categories: [VPN]}, action: drop}")
    assert (rule.index, rule.label(demo.policy.name)) == (5, "anrt-2016/tunnels")
    again = demo.call("tb1s1", "whatsapp")
    assert again.word == BLOCKED and again.record.rule == "anrt-2016/tunnels"  # type: ignore[union-attr]
    assert again.record.ttb_packets >= 2                    # OpenVPN is known from its second packet  # type: ignore[union-attr]
    demo.use("none", "tb1s1")
    assert demo.web("tb1s2").word == PASSED
    demo.set_policy("none")
    assert demo.call("tb1s1", "whatsapp").word == PASSED


def test_trace_decodes_what_the_dpi_inspected(demo: Demo) -> None:
    demo.set_policy("anrt-2016")
    demo.call("tb1s1", "whatsapp")
    assert not any("│" in row for row in demo.lines)          # type: ignore[attr-defined]
    demo.trace(True)
    result = demo.chat("tb1s1", "whatsapp")
    traced = [row for row in demo.lines if row.startswith("    │ ")]  # type: ignore[attr-defined]
    # the chat's TCP handshake and the packet whose header named it: four packets, decided at the fourth
    assert result.flows[0].decided_at == 4 and len(result.flows[0].inspected) == 4
    assert any("[SYN]" in row for row in traced) and any("'WA' v1.5" in row for row in traced)


def test_capture_writes_what_the_dpi_saw_since_the_last(demo: Demo, tmp_path: Path) -> None:
    demo.set_policy("anrt-2016")
    demo.call("tb1s1", "whatsapp")        # blocked at its first packet: 1 packet fed to the classifier
    demo.web("tb1s2")                     # handshake + ClientHello: 4
    first = tmp_path / "first.pcap"
    assert demo.capture(str(first)) == 5
    with open(first, "rb") as f:
        reader = dpkt.pcap.Reader(f)
        assert reader.datalink() == 101                  # LINKTYPE_RAW: IPv4 from the first byte
        packets = [(ts, bytes(buf)) for ts, buf in reader]
    assert len(packets) == 5
    times = [ts for ts, _ in packets]
    assert times == sorted(times) and times[-1] - times[0] < 3600
    head = ip.parse_ip(packets[0][1])
    assert head is not None and stun.parse(head.payload) is not None
    assert ip.checksum(packets[0][1][:20]) == 0                 # a valid IPv4 header
    demo.chat("tb1s1", "whatsapp")
    second = tmp_path / "second.pcap"
    assert demo.capture(str(second)) == 4                       # only what came since
    with pytest.raises(ConfigError, match="not a regular file"):
        demo.capture(str(tmp_path))


def test_bad_commands_are_one_line(demo: Demo) -> None:
    vocab = demo.vocab
    with pytest.raises(DemoError, match=r"^unknown command 'cal' – choose one of \[call, chat, web, "):
        parse("cal tb1s1 whatsapp", vocab)
    with pytest.raises(DemoError, match=r"^unknown host 'tb9s1' – choose one of \[tb1s1, tb1s2\]$"):
        parse("call tb9s1 whatsapp", vocab)
    with pytest.raises(DemoError, match=r"^usage: call HOST APP$"):
        parse("call tb1s1", vocab)
    with pytest.raises(DemoError, match=r"^unknown strategy 'tor'"):
        parse("use tor tb1s1", vocab)
    with pytest.raises(ConfigError) as bad:
        demo.add_rule("{match: {apps: [Whatsapp]}, action: drop}")
    assert str(bad.value).startswith("rule add rule.match.apps[0]: unknown app 'Whatsapp' – choose one of [")
    with pytest.raises(ConfigError, match=r"^rule add rule.action: "):
        demo.add_rule("{match: {l4: udp}, action: explode}")
    with pytest.raises(ConfigError, match="^rule add: invalid YAML"):
        demo.add_rule("{match: {l4: udp}, action: drop")
    demo.set_policy("anrt-2016")
    with pytest.raises(ConfigError, match=r"^rule add rule.name: the policy anrt-2016 has a rule 'ott-calls' already$"):
        demo.add_rule("{name: ott-calls, match: {l4: udp}, action: drop}")
    assert len(demo.policy.rules) == 4                          # nothing half-added
    assert parse("# a comment", vocab) is None and parse("   ", vocab) is None


def test_a_bad_lesson_line_starts_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lesson = tmp_path / "lesson.txt"
    lesson.write_text("call tb1s1 whatsapp\npolicy anrt-2016\nrule add {match: {l4: udp}, action: blok}\n")
    assert cli.main(["demo", "--script", str(lesson)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"{lesson}:3 rule.action: unknown action 'blok'") and captured.err.count("\n") == 1
    lesson.write_text("policy anrt-2017\n")
    assert cli.main(["demo", "--script", str(lesson)]) == 2
    assert capsys.readouterr().err.startswith(f"{lesson}:1: unknown policy 'anrt-2017' – choose one of [")
    assert cli.main(["demo", "--policy", "nope"]) == 2
    assert capsys.readouterr().err.startswith("--policy: unknown policy 'nope'")
    assert cli.main(["demo", "--topology", "{name: operator_edge, params: {subscribers: 0}}"]) == 2
    assert capsys.readouterr().err.startswith("--topology:1 topology.params.subscribers: expected")


def test_completion_offers_the_commands_and_their_words(demo: Demo) -> None:
    shell = Shell(demo)
    assert shell.completenames("ca") == ["call ", "capture "]        # menu-complete: the first Tab gives call
    assert shell.completedefault("tb", "call tb", 5, 7) == ["tb1s1 ", "tb1s2 "]
    assert shell.completedefault("wh", "call tb1s1 wh", 11, 13) == ["whatsapp "]
    assert "anrt-2016-mobile " in shell.completedefault("anrt", "policy anrt", 7, 11)
    assert shell.completedefault("v", "use v", 4, 5) == ["vpn ", "vpn-tcp443 "]
    assert not shell.onecmd("call tb1s1 whatsapp") and demo.results[-1].word == PASSED
    assert not shell.onecmd("cal tb1s1 whatsapp")               # an error is a line, not the end
    assert demo.lines[-1].startswith("unknown command 'cal'")    # type: ignore[attr-defined]
    assert shell.onecmd("quit") and shell.onecmd("EOF")


def test_decode_shows_the_fields_the_dpi_reads() -> None:
    req = stun.build(stun.ALLOCATE_REQUEST, b"\x01" * 12, [(0x4000, b"\0" * 4), (stun.REQUESTED_TRANSPORT, b"\x11\0\0\0")])
    row = decode.line(1, 0.0, ip.udp("10.10.0.3", "157.240.1.60", 40000, 3478, req))
    assert "STUN" in row and "Allocate Request" in row and "0x4000 WhatsApp's own, 0x0019 REQUESTED-TRANSPORT" in row
    invite = sip.invite("a@x", "b@y", "10.10.0.3", 5060, "abc@x", "b1", "t1", 4000)
    assert decode.dissect(ip.UDP, 5060, 5060, invite) == ("SIP", "Request: INVITE sip:b@y SIP/2.0, Call-ID: abc@x")
    voice = rtp.build(0, 7, 160, 0xABCDEF01, b"\0" * 160)
    assert decode.dissect(ip.UDP, 40000, 40002, voice) == (
        "RTP", "PT=ITU-T G.711 PCMU, SSRC=0xABCDEF01, Seq=7, Time=160")
    reset = vpn.openvpn_control(7, b"\x11" * 8, 0, tcp=True)
    assert decode.dissect(ip.TCP, 40000, 443, reset, 0x18) == (
        "OpenVPN", "MessageType: P_CONTROL_HARD_RESET_CLIENT_V2, Session ID: 1111111111111111 [PSH, ACK]")
    assert decode.dissect(ip.TCP, 40000, 443, b"", 0x12) == ("TCP", "40000 → 443 [SYN, ACK] Len=0")
    proto, info = decode.dissect(ip.UDP, 40000, 40001, b"\x00\x09\x03" + b"\xff" * 20)
    assert proto == "UDP" and info.endswith("data: 00 09 03 ff ff ff ff ff ff ff ff ff …")


def test_arrivals_count_a_forwarded_packet_once() -> None:
    """The emulation's capture has each forwarded packet twice (in and out of the switch)."""
    up = ip.udp("10.10.0.3", "157.240.1.60", 40000, 3478, b"hello")
    down = ip.udp("157.240.1.60", "10.10.0.3", 3478, 40000, b"world")
    other = ip.udp("10.10.0.4", "93.184.216.34", 40001, 53, b"x")
    frames = [("tbdpi1-eth1", 10.0, up), ("tbdpi1-eth2", 10.0002, up), ("tbdpi1-eth2", 10.05, down),
              ("tbdpi1-eth1", 10.0501, down), ("tbdpi1-eth1", 10.06, other)]
    known: set = set()
    seen = arrivals(frames, known)
    assert [(round(ts, 4), p) for ts, _, p in seen] == [(10.0, up), (10.05, down), (10.06, other)]
    key = (ip.UDP, ip.addr_bytes("10.10.0.3"), 40000, ip.addr_bytes("157.240.1.60"), 3478)
    assert [(round(t, 3), p) for t, p in of_flow(seen, key)] == [(0.0, up), (0.05, down)]
    assert arrivals(frames, known) == []                                  # counted once across reads
    retransmit = bytearray(up)
    struct.pack_into("!H", retransmit, 4, 7)                              # a new IP id: a new packet
    assert len(arrivals([("tbdpi1-eth1", 11.0, bytes(retransmit))], known)) == 1


def test_passage_counts_what_the_switch_forwarded() -> None:
    """A packet the switch forwarded shows on two of its ports; one it dropped, on one."""
    first = ip.udp("10.10.0.3", "198.51.100.10", 25000, 1194, b"one")
    second = ip.udp("10.10.0.3", "198.51.100.10", 25000, 1194, b"two")
    reply = ip.udp("198.51.100.10", "10.10.0.3", 1194, 25000, b"back")
    frames = [("tbdpi1-eth1", 1.0, first), ("tbdpi1-eth2", 1.0001, first), ("tbdpi1-eth2", 1.05, reply),
              ("tbdpi1-eth1", 1.0501, reply), ("tbdpi1-eth1", 1.1, second)]
    key = (ip.UDP, ip.addr_bytes("10.10.0.3"), 25000, ip.addr_bytes("198.51.100.10"), 1194)
    assert passage(frames, key) == (2, 1)                      # the client's two; the second dropped
    assert passage(frames, (ip.TCP, *key[1:])) == (0, 0)        # the same addresses over TCP: another flow
    assert ends(key) == ("udp", "10.10.0.3:25000", "198.51.100.10:1194")
