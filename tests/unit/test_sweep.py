"""Sweeps, the parts that need no cluster: --vary parsing and validation, seeds, the CI."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

import testbed.sweep.cluster
from testbed.cli import main
from testbed.sweep.progress import SweepProgress
from testbed.sweep.results import document, table_text
from testbed.sweep.stats import estimate, t_quantile
from testbed.sweep.tasks import Task, replicate_seed, tasks_of
from testbed.sweep.vary import range_texts, sweep_points, value_texts

SCENARIO = """\
name: tiny
seed: 3
topology: {name: operator_edge, params: {subscribers: 2, access_loss_pct: 0.5}}
policies: [none, anrt-2016]
circumventions:
  none: {}
  vpn-adopters: {strategy: vpn, share: 0.3, after_failures: 1}
workload:
  duration_s: 120
  calls_per_hour: 600
  subscribers: 20
  holding: {distribution: exponential, mean_s: 30}
  apps:
    whatsapp: {share: 0.5}
    sip: {share: 0.5}
"""


@pytest.fixture
def scenario_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "scenarios").mkdir()
    path = tmp_path / "scenarios" / "tiny.yaml"
    path.write_text(SCENARIO)
    return path


# --- the confidence interval


def test_t_quantiles_match_the_printed_table() -> None:
    # two-sided 95% (t 0.975) and 99% from any statistics textbook's table
    for df, t95 in [(1, 12.706), (2, 4.303), (3, 3.182), (4, 2.776), (9, 2.262), (10, 2.228), (29, 2.045),
                    (120, 1.980)]:
        assert t_quantile(0.95, df) == pytest.approx(t95, abs=5e-4), df
    assert t_quantile(0.99, 9) == pytest.approx(3.250, abs=5e-4)
    assert t_quantile(0.95, 100_000 - 1) == pytest.approx(1.960, abs=5e-4)  # the normal's


def test_ci_against_a_hand_calculation() -> None:
    # 10, 12, 14, 16: mean 13, s² = (9 + 1 + 1 + 9) / 3 = 6.667, s = 2.582,
    # half-width = t(0.975, 3) · s / √4 = 3.1824 · 2.582 / 2 = 4.1085
    e = estimate([10.0, 12.0, 14.0, 16.0])
    assert e.mean == 13.0 and e.n == 4
    assert e.half_width == pytest.approx(4.1085, abs=1e-4)
    assert (e.low, e.high) == pytest.approx((8.8915, 17.1085), abs=1e-4)
    # replicates without a value (a median of nothing) are left out, and one value has no interval
    e = estimate([None, 5.0, None])
    assert (e.mean, e.half_width, e.n) == (5.0, None, 1)
    assert estimate([None, None]).mean is None
    assert estimate([2.5, 2.5, 2.5]).half_width == 0.0


# --- values and ranges


def test_ranges_include_b_and_round_to_the_step() -> None:
    assert range_texts("0:0.5:0.1") == ["0.0", "0.1", "0.2", "0.3", "0.4", "0.5"]
    assert range_texts("1:10:3") == ["1", "4", "7", "10"]
    assert range_texts("0:1:0.3") == ["0.0", "0.3", "0.6", "0.9"]  # b not on a step: not included
    assert range_texts("0.05:0.25:0.1") == ["0.05", "0.15", "0.25"]
    assert value_texts("1000, 3000,10000") == ["1000", "3000", "10000"]
    assert value_texts("anrt-2016,vpn-block") == ["anrt-2016", "vpn-block"]


def test_points_are_the_cross_product_each_validated(scenario_file: Path) -> None:
    varies, points = sweep_points("scenarios/tiny.yaml", ["circumventions.vpn-adopters.share=0:0.2:0.1",
                                                          "policies[1]=anrt-2016,vpn-block"])
    assert [v.values for v in varies] == [(0.0, 0.1, 0.2), ("anrt-2016", "vpn-block")]
    assert [p.values["circumventions.vpn-adopters.share"] for p in points] == [0.0, 0.0, 0.1, 0.1, 0.2, 0.2]
    assert [p.scenario.circumventions["vpn-adopters"].share for p in points] == [0.0, 0.0, 0.1, 0.1, 0.2, 0.2]
    assert [p.scenario.policies[1] for p in points] == ["anrt-2016", "vpn-block"] * 3
    assert points[1].scenario.policy_objects["vpn-block"].name == "vpn-block"
    # a key the document does not have yet, where the schema allows it
    _, points = sweep_points("scenarios/tiny.yaml", ["workload.answer_probability=0.5,1"])
    assert [p.scenario.workload.answer_probability for p in points] == [0.5, 1]


def test_seeds_depend_on_point_and_replicate_only(scenario_file: Path) -> None:
    # a SHA-256, the same in every process (hash() of a str is not)
    assert replicate_seed(3, {"a.b": 0.1}, 0) == 8032965077617044747  # sha256(b'[3,[["a.b",0.1]],0]')[:8] >> 1
    assert replicate_seed(3, {"a.b": 0.1}, 1) != replicate_seed(3, {"a.b": 0.1}, 0)
    assert replicate_seed(3, {"a.b": 0.2}, 0) != replicate_seed(3, {"a.b": 0.1}, 0)
    assert replicate_seed(4, {"a.b": 0.1}, 0) != replicate_seed(3, {"a.b": 0.1}, 0)
    _, points = sweep_points("scenarios/tiny.yaml", ["circumventions.vpn-adopters.share=0,0.5"])
    tasks = tasks_of(points, 3)
    assert [(t.point, t.replicate) for t in tasks] == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    assert len({t.scenario.seed for t in tasks}) == 6
    assert all(0 <= t.scenario.seed < 2 ** 63 for t in tasks)


def test_document_orders_by_replicate_not_by_completion(scenario_file: Path) -> None:
    varies, points = sweep_points("scenarios/tiny.yaml", ["workload.calls_per_hour=100,200"])
    tasks = tasks_of(points, 3)
    results = [[("none", "none", {"success_pct": 10.0 * t.point + t.replicate, "median_ttb_ms": None})]
               for t in tasks]
    doc = document("tiny", "scenarios/tiny.yaml", varies, points, tasks, results, 3)
    shuffled = list(zip(tasks, results))[::-1]
    doc2 = document("tiny", "scenarios/tiny.yaml", varies, points, [t for t, _ in shuffled],
                    [r for _, r in shuffled], 3)
    assert doc == doc2
    cell = doc["points"][1]["cells"][0]
    assert cell["success_pct"]["values"] == [10.0, 11.0, 12.0]
    assert cell["success_pct"]["mean"] == 11.0
    # s = 1: half-width t(0.975, 2) · 1 / √3 = 4.3027 / 1.7321 = 2.4841
    assert cell["success_pct"]["ci95_high"] == pytest.approx(13.4841, abs=1e-4)
    assert cell["median_ttb_ms"] == {"mean": None, "ci95_low": None, "ci95_high": None, "n": 0,
                                     "values": [None, None, None]}
    text = table_text(doc)
    assert "calls_per_hour" in text.splitlines()[2] and "11.0 ± 2.5" in text


# --- bad input: one line, exit 2, nothing started


BAD = [
    (["--vary", "circumventions.vpn-adoptrs.share=0,0.1"],
     "scenarios/tiny.yaml:6 circumventions.vpn-adoptrs: --vary circumventions.vpn-adoptrs.share: no key "
     "'vpn-adoptrs' here – choose one of [none, vpn-adopters]"),
    (["--vary", "circumventions.vpn-adopters.shar=0,0.1"],
     "scenarios/tiny.yaml:7 circumventions.vpn-adopters.shar: unknown key 'shar' – choose one of "
     "[strategy, share, after_failures, forget_after_s] (with --vary circumventions.vpn-adopters.shar=0)"),
    (["--vary", "circumventions.vpn-adopters.share=0,1.5"],
     "scenarios/tiny.yaml:7 circumventions.vpn-adopters.share: expected a number in [0, 1], got 1.5 "
     "(with --vary circumventions.vpn-adopters.share=1.5)"),
    (["--vary", "workload.calls_per_hour=1000,lots"],
     "scenarios/tiny.yaml:10 workload.calls_per_hour: expected a number in [0, 1000000000], got 'lots' "
     "(with --vary workload.calls_per_hour=lots)"),
    (["--vary", "topology.params.access_loss_pct=0:5:0"],
     "scenarios/tiny.yaml:3 topology.params.access_loss_pct: --vary: bad range '0:5:0': step must be > 0"),
    (["--vary", "topology.params.access_loss_pct=5:0:1"],
     "scenarios/tiny.yaml:3 topology.params.access_loss_pct: --vary: bad range '5:0:1': b must be >= a"),
    (["--vary", "topology.params.access_loss_pct=0:x:1"],
     "scenarios/tiny.yaml:3 topology.params.access_loss_pct: --vary: bad range '0:x:1': a, b and step must be numbers"),
    (["--vary", "workload.calls_per_hour=0:1e9:1"],
     "scenarios/tiny.yaml:10 workload.calls_per_hour: --vary: bad range '0:1e9:1': 1000000001 values, at most 10000"),
    (["--vary", "workload.calls_per_hour"],
     "scenarios/tiny.yaml: --vary 'workload.calls_per_hour': expected PATH=VALUES (like workload.calls_per_hour=1000,3000)"),
    (["--vary", "workload.calls_per_hour=1,,2"],
     "scenarios/tiny.yaml:10 workload.calls_per_hour: --vary: empty value in '1,,2'"),
    (["--vary", "workload.calls_per_hour=!!python/object:os.system 1"],
     "scenarios/tiny.yaml:10 workload.calls_per_hour: --vary: '!!python/object:os.system 1': tags "
     "(!!python/object:os.system) are not supported – write a plain value"),
    (["--vary", "workload.calls_per_hour=" + "9" * 5000],
     "scenarios/tiny.yaml:10 workload.calls_per_hour: --vary: '" + "9" * 40 + "'… (5000 characters): integer of "
     "5000 characters – at most 20"),
    (["--vary", "policies[2]=vpn-block"],
     "scenarios/tiny.yaml:4 policies: --vary policies[2]: no item [2], the list has 2"),
    (["--vary", "seed.x=1"],
     "scenarios/tiny.yaml:2 seed: --vary seed.x: 'x' needs a mapping here, got 3"),
    (["--vary", "workload..x=1"],
     "scenarios/tiny.yaml: --vary: 'workload..x' is not a dotted path (like workload.calls_per_hour)"),
    (["--vary", "seed=1,2", "--vary", "seed=3"],
     "scenarios/tiny.yaml seed: --vary: this path is varied twice"),
    (["--vary", "policies[1]=none"],
     "scenarios/tiny.yaml:4 policies[1]: policy 'none' is listed twice (with --vary policies[1]=none)"),
    (["--vary", "seed=1,2", "--replicates", "1"],
     "--replicates 1: a confidence interval needs at least 2 replicates"),
]


@pytest.mark.parametrize("argv,expected", BAD, ids=[f"{i:02d}" for i in range(len(BAD))])
def test_bad_vary_is_one_line_exit_2_nothing_started(argv: list[str], expected: str, scenario_file: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    started: list[object] = []
    monkeypatch.setattr(testbed.sweep.cluster, "dask_client", lambda *a, **k: started.append(a))
    code = main(["sweep", "scenarios/tiny.yaml", "--out", "out", *argv])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err == expected + "\n"
    assert captured.out == ""
    assert not started and not Path("out").exists()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_a_bar_on_a_terminal_and_a_line_per_point_elsewhere() -> None:
    tasks = [Task(p, r, None) for p in range(2) for r in range(2)]  # type: ignore[arg-type]
    tty = _Terminal()
    bar = SweepProgress(["a=1", "a=2"], 2, stream=tty)
    bar.start()
    for t in tasks:
        bar.task_done(t)
    shown = tty.getvalue().split("\r")
    assert shown[1].startswith("[0/4 runs] |" + "." * 30 + "|   0%  0/2 points")
    assert shown[3].startswith("[2/4 runs] |" + "#" * 15 + "." * 15 + "|  50%  1/2 points")
    plain = io.StringIO()
    lines = SweepProgress(["a=1", "a=2"], 2, stream=plain)
    for t in [tasks[0], tasks[2], tasks[3], tasks[1]]:  # point 2 finishes first
        lines.task_done(t)
    assert [line.split(" (")[0] for line in plain.getvalue().splitlines()] == ["point 1/2 done: a=2",
                                                                                "point 2/2 done: a=1"]
