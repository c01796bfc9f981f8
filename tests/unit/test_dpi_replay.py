"""``testbed classify`` / ``testbed replay``: rows, JSON Lines keys, totals, and bad input."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from testbed.dpi.replay import classify_main, format_table, replay_main, run_capture
from testbed.packets import ip, stun
from testbed.packets.capture import write_ip

KEYS = {"capture", "l4", "src_ip", "src_port", "dst_ip", "dst_port", "app", "category", "action", "rule",
        "decided_at_packet", "why", "packets", "first_ts"}


@pytest.fixture
def capture(tmp_path: Path) -> Path:
    """A WhatsApp call's relay allocation and its chat, plus a ping."""
    alloc = stun.build(stun.ALLOCATE_REQUEST, b"t" * 12, [(0x4000, b"w" * 102)])
    packets = [
        (0.00, ip.tcp("10.8.0.1", "158.85.58.42", 44819, 5222, flags=ip.TCP_SYN)),
        (0.05, ip.tcp("158.85.58.42", "10.8.0.1", 5222, 44819, flags=ip.TCP_SYN | ip.TCP_ACK)),
        (0.06, ip.tcp("10.8.0.1", "158.85.58.42", 44819, 5222, flags=ip.TCP_ACK)),
        (0.07, ip.tcp("10.8.0.1", "158.85.58.42", 44819, 5222, b"WA\x01\x05" + b"\0" * 40)),
        (1.00, ip.udp("10.8.0.1", "31.13.84.48", 53620, 3478, alloc)),
        (1.08, ip.udp("31.13.84.48", "10.8.0.1", 3478, 53620, b"\x01\x03\x00\x00" + b"t" * 16)),
        (1.50, ip.ip(ip.addr_bytes("10.8.0.1"), ip.addr_bytes("8.8.8.8"), 1, b"\x08\0\0\0")),
    ]
    path = tmp_path / "wa.pcap"
    write_ip(path, packets)
    return path


def test_rows(capture: Path) -> None:
    rows = run_capture(capture, identify=True).rows
    assert [(r.l4, r.src_port, r.dst_port, r.app, r.category, r.action, r.decided_at_packet, r.packets)
            for r in rows] == [("TCP", 44819, 5222, "WhatsApp", "Chat", "allow", 4, 4),
                               ("UDP", 53620, 3478, "WhatsAppCall", "VoIP", "allow", 1, 2)]
    assert rows[1].why == "STUN attribute 0x4000 in packet 1 → WhatsAppCall"
    table = format_table(rows, with_policy=False).splitlines()
    assert table[0].split() == ["l4", "client", "server", "app", "category", "at", "why"]
    assert table[2].split() == ["UDP", "10.8.0.1:53620", "31.13.84.48:3478", "WhatsAppCall", "VoIP", "1", "STUN",
                                "attribute", "0x4000", "in", "packet", "1", "→", "WhatsAppCall"]


def test_replay_json_lines(capture: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert replay_main(argparse.Namespace(captures=[str(capture)], json=True, policy="anrt-2016")) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert all(set(row) == KEYS for row in rows)
    assert [(r["app"], r["action"], r["rule"], r["decided_at_packet"]) for r in rows] == [
        ("WhatsApp", "allow", None, 4), ("WhatsAppCall", "drop", "anrt-2016/ott-calls", 1)]
    assert rows[1]["why"].endswith("→ WhatsAppCall; rule anrt-2016/ott-calls drops it")


def test_replay_table_with_totals(capture: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert replay_main(argparse.Namespace(captures=[str(capture)], json=False, policy="anrt-2016")) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"{capture}: 2 flows, 7 IP packets"
    assert out.rstrip().endswith("policy anrt-2016: 2 flows: 1 allow, 1 drop")


def test_classify_text(capture: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert classify_main(argparse.Namespace(captures=[str(capture)], json=False)) == 0
    out = capsys.readouterr().out
    assert "WhatsApp chat header 'WA' v1.5 in packet 4 → WhatsApp" in out and "policy" not in out


def test_bad_input_is_one_line_and_exit_2(capture: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nrules:\n  - match: {apps: [WhatsAppCalls]}\n    action: drop\n")
    assert replay_main(argparse.Namespace(captures=[str(capture)], json=False, policy=str(bad))) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"testbed: {bad}:3 rules[0].match.apps[0]: unknown app 'WhatsAppCalls'")
    assert replay_main(argparse.Namespace(captures=[str(capture)], json=False, policy="anrt-2017")) == 2
    assert capsys.readouterr().err.startswith("testbed: anrt-2017: unknown policy – choose one of ")
    assert classify_main(argparse.Namespace(captures=[str(tmp_path / "none.pcap")], json=False)) == 2
    assert capsys.readouterr().err == f"testbed: {tmp_path / 'none.pcap'}: no such capture file\n"
