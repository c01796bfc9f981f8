"""OONI's instant-messaging tests as data, and the verdict they reach (pure).

Each test is what its specification (github.com/ooni/spec, ``nettests/``) says the probe
does: the host names it resolves, the endpoints it connects to, the HTTPS and HTTP
requests it makes, and which of those must succeed for each of the test's keys. None
of them places a call: a policy that passes the signalling and drops the media — or one
that only drops calls' STUN — leaves every key "ok" (OONI's own issue to detect VoIP
blocking, ooni/probe-engine#134, is open). A test's verdict here is ``accessible`` when
every key is ok, ``blocked`` otherwise (OONI Explorer flags such a measurement as an
anomaly).

The testbed's internet holds one front end per app (``role: frontend`` in a topology,
``fronts: (app,)``): every name of the app's test resolves to it. Of Telegram's five
access points, the ones the topology holds are tried (it holds 149.154.167.51). The tests:
WhatsApp (ts-018), Telegram (ts-020), Facebook Messenger (ts-019) and Signal (ts-029; no
topology has its front end while no traffic profile calls with Signal).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ACCESSIBLE, BLOCKED = "accessible", "blocked"
# OONI's failed_operation values (df-008-netevents) and failure strings (df-007-errors)
RESOLVE, CONNECT, TLS_HANDSHAKE, HTTP_TRANSACTION = "resolve", "connect", "tls_handshake", "http_transaction"
OPERATIONS = (RESOLVE, CONNECT, TLS_HANDSHAKE, HTTP_TRANSACTION)
TIMEOUT, RESET, REFUSED, NXDOMAIN = ("generic_timeout_error", "connection_reset", "connection_refused",
                                     "dns_nxdomain_error")
# what a target does: resolve only, connect only, GET over TLS, plain request
DNS, TCP, HTTPS, HTTP = "dns", "tcp", "https", "http"
ANY, ALL = "any", "all"


@dataclass(frozen=True)
class Target:
    """One endpoint a test reaches: ``host`` is a name (resolved first) or an address."""

    kind: str          # TCP | HTTPS | HTTP
    host: str
    port: int
    path: str = "/"
    method: str = "GET"

    @property
    def literal(self) -> bool:
        return self.host.replace(".", "").isdigit()

    @property
    def needs(self) -> str:
        """The last operation that must succeed for the target to count as reached."""
        return {DNS: RESOLVE, TCP: CONNECT}.get(self.kind, HTTP_TRANSACTION)

    def __str__(self) -> str:
        if self.kind == DNS:
            return f"dnslookup://{self.host}"
        scheme = {TCP: "tcpconnect", HTTPS: "https", HTTP: "http"}[self.kind]
        return f"{scheme}://{self.host}:{self.port}{self.path if self.kind != TCP else ''}"


@dataclass(frozen=True)
class Key:
    """One of a test's result keys: ok when ``ok_when`` (any | all) of its targets got to ``reached``."""

    name: str
    targets: tuple[Target, ...]
    ok_when: str
    reached: str = HTTP_TRANSACTION


@dataclass(frozen=True)
class OoniTest:
    app: str           # the traffic profile it speaks for
    name: str
    spec: str          # specification and version
    url: str
    keys: tuple[Key, ...]

    @property
    def targets(self) -> tuple[Target, ...]:
        """Every target once, in order (keys may share them)."""
        return tuple(dict.fromkeys(t for k in self.keys for t in k.targets))


_WA = "https://github.com/ooni/spec/blob/master/nettests/ts-018-whatsapp.md"
_TG = "https://github.com/ooni/spec/blob/master/nettests/ts-020-telegram.md"
_SG = "https://github.com/ooni/spec/blob/master/nettests/ts-029-signal.md"
_FB = "https://github.com/ooni/spec/blob/master/nettests/ts-019-facebook-messenger.md"
# TCP 443 to each endpoint but stun.fbsbx.com (a UDP service: looked up only)
_FB_TCP = tuple(Target(TCP, name, 443) for name in ("b-api.facebook.com", "b-graph.facebook.com",
                                                   "edge-mqtt.facebook.com", "external.xx.fbcdn.net",
                                                   "scontent.xx.fbcdn.net", "star.c10r.facebook.com"))
_WA_ENDPOINTS = tuple(Target(TCP, f"e{i}.whatsapp.net", port) for i in range(1, 17) for port in (443, 5222))
# the access points of Telegram Desktop (config.h) that ts-020 tries, on ports 80 and 443
TELEGRAM_DCS = ("149.154.175.50", "149.154.167.51", "149.154.175.100", "149.154.167.91", "149.154.171.5")
_TG_DCS = tuple(Target(HTTP, ip, port, method="POST") for ip in TELEGRAM_DCS for port in (80, 443))

