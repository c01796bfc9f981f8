"""Messages from the emulation's processes (agents, controller), and waiting for them.

Reader threads turn each process's stdout (JSON lines) into messages in one
thread-safe mailbox, filed under a key: ``("ack", id)``, ``("report", id, side)``,
``("ready", host)``, ``("dpi-ready", dpid)``. Whoever places flows writes its
steps as a generator yielding ``Wait(keys, timeout)``; a driver resumes it once
every key is in: ``run_blocking`` (tests, benchmarks) or the SimPy poller in
``testbed.emu.network`` (real-time workload).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import IO, Any

Key = tuple[Any, ...]


@dataclass(frozen=True)
class Wait:
    """Resume when every key is in; after ``timeout`` fail, unless ``optional`` (then resume)."""

    keys: tuple[Key, ...]
    timeout: float
    what: str = ""
    optional: bool = False


Steps = Generator[Wait, None, Any]


class Mailbox:
    def __init__(self) -> None:
        self._box: dict[Key, dict[str, Any]] = {}
        self._cond = threading.Condition()
        self.listeners: list[Callable[[dict[str, Any]], None]] = []

    def put(self, key: Key, msg: dict[str, Any]) -> None:
        with self._cond:
            self._box[key] = msg
            self._cond.notify_all()

    def has(self, keys: tuple[Key, ...]) -> bool:
        with self._cond:
            return all(k in self._box for k in keys)

    def take(self, keys: tuple[Key, ...]) -> dict[Key, dict[str, Any]]:
        with self._cond:
            return {k: self._box.pop(k) for k in keys}

    def wait(self, keys: tuple[Key, ...], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not all(k in self._box for k in keys):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def missing(self, keys: tuple[Key, ...]) -> list[Key]:
        with self._cond:
            return [k for k in keys if k not in self._box]


def key_of(msg: dict[str, Any]) -> Key | None:
    """Where an agent's or the controller's message is filed (None: not waited for)."""
    ev = msg.get("ev")
    if ev == "ack":
        return ("ack", msg["id"])
    if ev == "report":
        return ("report", msg["id"], msg["side"])
    if ev == "ready" and "host" in msg:
        return ("ready", msg["host"])
    if ev == "ready" and "dpid" in msg:
        return ("dpi-ready", msg["dpid"])
    return None


def read_lines(stream: IO[bytes], box: Mailbox, source: str) -> threading.Thread:
    """A daemon thread filing every JSON line of ``stream``; listeners see every message."""
    def loop() -> None:
        for raw in stream:
            line = raw.decode(errors="replace").strip()
            if not line.startswith("{"):
                continue
            msg = json.loads(line)
            msg.setdefault("source", source)
            for listener in box.listeners:
                listener(msg)
            key = key_of(msg)
            if key is not None:
                box.put(key, msg)
    thread = threading.Thread(target=loop, name=f"read-{source}", daemon=True)
    thread.start()
    return thread


class Timeout(RuntimeError):
    """A process did not answer in time: the emulation is broken, not slow."""


def run_blocking(box: Mailbox, steps: Steps, check: Callable[[], None] | None = None) -> Any:
    """Drive a placement generator from this thread, waiting on the mailbox."""
    try:
        wait = next(steps)
        while True:
            deadline = time.monotonic() + wait.timeout
            while not box.wait(wait.keys, 0.2):
                if check is not None:
                    check()
                if time.monotonic() > deadline:
                    if wait.optional:
                        break
                    raise Timeout(f"{wait.what or 'waiting'}: no answer for {box.missing(wait.keys)[:4]} "
                                  f"after {wait.timeout:g} s")
            wait = steps.send(None)
    except StopIteration as done:
        return done.value
