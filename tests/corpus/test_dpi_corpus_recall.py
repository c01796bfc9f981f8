"""policies/anrt-2016.yaml over the whole corpus, judged by nDPI's labels.

Recall: VoIP call flows (nDPI category VoIP) the policy hits. Collateral: the
other flows it hits. The per-app tables are printed even when the tests pass.
"""

from __future__ import annotations

import pytest
from groundtruth import Outcome, outcomes, per_app_table

from testbed.policy.model import Action, Match, Policy, Rule

pytestmark = pytest.mark.corpus

VOIP_FLOWS = 77          # labels.jsonl: VoIP call flows (the corpus README says 77)
SEED_VOIP_FLOWS = 52     # of them WhatsApp (40), Viber (9), Skype (1), Imo (2)


def _show(capsys: pytest.CaptureFixture[str], text: str) -> None:
    with capsys.disabled():
        print("\n" + text)


def test_anrt_2016_recall_and_collateral(anrt_outcomes: list[Outcome],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    voip = [o for o in anrt_outcomes if o.label.voip]
    other = [o for o in anrt_outcomes if not o.label.voip]
    chat = [o for o in anrt_outcomes if o.label.whatsapp_chat]
    collateral = [o for o in other if o.hit]
    _show(capsys, per_app_table(voip, "VoIP flows (anrt-2016)") + "\n\n"
          + per_app_table(collateral, "non-VoIP flows hit") + f"\nof {len(other)} non-VoIP flows")
    assert len(voip) == VOIP_FLOWS
    assert len(chat) == 93
    recall = sum(o.hit for o in voip) / len(voip)
    assert recall >= 0.95, f"recall {recall:.1%}"
    assert len(collateral) / len(other) <= 0.01, f"{len(collateral)} of {len(other)} non-VoIP flows hit"
    assert len(collateral) <= 2   # measured 0: RTP alone (games, Discord, fax, SIP media) is not asked for
    assert sum(o.hit for o in chat) == 0


def test_any_rtp_is_what_a_policy_must_ask_for() -> None:
    """The RTP streams anrt-2016 leaves alone are there for a policy that wants them."""
    found = outcomes(Policy("any-rtp", (Rule("rtp", Match(apps=("RTP",)), Action("drop"), 1),)))
    rtp = [o for o in found if o.label.ndpi in ("RTP", "STUN.RTP")]
    assert len(rtp) == 9 and sum(o.hit for o in rtp) >= 8   # measured 8: not the one over TCP (RFC 4571)


def test_seed_apps_blocked_no_later_than_ndpi(anrt_outcomes: list[Outcome],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """WhatsApp, Viber, Skype and Imo calls: hit at or before the packet where nDPI decided."""
    seed = [o for o in anrt_outcomes if o.label.voip and o.label.seed_app]
    hit = [o for o in seed if o.hit]
    late = [o for o in hit if o.decided_at is not None and o.decided_at > o.label.ndpi_packets]
    lines = [f"{o.label.pcap} {o.label.keys()[0]} {o.label.ndpi}: ours {o.decided_at}, nDPI "
             f"{o.label.ndpi_packets}" for o in late]
    ahead = sum(1 for o in hit if o.decided_at is not None and o.decided_at < o.label.ndpi_packets)
    _show(capsys, f"seed-app call flows: {len(seed)}, hit {len(hit)}, earlier than nDPI {ahead}, "
                  f"same packet {len(hit) - ahead - len(late)}, later {len(late)}")
    assert len(seed) == SEED_VOIP_FLOWS
    assert len(hit) == len(seed)
    assert not late, "\n".join(lines)


def test_behavioural_detector_alone(capsys: pytest.CaptureFixture[str]) -> None:
    """The rtp-like rule with no signature behind it: what it finds and what it wrongly hits."""
    policy = Policy("behaviour", (Rule("rtp-like", Match(behaviour="rtp-like"), Action("drop"), 1),))
    found = outcomes(policy)
    voip = [o for o in found if o.label.voip]
    wrong = [o for o in found if not o.label.voip and o.hit]
    _show(capsys, per_app_table([o for o in found if o.hit], "flows the rtp-like rule hits")
          + f"\nnon-VoIP hit: {len(wrong)} of {sum(1 for o in found if not o.label.voip)}")
    assert {o.label.ndpi for o in voip if o.hit} == {"IAX"}  # the one labelled call long enough to judge
    assert len(wrong) <= 5  # measured: 4 (2 RTP voice streams nDPI files under Media, a game, a VPN)
    assert len(wrong) / len(found) <= 0.005


def test_vpn_signatures_find_every_tunnel_and_nothing_else() -> None:
    policy = Policy("vpn", (Rule("vpn", Match(apps=("OpenVPN", "WireGuard")), Action("drop"), 1),))
    found = outcomes(policy)
    tunnels = [o for o in found if o.label.ndpi.split(".")[0] in ("OpenVPN", "WireGuard")]
    assert len(tunnels) == 14
    assert all(o.hit for o in tunnels)
    assert [o.label for o in found if o.hit and o not in tunnels] == []
