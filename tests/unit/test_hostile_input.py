"""Hostile and careless input: every class of issue 12 refused with one exact line, exit 2.

The style of test_bad_input.py: each case names the file, the text and the one line the
user must see. Every scenario case is also run with ``testbed run``, which must say the
same and leave nothing behind (one shared validation: check and run cannot disagree).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from testbed.cli import main
from testbed.config import limits

BASE = """\
name: x
seed: 1
topology: {name: operator_edge, params: {subscribers: 2}}
policies: [none, anrt-2016]
circumventions:
  none: {}
workload:
  duration_s: 60
  calls_per_hour: 100
  subscribers: 10
  apps: {whatsapp: {share: 0.5}, sip: {share: 0.5}}
"""


def sub(old: str, new: str) -> str:
    assert old in BASE, old
    return BASE.replace(old, new, 1)


DEEP = "[" * 5000 + "]" * 5000
BOMB = "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9) if i else 'lol'}]\n" for i in range(9))
NAME_RULE = limits.NAME_RULE
X = "scenarios/x.yaml"

# (text of scenarios/x.yaml, the exact error line)
SCENARIO_CASES = [
    # --- YAML features the formats do not use: refused while composing, before any value is built
    (sub("seed: 1", "seed: !!int abc"), f"{X}:2 seed: tags (!!int) are not supported – write a plain value"),
    (sub("duration_s: 60", "duration_s: !!float x"),
     f"{X}:8 workload.duration_s: tags (!!float) are not supported – write a plain value"),
    (BASE + "description: !!timestamp 2016-01-07\n",
     f"{X}:12 description: tags (!!timestamp) are not supported – write a plain value"),
    (BASE + "description: !!python/name:os.system\n",
     f"{X}:12 description: tags (!!python/name:os.system) are not supported – write a plain value"),
    (BASE + "description: !!python/object/apply:os.system [echo hi]\n",
     f"{X}:12 description: tags (!!python/object/apply:os.system) are not supported – write a plain value"),
    (BASE + "description: !foo bar\n", f"{X}:12 description: tags (!foo) are not supported – write a plain value"),
    (sub("name: x", "name: ! x"), f"{X}:1 name: tags (!) are not supported – write a plain value"),
    (BASE + "  <<: {ring_s: 5}\n", f"{X}:12 workload: merge keys (<<) are not supported – write the keys out"),
    (sub("subscribers: 10", "subscribers: &n 10"),
     f"{X}:10 workload.subscribers: anchors (&n) are not supported – write the value out"),
    (BASE + "description: *nothing\n",
     f"{X}:12 description: aliases (*nothing) are not supported – write the value out"),
    (BASE + "references: &a [*a]\n", f"{X}:12 references: anchors (&a) are not supported – write the value out"),
    ("name: x\n" + BOMB, f"{X}:2 l0: anchors (&l0) are not supported – write the value out"),
    (BASE + f"description: {DEEP}\n", f"{X}:12 description{'[0]' * 15}: nested deeper than 16 levels"),
    (sub("seed: 1", "seed: " + "9" * 5000), f"{X}:2 seed: integer of 5000 characters – at most 20"),
    (sub("seed: 1", "seed: 18446744073709551616"),
     f"{X}:2 seed: expected an integer in [0, 9223372036854775808], got 18446744073709551616"),
    (BASE + "description: 'a\x07'\n", f"{X}:12: invalid YAML: character #x0007 is not allowed"),
    ("---\nname: x\n---\nname: y\n",
     f"{X}:3: invalid YAML: expected a single document in the stream, but found another document"),
    ("? [a]\n: 1\n", f"{X}:1: keys must be strings, got a list"),
    # --- accepted by check, crashing run (before): topology options the topology cannot build
    (sub("subscribers: 2}", "operators: 0}"),
     f"{X}:3 topology.params.operators: expected an integer in [1, 3], got 0"),
    (sub("subscribers: 2}", "operators: 4}"),
     f"{X}:3 topology.params.operators: expected an integer in [1, 3], got 4"),
    (sub("subscribers: 2}", "subscribers: 0}"),
     f"{X}:3 topology.params.subscribers: expected an integer in [1, 250], got 0"),
    (sub("subscribers: 2}", "subscribers: 70000}"),
     f"{X}:3 topology.params.subscribers: expected an integer in [1, 250], got 70000"),
    (sub("subscribers: 2}", "subscribers: 1e9}"),
     f"{X}:3 topology.params.subscribers: expected an integer in [1, 250], got '1e9' "
     "(YAML reads 1e9 as a string: write 1000000000)"),
    (sub("{name: operator_edge, params: {subscribers: 2}}", "{name: three_operators, params: {operators: 4}}"),
     f"{X}:3 topology.params.operators: expected an integer in [1, 3], got 4"),
    (sub("subscribers: 2}", "access_loss_pct: 500}"),
     f"{X}:3 topology.params.access_loss_pct: expected a number in [0, 100], got 500"),
    (sub("subscribers: 2}", "access_bw: 0}"),
     f"{X}:3 topology.params.access_bw: expected a number in (0, 100000], got 0"),
    (sub("subscribers: 2}", "transit_delay_ms: 1e6}"),
     f"{X}:3 topology.params.transit_delay_ms: expected a number in [0, 10000], got '1e6' "
     "(YAML reads 1e6 as a string: write 1000000)"),
    (sub("subscribers: 2}", "relay_capacity: 1.5}"),
     f"{X}:3 topology.params.relay_capacity: expected an integer in [0, 1000000], got 1.5"),
    (BASE + "expect:\n  - {policy: none, circumvention: none, metric: success_pct, min: 1" + "0" * 400 + "}\n",
     f"{X}:13 expect[0].min: integer of 401 characters – at most 20"),
    (BASE + "expect:\n  - {policy: none, circumvention: none, metric: success_pct, max: 1.0e+20}\n",
     f"{X}:13 expect[0].max: expected a number in [-1000000000, 1000000000], got 1e+20"),
    # --- names that become file and directory names
    (sub("name: x", "name: " + "n" * 300),
     f"{X}:1 name: expected a scenario name of {NAME_RULE} characters, got 'nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn'… "
     "(300 characters)"),
    (sub("name: x", "name: ../../x"), f"{X}:1 name: expected a scenario name of {NAME_RULE} characters, got '../../x'"),
    (sub("name: x", "name: /tmp/abs"), f"{X}:1 name: expected a scenario name of {NAME_RULE} characters, got '/tmp/abs'"),
    (sub("name: x", "name: .hidden"), f"{X}:1 name: expected a scenario name of {NAME_RULE} characters, got '.hidden'"),
    (sub("  none: {}", "  a/b: {}"),
     f"{X}:6 circumventions.a/b: expected a circumvention name of {NAME_RULE} characters, got 'a/b'"),
    (sub("  none: {}", "  '..': {}"),
     f"{X}:6 circumventions...: expected a circumvention name of {NAME_RULE} characters, got '..'"),
    (sub("[none, anrt-2016]", "[none, sub/p.yaml, sub_p.yaml]"),
     f"{X}:4 policies[2]: policy 'sub_p.yaml' would write its results under the name 'sub_p.yaml' as "
     "'sub/p.yaml' does – rename one"),
    (sub("[none, anrt-2016]", "[none, /dev/zero]"), "/dev/zero: not a regular file (a character device)"),
    (sub("[none, anrt-2016]", "[none, dir.yaml]"), "scenarios/dir.yaml: not a regular file (a directory)"),
    (sub("[none, anrt-2016]", "[none, " + "p" * 5000 + ".yaml]"),
     f"{X}:4 policies[1]: unknown policy '{'p' * 5000}.yaml' – choose one of [anrt-2016, anrt-2016-all-lines, "
     "anrt-2016-imo, anrt-2016-mobile, behavioural, citc-2017, citc-2017-lift, degrade, egypt-2015, ip-block, "
     "none, port-block, russia-2025-calls, russia-2025-december, throttle-calls, throttle-udp, uae-2020, "
     "uae-2020-distance-learning, vpn-block, vpn-fingerprint] or give a file path"),
    # --- work: refused up front with the limit, instead of a run that never ends
    (sub("calls_per_hour: 100", "calls_per_hour: 1e9"),
     f"{X}:9 workload.calls_per_hour: expected a number in [0, 1000000000], got '1e9' "
     "(YAML reads 1e9 as a string: write 1000000000)"),
    (sub("calls_per_hour: 100", "calls_per_hour: 1000000000"),
     f"{X}:9 workload.calls_per_hour: at most 1000000 calls per cell; this scenario asks for 16666667 "
     "(calls_per_hour × duration_s / 3600)"),
    (sub("duration_s: 60", "duration_s: 315360000"),
     f"{X}:9 workload.calls_per_hour: at most 1000000 calls per cell; this scenario asks for 8760000 "
     "(calls_per_hour × duration_s / 3600)"),
    (BASE + "  flows_per_hour: {web: 200000000}\n",
     f"{X}:12 workload.flows_per_hour: at most 2000000 flows per cell; this scenario asks for 3333333 "
     "(flows_per_hour summed × duration_s / 3600)"),
    (sub("subscribers: 10", "subscribers: 10000000"),
     f"{X}:10 workload.subscribers: expected an integer in [1, 1000000], got 10000000"),
    (sub("[none, anrt-2016]", "[none, anrt-2016, ip-block, port-block, degrade, behavioural, vpn-block, throttle-udp]")
     .replace("  none: {}\n", "".join(f"  c{i}: {{}}\n" for i in range(9))),
     f"{X}:4 policies: at most 64 cells (policies × circumventions); this scenario has 72"),
]

POLICY = "name: p\nrules:\n  - match: {l4: udp}\n    action: drop\n"
P = "policies/p.yaml"
# (text of policies/p.yaml, the exact error line)
POLICY_CASES = [
    (POLICY.replace("action: drop", "action: !!python/object/apply:os.system [id]"),
     f"{P}:4 rules[0].action: tags (!!python/object/apply:os.system) are not supported – write a plain value"),
    (POLICY.replace("{l4: udp}", "&m {l4: udp}"), f"{P}:3 rules[0].match: anchors (&m) are not supported – write the value out"),
    (POLICY + "inspect_packets: " + "1" * 30 + "\n", f"{P}:5 inspect_packets: integer of 30 characters – at most 20"),
    (POLICY + "references: [" + ", ".join(["a"] * 50_001) + "]\n",
     f"{P}:5 references[49986]: more than 50000 values in one document"),  # 14 values before the list's
    (POLICY + "idle_timeout_s: 1e3\n",
     f"{P}:5 idle_timeout_s: expected a number in [1, 86400], got '1e3' (YAML reads 1e3 as a string: write 1000)"),
]


def _setup(tmp: Path, rel: str, text: str | bytes) -> None:
    (tmp / "scenarios").mkdir(exist_ok=True)
    (tmp / "policies").mkdir(exist_ok=True)
    (tmp / "sub").mkdir(exist_ok=True)
    (tmp / "scenarios" / "sub").mkdir(exist_ok=True)
    (tmp / "scenarios" / "dir.yaml").mkdir(exist_ok=True)
    for name in ("sub/p.yaml", "sub_p.yaml"):
        (tmp / "scenarios" / name).write_text(POLICY)
    path = tmp / rel
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.mark.parametrize("text,expected", SCENARIO_CASES, ids=[f"s{i:02d}" for i in range(len(SCENARIO_CASES))])
def test_check_and_run_refuse_the_same(text: str, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    _setup(tmp_path, X, text)
    started = time.perf_counter()
    assert main(["check", X]) == 2
    assert _one_line(capsys) == expected
    assert main(["run", "--quiet", "--out", "out", X]) == 2
    assert _one_line(capsys) == expected
    assert not (tmp_path / "out").exists()
    assert time.perf_counter() - started < 5


@pytest.mark.parametrize("text,expected", POLICY_CASES, ids=[f"p{i:02d}" for i in range(len(POLICY_CASES))])
def test_policy_refused(text: str, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    _setup(tmp_path, P, text)
    assert main(["check", P]) == 2
    assert _one_line(capsys) == expected


def test_billion_laughs_is_refused_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    _setup(tmp_path, X, "name: x\n" + BOMB)
    started = time.perf_counter()
    assert main(["check", X]) == 2
    assert time.perf_counter() - started < 0.5
    assert "anchors" in _one_line(capsys)


@pytest.mark.parametrize("data,expected", [
    (b"name: x\xff\n", f"{X}: not UTF-8 text (byte 0xff at offset 7)"),
    (b"#" * (limits.MAX_YAML_BYTES + 1), f"{X}: larger than 1048576 bytes – the limit for this kind of file"),
])
def test_unreadable_bytes(data: bytes, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    _setup(tmp_path, X, data)
    assert main(["check", X]) == 2
    assert _one_line(capsys) == expected


@pytest.mark.parametrize("make,check_says,run_says", [
    (lambda p: os.mkfifo(p), "not a regular file (a FIFO)", "not a regular file (a FIFO)"),
    (lambda p: p.mkdir(), "no .yaml or .yml files in this directory", "not a regular file (a directory)"),
])
def test_files_that_are_not_files(make: object, check_says: str, run_says: str, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    make(tmp_path / "x.yaml")  # type: ignore[operator]
    started = time.perf_counter()
    assert main(["check", "x.yaml"]) == 2
    assert _one_line(capsys) == f"x.yaml: {check_says}"
    assert main(["run", "--out", "out", "x.yaml"]) == 2
    assert _one_line(capsys) == f"x.yaml: {run_says}"
    assert time.perf_counter() - started < 2  # a FIFO with no writer must not block
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("path,expected", [
    ("/dev/zero", "/dev/zero: not a regular file (a character device)"),
    ("/dev/null", "/dev/null: not a regular file (a character device)"),
    ("/proc/self/environ", "/proc/self/environ:1: invalid YAML: character #x0000 is not allowed"),
])
def test_system_files(path: str, expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    if not os.path.exists(path):
        pytest.skip(f"{path} does not exist here")
    assert main(["check", path]) == 2
    assert _one_line(capsys) == expected


def test_check_an_empty_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    assert main(["check", "empty"]) == 2
    assert _one_line(capsys) == "empty: no .yaml or .yml files in this directory"


def test_floats_where_floats_make_sense(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """ms, % and Mbit/s options take 15.5; a topology's inherited options are accepted too."""
    monkeypatch.chdir(tmp_path)
    text = sub("params: {subscribers: 2}", "params: {subscribers: 2, access_delay_ms: 15.5, access_bw: 2.5, "
                                           "access_loss_pct: 0.25}")
    _setup(tmp_path, X, text)
    assert main(["check", X]) == 0
    _setup(tmp_path, X, text.replace("operator_edge", "three_operators"))
    assert main(["check", X]) == 0


