"""Bad input: one line naming file, YAML path and line; exit 2; nothing started."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from testbed.cli import main

SCENARIO = """\
name: x
seed: 1
topology: {{name: dumbbell, params: {{subscribers: 2}}}}
policies: [none, anrt-2016]
circumventions:
  none: {{}}
  vpn: {{strategy: vpn, share: 0.5, after_failures: 1}}
workload:
  duration_s: 60
  calls_per_hour: 100
  subscribers: 10
  holding: {{distribution: exponential, mean_s: 60}}
  apps:
    whatsapp: {{share: {share}}}
    sip: {{share: 0.5}}
{extra}"""


def scenario(share: str = "0.5", extra: str = "") -> str:
    return SCENARIO.format(share=share, extra=extra)


POLICY = """\
name: p
rules:
  - name: calls
    match: {apps: [WhatsAppCall]}
    action: drop
"""

# (file under the temp dir, its text, the exact error line)
CASES = [
    # --- scenarios
    ("scenarios/x.yaml", scenario(share="lots"),
     "scenarios/x.yaml:14 workload.apps.whatsapp.share: expected a number in [0, 1], got 'lots'"),
    ("scenarios/x.yaml", scenario(share="1.5"),
     "scenarios/x.yaml:14 workload.apps.whatsapp.share: expected a number in [0, 1], got 1.5"),
    ("scenarios/x.yaml", scenario(share="0.2"),
     "scenarios/x.yaml:14 workload.apps: shares must sum to 1, got 0.7"),
    ("scenarios/x.yaml", "",
     "scenarios/x.yaml:1: file is empty"),
    ("scenarios/x.yaml", "# only a comment\n",
     "scenarios/x.yaml:1: file is empty"),
    ("scenarios/x.yaml", "name: [x\n",
     "scenarios/x.yaml:2: invalid YAML: expected ',' or ']', but got '<stream end>'"),
    ("scenarios/x.yaml", "name: x\n\tseed: 1\n",
     "scenarios/x.yaml:2: invalid YAML: found character '\\t' that cannot start any token"),
    ("scenarios/x.yaml", "- just\n- a list\n",
     "scenarios/x.yaml:1: expected a mapping, got a list"),
    ("scenarios/x.yaml", scenario().replace("seed: 1", "seed: 1\nseed: 2"),
     "scenarios/x.yaml:3 seed: duplicate key 'seed' (first at line 2)"),
    ("scenarios/x.yaml", scenario(extra="colour: blue\n"),
     "scenarios/x.yaml:16 colour: unknown key 'colour' – choose one of [name, description, seed, "
     "references, topology, workload, policies, phases, circumventions, expect]"),
    ("scenarios/x.yaml", scenario().replace("name: x\n", ""),
     "scenarios/x.yaml:1: missing required key 'name'"),
    ("scenarios/x.yaml", scenario().replace("seed: 1", "seed: 1.5"),
     "scenarios/x.yaml:2 seed: expected an integer in [0, 9223372036854775808], got 1.5"),
    ("scenarios/x.yaml", scenario().replace("duration_s: 60", "duration_s: -1"),
     "scenarios/x.yaml:9 workload.duration_s: expected a number in (0, 315360000], got -1"),
    ("scenarios/x.yaml", scenario().replace("duration_s: 60", "duration_s: 60\n  duration_s: 61"),
     "scenarios/x.yaml:10 workload.duration_s: duplicate key 'duration_s' (first at line 9)"),
    ("scenarios/x.yaml", scenario().replace("    sip:", "    skipe:"),
     "scenarios/x.yaml:15 workload.apps.skipe: unknown app 'skipe' – choose one of "
     "[botim, facetime, imo, messenger, sip, skype, teams, telegram, viber, webrtc, whatsapp, zoom]"),
    ("scenarios/x.yaml", scenario().replace("[none, anrt-2016]", "[none, nope]"),
     "scenarios/x.yaml:4 policies[1]: unknown policy 'nope' – choose one of [anrt-2016, anrt-2016-all-lines, "
     "anrt-2016-imo, anrt-2016-mobile, behavioural, citc-2017, citc-2017-lift, degrade, egypt-2015, ip-block, "
     "none, port-block, russia-2025-calls, russia-2025-december, throttle-calls, throttle-udp, uae-2020, "
     "uae-2020-distance-learning, vpn-block, vpn-fingerprint] or give a file path"),
    ("scenarios/x.yaml", scenario().replace("[none, anrt-2016]", "[none, none]"),
     "scenarios/x.yaml:4 policies[1]: policy 'none' is listed twice"),
    ("scenarios/x.yaml", scenario().replace("[none, anrt-2016]", "[]"),
     "scenarios/x.yaml:4 policies: expected at least 1 item, got 0"),
    ("scenarios/x.yaml", scenario().replace("name: dumbbell", "name: star"),
     "scenarios/x.yaml:3 topology.name: unknown topology 'star' – choose one of "
     "[dumbbell, operator_edge, three_operators]"),
    ("scenarios/x.yaml", scenario().replace("subscribers: 2}", "hosts: 2}"),
     "scenarios/x.yaml:3 topology.params.hosts: unknown option 'hosts' of topology dumbbell – choose one of "
     "[subscribers, bw, delay_ms, jitter_ms, loss_pct, relay_capacity]"),
    ("scenarios/x.yaml", scenario().replace("subscribers: 2}", "subscribers: 2.5}"),
     "scenarios/x.yaml:3 topology.params.subscribers: expected an integer in [1, 250], got 2.5"),
    ("scenarios/x.yaml", scenario().replace("strategy: vpn,", "strategy: tor,"),
     "scenarios/x.yaml:7 circumventions.vpn.strategy: unknown strategy 'tor' – choose one of "
     "[none, obfuscation, port-hopping, turn-tcp443, vpn, vpn-tcp443]"),
    ("scenarios/x.yaml", scenario().replace("after_failures: 1", "after_failures: -1"),
     "scenarios/x.yaml:7 circumventions.vpn.after_failures: expected an integer in [0, 1000], got -1"),
    ("scenarios/x.yaml", scenario().replace("mean_s: 60}", "mean_s: 60, sigma: 1}"),
     "scenarios/x.yaml:12 workload.holding.sigma: sigma applies to the lognormal distribution only"),
    ("scenarios/x.yaml", scenario().replace("exponential", "weibull"),
     "scenarios/x.yaml:12 workload.holding.distribution: unknown distribution 'weibull' – choose one of "
     "[exponential, lognormal]"),
    ("scenarios/x.yaml", scenario(extra="  diurnal: [1, 2, 3]\n"),
     "scenarios/x.yaml:16 workload.diurnal: expected 24 hourly weights, got 3"),
    ("scenarios/x.yaml", scenario(extra="  retry: {max_attempts: 0}\n"),
     "scenarios/x.yaml:16 workload.retry.max_attempts: expected an integer in [1, 100], got 0"),
    ("scenarios/x.yaml", scenario(extra="  flows_per_hour: {whatsapp: 10}\n"),
     "scenarios/x.yaml:16 workload.flows_per_hour.whatsapp: unknown flow app 'whatsapp' – choose one of "
     "[game, web, whatsapp_chat]"),
    ("scenarios/x.yaml", scenario(extra="expect:\n  - {policy: none, circumvention: none, metric: joy, min: 1}\n"),
     "scenarios/x.yaml:17 expect[0].metric: unknown metric 'joy' – choose one of [adopters_pct, asr_pct, "
     "capacity_blocked_pct, collateral_pct, hit_pct, mean_loss_pct, median_mos, median_pdd_ms, "
     "median_ttb_ms, median_ttb_packets, operator_success_pct, ott_success_pct, p10_mos, seer_pct, ser_pct, "
     "success_pct]"),
    ("scenarios/x.yaml", scenario(extra="expect:\n  - {policy: ip-block, circumvention: none, "
                                        "metric: hit_pct, min: 1}\n"),
     "scenarios/x.yaml:17 expect[0].policy: policy 'ip-block' is not in this scenario's policies "
     "[none, anrt-2016]"),
    ("scenarios/x.yaml", scenario(extra="expect:\n  - {policy: none, circumvention: none, metric: hit_pct}\n"),
     "scenarios/x.yaml:17 expect[0]: give min, max or both"),
    ("scenarios/x.yaml", scenario().replace("[none, anrt-2016]", "[none, bad.yaml]") + "",
     "scenarios/bad.yaml:4 rules[0].action: unknown action 'block' – choose one of "
     "[allow, drop, reset, throttle, degrade]"),
    # --- policies
    ("policies/p.yaml", "",
     "policies/p.yaml:1: file is empty"),
    ("policies/p.yaml", POLICY.replace("name: p\n", ""),
     "policies/p.yaml:1: missing required key 'name'"),
    ("policies/p.yaml", POLICY + "rulez: []\n",
     "policies/p.yaml:6 rulez: unknown key 'rulez' – choose one of [name, description, rules, "
     "deployment, fail_mode, inspect_packets, idle_timeout_s, references, fingerprint_packets]"),
    ("policies/p.yaml", POLICY.replace("action: drop", "action: block"),
     "policies/p.yaml:5 rules[0].action: unknown action 'block' – choose one of "
     "[allow, drop, reset, throttle, degrade]"),
    ("policies/p.yaml", POLICY.replace("action: drop", "action: {throttle: {kbps: -5}}"),
     "policies/p.yaml:5 rules[0].action.throttle.kbps: expected a number in (0, 10000000], got -5"),
    ("policies/p.yaml", POLICY.replace("action: drop", "action: {throttle: {}}"),
     "policies/p.yaml:5 rules[0].action.throttle: missing required key 'kbps'"),
    ("policies/p.yaml", POLICY.replace("action: drop", "action: throttle"),
     "policies/p.yaml:5 rules[0].action: action 'throttle' needs options"),
    ("policies/p.yaml", POLICY.replace("action: drop", "action: {drop: {now: true}}"),
     "policies/p.yaml:5 rules[0].action.drop: action 'drop' takes no options"),
    ("policies/p.yaml", POLICY.replace("action: drop", "action: {degrade: {loss_pct: 150}}"),
     "policies/p.yaml:5 rules[0].action.degrade.loss_pct: expected a number in [0, 100], got 150"),
    ("policies/p.yaml", POLICY.replace("[WhatsAppCall]", "[Whatsap]"),
     "policies/p.yaml:4 rules[0].match.apps[0]: unknown app 'Whatsap' – choose one of [..."),
    ("policies/p.yaml", POLICY.replace("{apps: [WhatsAppCall]}", "{l4: udp, dst_ports: [70000]}"),
     "policies/p.yaml:4 rules[0].match.dst_ports[0]: expected a port or a range like '5060-5070', got 70000 "
     "(ports are 0-65535, low to high)"),
    ("policies/p.yaml", POLICY.replace("{apps: [WhatsAppCall]}", "{l4: udp, dst_ports: ['5070-5060']}"),
     "policies/p.yaml:4 rules[0].match.dst_ports[0]: expected a port or a range like '5060-5070', got "
     "'5070-5060' (ports are 0-65535, low to high)"),
    ("policies/p.yaml", POLICY.replace("{apps: [WhatsAppCall]}", "{dst_ports: [5060]}"),
     "policies/p.yaml:4 rules[0].match.dst_ports: port matches need 'l4: udp' or 'l4: tcp'"),
    ("policies/p.yaml", POLICY.replace("{apps: [WhatsAppCall]}", "{dst: 10.0.0.0/33}"),
     "policies/p.yaml:4 rules[0].match.dst: expected an IP address or prefix like '10.0.0.0/8', got "
     "'10.0.0.0/33' ('10.0.0.0/33' does not appear to be an IPv4 or IPv6 network)"),
    ("policies/p.yaml", POLICY.replace("{apps: [WhatsAppCall]}", "{l4: icmp}"),
     "policies/p.yaml:4 rules[0].match.l4: unknown l4 protocol 'icmp' – choose one of [tcp, udp]"),
    ("policies/p.yaml", POLICY.replace("{apps: [WhatsAppCall]}", "{}"),
     "policies/p.yaml:4 rules[0].match: a match needs at least one field"),
    ("policies/p.yaml", POLICY.replace("{apps: [WhatsAppCall]}", "{behaviour: chatty}"),
     "policies/p.yaml:4 rules[0].match.behaviour: unknown behaviour 'chatty' – choose one of [openvpn-fingerprint, rtp-like]"),
    ("policies/p.yaml", POLICY.replace("{apps: [WhatsAppCall]}", "{categories: [Voip]}"),
     "policies/p.yaml:4 rules[0].match.categories[0]: unknown category 'Voip' – choose one of [..."),
    ("policies/p.yaml", POLICY + "  - name: calls\n    match: {l4: udp}\n    action: drop\n",
     "policies/p.yaml:6 rules[1].name: duplicate rule name 'calls' (also rules[0])"),
    ("policies/p.yaml", POLICY.replace("    action: drop", "    action: drop\n    when: always"),
     "policies/p.yaml:6 rules[0].when: unknown key 'when' – choose one of [name, match, action]"),
    ("policies/p.yaml", POLICY + "inspect_packets: 0\n",
     "policies/p.yaml:6 inspect_packets: expected an integer in [1, 1000], got 0"),
    ("policies/p.yaml", POLICY + "deployment: sideways\n",
     "policies/p.yaml:6 deployment: unknown deployment 'sideways' – choose one of [inline, tap]"),
    ("policies/p.yaml", POLICY + "fail_mode: maybe\n",
     "policies/p.yaml:6 fail_mode: unknown fail mode 'maybe' – choose one of [secure, standalone]"),
    ("policies/p.yaml", POLICY + "1: one\n",
     "policies/p.yaml:6: keys must be strings, got 1"),
    ("policies/p.yaml", "name: p\nrules: drop-everything\n",
     "policies/p.yaml:2 rules: expected a list of a mapping, got 'drop-everything'"),
    ("policies/p.yaml", "name: p\nname: q\nrules: []\n",
     "policies/p.yaml:2 name: duplicate key 'name' (first at line 1)"),
]

BAD_POLICY_NEXT_TO_SCENARIO = "name: bad\nrules:\n  - match: {l4: udp}\n    action: block\n"


def _write(tmp: Path, rel: str, text: str) -> Path:
    path = tmp / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    (tmp / "scenarios").mkdir(exist_ok=True)
    (tmp / "scenarios" / "bad.yaml").write_text(BAD_POLICY_NEXT_TO_SCENARIO)
    return path


@pytest.mark.parametrize("rel,text,expected", CASES, ids=[f"{i:02d}" for i in range(len(CASES))])
def test_check_reports_one_exact_line(rel: str, text: str, expected: str, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, rel, text)
    assert main(["check", rel]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    if expected.endswith("[..."):  # the list of choices is the DPI catalogue's, which grows
        assert err[0].startswith(expected[:-3]) and err[0].endswith("]")
    else:
        assert err[0] == expected


def test_case_count() -> None:
    assert len(CASES) >= 30


def test_missing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["check", "scenarios/none-such.yaml"]) == 2
    assert capsys.readouterr().err.strip() == "scenarios/none-such.yaml: file not found"


def test_run_with_bad_input_starts_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, "scenarios/x.yaml", scenario(share="lots"))
    assert main(["run", "--out", "out", "scenarios/x.yaml"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip() == textwrap.dedent(CASES[0][2])
    assert not (tmp_path / "out").exists()


def test_good_files_pass(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(root / "scenarios"), str(root / "policies")]) == 0
    out = capsys.readouterr().out
    assert "morocco-2016.yaml" in out and "anrt-2016.yaml" in out


def test_unknown_cell_override_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, "scenarios/x.yaml", scenario())
    assert main(["run", "--out", "out", "--policies", "none,ip-block", "scenarios/x.yaml"]) == 2
    assert capsys.readouterr().err.strip() == ("scenarios/x.yaml: --policies: 'ip-block' is not in the scenario "
                                               "– choose one of [none, anrt-2016]")
    assert not (tmp_path / "out").exists()
