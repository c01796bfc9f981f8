"""The emulation's messages: every type through the codec and back, the controller's config,
the classifier's Verdict, and the errors a garbled line gets."""

from __future__ import annotations

import io
import random

import pytest

from testbed.dpi.classifier import Classifier
from testbed.emu.mailbox import Mailbox, read_lines
from testbed.emu.messages import (
    TYPES,
    Ack,
    AgentReady,
    Connected,
    ControllerConfig,
    Decided,
    End,
    Installed,
    Late,
    MessageError,
    Quit,
    ReachItem,
    ReachRequest,
    ReachResult,
    ReachResults,
    RecvStats,
    Reload,
    Reloaded,
    Report,
    Shape,
    SwitchPolicy,
    SwitchReady,
    Zone,
    decode,
    encode,
    mailbox_key,
)
from testbed.emu.placement import FlowSpec, commands
from testbed.packets.ip import addr_bytes
from testbed.policy.load import load_policy, resolve
from testbed.probe.ooni import Target
from testbed.traffic.apps import PROFILES
from testbed.traffic.wire import Endpoints, packets

# the compiler builds OpenFlow messages with os-ken (the 'emu' extra, installed by make test as root)
compiler = pytest.importorskip("testbed.policy.compiler", reason="the 'emu' extra (os-ken) is not installed")

SHIPPED = ("none", "anrt-2016", "behavioural", "degrade", "ip-block", "port-block", "throttle-udp", "vpn-block")
KEY = (17, addr_bytes("10.10.0.3"), 40000, addr_bytes("157.240.1.60"), 3478)


def _verdict():
    """The classifier's own verdict on WhatsApp's first packets under anrt-2016."""
    plan = PROFILES["whatsapp"].build(random.Random(1), 24)[0]
    classifier = Classifier(load_policy(resolve("anrt-2016")))
    for t, pkt in packets(plan, Endpoints("10.10.0.3", 40000, "157.240.1.60", plan.server_port)):
        verdict = classifier.feed(pkt, 100.0 + t)
        if verdict is not None:
            return verdict
    raise AssertionError("no verdict")


def _examples() -> list:
    spec = FlowSpec("f1", "tb1s1", "tbwa", "10.10.0.3", "157.240.1.60", 40000,
                    PROFILES["whatsapp"].build(random.Random(1), 24)[0], hold=5.0, start_in=0.25)
    serve, opener = commands(spec)
    recv = RecvStats(packets=12, octets=1800, media=10, max_seq=11, max_seq_sent=1.5, first=1.0, last=2.0,
                     loss_pct=9.091, jitter_ms=0.4, delay_ms=21.5, arrivals=(1.0, 1.02), base_ms=21.0,
                     buffer_ms=10.0, late=1, burst_r=1.5)
    return [serve, opener, End("f1"), Quit(),
            Shape("shape1", 1, 12345, {"10.10.0.3": (16.0, 3.0)}, {141: (30.0, 30.0)}),
            AgentReady("tbwa", 4242), Ack("tbwa", "f1"),
            Report("tbwa", "f1", "server", None, "timeout", None, None, 3.5, 0, 0, 0, RecvStats()),
            Report("tb1s1", "f1", "client", "refused", "refused", 0.9, 1.0, 3.5, 200, 30000, 190, recv),
            Connected(1.0, "0000000000000012", "anrt-2016", ("anrt-2016/ott-calls: drop (classifier)",)),
            SwitchReady(1.0, "0000000000000012"), Decided(2.0, "0000000000000012", 3, _verdict()),
            Installed(2.001, "0000000000000012", 3), Late(2.002, "0000000000000012", KEY),
            Reload("r1", (SwitchPolicy("0000000000000012", load_policy(resolve("degrade"))),),
                   compiler.degrade_marks([load_policy(resolve("degrade"))])),
            Reloaded(3.0, "0000000000000012", "r1", "degrade"),
            ReachRequest("8.8.8.8", "/run/ca.pem", 3.0, (ReachItem(Target("https", "web.whatsapp.com", 443), 40000,
                                                                    40001),)),
            ReachResults((ReachResult("157.240.1.54"), ReachResult("", "resolve", "dns_nxdomain_error"))),
            Zone({"web.whatsapp.com": "157.240.1.54"})]


def test_every_message_type_round_trips_and_has_a_unique_tag() -> None:
    examples = _examples()
    assert {type(m) for m in examples} | {ControllerConfig} == set(TYPES.values())
    for msg in examples:
        line = encode(msg)
        assert line.endswith(b"\n") and line.count(b"\n") == 1
        assert decode(line) == msg, msg


def test_the_classifiers_verdict_crosses_whole() -> None:
    verdict = _verdict()
    got = decode(encode(Decided(2.0, "12", 1, verdict)))
    assert isinstance(got, Decided) and got.verdict == verdict
    assert (got.verdict.app, got.verdict.action.kind, got.verdict.key) == ("WhatsAppCall", "drop", KEY)
    assert got.verdict.why == verdict.why and got.verdict.elapsed == verdict.elapsed