# (extra arguments of `testbed run`, the exact error line)
FLAG_CASES = [
    (["--duration", "0"], f"{X} workload.duration_s: expected a number in (0, 315360000], got 0 (set by --duration)"),
    (["--duration", "-5"], f"{X} workload.duration_s: expected a number in (0, 315360000], got -5 (set by --duration)"),
    (["--duration", "nan"], f"{X} workload.duration_s: expected a number in (0, 315360000], got nan (set by --duration)"),
    (["--duration", "inf"], f"{X} workload.duration_s: expected a number in (0, 315360000], got inf (set by --duration)"),
    (["--duration", "1e12"],
     f"{X} workload.duration_s: expected a number in (0, 315360000], got 1000000000000.0 (set by --duration)"),
    (["--duration", "300000000"], f"{X}:9 workload.calls_per_hour: at most 1000000 calls per cell; this scenario "
                                  "asks for 8333333 (calls_per_hour × duration_s / 3600)"),
    (["--duration", "abc"], "--duration: expected a number of seconds, got 'abc'"),
    (["--holding", "0"], f"{X} workload.holding.mean_s: expected a number in (0, 86400], got 0 (set by --holding)"),
    (["--holding", "-10"], f"{X} workload.holding.mean_s: expected a number in (0, 86400], got -10 (set by --holding)"),
    (["--holding", "nan"], f"{X} workload.holding.mean_s: expected a number in (0, 86400], got nan (set by --holding)"),
    (["--seed", "x"], "--seed: expected an integer, got 'x'"),
    (["--seed", "-1"], f"{X} seed: expected an integer in [0, 9223372036854775808], got -1 (set by --seed)"),
    (["--seed", "9" * 50], f"{X} seed: expected an integer in [0, 9223372036854775808], got "
                           f"{'9' * 50} (set by --seed)"),
    (["--seed", "9" * 5000], f"--seed: expected an integer, got '{'9' * 40}'… (5000 characters)"),
    (["--policies", "none,ip-block"], f"{X}: --policies: 'ip-block' is not in the scenario – choose one of "
                                      "[none, anrt-2016]"),
    (["--seed"], "testbed run: argument --seed: expected one argument (see testbed run --help)"),
    (["--colour", "blue"], "testbed: unrecognized arguments: --colour blue (see testbed --help)"),
]


