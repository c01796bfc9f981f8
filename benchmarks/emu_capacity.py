"""What the emulated DPI does on this machine: time-to-block, and G.711 calls carried.

1. Time-to-block under anrt-2016 (median of ``--trials`` WhatsApp calls), from the
   packet carrying the signature (STUN Allocate with attribute 0x4000, packet 1):
   - tap: the packets after it still arrive (copies stamped with their send time,
     one every ms) until the drop entry is in: the last one's send time minus the
     signature's;
   - inline: the signature packet is held, so nothing passes; the time from the
     packet-in to the barrier reply confirming the drop entry.
2. Concurrent G.711 calls (172-byte RTP every 20 ms each way, ``--hold`` seconds,
   starts spread over RAMP_S) with no policy, stepping up until pooled loss reaches
   1%: the largest count below that. Link delay, jitter and loss are off (``shaper=off``): this measures
   the switches, the DPI and the agents, not the NFQUEUE delayer.

Targets (issue 4): time-to-block <= 60 ms, >= 200 calls. Needs root.

    sudo .venv/bin/python benchmarks/emu_capacity.py [--trials 15] [--hold 10]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from testbed.emu.messages import Installed
from testbed.emu.session import Session
from testbed.emu.system import OFF
from testbed.policy.load import load_policy, resolve
from testbed.traffic.apps import MEDIA, PROFILES, FlowPlan, Segment
from topologies import TOPOLOGIES

PROBE_MS = 1.0
RAMP_S = 2.0   # calls start spread over this long, as arrivals would be (not all in one millisecond)
TTB_TARGET_MS, CALLS_TARGET = 60.0, 200
STEPS = (50, 100, 150, 200, 250, 300, 350, 400, 500)


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def probe_plan(seed: int) -> FlowPlan:
    """WhatsApp's opening packet, then copies of it every PROBE_MS, stamped with their send time."""
    allocate = PROFILES["whatsapp"].build(random.Random(seed), 4)[0].segments[0]
    return FlowPlan(MEDIA, "udp", 3478, (Segment(0.0, True, allocate.payload),))


def time_to_block(s: Session, trials: int, deployment: str) -> list[float]:
    s.set_policies(replace(load_policy(resolve("anrt-2016")), deployment=deployment))
    out = []
    for i in range(trials):
        spec = s.spec(f"tb1s{i % 4 + 1}", "tbwa", probe_plan(i), hold=0.3, frame_ms=PROBE_MS,
                      setup_timeout=1)
        reports = s.place([spec])
        decided = s.verdicts[spec.key]
        assert decided.verdict.action.kind == "drop" and decided.verdict.packet_index == 1, decided
        if deployment == "tap":
            recv = reports[(spec.id, "server")].recv
            signature_sent = reports[(spec.id, "client")].start
            assert signature_sent is not None
            # the last probe that got through was sent this long after the signature packet
            # (none through: the DPI closed the flow before the first probe, PROBE_MS later)
            last = recv.max_seq_sent
            out.append((last - signature_sent) * 1000 if last is not None else PROBE_MS)
        else:
            installed = [e for e in s.events if isinstance(e, Installed) and e.serial == decided.serial]
            out.append((installed[-1].t - decided.t) * 1000)
            assert reports[(spec.id, "server")].recv.packets == 0
    return out


def carry(s: Session, calls: int, hold: float, rng: random.Random) -> dict[str, Any]:
    subs = [h for h in s.ips if s.host_info[h].get("role") == "subscriber"]
    servers = [h for h in s.ips if s.host_info[h].get("role") == "server"]
    specs = []
    for i in range(calls):
        media = PROFILES["sip"].build(random.Random(rng.random()), 8)[1]
        specs.append(s.spec(subs[i % len(subs)], servers[i % len(servers)], media, hold=hold, setup_timeout=5,
                            start_in=RAMP_S * i / calls))
    reports = s.place(specs)
    sent = lost = 0
    worst = 0.0
    aborted: dict[str, int] = {}
    for spec in specs:
        c, v = reports[(spec.id, "client")], reports[(spec.id, "server")]
        if c.aborted:
            aborted[c.aborted] = aborted.get(c.aborted, 0) + 1
        pair_sent = c.sent_media + v.sent_media
        pair_lost = (c.sent_media - min(v.recv.media, c.sent_media)
                     + v.sent_media - min(c.recv.media, v.sent_media))
        sent += pair_sent
        lost += pair_lost
        worst = max(worst, 100 * pair_lost / pair_sent if pair_sent else 100.0)
    return {"calls": calls, "loss_pct": round(100 * lost / sent, 3) if sent else 100.0,
            "worst_call_loss_pct": round(worst, 2), "packets": sent, "gave_up": aborted}


def ramp(s: Session, hold: float, max_calls: int, label: str) -> tuple[int, list[dict[str, Any]]]:
    """Step the number of concurrent calls up until pooled loss reaches 1%."""
    s.set_policies(load_policy(resolve("none")))
    rng = random.Random(1)
    best, steps = 0, []
    for calls in (n for n in STEPS if n <= max_calls):
        step = carry(s, calls, hold, rng)
        steps.append(step)
        _log(f"{label}: {calls:4d} concurrent G.711 calls, loss {step['loss_pct']}% "
             f"(worst call {step['worst_call_loss_pct']}%)")
        if step["loss_pct"] >= 1.0:
            break
        best = calls
    return best, steps


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=15)
    ap.add_argument("--hold", type=float, default=10.0, help="seconds of media per capacity step")
    ap.add_argument("--max-calls", type=int, default=STEPS[-1])
    args = ap.parse_args(argv)
    topo = TOPOLOGIES["operator_edge"](subscribers=10, access_loss_pct=0, access_jitter_ms=0)
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="tb-bench-") as tmp:
        # as ``testbed run --emulate`` runs: veths on the DPI's ports, dumpcap on them
        with Session(topo, Path(tmp) / "run", capture=True, shaper=OFF, log=_log) as s:
            s.start_capture("dpi.pcapng")
            for deployment in ("inline", "tap"):
                ttb = time_to_block(s, args.trials, deployment)
                result[f"ttb_{deployment}_median_ms"] = round(statistics.median(ttb), 1)
                result[f"ttb_{deployment}_max_ms"] = round(max(ttb), 1)
                _log(f"time-to-block {deployment}: median {statistics.median(ttb):.1f} ms, "
                     f"max {max(ttb):.1f} ms over {len(ttb)} calls")
            best, steps = ramp(s, args.hold, args.max_calls, "with capture")
            result.update(calls_with_capture=best, steps_with_capture=steps)
        # the datapath alone: no capture, so every switch-to-switch link is a patch port
        with Session(topo, Path(tmp) / "fast", capture=False, shaper=OFF, log=_log) as s:
            best, steps = ramp(s, args.hold, args.max_calls, "no capture")
            result.update(concurrent_g711_calls=best, steps_no_capture=steps)
    print(json.dumps(result))
    _log(f"time-to-block: tap {result['ttb_tap_median_ms']} ms, inline {result['ttb_inline_median_ms']} ms "
         f"(median; target <= {TTB_TARGET_MS:g}); concurrent G.711 calls with < 1% loss: "
         f"{result['concurrent_g711_calls']} (capture off), {result['calls_with_capture']} (capturing) "
         f"(target >= {CALLS_TARGET})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