def test_controller_config_carries_every_shipped_policy_and_compiles_the_same() -> None:
    policies = [load_policy(resolve(name)) for name in SHIPPED]
    marks = compiler.degrade_marks(policies)
    config = ControllerConfig(tuple(SwitchPolicy(f"{i:016x}", p) for i, p in enumerate(policies)), marks)
    got = decode(encode(config))
    assert isinstance(got, ControllerConfig) and got == config
    assert got.marks == marks and any(marks)
    for sent, received in zip(config.switches, got.switches):
        a, b = compiler.compile_policy(sent.policy, marks), compiler.compile_policy(received.policy, got.marks)
        assert (a.proactive, a.dpi, a.marks) == (b.proactive, b.dpi, b.marks)
        assert [str(m) for m in compiler.setup_messages(a)] == [str(m) for m in compiler.setup_messages(b)]


@pytest.mark.parametrize("line, error", [
    (b'{"type": "hello"}', "unknown message type 'hello'"),
    (b'{"id": "f1"}', "no message type"),
    (b'not json', "not JSON"),
    (b'{"type": "ack", "host": "tbwa"}', "ack: missing field 'id'"),
    (b'{"type": "ack", "host": "tbwa", "id": "f1", "extra": 1}', "ack: unknown field 'extra'"),
    (b'{"type": "installed", "t": 1, "dpid": "12", "serial": "3"}', "installed.serial: expected an integer, got '3'"),
    (b'{"type": "installed", "t": true, "dpid": "12", "serial": 3}', "installed.t: expected a number, got True"),
    (b'{"type": "late", "t": 1, "dpid": "12", "key": [17, "0a0a0003", 40000, "zz", 3478]}',
     "late.key[3]: expected hex bytes, got 'zz'"),
    (b'{"type": "late", "t": 1, "dpid": "12", "key": [17, "0a0a0003", 40000]}', "late.key: expected 5 items"),
    (b'{"type": "end"}', "end: missing field 'id'"),
])
def test_a_bad_line_says_what_is_wrong(line: bytes, error: str) -> None:
    with pytest.raises(MessageError, match=error.replace("[", r"\[").replace("]", r"\]")):
        decode(line)


def test_a_report_without_receive_stats_is_missing_a_field_by_name() -> None:
    line = encode(Report("tbwa", "f1", "server", None, None, None, None, 3.5, 0, 0, 0, RecvStats()))
    broken = line.replace(b',"recv":{', b',"recv_":{')
    with pytest.raises(MessageError, match="report: unknown field 'recv_'"):
        decode(broken)
    with pytest.raises(MessageError, match="report.recv.packets: expected an integer"):
        decode(line.replace(b'"packets":0', b'"packets":null'))


def test_defaults_live_in_the_dataclass() -> None:
    got = decode(b'{"type": "report", "host": "h", "id": "f1", "side": "client", "error": null, "aborted": null,'
                 b' "opened": null, "start": null, "end": 1, "sent": 0, "sent_bytes": 0, "sent_media": 0,'
                 b' "recv": {}}')
    assert isinstance(got, Report) and got.recv == RecvStats() and got.end == 1.0 and isinstance(got.end, float)


def test_mailbox_keys_come_from_the_message_types() -> None:
    assert mailbox_key(Ack("tbwa", "f1")) == (Ack, "f1")
    assert mailbox_key(Report("h", "f1", "server", None, None, None, None, 1.0, 0, 0, 0, RecvStats())) == \
        (Report, "f1", "server")
    assert mailbox_key(AgentReady("tbwa", 1)) == (AgentReady, "tbwa")
    assert mailbox_key(SwitchReady(1.0, "12")) == (SwitchReady, "12")
    assert mailbox_key(Reloaded(1.0, "12", "r1", "none")) == (Reloaded, "r1", "12")
    assert mailbox_key(Installed(1.0, "12", 1)) is None


def test_reader_files_messages_skips_chatter_and_breaks_on_a_garbled_message() -> None:
    box, seen = Mailbox(), []
    box.listeners.append(seen.append)
    stream = io.BytesIO(b"os-ken says hello\n" + encode(Ack("tbwa", "f1")) + encode(Installed(1.0, "12", 1)))
    read_lines(stream, box, "tbwa").join(5)
    assert box.take(((Ack, "f1"),)) == {(Ack, "f1"): Ack("tbwa", "f1")}
    assert seen == [Ack("tbwa", "f1"), Installed(1.0, "12", 1)]
    read_lines(io.BytesIO(b'{"type": "ack", "host": "tbwa"}\n'), box, "tbwa").join(5)
    with pytest.raises(MessageError, match="tbwa: ack: missing field 'id'"):
        box.wait(((Ack, "f2"),), 1.0)
    assert box.missing(((Ack, "f2"),)) == ["Ack f2"]
