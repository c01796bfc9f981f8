"""``testbed classify`` and ``testbed replay``: captures through the classifier, one row a flow.

The row functions are pure apart from reading the capture; the ``*_main``
functions only print. ``--json`` gives JSON Lines, one object a flow, with the
stable keys of ``FlowRow`` (other tools and CI read them).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TextIO

from testbed.config.errors import ConfigError
from testbed.config.files import not_regular
from testbed.dpi.classifier import NOT_INSPECTED, Classifier, Verdict
from testbed.packets.capture import ReadStats, read_ip
from testbed.packets.ip import L4_NAMES, addr_text
from testbed.policy.load import POLICY_DIR, available, load_policy, resolve
from testbed.policy.model import NO_POLICY, Policy


@dataclass(frozen=True)
class FlowRow:
    """One flow of a capture and what the DPI decided for it."""

    capture: str
    l4: str
    src_ip: str              # the flow's initiator (first packet seen)
    src_port: int
    dst_ip: str
    dst_port: int
    app: str | None
    category: str
    action: str              # allow | drop | throttle | degrade | reset
    rule: str | None
    decided_at_packet: int   # both directions counted, from 1
    why: str
    packets: int             # packets of the flow in the capture (both directions)
    first_ts: float

    @property
    def hit(self) -> bool:
        return self.action != "allow"


@dataclass
class CaptureResult:
    path: str
    rows: list[FlowRow]
    stats: ReadStats
    not_inspected: int = 0   # IP packets that were neither UDP nor TCP (or were truncated)


def _row(capture: str, verdict: Verdict, packets: int, first_ts: float) -> FlowRow:
    assert verdict.key is not None
    proto, client, cport, server, sport = verdict.key
    return FlowRow(capture, L4_NAMES[proto], addr_text(client), cport, addr_text(server), sport,
                   verdict.app, verdict.category, verdict.action.kind, verdict.rule,
                   verdict.packet_index, verdict.why, packets, first_ts)


def run_capture(path: str | Path, policy: Policy = NO_POLICY, *, identify: bool = False) -> CaptureResult:
    """Every flow of one capture through a fresh classifier; flows in order of first packet."""
    classifier = Classifier(policy, identify=identify, keep_flows=True)
    stats = ReadStats()
    skipped = 0
    feed = classifier.feed
    for ts, packet in read_ip(path, stats):
        if feed(packet, ts) is NOT_INSPECTED:
            skipped += 1
    name = Path(path).name
    flows = classifier.table.history or []
    rows = [_row(name, classifier.settle(flow), flow.packets, flow.first_ts) for flow in flows]
    return CaptureResult(str(path), rows, stats, skipped)


def totals(rows: Iterable[FlowRow]) -> dict[str, int]:
    """Flows per action, and in all."""
    count = Counter(row.action for row in rows)
    return {"flows": sum(count.values()), **dict(sorted(count.items()))}


def _endpoint(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def format_table(rows: list[FlowRow], *, with_policy: bool) -> str:
    """A text table: one line a flow, the reason last so it can run long."""
    head = ["l4", "client", "server", "app", "category", "at"] + (["action"] if with_policy else []) + ["why"]
    body = []
    for r in rows:
        cells = [r.l4, _endpoint(r.src_ip, r.src_port), _endpoint(r.dst_ip, r.dst_port), r.app or "-",
                 r.category, str(r.decided_at_packet)] + ([r.action] if with_policy else []) + [r.why]
        body.append(cells)
    widths = [max(len(line[i]) for line in [head] + body) for i in range(len(head) - 1)]
    lines = []
    for cells in [head] + body:
        lines.append("  ".join(c.ljust(w) for c, w in zip(cells, widths)) + "  " + cells[-1])
    return "\n".join(line.rstrip() for line in lines)


def _unusable(path: str) -> str | None:
    """Why ``path`` cannot be a capture (missing, a directory, a FIFO, a device), or None."""
    try:
        kind = not_regular(os.stat(path).st_mode)
    except FileNotFoundError:
        return "no such capture file"
    except OSError as exc:
        return f"cannot read: {exc.strerror}"
    return None if kind is None else f"not a regular file ({kind})"


def _results(paths: list[str], policy: Policy, identify: bool, err: TextIO,
             unread: list[str]) -> Iterator[CaptureResult]:
    for path in paths:
        result = run_capture(path, policy, identify=identify)
        if result.stats.error:
            print(f"testbed: {path}: {result.stats.error}", file=err)
            if result.stats.packets == 0:
                unread.append(path)
        yield result


def _print(results: Iterable[CaptureResult], as_json: bool, with_policy: bool, out: TextIO) -> Counter[str]:
    total: Counter[str] = Counter()
    for result in results:
        if as_json:
            for row in result.rows:
                out.write(json.dumps(asdict(row), ensure_ascii=False) + "\n")
        else:
            print(f"{result.path}: {len(result.rows)} flows, {result.stats.ip_packets} IP packets"
                  + (f" ({result.stats.skipped} not IP)" if result.stats.skipped else ""), file=out)
            if result.rows:
                print(format_table(result.rows, with_policy=with_policy), file=out)
            print(file=out)
        total.update(totals(result.rows))
    return total


def load_named_policy(name: str) -> Policy:
    """A policy by name (``anrt-2016``) or path; ConfigError when missing or invalid."""
    path = resolve(name)
    if path.parent != POLICY_DIR:
        return load_policy(path)
    if not path.exists():
        raise ConfigError(name, "", None, f"unknown policy – choose one of {', '.join(available())}")
    return load_policy(path, f"policies/{path.name}")


def _run(args: argparse.Namespace, policy: Policy, identify: bool) -> int:
    """Exit 2 (nothing read) when a path is no file; 1 when no capture could be read at all."""
    out, err = sys.stdout, sys.stderr
    for path in args.captures:
        why = _unusable(path)
        if why is not None:
            print(f"testbed: {path}: {why}", file=err)
            return 2
    unread: list[str] = []
    total = _print(_results(list(args.captures), policy, identify, err, unread), bool(args.json),
                   policy is not NO_POLICY, out)
    if len(unread) == len(args.captures):
        print(f"testbed: nothing could be read from {'the capture' if len(unread) == 1 else 'any capture'}",
              file=err)
        return 1
    if policy is not NO_POLICY and not args.json:
        flows = total.pop("flows", 0)
        parts = ", ".join(f"{n} {action}" for action, n in sorted(total.items()))
        print(f"policy {policy.name}: {flows} flows: {parts}", file=out)
    return 0


def classify_main(args: argparse.Namespace) -> int:
    """``testbed classify CAPTURE...``: what each flow is, when it was known, and why."""
    return _run(args, NO_POLICY, identify=True)


def replay_main(args: argparse.Namespace) -> int:
    """``testbed replay --policy P CAPTURE...``: what the policy does to each flow, plus totals."""
    try:
        policy = load_named_policy(args.policy)
    except ConfigError as exc:
        print(f"testbed: {exc}", file=sys.stderr)
        return 2
    return _run(args, policy, identify=False)
