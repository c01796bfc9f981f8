"""A progress bar on stderr for long runs; plain lines when stderr is not a terminal."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, enabled: bool = True, width: int = 30) -> None:
        self.enabled = enabled
        self.width = width
        self.tty = sys.stderr.isatty()
        self._last_line = ""
        self._last_time = 0.0
        self._started = time.monotonic()

    def update(self, index: int, total: int, label: str, fraction: float) -> None:
        if not self.enabled:
            return
        filled = int(self.width * fraction)
        bar = "#" * filled + "." * (self.width - filled)
        line = f"[{index + 1}/{total}] {label:52.52} |{bar}| {100 * fraction:3.0f}%"
        now = time.monotonic()
        if self.tty:
            if line != self._last_line:
                sys.stderr.write("\r" + line)
                sys.stderr.flush()
        elif fraction >= 1.0 or now - self._last_time > 10:
            sys.stderr.write(line + "\n")
            self._last_time = now
        self._last_line = line

    def done(self) -> None:
        if self.enabled and self.tty and self._last_line:
            sys.stderr.write(f"\r{' ' * len(self._last_line)}\r")
        if self.enabled:
            sys.stderr.write(f"*** done in {time.monotonic() - self._started:.1f} s\n")
