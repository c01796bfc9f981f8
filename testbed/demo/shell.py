"""``testbed demo``: the interactive console and the script mode around ``Demo``.

The console is the standard library's ``cmd`` with GNU readline, on purpose: they give the
prompt loop, line editing, tab completion and a history file with nothing to install and
nothing of ours to maintain beyond completing the words each command takes; the commands
themselves are ``Demo``'s methods, which the tests call without a terminal. (A larger
library — prompt_toolkit — would bring menus and colour, and its own terminal handling and a
dependency to keep up with, for a console of ten commands.)

Completion cycles through the candidates (readline's ``menu-complete``): ``ca<Tab>`` gives
``call`` at once and the next Tab ``capture``, where plain ``complete`` would stop at ``ca``
until the second Tab lists both — in class, a Tab should give a command.

Script mode (``--script FILE``) checks every line of the lesson before the network starts
(a bad line is ``FILE:LINE: message``, exit 2, nothing started), then prints the transcript:
each command after the prompt, the lesson's ``#`` comments as they are, the live lines.
"""

from __future__ import annotations

import cmd
import contextlib
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from testbed.config.errors import ConfigError
from testbed.config.files import read_text
from testbed.config.schema import Ctx
from testbed.config.yamlnodes import parse_node
from testbed.demo.console import Demo, DemoError, Vocabulary, check_lines, load_named_policy, parse
from testbed.demo.network import DemoNetwork
from testbed.policy.model import Policy

PROMPT = "demo> "
DEFAULT_TOPOLOGY = "{name: operator_edge, params: {subscribers: 2}}"
MAX_LESSON_BYTES = 256 << 10
HISTORY_LINES = 1000
HUNG_UP = 128 + signal.SIGHUP


def history_path() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "testbed" / "demo_history"


def build_topology(text: str) -> Any:
    """``--topology``: a topology's name, or a scenario's ``topology:`` value as a YAML flow mapping."""
    from testbed.config.scenario import SCENARIO
    from topologies import TOPOLOGIES

    ref = SCENARIO.fields["topology"].load(parse_node(text, "--topology"), Ctx("--topology"), "topology")
    return TOPOLOGIES[ref.name](**ref.params)


