"""The DPI controller: an os-ken app, thin — packet-in → shared classifier → packet-out / flow-mod.

Its configuration is one ``ControllerConfig`` message (``testbed.emu.messages``):
each DPI switch's policy and the degrade marks; it compiles them itself
(``testbed.policy.compiler``), and decides with ``testbed.dpi.classifier.Classifier``
(the simulator's code). On stdin it takes ``Reload`` messages: other policies for the
running switches (a phase of a timeline, a teacher's change), applied between two
packet-ins in the app's own event loop: the new pipeline replaces the old without a gap,
the classifier keeps its flows and judges by the new rules, decided flows keep their
entries. It reports on stdout, one message a line (``Connected``, ``SwitchReady``,
``Decided`` with the classifier's ``Verdict``, ``Installed``, ``Late``, ``Reloaded``)::

    python -m testbed.emu.controller --tb-config controller.json --ofp-tcp-listen-port 16653

It listens on 127.0.0.1 only. An exception in a handler ends the process (FAUCET's
``kill_on_exception``): a half-working DPI must not go on "blocking".
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from os_ken import cfg
from os_ken.base import app_manager
from os_ken.controller import event, ofp_event
from os_ken.controller.handler import CONFIG_DISPATCHER, MAIN_DISPATCHER, set_ev_cls
from os_ken.ofproto import ofproto_v1_3

from testbed.dpi.classifier import Classifier, Verdict
from testbed.emu.messages import (
    Connected,
    ControllerConfig,
    ControllerEvent,
    Decided,
    Installed,
    Late,
    MessageError,
    Reload,
    Reloaded,
    SwitchReady,
    decode,
    encode,
)
from testbed.policy import compiler

CONF = cfg.CONF
CONF.register_cli_opts([cfg.StrOpt("tb-config", help="the policies, per DPI switch (a ControllerConfig message)")])
EXIT_HANDLER_FAILED = 70
BOTH = [CONFIG_DISPATCHER, MAIN_DISPATCHER]


def kill_on_exception(handler: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(handler)
    def wrapper(self: Any, ev: Any) -> None:
        try:
            handler(self, ev)
        except BaseException:
            traceback.print_exc()
            sys.stderr.flush()
            os._exit(EXIT_HANDLER_FAILED)
    return wrapper


def emit(event: ControllerEvent) -> None:
    sys.stdout.buffer.write(encode(event))
    sys.stdout.flush()


def dpid(dp: Any) -> str:
    return f"{dp.id:016x}"


def load_config(path: str) -> dict[int, compiler.Compiled]:
    """Each switch's policy compiled, with the degrade marks the hosts' shaping uses."""
    config = decode(Path(path).read_bytes())
    if not isinstance(config, ControllerConfig):
        raise MessageError(f"{path}: expected a controller-config message")
    return {int(s.dpid, 16): compiler.compile_policy(s.policy, config.marks) for s in config.switches}


class SwitchState:
    """One DPI switch: its compiled policy, classifier, meters and installed verdicts."""

    def __init__(self, compiled: compiler.Compiled, dp: Any) -> None:
        self.compiled = compiled
        self.dp = dp
        self.classifier = Classifier(compiled.policy)
        self.meters = compiler.MeterPool()
        self.installed: dict[Any, Verdict] = {}   # flow key → the verdict whose entries went in
        self.serial = 0
        self.generation = 0                        # of its pipeline entries (compiler.reload_messages)


class ReloadEvent(event.EventBase):  # type: ignore[misc]
    """A ``Reload`` read from stdin, queued into the app's event loop (one thread decides)."""

    def __init__(self, msg: Reload) -> None:
        super().__init__()
        self.msg = msg


def read_commands(app: Any, stream: Any) -> None:
    """Stdin's ``Reload`` lines into the app's events until EOF; anything else ends the process."""
    try:
        for line in stream:
            if line.strip():
                msg = decode(line)
                if not isinstance(msg, Reload):
                    raise MessageError(f"the controller takes reload messages on stdin, not {type(msg).__name__}")
                app.send_reload(msg)
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(EXIT_HANDLER_FAILED)


