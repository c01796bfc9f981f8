"""What the emulation's processes say to each other: typed messages and their one codec.

The orchestrator (``session``, ``placement``) commands the host agents
(``agent``) on their stdin; agents and the DPI controller (``controller``) report
on their stdout; the controller reads its configuration from a file, and new
policies for the running switches (``Reload``) on its stdin. Every
message is a frozen dataclass below; on the wire it is one JSON line tagged with
its type (``{"type": "ack", "host": "tbwa", "id": "f3"}``), encoded and decoded by
the dataclass's fields and their annotations — bytes as hex, tuples as lists,
IP networks as text, a dict whose keys are not strings as a list of pairs. An
unknown type, an unknown or missing field, or a value of the wrong type is a
``MessageError`` naming the type and the field. Defaults live in the dataclasses
and nowhere else.

Waiting for a message is by its mailbox key (``mailbox_key``): the message type
and what identifies it, e.g. ``(Report, flow_id, "client")``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import types
import typing
from dataclasses import dataclass
from typing import Any, Union

from testbed.dpi.classifier import Verdict
from testbed.dpi.flow import FlowKey
from testbed.policy.model import Action, Policy
from testbed.probe.ooni import Target

# -- orchestrator → agent -------------------------------------------------------------------


@dataclass(frozen=True)
class SideSpec:
    """What one side of one flow does; the agent adds nothing of its own."""

    id: str
    l4: str                                     # "udp" | "tcp"
    local_port: int
    peer: str                                   # the other side's address and port
    peer_port: int
    segments: tuple[tuple[float, bytes], ...]   # (seconds after the start, payload): the app's opening
    templates: tuple[bytes, ...]                # repeated, stamped, every frame after the opening (media)
    frame_ms: float
    hold: float                                 # seconds of media after the opening (0: none)
    setup_timeout: float                        # seconds for the answer (client) or the opening (server)
    max_loss_pct: float                         # a call's media lost beyond this is given up ("poor")
    linger: float                               # seconds a side keeps receiving after it stopped sending
    expect_packets: int                         # what the peer's opening brings (UDP: packets, TCP: bytes)
    expect_bytes: int
    peer_sizes: tuple[int, ...]                 # the peer's opening records (cuts a TCP stream back)
    peer_media_sizes: tuple[int, ...]           # and its media records
    peer_final: bytes = b""                     # UDP signalling: the peer's last datagram, its final answer


@dataclass(frozen=True)
class Serve:
    """Expect a flow from ``side.peer``; it starts at its first packet or connection. Acked."""

    side: SideSpec


@dataclass(frozen=True)
class Open:
    """Start a flow to ``side.peer``, ``start_in`` seconds from now; with ``mark``, its socket
    carries that SO_MARK (an ``ip rule fwmark`` sends the flow, not the host, into a tunnel)."""

    side: SideSpec
    start_in: float = 0.0
    mark: int = 0


@dataclass(frozen=True)
class End:
    """Stop a flow now (a server side the client's packets never reached)."""

    id: str


@dataclass(frozen=True)
class Shape:
    """Bind the NFQUEUE delayer's queues: the path model per destination, degrade per mark. Acked."""

    id: str
    path_queue: int
    seed: int
    path: dict[str, tuple[float, float]]        # destination address → (delay, jitter) ms
    degrade: dict[int, tuple[float, float]]     # queue number → (delay, jitter) ms


@dataclass(frozen=True)
class Quit:
    """End the agent."""


# -- agent → orchestrator -------------------------------------------------------------------


@dataclass(frozen=True)
class RecvStats:
    """What one side received on one flow (times are the receiver's clock, seconds)."""

    packets: int = 0
    octets: int = 0                    # L4 payload bytes
    media: int = 0                     # stamped media packets, each sequence number once
    max_seq: int = -1
    max_seq_sent: float | None = None  # the send stamp of the highest sequence number
    first: float | None = None         # first and last arrival
    last: float | None = None
    loss_pct: float = 0.0              # media lost as the sequence numbers tell (the sender's count is better)
    jitter_ms: float | None = None     # RFC 3550 interarrival jitter
    delay_ms: float | None = None      # mean one-way delay from the stamps
    arrivals: tuple[float, ...] = ()   # the first packets' arrivals (the ringback is one of them)
    base_ms: float | None = None       # the playout (``testbed.metrics.playout``): median delay,
    buffer_ms: float | None = None     # the jitter buffer,
    late: int = 0                      # media packets later than both,
    burst_r: float = 1.0               # and G.107's BurstR of what was lost or late


@dataclass(frozen=True)
class AgentReady:
    host: str
    pid: int


@dataclass(frozen=True)
class Ack:
    host: str
    id: str


@dataclass(frozen=True)
class Report:
    """One side of one flow, once, at its end."""

    host: str
    id: str
    side: str                  # "client" | "server"
    error: str | None          # "refused" (ICMP unreachable) | "reset" (TCP RST)
    aborted: str | None        # why it ended early: an error, "timeout", "no-answer", "no-media", "poor", ...
    opened: float | None       # when the agent was told to start it (a client's dial)
    start: float | None        # None: the flow never started on this side
    end: float
    sent: int
    sent_bytes: int
    sent_media: int
    recv: RecvStats


# -- controller → orchestrator --------------------------------------------------------------


@dataclass(frozen=True)
class Connected:
    t: float
    dpid: str
    policy: str
    rules: tuple[str, ...]


@dataclass(frozen=True)
class SwitchReady:
    """The switch's pipeline is in (the barrier after the setup messages came back)."""

    t: float
    dpid: str


@dataclass(frozen=True)
class Decided:
    """The classifier's verdict on a flow; ``serial`` numbers its flow entries."""

    t: float
    dpid: str
    serial: int
    verdict: Verdict


@dataclass(frozen=True)
class Installed:
    """The switch confirmed the entries of verdict ``serial``."""

    t: float
    dpid: str
    serial: int


@dataclass(frozen=True)
class Late:
    """A packet-in of a flow already decided (it left the switch before the entry was in)."""

    t: float
    dpid: str
    key: FlowKey


# -- orchestrator → controller --------------------------------------------------------------


@dataclass(frozen=True)
class SwitchPolicy:
    dpid: str
    policy: Policy


@dataclass(frozen=True)
class ControllerConfig:
    """Each DPI switch's policy and the degrade marks shared with the hosts; the controller compiles."""

    switches: tuple[SwitchPolicy, ...]
    marks: dict[Action, int]


@dataclass(frozen=True)
class Reload:
    """On the controller's stdin: these switches run these policies from now on, on the running
    switches (no restart, no dropped flow): the controller replaces its pipeline entries and its
    classifier's rules; flows already decided keep their entries. Answered per switch (``Reloaded``)."""

    id: str
    switches: tuple[SwitchPolicy, ...]
    marks: dict[Action, int]


@dataclass(frozen=True)
class Reloaded:
    """A switch confirmed the new pipeline of reload ``id`` (its barrier came back)."""

    t: float
    dpid: str
    id: str
    policy: str


# -- orchestrator ↔ an OONI-like test's client and the resolver (``testbed.probe``) ---------


@dataclass(frozen=True)
class ReachItem:
    """One target of the test, with the local ports its DNS and TCP sockets take (so the
    orchestrator finds the DPI's verdict on each flow)."""

    target: Target
    dns_port: int
    tcp_port: int


@dataclass(frozen=True)
class ReachRequest:
    """What the test's client in a subscriber host is to reach (on its stdin)."""

    resolver: str
    cafile: str                  # the CA that signs the front ends' certificate
    timeout: float               # seconds for each step
    items: tuple[ReachItem, ...]


@dataclass(frozen=True)
class ReachResult:
    """How far one target got, in OONI's terms (no failure: it was reached)."""

    address: str
    failed_operation: str | None = None
    failure: str | None = None


@dataclass(frozen=True)
class ReachResults:
    """The client's answer (on its stdout), one result a target, in the request's order."""

    results: tuple[ReachResult, ...]


@dataclass(frozen=True)
class Zone:
    """The resolver's records: name → IPv4 address."""

    records: dict[str, str]


Command = Serve | Open | End | Shape | Quit
AgentEvent = AgentReady | Ack | Report
ControllerEvent = Connected | SwitchReady | Decided | Installed | Late | Reloaded
Message = Command | AgentEvent | ControllerEvent | ControllerConfig | Reload | ReachRequest | ReachResults | Zone

TYPES: dict[str, type] = {
    "serve": Serve, "open": Open, "end": End, "shape": Shape, "quit": Quit,
    "ready": AgentReady, "ack": Ack, "report": Report,
    "connected": Connected, "switch-ready": SwitchReady, "verdict": Decided, "installed": Installed,
    "late": Late, "controller-config": ControllerConfig, "reload": Reload, "reloaded": Reloaded,
    "reach-request": ReachRequest, "reach-results": ReachResults, "zone": Zone,
}
TAGS = {cls: tag for tag, cls in TYPES.items()}
CONTROLLER_EVENTS = (Connected, SwitchReady, Decided, Installed, Late, Reloaded)

Key = tuple[Any, ...]


def mailbox_key(msg: Message) -> Key | None:
    """Where a message is filed for whoever waits on it (None: nobody waits on it)."""
    if isinstance(msg, Ack):
        return (Ack, msg.id)
    if isinstance(msg, Report):
        return (Report, msg.id, msg.side)
    if isinstance(msg, AgentReady):
        return (AgentReady, msg.host)
    if isinstance(msg, SwitchReady):
        return (SwitchReady, msg.dpid)
    if isinstance(msg, Reloaded):
        return (Reloaded, msg.id, msg.dpid)
    return None


# -- the codec ------------------------------------------------------------------------------


class MessageError(ValueError):
    """A line that is not one of our messages, or not a well-formed one."""


_NETWORKS = (ipaddress.IPv4Network, ipaddress.IPv6Network)
_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


def encode(msg: Message) -> bytes:
    """One JSON line (with its newline)."""
    tag = TAGS.get(type(msg))
    if tag is None:
        raise MessageError(f"not a message type: {type(msg).__name__}")
    fields = _out(msg, type(msg))
    return json.dumps({"type": tag, **fields}, separators=(",", ":")).encode() + b"\n"


def decode(line: bytes | str) -> Message:
    """The message of one JSON line; ``MessageError`` says what is wrong with it."""
    try:
        doc = json.loads(line)
    except ValueError as exc:
        raise MessageError(f"not JSON: {exc}: {line[:80]!r}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("type"), str):
        raise MessageError(f"no message type: {str(line)[:80]}")
    tag = doc.pop("type")
    cls = TYPES.get(tag)
    if cls is None:
        raise MessageError(f"unknown message type {tag!r} (known: {', '.join(sorted(TYPES))})")
    return _in(doc, cls, tag)  # type: ignore[no-any-return]


def _out(value: Any, hint: Any) -> Any:
    if dataclasses.is_dataclass(hint):
        hints = _hints(hint)  # type: ignore[arg-type]
        return {f.name: _out(getattr(value, f.name), hints[f.name]) for f in dataclasses.fields(hint)}
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        if value is None:
            return None
        if all(a in _NETWORKS for a in args):
            return str(value)
        (inner,) = [a for a in args if a is not type(None)]
        return _out(value, inner)
    if origin is tuple:
        items = args[:1] * len(value) if args[-1:] == (Ellipsis,) else args
        return [_out(v, h) for v, h in zip(value, items, strict=True)]
    if origin is dict:
        key_hint, value_hint = args
        if key_hint is str:
            return {k: _out(v, value_hint) for k, v in value.items()}
        return [[_out(k, key_hint), _out(v, value_hint)] for k, v in value.items()]
    if hint is bytes:
        return bytes(value).hex()
    return value


def _wrong(path: str, expected: str, value: Any) -> MessageError:
    return MessageError(f"{path}: expected {expected}, got {value!r}"[:300])


def _in(value: Any, hint: Any, path: str) -> Any:
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise _wrong(path, "an object", value)
        fields = {f.name: f for f in dataclasses.fields(hint)}
        unknown = sorted(set(value) - set(fields))
        if unknown:
            raise MessageError(f"{path}: unknown field {unknown[0]!r}")
        missing = [n for n, f in fields.items() if n not in value and f.default is dataclasses.MISSING
                   and f.default_factory is dataclasses.MISSING]
        if missing:
            raise MessageError(f"{path}: missing field {missing[0]!r}")
        hints = _hints(hint)  # type: ignore[arg-type]
        return hint(**{k: _in(v, hints[k], f"{path}.{k}") for k, v in value.items()})  # type: ignore[operator]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        if all(a in _NETWORKS for a in args):
            try:
                return ipaddress.ip_network(value)
            except (TypeError, ValueError):
                raise _wrong(path, "an IP network", value) from None
        (inner,) = [a for a in args if a is not type(None)]
        return _in(value, inner, path)
    if origin is tuple:
        if not isinstance(value, list):
            raise _wrong(path, "a list", value)
        if args[-1:] == (Ellipsis,):
            return tuple(_in(v, args[0], f"{path}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise _wrong(path, f"{len(args)} items", value)
        return tuple(_in(v, h, f"{path}[{i}]") for i, (v, h) in enumerate(zip(value, args)))
    if origin is dict:
        key_hint, value_hint = args
        if key_hint is str:
            if not isinstance(value, dict):
                raise _wrong(path, "an object", value)
            return {k: _in(v, value_hint, f"{path}.{k}") for k, v in value.items()}
        if not isinstance(value, list) or not all(isinstance(p, list) and len(p) == 2 for p in value):
            raise _wrong(path, "a list of [key, value] pairs", value)
        return {_in(k, key_hint, f"{path}[{i}].key"): _in(v, value_hint, f"{path}[{i}].value")
                for i, (k, v) in enumerate(value)}
    return _scalar(value, hint, path)


def _scalar(value: Any, hint: Any, path: str) -> Any:
    if hint is bytes:
        try:
            return bytes.fromhex(value)
        except (TypeError, ValueError):
            raise _wrong(path, "hex bytes", value) from None
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _wrong(path, "a number", value)
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _wrong(path, "an integer", value)
        return value
    if hint in (str, bool):
        if not isinstance(value, hint):
            raise _wrong(path, hint.__name__, value)
        return value
    raise MessageError(f"{path}: cannot decode a {hint!r}")
