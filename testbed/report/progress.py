"""Progress of a run on stderr: a bar on a terminal; elsewhere (CI, a pipe) one line per stage.

A stage is a cell, or a phase of a cell: what the label names before any note in
parentheses (``"none × none (3 calls finishing)"`` is the stage ``none × none``). Off a
terminal nothing is printed while a stage runs — a short emulated run would otherwise log
hundreds of updates per cell — and one line when it ends: the next stage began, or the
run is done. As the sweep's progress (``testbed.sweep.progress``) prints a line per point.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def stage_of(label: str) -> str:
    """The stage a label names: the label without its trailing note in parentheses."""
    return label.split(" (", 1)[0].strip()


class Progress:
    def __init__(self, enabled: bool = True, width: int = 30, stream: TextIO | None = None) -> None:
        self.enabled = enabled
        self.width = width
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self._last_line = ""
        self._started = time.monotonic()
        self._stage: tuple[int, int, str] | None = None    # (index, total, stage) now running
        self._stage_started = self._started

    def update(self, index: int, total: int, label: str, fraction: float) -> None:
        if not self.enabled:
            return
        if self.tty:
            filled = int(self.width * min(max(fraction, 0.0), 1.0))
            bar = "#" * filled + "." * (self.width - filled)
            line = f"[{index + 1}/{total}] {label:52.52} |{bar}| {100 * fraction:3.0f}%"
            if line != self._last_line:
                self.stream.write("\r" + line)
                self.stream.flush()
            self._last_line = line
            return
        stage = (index, total, stage_of(label))
        if stage != self._stage:
            self._end_stage()
            self._stage, self._stage_started = stage, time.monotonic()

    def _end_stage(self) -> None:
        if self._stage is None:
            return
        index, total, name = self._stage
        self.stream.write(f"[{index + 1}/{total}] {name}: done in {time.monotonic() - self._stage_started:.1f} s\n")
        self.stream.flush()
        self._stage = None

    def done(self) -> None:
        if not self.enabled:
            return
        if self.tty and self._last_line:
            self.stream.write(f"\r{' ' * len(self._last_line)}\r")
        self._end_stage()
        self.stream.write(f"*** done in {time.monotonic() - self._started:.1f} s\n")
        self.stream.flush()
