"""The VPN fingerprint (policies/vpn-fingerprint.yaml's behaviour rule alone) over the corpus:
its hit rate on the real OpenVPN flows, its collateral on everything that is not a VPN."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from groundtruth import LABELS, Outcome, outcomes, per_app_table

from testbed.policy.load import load_policy, resolve

pytestmark = pytest.mark.corpus


def _fingerprinted(outcome: Outcome) -> bool:
    return any(row.rule is not None and row.rule.endswith("/openvpn-fingerprint") for row in outcome.rows)


def _one_way() -> set[tuple[str, int, int]]:
    """Labelled flows of which the capture holds only one direction (nothing to fingerprint a reply in)."""
    with open(LABELS, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return {(r["pcap"], r["a_port"], r["b_port"]) for r in rows if not r["a_to_b"][0] or not r["b_to_a"][0]}


def test_fingerprint_hit_rate_and_collateral(capsys: pytest.CaptureFixture[str]) -> None:
    full = load_policy(resolve("vpn-fingerprint"))
    alone = replace(full, rules=tuple(r for r in full.rules if r.match.behaviour == "openvpn-fingerprint"))
    assert len(alone.rules) == 1
    results = outcomes(alone)
    openvpn = [o for o in results if "OpenVPN" in o.label.ndpi]
    one_way = _one_way()
    both_ways = [o for o in openvpn if (o.label.pcap, o.label.a_port, o.label.b_port) not in one_way]
    other = [o for o in results if o.label.category != "VPN"]
    collateral = [o for o in other if _fingerprinted(o)]
    with capsys.disabled():
        hits = sum(map(_fingerprinted, openvpn))
        print(f"\nvpn-fingerprint (N={alone.fingerprint_packets}): OpenVPN flows {hits} of {len(openvpn)} "
              f"({len(openvpn) - len(both_ways)} captured one way only); collateral {len(collateral)} of "
              f"{len(other)} non-VPN flows\n" + per_app_table(openvpn, "OpenVPN flows"))
    assert len(openvpn) == 12 and len(both_ways) == 10
    assert all(_fingerprinted(o) for o in both_ways)
    assert len(collateral) / len(other) <= 0.001, [o.label for o in collateral]
