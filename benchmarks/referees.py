"""Referees: what tools we did not write make of our traffic, side by side.

For every circumvention strategy that has a wire format of its own (none, vpn, vpn-tcp443,
turn-tcp443), `testbed generate` writes CALLS calls of each app; then
- ndpiReader (nDPI 4.2, Debian) and nfstream (PyPI, a newer nDPI) label every flow: the
  confusion table (intended app × referee × label × how) and the share of call flows named
  as intended *by DPI*;
- tshark decodes every packet: malformed packets and expert errors (0 expected), and the
  protocols it saw.
``--pcap FILE`` reads an emulation's capture (``dpi.pcap``) with tshark as well.

    .venv/bin/python benchmarks/referees.py [--calls 20] [--pcap results/.../dpi.pcap]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

from testbed import referee
from testbed.packets.capture import write_ip
from testbed.traffic.apps import CALL_APPS, FLOW_APPS, PROFILES
from testbed.traffic.generate import generate

STRATEGIES = ("none", "vpn", "vpn-tcp443", "turn-tcp443")


def _rate(pairs: list) -> str:
    calls = [(f, lab) for f, lab in pairs if PROFILES[f.app].kind == "call"]
    right = sum(referee.right(f, lab) for f, lab in calls)
    return f"{right}/{len(calls)} call flows named as intended by DPI ({100 * right / max(len(calls), 1):.1f}%)"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--calls", type=int, default=20)
    p.add_argument("--pcap", help="an emulation's dpi.pcap, for tshark")
    args = p.parse_args()
    missing = [t for t in ("ndpiReader", "tshark") if shutil.which(t) is None]
    if missing:
        print(f"missing: {' '.join(missing)} (make test installs them)", file=sys.stderr)
        return 1
    try:
        import nfstream  # noqa: F401
        have_nfstream = True
    except ImportError:
        have_nfstream = False
        print("nfstream not installed (pip install -e '.[referees]'): ndpiReader only", file=sys.stderr)
    rows: Counter = Counter()
    with tempfile.TemporaryDirectory() as tmp:
        for strategy in STRATEGIES:
            apps = CALL_APPS + (FLOW_APPS if strategy == "none" else [])
            packets, flows = generate(apps, strategy, args.calls, seed=8)
            path = Path(tmp) / f"{strategy}.pcap"
            write_ip(path, packets)
            ours = referee.match(flows, referee.ndpi_reader(path))
            rows += referee.confusion(referee.NDPI_READER, ours)
            line = f"{strategy:12} ndpiReader: {_rate(ours)}"
            if have_nfstream:
                theirs = referee.match(flows, referee.nfstream_labels(path))
                rows += referee.confusion(referee.NFSTREAM, theirs)
                line += f"; nfstream: {_rate(theirs)}"
            expert = referee.tshark(path, referee.decode_as(flows), prefs=referee.preferences(flows))
            print(line)
            print(f"{'':12} tshark: {len(packets)} packets, {expert.malformed} malformed, "
                  f"{sum(expert.errors.values())} expert errors; {dict(expert.protocols.most_common(8))}")
    print("\n" + referee.table(rows))
    if args.pcap:
        expert = referee.tshark(Path(args.pcap))
        print(f"{args.pcap}: {expert.malformed} malformed, {dict(expert.errors)} expert errors; "
              f"{dict(expert.protocols.most_common(10))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
