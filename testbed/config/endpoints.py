"""endpoints/*.yaml → ``Knowledge``: the apps' address blocks, ports and server names, with sources.

One file a service; every fact names one of the file's ``sources`` (a document
or a repository file, with its date)::

    service: Telegram
    call_app: TelegramVoip        # when the packets show a call (STUN, RTP, DTLS, timing)
    other_app: Telegram           # by the address alone; never a VoIP app
    sources:
      - {id: ndpi, title: nDPI ASN list, url: "https://...", date: 2024-08-02}
    networks:
      - {source: ndpi, asn: [AS62041], prefixes: [91.108.4.0/22, "2001:67c:4e8::/48"]}
    ports:
      - {l4: udp, ports: ["500-600"], what: call relays, source: ndpi}
    sni:
      - {source: ndpi, names: [telegram.org, t.me]}

Every error names file, YAML path and line, like the policy and scenario loaders.
Add a file to ``endpoints/`` to teach the DPI a new service.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from testbed.config.errors import ConfigError
from testbed.config.schema import Convert, Ctx, ListOf, Spec, Str, Struct, join, port_range
from testbed.config.yamlnodes import load_node, top_keys
from testbed.dpi.catalog import APPS, VOIP
from testbed.dpi.knowledge import Block, Knowledge, Names, Ports, Service, Source

ENDPOINT_DIR = Path(__file__).resolve().parents[2] / "endpoints"


class _Bool(Spec):
    what = "true or false"

    def load(self, node: yaml.Node, ctx: Ctx, path: str) -> Any:
        value = self.scalar(node, ctx, path)
        if not isinstance(value, bool):
            raise self.fail(node, ctx, path)
        return value


class _Date(Spec):
    what = "a date like 2024-08-02"

    def load(self, node: yaml.Node, ctx: Ctx, path: str) -> Any:
        value = self.scalar(node, ctx, path)
        if not isinstance(value, datetime.date):
            raise self.fail(node, ctx, path)
        return value


def _network(value: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    if not isinstance(value, str):
        raise ValueError("")
    return ipaddress.ip_network(value)  # strict: host bits set is a typo worth reporting


def _asn(value: Any) -> str:
    if not (isinstance(value, str) and value.startswith("AS") and value[2:].isdigit()):
        raise ValueError("")
    return value


APP = Str(lambda: list(APPS), noun="app")
SOURCE = Struct(Source, {"id": Str(), "title": Str(), "url": Str(), "date": _Date()})
BLOCK = Struct(Block, {"source": Str(), "asn": ListOf(Convert(_asn, "an AS number like 'AS62041'")),
                       "prefixes": ListOf(Convert(_network, "an address prefix like '91.108.4.0/22'"),
                                          min_len=1)})
PORTS = Struct(Ports, {"l4": Str(["udp", "tcp"], noun="l4 protocol"),
                       "ports": ListOf(Convert(lambda v: port_range(v, lowest=1), "a port or a range like '8801-8810'"), min_len=1),
                       "what": Str(), "source": Str()})
NAMES = Struct(Names, {"source": Str(), "names": ListOf(Str(), min_len=1)})


def _check(service: Service, node: yaml.Node, nodes: dict[str, yaml.Node], ctx: Ctx, path: str) -> None:
    ids = [s.id for s in service.sources]
    for i, source in enumerate(service.sources):
        ctx.check(source.id not in ids[:i], nodes["sources"].value[i], join(join("sources", i), "id"),
                  f"duplicate source id '{source.id}'")
    for key in ("networks", "ports", "sni"):
        for i, item in enumerate(getattr(service, key)):
            item_node = nodes[key].value[i]
            ctx.check(item.source in ids, item_node, join(join(key, i), "source"),
                      f"unknown source '{item.source}' – choose one of [{', '.join(ids)}]")
    if service.other_app is not None:
        ctx.check(APPS[service.other_app] != VOIP, nodes["other_app"], "other_app",
                  f"'{service.other_app}' is a VoIP app: an address alone never names a call "
                  f"(use call_app)")
    ctx.check(service.call_app is not None or service.other_app is not None or service.sni_app is not None,
              node, "", "a service needs call_app, other_app or sni_app")
    if service.sni:
        ctx.check(service.sni_app is not None or service.other_app is not None, nodes["sni"], "sni",
                  "server names need sni_app or other_app to name")
    if service.calls_on_ports_only:
        ctx.check(bool(service.ports), nodes["calls_on_ports_only"], "calls_on_ports_only",
                  "calls_on_ports_only needs ports")


SERVICE = Struct(Service, {
    "service": Str(), "sources": ListOf(SOURCE, min_len=1),
    "call_app": APP, "other_app": APP, "sni_app": APP, "calls_on_ports_only": _Bool(),
    "networks": ListOf(BLOCK), "ports": ListOf(PORTS), "sni": ListOf(NAMES),
}, check=_check)


def parse_service(node: yaml.Node, ctx: Ctx) -> Service:
    service: Service = SERVICE.load(node, ctx, "")
    return Service(**{**service.__dict__, "file": ctx.file})


def load_service(path: str | Path, display: str | None = None) -> Service:
    """Load and validate one endpoints file."""
    name = display or str(path)
    return parse_service(load_node(path, name), Ctx(name))


def files(folder: Path = ENDPOINT_DIR) -> list[Path]:
    return sorted(folder.glob("*.yaml"))


def load_knowledge(paths: Iterable[Path]) -> Knowledge:
    """Every file's service, indexed; a prefix listed by two services is an error."""
    services = []
    for path in paths:
        try:
            display = str(path.relative_to(ENDPOINT_DIR.parent))
        except ValueError:
            display = str(path)
        services.append(load_service(path, display))
    try:
        return Knowledge(services)
    except ValueError as exc:
        raise ConfigError(services[-1].file if services else "endpoints", "networks", None, str(exc)) from None


@cache
def default_knowledge() -> Knowledge:
    """The knowledge of ``endpoints/``, loaded once per process."""
    return load_knowledge(files())


def is_endpoints_file(path: Path, node: yaml.Node) -> bool:
    """By folder, else by its top keys (``testbed check`` tells the kinds apart)."""
    if path.parent.name == "endpoints":
        return True
    keys = top_keys(node)
    return "service" in keys

