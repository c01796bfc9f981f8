"""What an emulation run started, written down as it starts it, so ``testbed clean``
can remove it even after the run was killed with ``kill -9``.

One JSON-lines file per run in ``STATE_DIR``: the owner process first, then one
line per process started (PID and kernel start time, so a reused PID is never
mistaken for ours). Next to it, ``run-<pid>.d/`` holds what the run's daemons need
and nobody else should keep (keys and certificates made at run time); it goes
with the record. Bridges, interfaces and namespaces need no record: ours are
the ones named with the ``tb`` prefix.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATE_DIR = Path(os.environ.get("TESTBED_EMU_STATE", "/run/testbed-emu"))


def stop_processes(procs: Iterable[subprocess.Popen[Any]], timeout: float = 5.0, kill: bool = False) -> None:
    """Stop processes we started: each asked to end (or killed, with ``kill``), then waited for
    together; one still running after ``timeout`` seconds is killed."""
    procs = list(procs)
    for proc in procs:
        if proc.poll() is None:
            (proc.kill if kill else proc.terminate)()
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def alive(pid: int, started: int | None) -> bool:
    """Is this the very process we recorded (same PID, same start time) and not a zombie?"""
    now = start_time(pid)
    if now is None or (started is not None and now != started):
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@dataclass(frozen=True)
class Proc:
    pid: int
    started: int | None
    what: str


class RunState:
    """The record of the current run (the owner is this process)."""

    def __init__(self, directory: Path = STATE_DIR) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"run-{os.getpid()}.jsonl"
        self._file = open(self.path, "a", buffering=1)  # noqa: SIM115 - open for the whole run
        self._write({"owner": os.getpid(), "started": start_time(os.getpid())})

    def _write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def process(self, pid: int, what: str) -> None:
        self._write({"pid": pid, "started": start_time(pid), "what": what})

    @property
    def private(self) -> Path:
        """The run's private directory (mode 0700), made on first use."""
        directory = private_dir(self.path)
        directory.mkdir(mode=0o700, exist_ok=True)
        return directory

    def close(self, remove: bool = True) -> None:
        self._file.close()
        if remove:
            shutil.rmtree(private_dir(self.path), ignore_errors=True)
            self.path.unlink(missing_ok=True)


def private_dir(record: Path) -> Path:
    """Where a run's keys and daemon configuration live: ``run-<pid>.d`` next to its record."""
    return record.with_suffix(".d")


@dataclass(frozen=True)
class Record:
    path: Path
    owner: Proc
    procs: tuple[Proc, ...]

    @property
    def owner_alive(self) -> bool:
        return alive(self.owner.pid, self.owner.started)


def records(directory: Path = STATE_DIR) -> list[Record]:
    """Every run recorded in the state directory."""
    out = []
    for path in sorted(directory.glob("run-*.jsonl")) if directory.is_dir() else []:
        owner, procs = None, []
        for line in path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by kill -9
            if "owner" in rec:
                owner = Proc(rec["owner"], rec.get("started"), "testbed")
            else:
                procs.append(Proc(rec["pid"], rec.get("started"), rec.get("what", "")))
        if owner is not None:
            out.append(Record(path, owner, tuple(procs)))
    return out
