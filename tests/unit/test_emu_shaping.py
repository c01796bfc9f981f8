"""What each host's netfilter and delayer are told: the path model, per destination."""

from __future__ import annotations

from testbed.emu.shaping import DEGRADE_QUEUE_BASE, PATH_QUEUE, host_shaping, link_params
from testbed.emu.system import NETEM, NFQUEUE, OFF
from testbed.policy.model import Action
from testbed.topo import path
from topologies import TOPOLOGIES


def _ips(topo) -> dict[str, str]:
    return {h: str(topo.nodeInfo(h)["ip"]).split("/")[0] for h in topo.hosts()}


def test_link_params_never_hand_delay_to_mininet_without_netem() -> None:
    info = {"bw": 20, "delay": "15ms", "jitter": "3ms", "loss": 0.2}
    assert link_params(info, NFQUEUE) == {"txo": False, "rxo": False, "bw": 20.0}
    assert link_params(info, NETEM) == {"txo": False, "rxo": False, "bw": 20.0, "delay": "15ms",
                                        "jitter": "3ms", "loss": 0.2}


def test_nfqueue_shaping_is_the_path_model_to_each_destination() -> None:
    topo = TOPOLOGIES["operator_edge"](subscribers=2)
    ips = _ips(topo)
    shaping = host_shaping(topo, "tb1s1", ips, NFQUEUE, {})
    model = path(topo, "tb1s1", "tbwa")
    assert shaping.path[ips["tbwa"]] == (model.delay_ms, model.jitter_ms)
    assert model.delay_ms == 15 + 1 + 1 + 20 + 1
    assert f"-A OUTPUT -d {ips['tbwa']}/32 -j NFQUEUE --queue-num {PATH_QUEUE}" in shaping.rules
    loss_rule = next(r for r in shaping.rules if ips["tbwa"] in r and "statistic" in r)
    assert f"--probability {model.loss:.6f}" in loss_rule and loss_rule.endswith("-j DROP")
    assert loss_rule.startswith(f"-A INPUT -s {ips['tbwa']}/32 ")   # lost in the network, not told to the sender
    assert len(shaping.path) == len(ips) - 1 and shaping.needs_delayer
    # a host that forwards (a VPN server) shapes what it forwards by the same path model;
    # what goes into a tunnel device is left to the tunnel's own packets
    assert f"-A FORWARD -d {ips['tbwa']}/32 -j NFQUEUE --queue-num {PATH_QUEUE}" in shaping.rules
    assert shaping.rules[0] == "-A OUTPUT -o tbtun+ -j ACCEPT"
    text = shaping.restore_input()
    assert text.startswith("*filter\n") and text.endswith("COMMIT\n")


def test_no_path_rules_with_netem_or_off() -> None:
    topo = TOPOLOGIES["operator_edge"](subscribers=1)
    for shaper in (NETEM, OFF):
        shaping = host_shaping(topo, "tb1s1", _ips(topo), shaper, {})
        assert shaping.rules == () and not shaping.needs_delayer


def test_degrade_marks_become_input_rules() -> None:
    topo = TOPOLOGIES["dumbbell"]()
    action = Action("degrade", loss_pct=15, jitter_ms=60)
    shaping = host_shaping(topo, "tbsrv", _ips(topo), OFF, {action: 40})
    assert shaping.rules == ("-A INPUT -m dscp --dscp 40 -m statistic --mode random --probability 0.150000 -j DROP",
                             f"-A INPUT -m dscp --dscp 40 -j NFQUEUE --queue-num {DEGRADE_QUEUE_BASE + 40}")
    assert shaping.degrade == {DEGRADE_QUEUE_BASE + 40: (60, 60)}
