"""The demo's commands: each one a plain method of ``Demo`` the tests call, and one parser.

A command line is checked before anything runs (``parse``: the command, its arguments
against the topology's hosts, the apps it serves, the strategies, the shipped policies),
so a lesson script can be checked whole before the network starts (``check_lines``).
Bad input is one line, ``DemoError`` (or the ``ConfigError`` of a policy file or a rule:
``file:line yaml.path: message``).
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from testbed.config.errors import ConfigError
from testbed.config.schema import Ctx
from testbed.config.yamlnodes import parse_node
from testbed.demo import transcript
from testbed.demo.network import DemoNetwork
from testbed.demo.transcript import FlowView, Result
from testbed.policy.load import available, load_policy, parse_rule, resolve
from testbed.policy.model import Policy, Rule
from testbed.topo import server_for, subscriber_hosts
from testbed.traffic.apps import CALL, PROFILES
from testbed.traffic.circumvention import STRATEGIES
from testbed.workload.calls import Subscriber

CHAT_SUFFIX = "_chat"     # ``chat HOST whatsapp`` is the traffic profile ``whatsapp_chat``
# command → (arguments, what it does): the order of ``help``
COMMANDS = {
    "call": ("HOST APP", "place a call now and show each packet the DPI decided on, what reached the callee, "
                         "the outcome and MOS"),
    "chat": ("HOST APP", "open the app's chat (messaging) connection"),
    "web": ("HOST", "open a web (HTTPS) connection"),
    "policy": ("[NAME]", "put the operator's policy in (policies/NAME.yaml, or a path) on the running "
                         "network; without NAME: show the policy in force"),
    "rule": ("add {YAML}", "add a rule at the end of the policy in force, e.g. "
                           "rule add {name: tunnels, match: {categories: [VPN]}, action: drop}"),
    "use": ("STRATEGY HOST", "give the subscriber a circumvention strategy for its next OTT calls "
                             "(use none HOST: the plain app)"),
    "trace": ("on|off", "print, decoded, every packet the DPI inspects of the flows that follow"),
    "capture": ("FILE", "write what the DPI saw since the last capture as a pcap (Wireshark opens it)"),
    "help": ("[COMMAND]", "this list, or one command"),
    "quit": ("", "tear the network down and leave (also: exit, Ctrl-D)"),
}
ALIASES = {"exit": "quit", "?": "help"}
ARITY = {"call": (2, 2), "chat": (2, 2), "web": (1, 1), "policy": (0, 1), "use": (2, 2), "trace": (0, 1),
         "capture": (1, 1), "help": (0, 1), "quit": (0, 0)}


class DemoError(Exception):
    """A command that cannot run, in one line."""


@dataclass(frozen=True)
class Vocabulary:
    """The names a command may use on this topology (what completion offers)."""

    hosts: tuple[str, ...]                 # subscriber hosts
    apps: tuple[str, ...]                  # call profiles some server of the topology answers
    chats: tuple[str, ...]                 # apps whose chat profile it answers
    strategies: tuple[str, ...]            # circumventions whose first hop it has
    policies: tuple[str, ...] = field(default_factory=lambda: tuple(available()))

    @classmethod
    def of(cls, topo: Any) -> Vocabulary:
        info = {h: topo.nodeInfo(h) for h in topo.hosts()}
        served = {p for i in info.values() for p in i.get("serves", ())}
        return cls(tuple(h for h, _ in subscriber_hosts(info)),
                   tuple(p.name for p in PROFILES.values() if p.kind == CALL and p.name in served),
                   tuple(n[:-len(CHAT_SUFFIX)] for n in PROFILES if n.endswith(CHAT_SUFFIX) and n in served),
                   tuple(s.name for s in STRATEGIES.values() if s.via is None or s.via in served))

    def words(self, command: str, position: int) -> tuple[str, ...]:
        """What may come at ``position`` (0: the first argument) of ``command``."""
        table: dict[str, tuple[tuple[str, ...], ...]] = {
            "call": (self.hosts, self.apps), "chat": (self.hosts, self.chats), "web": (self.hosts,),
            "policy": (self.policies,), "use": (self.strategies, self.hosts), "trace": (("on", "off"),),
            "help": (tuple(COMMANDS),), "rule": (("add",),)}
        options = table.get(command, ())
        return options[position] if position < len(options) else ()


@dataclass(frozen=True)
class Command:
    name: str
    args: tuple[str, ...] = ()
    text: str = ""          # rule add's YAML mapping


def _choose(what: str, value: str, choices: Iterable[str]) -> str:
    options = list(choices)
    if value not in options:
        raise DemoError(f"unknown {what} '{value}' – choose one of [{', '.join(options)}]")
    return value


def parse(line: str, vocab: Vocabulary) -> Command | None:
    """One command line, checked (None for a blank line or a comment)."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    head, _, rest = text.partition(" ")
    name = ALIASES.get(head, head)
    if name not in COMMANDS:
        raise DemoError(f"unknown command '{head}' – choose one of [{', '.join(COMMANDS)}]")
    if name == "rule":
        verb, _, mapping = rest.strip().partition(" ")
        if verb != "add" or not mapping.strip():
            raise DemoError("usage: rule add {YAML flow mapping}, e.g. rule add {match: {categories: [VPN]}, action: drop}")
        return Command(name, ("add",), mapping.strip())
    try:
        args = tuple(shlex.split(rest))
    except ValueError as exc:
        raise DemoError(f"{name}: {exc}") from None
    lo, hi = ARITY[name]
    if not lo <= len(args) <= hi:
        usage = f"{name} {COMMANDS[name][0]}".strip()
        raise DemoError(f"usage: {usage}")
    if name in ("call", "chat", "web"):
        _choose("host", args[0], vocab.hosts)
        if name != "web":
            _choose("app", args[1], vocab.apps if name == "call" else vocab.chats)
    elif name == "use":
        _choose("strategy", args[0], vocab.strategies)
        _choose("host", args[1], vocab.hosts)
    elif name == "trace" and args:
        _choose("trace setting", args[0], ("on", "off"))
    elif name == "help" and args:
        _choose("command", ALIASES.get(args[0], args[0]), COMMANDS)
    return Command(name, args)


