"""Hostile input to the commands that read other files: compare (results.json) and
classify/replay (captures). Exit 2 and one line for bad input, exit 1 when no capture
could be read, no traceback on a closed pipe."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from testbed.cli import main
from testbed.packets.capture import write_ip
from testbed.packets.ip import udp

GOOD: dict[str, Any] = {
    "schema": "testbed.results/1", "scenario": "x", "mode": "sim", "seed": 1,
    "cells": [{"policy": "none", "circumvention": "none",
               "summary": {"success_pct": 100.0, "median_ttb_ms": None, "hit_pct": 0}}],
}


def _without(key: str) -> dict[str, Any]:
    doc = copy.deepcopy(GOOD)
    del doc[key]
    return doc


def _cell(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(GOOD)
    doc["cells"][0].update(changes)
    return doc


def _metric(value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(GOOD)
    doc["cells"][0]["summary"]["success_pct"] = value
    return doc


GOOD_TEXT = json.dumps(GOOD)
# (bytes of b.json, the exact error line)
COMPARE_CASES = [
    (json.dumps(_without("cells")), "b.json: missing key 'cells'"),
    (json.dumps(_without("mode")), "b.json: missing key 'mode'"),
    (json.dumps(_without("scenario")), "b.json: missing key 'scenario'"),
    (json.dumps(_without("seed")), "b.json: missing key 'seed'"),
    (json.dumps(_without("schema")), "b.json schema: not a testbed results.json"),
    (json.dumps(dict(GOOD, cells={"a": 1})), "b.json cells: expected a list, got an object"),
    (json.dumps(dict(GOOD, cells=[5])), "b.json cells[0]: expected an object, got 5"),
    (json.dumps(dict(GOOD, mode=["sim"])), "b.json mode: expected a string, got a list"),
    (json.dumps(dict(GOOD, seed="1")), 'b.json seed: expected an integer, got "1"'),
    (json.dumps(dict(GOOD, seed=2 ** 70)), "b.json seed: expected an integer, got 1180591620717411303424"),
    (json.dumps(_cell(summary=[1])), "b.json cells[0].summary: expected an object, got a list"),
    (json.dumps(_cell(policy=None)), "b.json cells[0].policy: expected a string, got null"),
    (json.dumps({k: v for k, v in _cell().items()} | {"cells": [{"policy": "none", "summary": {}}]}),
     "b.json cells[0]: missing key 'circumvention'"),
    (json.dumps(_metric("lots")), 'b.json cells[0].summary.success_pct: expected a number or null, got "lots"'),
    (json.dumps(_metric(True)), "b.json cells[0].summary.success_pct: expected a number or null, got true"),
    (GOOD_TEXT.replace("100.0", "1" + "0" * 400), "b.json cells[0].summary.success_pct: expected a number or null, "
                                                   "got 1000000000000000000000000000000000000..."),
    (GOOD_TEXT.replace("100.0", "1e999"), "b.json cells[0].summary.success_pct: expected a number or null, "
                                           "got Infinity"),
    (GOOD_TEXT.replace("100.0", "NaN"), "b.json: not JSON we read: NaN is not a number JSON allows"),
    (GOOD_TEXT.replace('"seed": 1', '"seed": ' + "9" * 5000), "b.json: not JSON we read: an integer of thousands "
                                                              "of digits"),
    ('{"schema": "testbed.results/1", "x": ' + "[" * 100_000 + "]" * 100_000 + "}",
     "b.json: not JSON we read: nested too deeply"),
    ("[]", "b.json: expected a JSON object, got a list"),
    ("", "b.json:1: not JSON: Expecting value"),
    ('{"schema": "testbed.results/1", "cells": [', "b.json:1: not JSON: Expecting value"),
    (b'{"schema": "testbed.results/1", "x": "\xff"}', "b.json: not UTF-8 text (byte 0xff at offset 38)"),
]


@pytest.mark.parametrize("data,expected", COMPARE_CASES, ids=[f"c{i:02d}" for i in range(len(COMPARE_CASES))])
def test_compare_refuses(data: str | bytes, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    Path("a.json").write_text(GOOD_TEXT)
    Path("b.json").write_bytes(data.encode() if isinstance(data, str) else data)
    assert main(["compare", "a.json", "b.json"]) == 2
    captured = capsys.readouterr()
    assert captured.err.strip().splitlines() == [expected] and captured.out == ""


def test_compare_good_and_special_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    Path("a.json").write_text(GOOD_TEXT)
    Path("b.json").write_text(json.dumps(_metric(50)))
    assert main(["compare", "a.json", "b.json"]) == 0
    assert "100 → 50" in capsys.readouterr().out
    os.mkfifo("fifo")
    for path, kind in (("/dev/zero", "a character device"), ("fifo", "a FIFO"), (".", "a directory")):
        assert main(["compare", "a.json", path]) == 2
        assert capsys.readouterr().err.strip() == f"{path}: not a regular file ({kind})"


def _capture(path: Path, flows: int) -> Path:
    """A capture of ``flows`` one-packet UDP flows (raw IP)."""
    packets = [(1.0 + i / 1000, udp(f"10.0.{i // 250}.{i % 250 + 1}", "192.0.2.1", 40000, 53, b"x" * 20))
               for i in range(flows)]
    write_ip(path, packets)
    return path


def test_capture_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    good = _capture(tmp_path / "good.pcap", 3)
    os.mkfifo("fifo")
    Path("dir").mkdir()
    Path("text.pcap").write_text("not a capture\n")
    Path("empty.pcap").write_bytes(b"")
    Path("cut.pcap").write_bytes(good.read_bytes()[:-10])
    # bad input: refused before anything is read, whatever else is named
    for path, why in (("fifo", "not a regular file (a FIFO)"), ("dir", "not a regular file (a directory)"),
                      ("/dev/null", "not a regular file (a character device)"),
                      ("/dev/zero", "not a regular file (a character device)"), ("none.pcap", "no such capture file")):
        for command in (["classify", str(good), path], ["replay", "--policy", "anrt-2016", path]):
            assert main(command) == 2
            captured = capsys.readouterr()
            assert captured.err == f"testbed: {path}: {why}\n" and captured.out == ""
    # files that are files but not captures: exit 1 when nothing at all could be read
    for path, why in (("text.pcap", "not a capture file: not a pcap or pcapng file"),
                      ("empty.pcap", "not a capture file: empty file")):
        assert main(["classify", path]) == 1
        assert capsys.readouterr().err.splitlines() == [f"testbed: {path}: {why}",
                                                        "testbed: nothing could be read from the capture"]
    assert main(["classify", "text.pcap", "empty.pcap"]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == "testbed: nothing could be read from any capture"
    # one readable capture is enough; a damaged one is read as far as it goes, with a warning
    assert main(["classify", "text.pcap", str(good)]) == 0
    assert "good.pcap: 3 flows" in capsys.readouterr().out
    assert main(["classify", "cut.pcap"]) == 0
    captured = capsys.readouterr()
    assert "cut.pcap: 2 flows" in captured.out and "stopped after 2 packets" in captured.err


@pytest.mark.parametrize("path", ["/proc/self/status", "/sys/kernel/mm/transparent_hugepage/enabled"])
def test_proc_and_sys_files_as_captures(path: str, capsys: pytest.CaptureFixture[str]) -> None:
    if not os.path.exists(path):
        pytest.skip(f"{path} does not exist here")
    assert main(["classify", path]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"testbed: {path}: not a capture file: ") and "Traceback" not in "".join(err)


def test_closed_pipe_is_quiet(tmp_path: Path) -> None:
    """``testbed classify --json … | head -1``: more output than a pipe holds, the reader gone."""
    capture = _capture(tmp_path / "many.pcap", 3000)
    proc = subprocess.Popen([sys.executable, "-m", "testbed.cli", "classify", "--json", str(capture)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()  # what `head -1` does after its line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141
    assert json.loads(first)["l4"] == "UDP"
    assert err == ""


@pytest.mark.parametrize("args,expected", [
    (["--calls", "0"], "--calls: expected an integer >= 1, got 0"),
    (["--calls", "-1"], "--calls: expected an integer >= 1, got -1"),
    (["--calls", "100000000"], "--calls: at most 2000000 packets; this asks for up to 4800000000 "
                               "(--calls × apps × --packets)"),
    (["--packets", "0"], "--packets: expected an integer in [1, 10000], got 0"),
    (["--packets", "100000000"], "--packets: expected an integer in [1, 10000], got 100000000"),
    (["--calls", "x"], "testbed generate: argument --calls: invalid int value: 'x' (see testbed generate --help)"),
])
def test_generate_bounds(args: list[str], expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    try:
        code = main(["generate", "--app", "sip", "--pcap", "g.pcap", *args])
    except SystemExit as exc:  # argparse's own errors
        code = exc.code  # type: ignore[assignment]
    assert code == 2
    assert capsys.readouterr().err.strip().splitlines() == [expected]
    assert not (tmp_path / "g.pcap").exists()


def test_generate_writes_only_regular_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    os.mkfifo("fifo")
    Path("dir").mkdir()
    for path, why in (("fifo", "not a regular file (a FIFO): refusing to write over it"),
                      ("dir", "not a regular file (a directory): refusing to write over it"),
                      ("/dev/null", "not a regular file (a character device): refusing to write over it"),
                      ("none/g.pcap", "cannot write: No such file or directory")):
        assert main(["generate", "--app", "sip", "--calls", "1", "--pcap", path]) == 2
        assert capsys.readouterr().err.strip() == f"--pcap {path}: {why}"
    assert main(["generate", "--app", "sip", "--calls", "1", "--pcap", "g.pcap"]) == 0
    assert sorted(os.listdir()) == ["dir", "fifo", "g.pcap"]   # no temporary file left beside it
    assert main(["classify", "g.pcap"]) == 0
    assert "g.pcap: 2 flows" in capsys.readouterr().out