class DpiController(app_manager.OSKenApp):  # type: ignore[misc]
    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.compiled = load_config(CONF.tb_config)
        self.switches: dict[int, SwitchState] = {}
        self.barriers: dict[tuple[int, int], int] = {}   # (dpid, xid) → verdict serial (0: setup)
        self.reloads: dict[tuple[int, int], tuple[str, str]] = {}   # (dpid, xid) → (reload id, policy)

    def start(self) -> Any:
        out = super().start()
        threading.Thread(target=read_commands, args=(self, sys.stdin.buffer), daemon=True).start()
        return out

    def send_reload(self, msg: Reload) -> None:
        self._send_event(ReloadEvent(msg), None)

    def _send(self, dp: Any, msgs: list[Any]) -> None:
        for msg in msgs:
            msg.datapath = dp
            dp.send_msg(msg)
            if type(msg).__name__ == "OFPBarrierRequest":
                self.barriers[(dp.id, msg.xid)] = self.switches[dp.id].serial

    @set_ev_cls(ofp_event.EventOFPSwitchFeatures, CONFIG_DISPATCHER)
    @kill_on_exception
    def switch_features(self, ev: Any) -> None:
        dp = ev.msg.datapath
        if dp.id not in self.compiled:
            raise RuntimeError(f"switch {dp.id:016x} is not one of our DPI switches")
        state = self.switches[dp.id] = SwitchState(self.compiled[dp.id], dp)   # a reconnect starts clean
        self._send(dp, compiler.setup_messages(state.compiled))
        emit(Connected(time.time(), dpid(dp), state.compiled.policy.name, tuple(compiler.describe(state.compiled))))

    @set_ev_cls(ofp_event.EventOFPPacketIn, MAIN_DISPATCHER)
    @kill_on_exception
    def packet_in(self, ev: Any) -> None:
        msg, now = ev.msg, time.time()
        dp = msg.datapath
        state = self.switches[dp.id]
        frame, in_port = bytes(msg.data), msg.match["in_port"]
        verdict = state.classifier.feed(frame[14:], now) if frame[12:14] == b"\x08\x00" else None
        msgs: list[Any] = []
        if verdict is not None and verdict.key is not None:
            if state.installed.get(verdict.key) is verdict:
                emit(Late(now, dpid(dp), verdict.key))
            else:
                state.installed[verdict.key] = verdict
                state.serial += 1
                msgs += compiler.verdict_messages(state.compiled, verdict, state.serial, state.meters,
                                                  frame, in_port)
                emit(Decided(now, dpid(dp), state.serial, verdict))
        self._send(dp, msgs + compiler.forward(state.compiled, verdict, frame, in_port))

    @set_ev_cls(ReloadEvent)
    @kill_on_exception
    def reload(self, ev: ReloadEvent) -> None:
        """New policies for running switches: pipeline and classifier rules, no restart."""
        msg = ev.msg
        for sp in msg.switches:
            dp_id = int(sp.dpid, 16)
            if dp_id not in self.compiled:
                raise RuntimeError(f"reload for switch {sp.dpid}, not one of our DPI switches")
            compiled = self.compiled[dp_id] = compiler.compile_policy(sp.policy, msg.marks)
            state = self.switches.get(dp_id)
            if state is None:   # not connected yet: it gets the new policy when it does
                emit(Reloaded(time.time(), sp.dpid, msg.id, sp.policy.name))
                continue
            state.compiled = compiled
            state.classifier.set_policy(compiled.policy)
            state.generation += 1
            *msgs, barrier = compiler.reload_messages(compiled, state.generation)
            self._send(state.dp, msgs)
            barrier.datapath = state.dp
            state.dp.send_msg(barrier)
            self.reloads[(dp_id, barrier.xid)] = (msg.id, sp.policy.name)

    @set_ev_cls(ofp_event.EventOFPBarrierReply, BOTH)
    @kill_on_exception
    def barrier_reply(self, ev: Any) -> None:
        dp = ev.msg.datapath
        reload = self.reloads.pop((dp.id, ev.msg.xid), None)
        if reload is not None:
            emit(Reloaded(time.time(), dpid(dp), *reload))
            return
        serial = self.barriers.pop((dp.id, ev.msg.xid), None)
        if serial == 0:
            emit(SwitchReady(time.time(), dpid(dp)))
        elif serial is not None:
            emit(Installed(time.time(), dpid(dp), serial))

    @set_ev_cls(ofp_event.EventOFPFlowRemoved, MAIN_DISPATCHER)
    @kill_on_exception
    def flow_removed(self, ev: Any) -> None:
        dp = ev.msg.datapath
        meter = self.switches[dp.id].meters.give_back(ev.msg.cookie)
        if meter is not None:
            self._send(dp, [compiler.meter_delete(meter)])

    @set_ev_cls(ofp_event.EventOFPErrorMsg, BOTH)
    @kill_on_exception
    def error(self, ev: Any) -> None:
        raise RuntimeError(f"switch refused a message: type {ev.msg.type} code {ev.msg.code} "
                           f"data {bytes(ev.msg.data)[:64].hex()}")


def main(argv: list[str] | None = None) -> None:
    """Parse os-ken's options (listening on loopback only) and run the app until killed."""
    import os_ken.controller.controller  # noqa: F401 - registers the ofp-* options

    args = list(sys.argv[1:] if argv is None else argv)
    CONF(args=args + ["--ofp-listen-host", "127.0.0.1"], project="os_ken")
    app_manager.AppManager.run_apps(["testbed.emu.controller"])


if __name__ == "__main__":
    from testbed.emu.controller import main as _main  # the app's own module, not __main__

    _main()