@pytest.mark.parametrize("args,expected", FLAG_CASES, ids=[f"f{i:02d}" for i in range(len(FLAG_CASES))])
def test_run_flags(args: list[str], expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    _setup(tmp_path, X, BASE)
    try:
        code = main(["run", "--quiet", "--out", "out", X, *args])
    except SystemExit as exc:  # argparse's own errors exit from parse_args
        code = exc.code  # type: ignore[assignment]
    assert code == 2
    assert _one_line(capsys) == expected
    assert not (tmp_path / "out").exists()


def test_out_is_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    _setup(tmp_path, X, BASE)
    (tmp_path / "f").write_text("mine\n")
    assert main(["run", "--quiet", "--out", "f", X]) == 2
    assert _one_line(capsys) == "--out: 'f' is not a directory"
    assert (tmp_path / "f").read_text() == "mine\n"
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x").write_text("a file where the scenario's folder goes\n")
    assert main(["run", "--quiet", "--out", "d", X]) == 2
    assert _one_line(capsys) == "--out: cannot write results under 'd': File exists"


def test_sweep_out_is_checked_before_any_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    _setup(tmp_path, X, BASE)
    (tmp_path / "f").write_text("mine\n")
    started = time.perf_counter()
    assert main(["sweep", "--quiet", "--out", "f", "--vary", "workload.duration_s=30,60", X]) == 2
    assert _one_line(capsys) == "--out: 'f' is not a directory"
    assert time.perf_counter() - started < 2  # no cluster was started
