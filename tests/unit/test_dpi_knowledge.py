"""Endpoint knowledge: endpoints/*.yaml loaded with lines in errors, most-specific lookups, and what it names."""

from __future__ import annotations

import datetime
import ipaddress
import textwrap
from pathlib import Path

import pytest

from testbed.config.endpoints import default_knowledge, files, load_knowledge
from testbed.config.errors import ConfigError
from testbed.dpi.catalog import APPS, VOIP
from testbed.dpi.classifier import Classifier
from testbed.dpi.knowledge import Block, Knowledge, Names, Ports, Service, Source
from testbed.packets import ip, rtp, stun, tls

TXID = b"K" * 12
SRC = Source("s", "a list", "https://example.org/list", datetime.date(2024, 8, 2))


def service(name: str, prefixes: list[str], **kw: object) -> Service:
    nets = tuple(ipaddress.ip_network(p) for p in prefixes)
    return Service(name, (SRC,), networks=(Block("s", nets, ("AS1",)),), file=f"{name}.yaml", **kw)  # type: ignore[arg-type]


def raw(address: str) -> bytes:
    return ipaddress.ip_address(address).packed


def test_most_specific_block_wins_whatever_the_order() -> None:
    wide = service("Wide", ["10.0.0.0/8", "2001:db8::/32"], other_app="Facebook")
    narrow = service("Narrow", ["10.1.0.0/16", "10.1.2.0/24", "2001:db8:1::/48"], other_app="WhatsApp")
    inner = service("Inner", ["10.1.2.128/25"], other_app="Telegram")
    for order in ((wide, narrow, inner), (inner, narrow, wide)):
        k = Knowledge(order)
        found = {a: (k.service_of(raw(a)) or (None, None, None))[1] for a in
                 ("10.0.0.1", "10.1.0.1", "10.1.2.1", "10.1.2.200", "10.1.3.0", "10.255.255.255", "11.0.0.0",
                  "2001:db8::1", "2001:db8:1::5", "2001:db9::")}
        assert {a: s.service if s else None for a, s in found.items()} == {
            "10.0.0.1": "Wide", "10.1.0.1": "Narrow", "10.1.2.1": "Narrow", "10.1.2.200": "Inner",
            "10.1.3.0": "Narrow", "10.255.255.255": "Wide", "11.0.0.0": None,
            "2001:db8::1": "Wide", "2001:db8:1::5": "Narrow", "2001:db9::": None}


def test_a_prefix_in_two_services_is_an_error() -> None:
    with pytest.raises(ValueError, match="10.0.0.0/8 is in both a.yaml"):
        Knowledge((service("a", ["10.0.0.0/8"], other_app="Telegram"), service("b", ["10.0.0.0/8"], other_app="Line")))


def test_names_match_themselves_and_subdomains_most_specific_first() -> None:
    k = default_knowledge()
    assert k.sni_service("web.telegram.org").service == "Telegram"   # type: ignore[union-attr]
    assert k.sni_service("edge-mqtt.facebook.com").service == "Messenger"   # type: ignore[union-attr]
    assert k.sni_service("www.facebook.com").service.startswith("Meta")   # type: ignore[union-attr]
    assert k.sni_service("nottelegram.org") is None and k.sni_service("telegram.org.evil.com") is None


def test_every_shipped_file_loads_with_sources_and_no_voip_app_by_address() -> None:
    k = default_knowledge()
    assert len(files()) == len(k.services) >= 15
    blocks = 0
    for s in k.services:
        ids = {src.id for src in s.sources}
        assert all(src.url.startswith("https://") and src.date.year >= 2022 for src in s.sources), s.file
        assert all(b.source in ids for b in s.networks) and all(p.source in ids for p in s.ports)
        assert s.other_app is None or APPS[s.other_app] != VOIP, s.file
        blocks += sum(len(b.prefixes) for b in s.networks)
    assert blocks > 500
    telegram = k.known(raw("91.108.9.35"), 1400, raw("10.0.0.1"), 40000)
    assert telegram is not None and telegram.service.call_app == "TelegramVoip"
    assert telegram.text() == "91.108.9.35 is Telegram (AS62041…, 91.108.8.0/21, source ndpi-asn of 2024-08-02)"


BAD = [
    ("service: X\nsources: []\n", "x.yaml:2 sources: expected at least 1 item, got 0"),
    ("service: X\nsources: [{id: a, title: t, url: u, date: soon}]\nother_app: Telegram\n",
     "x.yaml:2 sources[0].date: expected a date like 2024-08-02, got 'soon'"),
    ("service: X\nsources: [{id: a, title: t, url: u, date: 2024-01-01}]\nother_app: WhatsAppCall\n",
     "x.yaml:3 other_app: 'WhatsAppCall' is a VoIP app: an address alone never names a call (use call_app)"),
    ("service: X\nsources: [{id: a, title: t, url: u, date: 2024-01-01}]\ncall_app: Nope\n",
     "x.yaml:3 call_app: unknown app 'Nope' – choose one of ["),
    ("service: X\nsources: [{id: a, title: t, url: u, date: 2024-01-01}]\ncall_app: TelegramVoip\n"
     "networks:\n  - {source: a, prefixes: [91.108.4.1/22]}\n",
     "x.yaml:5 networks[0].prefixes[0]: expected an address prefix like '91.108.4.0/22', got '91.108.4.1/22' "
     "(91.108.4.1/22 has host bits set)"),
    ("service: X\nsources: [{id: a, title: t, url: u, date: 2024-01-01}]\ncall_app: TelegramVoip\n"
     "networks:\n  - {source: b, prefixes: [91.108.4.0/22]}\n",
     "x.yaml:5 networks[0].source: unknown source 'b' – choose one of [a]"),
    ("service: X\nsources: [{id: a, title: t, url: u, date: 2024-01-01}]\ncall_app: Zoom\n"
     "ports:\n  - {l4: udp, ports: ['8810-8801'], what: media, source: a}\n",
     "x.yaml:5 ports[0].ports[0]: expected a port or a range like '8801-8810', got '8810-8801' "
     "(ports are 1-65535, low to high)"),
    ("service: X\nsources: [{id: a, title: t, url: u, date: 2024-01-01}]\ncall_app: Zoom\ncalls_on_ports_only: true\n",
     "x.yaml:4 calls_on_ports_only: calls_on_ports_only needs ports"),
    ("service: X\nsources: [{id: a, title: t, url: u, date: 2024-01-01}]\n",
     "x.yaml:1: a service needs call_app, other_app or sni_app"),
    ("service: X\nsources: [{id: a, title: t, url: u, date: 2024-01-01}]\nsni_app: Zoom\ncolour: red\n",
     "x.yaml:4 colour: unknown key 'colour' – choose one of [service, sources, call_app, other_app, sni_app, "
     "calls_on_ports_only, networks, ports, sni]"),
]


