"""The apps beyond the 2016 block where the corpus has them: do we name a flow as nDPI does?

nDPI labels ``Master.App``; a flow agrees when our app is nDPI's app (its own
name, or ours for the same app). Identification (``testbed classify``), no policy.
The table prints with ``pytest -s``.
"""

from __future__ import annotations

from collections import Counter

import pytest
from groundtruth import captures, labels

from testbed.dpi.replay import FlowRow, run_capture
from testbed.policy.model import NO_POLICY

pytestmark = pytest.mark.corpus

# nDPI's app name → ours, where they differ
# i3D.net hosts Discord's voice servers (nDPI lists its AS49544 for Discord): those flows open with
# Discord's IP discovery, which nDPI's i3D dissector claims first
SAME = {"FacebookMessenger": "Messenger", "TeamsCall": "Skype_TeamsCall", "i3D": "Discord"}
APPS = ("Telegram", "TelegramVoip", "Zoom", "Teams", "Skype_TeamsCall", "Discord", "Snapchat", "SnapchatCall",
        "FacebookVoip", "Messenger", "GoogleCall", "SignalVoip", "ViberVoip", "Webex", "LineCall", "Line",
        "KakaoTalk_Voice", "Mumble", "TeamSpeak", "i3D", "TeamsCall", "FacebookMessenger")


def test_new_apps_named_as_ndpi_names_them(capsys: pytest.CaptureFixture[str]) -> None:
    rows: dict[tuple[str, str, str, int, str, int], list[FlowRow]] = {}
    for path in captures():
        for r in run_capture(path, NO_POLICY, identify=True).rows:
            rows.setdefault((r.capture, r.l4, r.src_ip, r.src_port, r.dst_ip, r.dst_port), []).append(r)
    seen: Counter[tuple[str, bool]] = Counter()
    for label in labels():
        if label.app not in APPS or label.ndpi.startswith("DNS."):
            continue   # nDPI names a DNS query by the name it asks for; we do not read DNS
        ours = [r for key in label.keys() for r in rows.get((label.pcap, *key), [])]  # noqa: SIM118
        agree = bool(ours) and ours[0].app == SAME.get(label.app, label.app)
        seen[(label.app, agree)] += 1
    apps = sorted({app for app, _ in seen})
    lines = [f"{'nDPI app':18} flows  same"] + [f"{app:18} {seen[(app, True)] + seen[(app, False)]:5d} "
                                                f"{seen[(app, True)]:5d}" for app in apps]
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    total = sum(seen.values())
    same = sum(n for (_, agree), n in seen.items() if agree)
    # measured: every such flow of the corpus (Telegram, Teams, Snapchat, Messenger names; Discord
    # voice, also on i3D's servers; the STUN of Google, Messenger, Teams and Viber calls)
    assert total >= 20 and same == total, lines