TESTS: dict[str, OoniTest] = {t.app: t for t in (
    OoniTest("whatsapp", "WhatsApp", "ts-018-whatsapp, version 2020-07-09-001", _WA, (
        # "If we can connect to at least one endpoint" (ports 443 and 5222)
        Key("whatsapp_endpoints_status", _WA_ENDPOINTS, ANY, CONNECT),
        Key("registration_server_status", (Target(HTTPS, "v.whatsapp.net", 443, "/v2/register"),), ALL),
        # the HTTP URL must redirect to the HTTPS one
        Key("whatsapp_web_status", (Target(HTTPS, "web.whatsapp.com", 443), Target(HTTP, "web.whatsapp.com", 80)),
            ALL))),
    OoniTest("telegram", "Telegram", "ts-020-telegram, version 2022-12-07-001", _TG, (
        # telegram_tcp_blocking: all TCP connections to the access points fail
        Key("telegram_tcp_blocking", _TG_DCS, ANY, CONNECT),
        # telegram_http_blocking: no HTTP request got a response
        Key("telegram_http_blocking", _TG_DCS, ANY),
        Key("telegram_web_status", (Target(HTTPS, "web.telegram.org", 443),), ALL))),
    OoniTest("messenger", "Facebook Messenger", "ts-019-facebook-messenger, version 2016-10-25-001", _FB, (
        # every name resolves (into Meta's AS32934: our resolver answers our front end there)
        Key("facebook_dns_blocking", (Target(DNS, "stun.fbsbx.com", 0),) + _FB_TCP, ALL, RESOLVE),
        # "If any of the TCP connections fail then we consider the endpoint to be blocked"
        Key("facebook_tcp_blocking", _FB_TCP, ALL, CONNECT))),
    OoniTest("signal", "Signal", "ts-029-signal, version 2021-02-15-001", _SG, (
        Key("signal_backend_status", tuple(Target(HTTPS, name, 443) for name in (
            "textsecure-service.whispersystems.org", "storage.signal.org", "api.directory.signal.org",
            "cdn.signal.org", "cdn2.signal.org", "sfu.voip.signal.org")), ALL),)),
)}


@dataclass(frozen=True)
class Reached:
    """How far a probe got with one target (measured in emulation, decided from the DPI's
    verdicts in simulation)."""

    target: Target
    address: str = ""                 # what the name resolved to
    failed_operation: str | None = None
    failure: str | None = None
    trace: tuple[str, ...] = ()       # the DPI's decision on each of the target's flows

    def got_to(self, operation: str) -> bool:
        if self.failed_operation is None:
            return True
        return OPERATIONS.index(self.failed_operation) > OPERATIONS.index(operation)


def front_ends(info: dict[str, dict[str, Any]]) -> dict[str, str]:
    """``{app: address}`` of the topology's front ends."""
    return {app: str(i["ip"]).split("/")[0] for i in info.values() if i.get("role") == "frontend"
            for app in i.get("fronts", ())}


def resolver(info: dict[str, dict[str, Any]]) -> str | None:
    """The address of the topology's DNS resolver, or None (no probes then)."""
    found = [str(i["ip"]).split("/")[0] for i in info.values() if i.get("role") == "resolver"]
    return found[0] if found else None


def zone(info: dict[str, dict[str, Any]]) -> dict[str, str]:
    """The resolver's records: every name of a test → its app's front end."""
    fronts = front_ends(info)
    return {t.host: fronts[test.app] for test in TESTS.values() if test.app in fronts
            for t in test.targets if not t.literal}


def test_for(app: str, info: dict[str, dict[str, Any]]) -> OoniTest | None:
    """The app's test as the topology can answer it: None when OONI has no test for the app or
    the topology has no front end for it; literal addresses it does not hold are left out."""
    test = TESTS.get(app)
    if test is None or app not in front_ends(info) or resolver(info) is None:
        return None
    held = {str(i.get("ip", "")).split("/")[0] for i in info.values()}
    keys = tuple(Key(k.name, kept, k.ok_when, k.reached) for k in test.keys
                 if (kept := tuple(t for t in k.targets if not t.literal or t.host in held)))
    return OoniTest(test.app, test.name, test.spec, test.url, keys)


def key_status(key: Key, reached: dict[Target, Reached]) -> bool:
    got = [reached[t].got_to(key.reached) for t in key.targets]
    return any(got) if key.ok_when == ANY else all(got)


def verdict(test: OoniTest, reached: dict[Target, Reached]) -> tuple[str, dict[str, str]]:
    """(accessible | blocked, {key: ok | blocked})."""
    keys = {k.name: "ok" if key_status(k, reached) else BLOCKED for k in test.keys}
    return (ACCESSIBLE if all(v == "ok" for v in keys.values()) else BLOCKED), keys
