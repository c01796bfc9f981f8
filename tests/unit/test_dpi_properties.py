"""Arbitrary bytes into the parser, the flow table, every signature and the classifier: no exception.

(The corpus twin, tests/corpus/test_dpi_corpus_properties.py, garbles real packets.)
"""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from testbed.dpi.classifier import NOT_INSPECTED, Classifier
from testbed.dpi.flow import FlowTable
from testbed.dpi.signature import Pkt
from testbed.dpi.signatures import default_signatures
from testbed.packets import ip
from testbed.packets.capture import pcap_frames, pcapng_frames
from testbed.packets.ip import TCP, UDP, parse_ip
from testbed.policy.load import POLICY_DIR, load_policy

SIGNATURES = default_signatures()
ANRT = load_policy(POLICY_DIR / "anrt-2016.yaml")
PORTS = st.sampled_from([53, 443, 1194, 1719, 1720, 2000, 2427, 3478, 4244, 4569, 5060, 5242, 7985, 51820, 40000])


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=120))
def test_parse_ip_on_anything(data: bytes) -> None:
    for prefix in (b"", b"\x45\x00", b"\x60\x00\x00\x00"):  # also make IPv4/IPv6 headers likely
        decoded = parse_ip(prefix + data)
        assert decoded is None or (decoded.proto in (UDP, TCP) and decoded.ip_len == len(prefix + data))


@settings(max_examples=500, deadline=None)
@given(st.sampled_from([UDP, TCP]), PORTS, PORTS, st.lists(st.tuples(st.integers(0, 1), st.binary(max_size=300)),
                                                              min_size=1, max_size=8))
def test_every_signature_on_anything(proto: int, cport: int, sport: int, payloads: list) -> None:
    build = ip.udp if proto == UDP else ip.tcp
    decoded = parse_ip(build("10.0.0.1", "10.0.0.2", cport, sport, b""))
    flow, _, _ = FlowTable().lookup(decoded, 0.0)
    for sig in SIGNATURES:
        if proto in sig.protos and sig.applies(flow):
            for i, (direction, payload) in enumerate(payloads, 1):
                found = sig.inspect(Pkt(payload, direction, i, i * 0.02, proto, 0), flow)
                assert found is None or (found.app and found.why)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([UDP, TCP]), PORTS, st.booleans(), st.binary(max_size=200)),
                min_size=1, max_size=25))
def test_the_classifier_on_anything(items: list) -> None:
    for classifier in (Classifier(ANRT, keep_flows=True), Classifier(identify=True, keep_flows=True)):
        for i, (proto, port, up, payload) in enumerate(items):
            build = ip.udp if proto == UDP else ip.tcp
            a, b = ("10.0.0.1", 40000), ("10.0.0.2", port)
            (src, sp), (dst, dp) = (a, b) if up else (b, a)
            verdict = classifier.feed(build(src, dst, sp, dp, payload), i * 0.02)
            assert verdict is None or verdict is not NOT_INSPECTED
        assert all(v.why and v.packet_index >= 1 for v in classifier.finish())


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_capture_walkers_raise_only_value_errors(body: bytes) -> None:
    pcap = b"\xd4\xc3\xb2\xa1" + struct.pack("<HHiIII", 2, 4, 0, 0, 65535, 1) + body
    pcapng = b"\x0a\x0d\x0d\x0a\x1c\x00\x00\x00\x4d\x3c\x2b\x1a" + body
    for walk, data in ((pcap_frames, pcap), (pcapng_frames, pcapng)):
        try:
            for linktype, ts, frame in walk(data):
                assert isinstance(frame, bytes) and ts >= 0 and linktype >= 0
        except (ValueError, struct.error):
            pass