def load_named_policy(name: str) -> Policy:
    """``policies/NAME.yaml`` or a path, validated (a bad file is its ConfigError)."""
    path = resolve(name)
    if not path.is_file():
        raise DemoError(f"unknown policy '{name}' – choose one of [{', '.join(available())}] or give a path")
    return load_policy(path, name if path.parent != resolve("none").parent else f"policies/{path.name}")


def with_rule(policy: Policy, text: str, source: str, line: int | None = None) -> Policy:
    """``policy`` with the rule of ``text`` (a YAML flow mapping) at its end, checked by the policy
    schema; errors name ``source`` (and ``line``: a lesson's) and the path ``rule...``."""
    try:
        rule = parse_rule(parse_node(text, source), Ctx(source), "rule", len(policy.rules) + 1)
    except ConfigError as exc:
        raise ConfigError(source, exc.yaml_path, line, exc.message) from None
    if any(r.name == rule.name for r in policy.rules):
        raise ConfigError(source, "rule.name", line, f"the policy {policy.name} has a rule '{rule.name}' already")
    return replace(policy, rules=policy.rules + (rule,))


class Demo:
    """The console's state and commands; every line it prints goes through ``out``."""

    def __init__(self, network: DemoNetwork, topo: Any, policy: Policy,
                 out: Callable[[str], None] = print) -> None:
        self.network, self.topo, self.policy, self.out = network, topo, policy, out
        self.vocab = Vocabulary.of(topo)
        info = {h: topo.nodeInfo(h) for h in topo.hosts()}
        self.info = info
        self.subscribers = {h: Subscriber(i, h, op, False) for i, (h, op) in enumerate(subscriber_hosts(info))}
        self.tracing = False
        self.blocked: set[tuple[str, str]] = set()    # (host, app) whose call a policy blocked
        self.results: list[Result] = []

    # -- traffic -------------------------------------------------------------------------------
    def _where(self, host: str, profile: str, strategy: str) -> tuple[str, str]:
        operator = self.subscribers[host].operator
        server = server_for(self.topo, self.info, profile, operator)
        far = f"{server} {self._ip(server)}"
        if strategy == "none" or STRATEGIES[strategy].via is None:
            return far, ""
        hop = server_for(self.topo, self.info, STRATEGIES[strategy].via or "", operator)
        return far, f"{hop} {self._ip(hop)}"

    def _ip(self, host: str) -> str:
        return str(self.info[host]["ip"]).split("/")[0]

    def _show_flow(self) -> Callable[[FlowView], None]:
        count = iter(range(1, 1000))

        def show(view: FlowView) -> None:
            for text in transcript.flow_lines(next(count), view, self.tracing):
                self.out(text)
        return show

    def call(self, host: str, app: str) -> Result:
        """Place one call from ``host`` on ``app`` now (through the host's strategy if it is an OTT app)."""
        sub = self.subscribers[_choose("host", host, self.vocab.hosts)]
        _choose("app", app, self.vocab.apps)
        strategy = sub.strategy if PROFILES[app].ott else "none"
        far, via = self._where(host, app, strategy)
        self.out(transcript.heading("call", host, app, strategy, far, via))
        record, delivery, flows = self.network.call(sub, app, strategy, on_flow=self._show_flow())
        # no flow shown (a relay whose connection was stopped before the call): what its delivery says
        seen = tuple(f.seen for f in flows) or (delivery.seen if delivery is not None else ())
        word = transcript.word_for(record.outcome, seen, strategy, (host, app) in self.blocked)
        if word == transcript.BLOCKED:
            self.blocked.add((host, app))
        result = Result("call", host, app, strategy, far, via, flows, word, record.outcome, record, delivery)
        return self._done(result)

    def chat(self, host: str, app: str) -> Result:
        """Open ``app``'s chat connection from ``host``."""
        _choose("app", app, self.vocab.chats)
        return self._flow("chat", host, app + CHAT_SUFFIX)

    def web(self, host: str) -> Result:
        """Open a web connection from ``host``."""
        return self._flow("web", host, "web")

    def _flow(self, command: str, host: str, profile: str) -> Result:
        sub = self.subscribers[_choose("host", host, self.vocab.hosts)]
        far, _ = self._where(host, profile, "none")
        self.out(transcript.heading(command, host, profile, "none", far, ""))
        seen, flows = self.network.flow(sub, profile, on_flow=self._show_flow())
        result = Result(command, host, profile, "none", far, "", flows, transcript.flow_word(seen),
                        "dropped" if seen.stops else "let through" if not seen.hit else str(seen.action))
        return self._done(result)

    def _done(self, result: Result) -> Result:
        for text in transcript.end_lines(result):
            self.out(text)
        self.results.append(result)
        return result

    # -- the operator and the subscribers -------------------------------------------------------
    def set_policy(self, name: str) -> Policy:
        """Put a shipped policy (or a policy file) in on the running network."""
        return self._apply(load_named_policy(name), f"policy {name} in force")

    def add_rule(self, text: str, source: str = "rule add", line: int | None = None) -> Rule:
        """Add a rule (a YAML flow mapping) at the end of the policy in force."""
        policy = with_rule(self.policy, text, source, line)
        rule = policy.rules[-1]
        self._apply(policy, f"rule {rule.label(policy.name)} added: {policy.name} has {len(policy.rules)} rules")
        return rule

    def _apply(self, policy: Policy, said: str) -> Policy:
        self.network.set_policy(policy)
        self.policy = policy
        self.out(said)
        return policy

    def show_policy(self) -> list[str]:
        lines = [f"policy {self.policy.name}: {self.policy.description or '(no description)'}"]
        lines += [f"  {r.index}. {r.name}: {_match_text(r)} → {r.action}" for r in self.policy.rules]
        lines.append(f"  {'anything else' if self.policy.rules else 'everything'} → allow")
        for text in lines:
            self.out(text)
        return lines

    def use(self, strategy: str, host: str) -> None:
        """Give ``host``'s subscriber a circumvention strategy for its next OTT calls."""
        _choose("strategy", strategy, self.vocab.strategies)
        self.subscribers[_choose("host", host, self.vocab.hosts)].strategy = strategy
        self.out(f"{host} now calls {'with the plain apps' if strategy == 'none' else 'through ' + strategy} "
                 f"({STRATEGIES[strategy].description}; the operator's own SIP never goes through it)")

    def trace(self, on: bool) -> None:
        self.tracing = on
        self.out(f"trace {'on: the packets the DPI inspects are printed' if on else 'off'}")

    def capture(self, path: str) -> int:
        """Write what the DPI saw since the last capture as a pcap; returns its number of packets."""
        from testbed.config.files import replaced
        from testbed.packets.capture import write_ip

        with replaced(path, path) as tmp:
            packets = sorted(self.network.dpi_saw(), key=lambda p: p[0])
            write_ip(tmp, packets)
        self.out(f"{path}: {len(packets)} packets the DPI saw since the last capture (pcap, raw IP)")
        return len(packets)

    def help(self, command: str = "") -> None:
        names = [ALIASES.get(command, command)] if command else list(COMMANDS)
        for name in names:
            args, what = COMMANDS[name]
            self.out(f"  {(name + ' ' + args).strip():22} {what}")
        if not command:
            v = self.vocab
            self.out(f"hosts: {' '.join(v.hosts)}   apps: {' '.join(v.apps)}   chat: {' '.join(v.chats)}")
            self.out(f"strategies: {' '.join(v.strategies)}   policies: {' '.join(v.policies)}")

    def abandon(self) -> None:
        """After Ctrl-C in a command: nobody is in a call any more."""
        self.network.abandon()
        for sub in self.subscribers.values():
            sub.in_call = False

    # -- one line --------------------------------------------------------------------------------
    def execute(self, command: Command, source: str = "rule add", line: int | None = None) -> bool:
        """Run a parsed command; False when it asks to quit."""
        name, args = command.name, command.args
        if name == "quit":
            return False
        if name == "call":
            self.call(*args)
        elif name == "chat":
            self.chat(*args)
        elif name == "web":
            self.web(*args)
        elif name == "policy" and args:
            self.set_policy(args[0])
        elif name == "policy":
            self.show_policy()
        elif name == "rule":
            self.add_rule(command.text, source, line)
        elif name == "use":
            self.use(*args)
        elif name == "trace" and args:
            self.trace(args[0] == "on")
        elif name == "trace":
            self.out(f"trace is {'on' if self.tracing else 'off'}")
        elif name == "capture":
            self.capture(args[0])
        elif name == "help":
            self.help(*args)
        return True