@pytest.mark.parametrize(("text", "error"), BAD)
def test_bad_endpoint_files_name_file_line_and_path(tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_knowledge([path])
    assert str(exc.value).replace(str(tmp_path) + "/", "").startswith(error)


def test_check_command_validates_endpoint_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from testbed.cli import main

    folder = tmp_path / "endpoints"
    folder.mkdir()
    (folder / "x.yaml").write_text(BAD[2][0])
    assert main(["check", str(folder)]) == 2
    assert "other_app: 'WhatsAppCall' is a VoIP app" in capsys.readouterr().err
    assert main(["check", str(Path(files()[0]).parent)]) == 0


# --- what the knowledge names, through the classifier

TELEGRAM = "91.108.9.35"
PHONE = "10.10.0.2"


def telegram_only() -> Knowledge:
    return Knowledge([service("Telegram", ["91.108.8.0/21"], call_app="TelegramVoip", other_app="Telegram",
                              sni=(Names("s", ("telegram.org",)),)),
                      service("Meet", ["74.125.250.0/24"], call_app="GoogleCall", calls_on_ports_only=True,
                              ports=(Ports("udp", ((19302, 19309),), "media", "s"),))])


def test_stun_to_a_block_is_its_call_address_alone_is_not() -> None:
    c = Classifier(identify=True, knowledge=telegram_only())
    call = c.feed(ip.udp(PHONE, TELEGRAM, 40000, 1400, stun.build(stun.BINDING_REQUEST, TXID)), 0.0)
    assert call is not None and call.app == "TelegramVoip" and call.packet_index == 1
    assert call.why == ("91.108.9.35 is Telegram (AS1, 91.108.8.0/21, source s of 2024-08-02) and the flow is "
                        "STUN message 0x0001 in packet 1, UDP port 1400 → TelegramVoip")
    # the same block, no call in the packets: UDP noise and MTProto over TCP are not calls
    assert c.feed(ip.udp(PHONE, TELEGRAM, 40001, 5222, b"\x17" * 60), 0.0) is None
    chat = c.feed(ip.tcp(PHONE, TELEGRAM, 40002, 443, b"\xef" + b"m" * 63), 0.0)
    assert chat is None
    verdicts = {v.key[2]: v for v in c.flush()}   # type: ignore[index]
    assert verdicts[40001].app == "Telegram" and verdicts[40002].app == "Telegram"
    assert "nothing more specific seen" in verdicts[40002].why


def test_rtp_to_a_block_and_a_port_condition() -> None:
    c = Classifier(identify=True, knowledge=telegram_only())
    packets = [rtp.build(111, seq, seq * 960, 7, b"o" * 80) for seq in (1, 2)]
    verdict = [c.feed(ip.udp(PHONE, "74.125.250.9", 40000, 19305, p), 0.02 * i) for i, p in enumerate(packets)][-1]
    assert verdict is not None and verdict.app == "GoogleCall" and verdict.packet_index == 2
    other_port = [c.feed(ip.udp(PHONE, "74.125.250.9", 40001, 443, p), 0.02 * i) for i, p in enumerate(packets)][-1]
    assert other_port is not None and other_port.app == "RTP"   # Meet's block, not Meet's media ports


def test_server_names_are_data() -> None:
    c = Classifier(identify=True, knowledge=telegram_only())
    named = c.feed(ip.tcp(PHONE, "203.0.113.5", 40000, 443, tls.client_hello("web.telegram.org", b"r" * 32)), 0.0)
    assert named is not None and named.app == "Telegram" and "a name of Telegram" in named.why
    other = c.feed(ip.tcp(PHONE, "203.0.113.5", 40001, 443, tls.client_hello("example.com", b"r" * 32)), 0.0)
    assert other is not None and other.app == "TLS"


def test_a_user_can_add_a_service(tmp_path: Path) -> None:
    (tmp_path / "acme.yaml").write_text(textwrap.dedent("""\
        service: ACME voice
        call_app: WebRTC
        sources: [{id: doc, title: ACME network guide, url: "https://acme.example/net", date: 2025-01-31}]
        networks: [{source: doc, prefixes: [198.51.100.0/24]}]
        """))
    k = load_knowledge([tmp_path / "acme.yaml"])
    c = Classifier(identify=True, knowledge=k)
    v = c.feed(ip.udp(PHONE, "198.51.100.7", 40000, 3478, stun.build(stun.BINDING_REQUEST, TXID)), 0.0)
    assert v is not None and v.app == "WebRTC" and "is ACME voice" in v.why
