"""The run record ``testbed clean`` works from: written line by line, read back after a kill -9."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from testbed.emu.state import RunState, alive, records, start_time


def test_record_survives_and_reads_back(tmp_path: Path) -> None:
    state = RunState(tmp_path)
    child = subprocess.Popen(["sleep", "30"])
    try:
        state.process(child.pid, "sleeper")
        with open(state.path, "a") as f:
            f.write('{"pid": 12')                     # a line cut short by kill -9
        (rec,) = records(tmp_path)
        assert rec.owner.pid == os.getpid() and rec.owner_alive
        (proc,) = rec.procs
        assert (proc.pid, proc.what) == (child.pid, "sleeper") and alive(proc.pid, proc.started)
        assert not alive(proc.pid, (proc.started or 0) + 1)      # same PID, another process
    finally:
        child.kill()
        child.wait()
    assert not alive(child.pid, proc.started)
    state.close()
    assert records(tmp_path) == []


def test_start_time_of_missing_process() -> None:
    assert start_time(2 ** 22 + 12345) is None
    assert start_time(os.getpid()) is not None


def test_private_directory_goes_with_the_record(tmp_path: Path) -> None:
    state = RunState(tmp_path)
    (state.private / "ca.key").write_text("secret")
    assert state.private.stat().st_mode & 0o777 == 0o700
    state.close()
    assert list(tmp_path.iterdir()) == []