@contextlib.contextmanager
def network_for(topo: Any, policy: Policy, emulate: bool) -> Iterator[DemoNetwork]:
    """The simulator, or (``emulate``) the emulated network, torn down however the demo ends."""
    from testbed.demo.console import Vocabulary

    apps = list(Vocabulary.of(topo).apps) or ["sip"]
    if not emulate:
        from testbed.demo.sim import SimDemo

        yield SimDemo(topo, policy, apps, seed=1)
        return
    from testbed.demo.emu import EmuDemo
    from testbed.emu.system import EmulationUnavailable

    workdir = Path(tempfile.mkdtemp(prefix="testbed-demo-"))
    previous = signal.signal(signal.SIGHUP, _hung_up)
    try:
        network = EmuDemo(topo, policy, apps, 1, workdir)
    except EmulationUnavailable as exc:
        signal.signal(signal.SIGHUP, previous)
        shutil.rmtree(workdir, ignore_errors=True)
        raise SystemExit(f"testbed demo --emulate: {exc}") from None
    failed = True
    try:
        yield network
        failed = False
    except SystemExit as exc:
        failed = exc.code not in (0, None, HUNG_UP)
        raise
    finally:
        network.close()
        signal.signal(signal.SIGHUP, previous)
        if failed:
            print(f"*** the emulation's logs: {workdir}/logs", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _hung_up(signum: int, frame: Any) -> None:
    """The terminal went away (its window closed): unwind through the teardown, which must not
    write to a terminal that is gone."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.dup2(devnull, sys.stderr.fileno())
    raise SystemExit(HUNG_UP)


class Shell(cmd.Cmd):
    """The thin interactive layer: lines to ``Demo``, words to readline."""

    prompt = PROMPT

    def __init__(self, demo: Demo, history: Path | None = None) -> None:
        super().__init__(completekey="")   # readline is set up here (cmdloop would bind plain "complete")
        self.demo, self.history = demo, history
        self._completer: Any = None

    def preloop(self) -> None:
        try:
            import readline
        except ImportError:   # pragma: no cover - no readline: no completion, the rest works
            return
        self._completer = readline.get_completer()
        readline.set_completer(self.complete)  # type: ignore[arg-type]  # typeshed: cmd returns list | None
        readline.parse_and_bind("tab: menu-complete")
        readline.set_completer_delims(" \t")             # policy names have dashes
        readline.set_history_length(HISTORY_LINES)
        if self.history is not None:
            with contextlib.suppress(OSError):
                readline.read_history_file(self.history)

    def postcmd(self, stop: bool, line: str) -> bool:
        # after every command, not at the end: a closed terminal or a kill keeps the lesson's history
        if self.history is not None and line != "EOF":
            with contextlib.suppress(ImportError, OSError):
                import readline

                self.history.parent.mkdir(parents=True, exist_ok=True)
                readline.write_history_file(self.history)
        return stop

    def postloop(self) -> None:
        with contextlib.suppress(ImportError):
            import readline

            readline.set_completer(self._completer)

    def emptyline(self) -> bool:
        return False      # cmd would repeat the last command: a second call nobody asked for

    def onecmd(self, line: str) -> bool:
        if line == "EOF":  # Ctrl-D
            self.demo.out("")
            return True
        try:
            command = parse(line, self.demo.vocab)
            return command is not None and not self.demo.execute(command)
        except (DemoError, ConfigError) as exc:
            self.demo.out(str(exc))
        except KeyboardInterrupt:
            self.demo.abandon()
            self.demo.out("interrupted: the command is abandoned")
        return False

    def completenames(self, text: str, *ignored: Any) -> list[str]:
        return [f"{name} " for name in self.demo_words("", 0) if name.startswith(text)]

    def completedefault(self, text: str, line: str, begidx: int, endidx: int) -> list[str]:
        words = line[:begidx].split()
        if not words:
            return []
        return [f"{w} " for w in self.demo_words(words[0], len(words) - 1) if w.startswith(text)]

    def demo_words(self, command: str, position: int) -> tuple[str, ...]:
        from testbed.demo.console import ALIASES, COMMANDS

        if not command:
            return tuple(COMMANDS) + tuple(ALIASES)[:1]
        return self.demo.vocab.words(ALIASES.get(command, command), position)


def interact(demo: Demo, intro: str) -> None:
    shell = Shell(demo, history_path())
    shell.intro = intro
    while True:
        try:
            shell.cmdloop()
            return
        except KeyboardInterrupt:   # Ctrl-C at the prompt: a new line, as a shell does
            print("^C")
            shell.intro = None


def run_script(demo: Demo, commands: list[tuple[int, Any]], lines: list[str], source: str) -> int:
    """The lesson's lines in order: comments as they are, each command after the prompt."""
    todo = dict(commands)
    for number, text in enumerate(lines, 1):
        stripped = text.strip()
        if number not in todo:
            if stripped.startswith("#"):
                demo.out(stripped)
            continue
        demo.out(PROMPT + stripped)
        try:
            if not demo.execute(todo[number], source, number):
                break
        except (DemoError, ConfigError) as exc:
            demo.out(f"{source}:{number}: {exc}")
            return 1
    return 0


def main(topology: str | None, policy_name: str, emulate: bool, script: str | None) -> int:
    """``testbed demo``; bad input raises ``ConfigError`` before anything starts."""
    topo = build_topology(topology or DEFAULT_TOPOLOGY)
    try:
        policy = load_named_policy(policy_name)
    except DemoError as exc:
        raise ConfigError("--policy", "", None, str(exc)) from None
    vocab = Vocabulary.of(topo)
    lines: list[str] = []
    commands: list[tuple[int, Any]] = []
    if script is not None:
        lines = read_text(script, MAX_LESSON_BYTES, script).splitlines()
        commands = check_lines(lines, vocab, policy, script)
    with network_for(topo, policy, emulate) as network:
        demo = Demo(network, topo, policy, out=lambda text: print(text, flush=True))
        if script is not None:
            return run_script(demo, commands, lines, script)
        mode = "the emulated network (Mininet + Open vSwitch + os-ken)" if emulate else "the simulator"
        interact(demo, f"testbed demo on {mode}: hosts {' '.join(vocab.hosts)}; policy {policy.name}.\n"
                       f"Type help; Tab completes; quit or Ctrl-D leaves.")
    return 0
