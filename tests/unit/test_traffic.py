"""Traffic models: real bytes the real classifier names as the app they stand for."""

from __future__ import annotations

import random

import pytest

from testbed.dpi.catalog import category_of
from testbed.dpi.classifier import Classifier, Verdict
from testbed.packets import rtp, stun
from testbed.traffic.apps import MEDIA, PROFILES, FlowPlan
from testbed.traffic.circumvention import STRATEGIES
from testbed.traffic.codecs import G711, G729
from testbed.traffic.wire import Endpoints, packets

# what the DPI should name each profile's flows, by role
EXPECTED = {
    "whatsapp": {"media": "WhatsAppCall"},
    "viber": {"media": "Viber"},
    "skype": {"media": "Skype_TeamsCall"},
    "imo": {"media": "IMO"},
    "sip": {"signalling": "SIP", "media": "RTP"},
    "telegram": {"media": "TelegramVoip"},
    "messenger": {"media": "FacebookVoip"},
    "zoom": {"media": "Zoom"},
    "teams": {"media": "Skype_TeamsCall"},
    "facetime": {"media": "FaceTime"},      # generic bytes: named by Apple's block + FaceTime's port
    "webrtc": {"media": "WebRTC"},
    "botim": {"media": "WebRTC"},           # generic WebRTC: the app itself is not named
    "web": {"data": "TLS"},
    "whatsapp_chat": {"data": "WhatsApp"},
}


def _server(app: str) -> str:
    """The address the topology gives the app's server (real services' ranges), else a documentation one."""
    from topologies.servers import CALLING_APP_SERVERS, INTERNET_SERVERS

    return next((ip.split("/")[0] for _, ip, serves in INTERNET_SERVERS + CALLING_APP_SERVERS if app in serves),
                "198.51.100.99")


def _verdict(plan: FlowPlan, server: str = "157.240.1.60", classifier: Classifier | None = None) -> Verdict:
    """What the DPI names the flow (by default inspecting until it knows, no policy)."""
    classifier = classifier or Classifier(identify=True, window=24)
    for t, packet in packets(plan, Endpoints("10.10.0.2", 40000, server, plan.server_port)):
        verdict = classifier.feed(packet, t)
        if verdict is not None:
            return verdict
    return classifier.flush()[0]


@pytest.mark.parametrize("app", sorted(EXPECTED))
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_profiles_are_recognised_as_their_app(app: str, seed: int) -> None:
    for plan in PROFILES[app].build(random.Random(seed), 24):
        verdict = _verdict(plan, _server(app))
        assert verdict.app == EXPECTED[app][plan.role], (app, plan.role, verdict.why)
        # web's server is nobody's; RTP is a stream whose call shows in its signalling (Media);
        # Zoom is a calling app in Video, nDPI's category for it
        assert category_of(verdict.app) == PROFILES[app].category or app in ("web", "zoom") or verdict.app == "RTP"


def test_profiles_carry_real_wire_formats() -> None:
    plan = PROFILES["whatsapp"].build(random.Random(1), 12)[0]
    first = stun.parse(plan.segments[0].payload)
    assert first is not None and first.msg_type == stun.ALLOCATE_REQUEST and first.attribute(0x4000)
    media = [rtp.parse(s.payload) for s in plan.segments[2:]]
    assert all(h is not None and h.version == 2 for h in media)
    up = [h for h, s in zip(media, plan.segments[2:]) if s.up]
    assert [h.sequence - up[0].sequence for h in up] == list(range(len(up)))  # type: ignore[union-attr]


def test_codec_rates() -> None:
    assert G711.ip_kbps == pytest.approx(80.0)   # 160 B + 40 B headers every 20 ms
    assert G729.ip_kbps == pytest.approx(24.0)


def test_vpn_hides_the_app() -> None:
    plans = STRATEGIES["vpn"].transform(PROFILES["whatsapp"].build(random.Random(1), 12), random.Random(2))
    assert len(plans) == 1 and plans[0].server_port == 1194
    verdict = _verdict(plans[0])
    assert verdict.app == "OpenVPN"


def test_port_hopping_keeps_payloads_changes_ports() -> None:
    base = PROFILES["whatsapp"].build(random.Random(1), 12)
    hopped = STRATEGIES["port-hopping"].transform(base, random.Random(2))
    assert hopped[0].segments == base[0].segments and hopped[0].server_port != 3478
    assert _verdict(hopped[0]).app == "WhatsAppCall"   # signatures look at payload, not ports


def test_obfuscation_leaves_no_signature_only_timing() -> None:
    from testbed.policy.model import Action, Match, Policy, Rule

    plans = STRATEGIES["obfuscation"].transform(PROFILES["whatsapp"].build(random.Random(1), 24), random.Random(2))
    media = [p for p in plans if p.role == MEDIA][0]
    assert _verdict(media, "198.51.100.99").app not in ("WhatsAppCall", "STUN")
    # to WhatsApp's published block, voice-like timing is enough to name the call (no address alone)
    found = _verdict(media, "157.240.1.60")
    assert found.app == "WhatsAppCall" and "voice-like media" in found.why, found.why
    behavioural = Policy("b", (Rule("m", Match(behaviour="rtp-like"), Action("drop"), 1),), inspect_packets=24)
    verdict = _verdict(media, classifier=Classifier(behavioural))
    assert verdict.action.kind == "drop", verdict.why