def _match_text(rule: Rule) -> str:
    m = rule.match
    parts = [f"{k} {', '.join(str(x) for x in v) if isinstance(v, tuple) else v}"
             for k, v in (("l4", m.l4), ("apps", m.apps), ("categories", m.categories), ("behaviour", m.behaviour),
                          ("hosts", m.hosts), ("src", m.src), ("dst", m.dst), ("sni", m.sni)) if v]
    ports = [f"{k} {', '.join(str(a) if a == b else f'{a}-{b}' for a, b in v)}"
             for k, v in (("ports", m.ports), ("src_ports", m.src_ports), ("dst_ports", m.dst_ports)) if v]
    return "; ".join(parts + ports) or "any"


def check_lines(lines: list[str], vocab: Vocabulary, policy: Policy, source: str) -> list[tuple[int, Command]]:
    """Every command of a lesson, checked before the network starts — the policies it names loaded,
    its rules checked against the policy they join; the first bad line is a ConfigError naming it."""
    out = []
    for number, text in enumerate(lines, 1):
        try:
            command = parse(text, vocab)
            if command is None:
                continue
            if command.name == "policy" and command.args:
                policy = load_named_policy(command.args[0])
            elif command.name == "rule":
                policy = with_rule(policy, command.text, source, number)
        except DemoError as exc:
            raise ConfigError(source, "", number, str(exc)) from None
        out.append((number, command))
    return out

