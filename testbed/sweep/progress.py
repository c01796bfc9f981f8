"""Progress of a sweep on stderr: a bar over the tasks on a terminal, else a line per point
as its last replicate finishes (points finish in any order on a cluster)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from testbed.sweep.tasks import Task


class SweepProgress:
    def __init__(self, points: list[str], replicates: int, enabled: bool = True, stream: TextIO | None = None,
                 width: int = 30) -> None:
        self.points, self.replicates, self.enabled, self.width = points, replicates, enabled, width
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.total = len(points) * replicates
        self.done_tasks = 0
        self.left = [replicates] * len(points)
        self.started = time.monotonic()
        self._shown = ""

    def start(self) -> None:
        """An empty bar while the cluster starts and the first runs go (on a terminal)."""
        if self.enabled and self.tty:
            self._bar()
            self.stream.flush()

    def task_done(self, task: Task) -> None:
        self.done_tasks += 1
        self.left[task.point] -= 1
        if not self.enabled:
            return
        elapsed = time.monotonic() - self.started
        if self.tty:
            self._bar()
        elif self.left[task.point] == 0:
            done = sum(n == 0 for n in self.left)
            self.stream.write(f"point {done}/{len(self.points)} done: {self.points[task.point]} "
                              f"({self.replicates} replicates; {self.done_tasks}/{self.total} runs, {elapsed:.0f} s)\n")
        self.stream.flush()

    def _bar(self) -> None:
        elapsed = time.monotonic() - self.started
        filled = self.width * self.done_tasks // self.total
        points_done = sum(n == 0 for n in self.left)
        self._shown = (f"[{self.done_tasks}/{self.total} runs] |{'#' * filled}{'.' * (self.width - filled)}| "
                       f"{100 * self.done_tasks / self.total:3.0f}%  {points_done}/{len(self.points)} points  "
                       f"{elapsed:.0f} s")
        self.stream.write("\r" + self._shown)

    def finish(self) -> None:
        if not self.enabled:
            return
        if self.tty and self._shown:
            self.stream.write(f"\r{' ' * len(self._shown)}\r")
        self.stream.write(f"*** {self.total} runs done in {time.monotonic() - self.started:.1f} s\n")
        self.stream.flush()
