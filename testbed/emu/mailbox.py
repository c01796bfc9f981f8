"""Messages from the emulation's processes (agents, controller), and waiting for them.

Reader threads decode each process's stdout (``testbed.emu.messages``) into one
thread-safe mailbox, filing each message under its ``mailbox_key``: its type and
what identifies it, e.g. ``(Ack, id)``, ``(Report, id, side)``,
``(AgentReady, host)``, ``(SwitchReady, dpid)``. Whoever places flows writes its
steps as a generator yielding ``Wait(keys, timeout)``; a driver resumes it once
every key is in: ``run_blocking`` (tests, benchmarks) or the SimPy poller in
``testbed.emu.network`` (real-time workload).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import IO, Any

from testbed.emu.messages import Key, Message, MessageError, decode, mailbox_key


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
        self._box: dict[Key, Message] = {}
        self._cond = threading.Condition()
        self.listeners: list[Callable[[Message], None]] = []
        self.broken: str | None = None   # a process said something that is not a message

    def put(self, key: Key, msg: Message) -> None:
        with self._cond:
            self._box[key] = msg
            self._cond.notify_all()

    def fail(self, why: str) -> None:
        """Every wait from now on raises: a garbled message means a broken process."""
        with self._cond:
            self.broken = why
            self._cond.notify_all()

    def _check(self) -> None:
        if self.broken is not None:
            raise MessageError(self.broken)

    def has(self, keys: tuple[Key, ...]) -> bool:
        with self._cond:
            self._check()
            return all(k in self._box for k in keys)

    def take(self, keys: tuple[Key, ...]) -> dict[Key, Message]:
        with self._cond:
            return {k: self._box.pop(k) for k in keys}

    def wait(self, keys: tuple[Key, ...], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not all(k in self._box for k in keys):
                self._check()
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def missing(self, keys: tuple[Key, ...]) -> list[str]:
        """The keys not in yet, readable: ``["Report f3 client", ...]``."""
        with self._cond:
            return [" ".join(getattr(part, "__name__", str(part)) for part in k) for k in keys if k not in self._box]


def read_lines(stream: IO[bytes], box: Mailbox, source: str) -> threading.Thread:
    """A daemon thread filing every message line of ``stream``; listeners see every message.
    Lines that are not JSON objects (a library's chatter) are skipped; a JSON line that is
    not a well-formed message breaks the mailbox."""
    def loop() -> None:
        for raw in stream:
            line = raw.strip()
            if not line.startswith(b"{"):
                continue
            try:
                msg = decode(line)
            except MessageError as exc:
                box.fail(f"{source}: {exc}")
                return
            for listener in box.listeners:
                listener(msg)
            key = mailbox_key(msg)
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
