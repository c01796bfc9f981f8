"""policies/anrt-2016.yaml: what it names, in what order, and what it must leave alone."""

from __future__ import annotations

from testbed.dpi.catalog import APPS, CHAT, VOIP, category_of
from testbed.policy.load import POLICY_DIR, load_policy

MESSAGING = {app for app, category in APPS.items() if category == CHAT}


def test_rules_and_references() -> None:
    policy = load_policy(POLICY_DIR / "anrt-2016.yaml")
    assert policy.name == "anrt-2016"
    assert [(r.name, r.action.kind) for r in policy.rules] == [
        ("operator-voice", "allow"), ("ott-calls", "drop"), ("unlicensed-voip", "drop"), ("voip-media", "drop")]
    named = {app for rule in policy.rules for app in rule.match.apps}
    # the apps of the 2016 block (press reports: WhatsApp, Viber, Skype, Messenger, FaceTime; Imo)
    # and the OTT calls of the same kind the DPI can name
    assert {"WhatsAppCall", "Viber", "Skype_TeamsCall", "IMO", "FacebookVoip", "FaceTime", "GoogleCall",
            "SignalVoip", "TelegramVoip", "WebRTC"} <= named
    assert "RTP" not in named        # an RTP stream alone is nobody's call: not asked for
    assert all(category_of(app) == VOIP for app in named)
    assert not named & MESSAGING and {"WhatsApp", "ViberChat", "Telegram", "Signal"} <= MESSAGING
    text = (POLICY_DIR / "anrt-2016.yaml").read_text(encoding="utf-8")
    assert text.count("https://") >= 5 and "04-04" in text
