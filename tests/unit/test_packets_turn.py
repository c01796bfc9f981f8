"""TURN client and server answers (RFC 5766/8656): 401 then long-term credentials, stale nonces,
integrity checked both ways, ChannelData framing on a stream, and the turn-tcp443 strategy's bytes."""

from __future__ import annotations

import random

import pytest

from testbed.packets import stun, turn
from testbed.traffic.apps import PROFILES
from testbed.traffic.circumvention import STRATEGIES, TURN_PASSWORD, TURN_REALM, TURN_USER


def _pair(password: str = "pw") -> tuple[turn.TurnClient, turn.TurnServer]:
    client = turn.TurnClient("alice", password, random.Random(1))
    server = turn.TurnServer("example.org", "pw", ("198.51.100.20", 50000), b"nonce-1")
    return client, server


def test_allocate_401_then_authenticated() -> None:
    client, server = _pair()
    first = client.allocate()
    msg = stun.parse(first)
    assert msg.msg_type == stun.ALLOCATE_REQUEST and msg.attribute(stun.USERNAME) is None
    assert msg.attribute(stun.REQUESTED_TRANSPORT) == b"\x11\0\0\0" and stun.verify_fingerprint(first)
    answer = server.answer(first, ("10.10.0.2", 40000))
    assert turn.error_code(stun.parse(answer)) == 401
    second = client.on_message(answer)
    assert second is not None
    msg = stun.parse(second)
    assert (msg.attribute(stun.USERNAME), msg.attribute(stun.REALM), msg.attribute(stun.NONCE)) == \
        (b"alice", b"example.org", b"nonce-1")
    key = stun.long_term_key("alice", "example.org", "pw")
    assert stun.verify_integrity(second, key) and stun.verify_fingerprint(second)
    assert client.on_message(server.answer(second, ("10.10.0.2", 40000))) is None
    assert client.relayed == ("198.51.100.20", 50000) and client.mapped == ("10.10.0.2", 40000)
    assert client.lifetime == 600 and turn.ALLOCATE in client.done


def test_permission_and_channel_bind_carry_the_peer() -> None:
    client, server = _pair()
    client.on_message(server.answer(client.allocate(), ("10.10.0.2", 1)))
    for request in (client.create_permission("157.240.1.60"), client.channel_bind(0x4001, "157.240.1.60", 3478)):
        msg = stun.parse(request)
        assert turn.xor_address_of(msg.attribute(stun.XOR_PEER_ADDRESS))[0] == "157.240.1.60"
        assert client.on_message(server.answer(request, ("10.10.0.2", 1))) is None
    assert {turn.CREATE_PERMISSION, turn.CHANNEL_BIND} <= client.done
    bind = stun.parse(client.channel_bind(0x4002, "157.240.1.60", 3478))
    assert bind.attribute(stun.CHANNEL_NUMBER) == b"\x40\x02\0\0"
    with pytest.raises(ValueError):
        client.channel_bind(0x3FFF, "157.240.1.60", 3478)


def test_stale_nonce_is_retried_and_a_wrong_password_fails() -> None:
    client, server = _pair()
    client.on_message(server.answer(client.allocate(), ("10.10.0.2", 1)))   # 401 → realm and nonce known
    request = client.create_permission("192.0.2.1")
    stale = stun.build(turn.CREATE_PERMISSION | turn.ERROR, stun.parse(request).transaction_id, [
        (stun.ERROR_CODE, turn.error_value(438, "Stale Nonce")), (stun.NONCE, b"nonce-2"),
        (stun.REALM, b"example.org")])
    again = client.on_message(stale)
    assert again is not None and stun.parse(again).attribute(stun.NONCE) == b"nonce-2"

    wrong, server = _pair(password="not-it")
    retry = wrong.on_message(server.answer(wrong.allocate(), ("10.10.0.2", 1)))
    with pytest.raises(turn.TurnError, match="401"):
        wrong.on_message(server.answer(retry, ("10.10.0.2", 1)))


def test_an_answer_with_bad_integrity_is_refused() -> None:
    client, server = _pair()
    client.on_message(server.answer(client.allocate(), ("10.10.0.2", 1)))
    request = client.create_permission("192.0.2.1")
    forged = stun.build(turn.CREATE_PERMISSION | turn.SUCCESS, stun.parse(request).transaction_id,
                        key=b"0" * 16, fingerprint=True)
    with pytest.raises(turn.TurnError, match="MESSAGE-INTEGRITY"):
        client.on_message(forged)


def test_stream_framing_pads_channel_data() -> None:
    data = stun.channel_data(0x4000, b"abcde")
    assert len(data) == 4 + 8 and data[2:4] == b"\0\x05"
    assert len(stun.channel_data(0x4000, b"abcde", pad=False)) == 9
    msg = stun.build(stun.BINDING_REQUEST, bytes(12), [(stun.USERNAME, b"u")])
    stream = msg + data + stun.channel_data(0x4001, b"xyz")[:5]
    parts, rest = turn.split_stream(stream)
    assert parts == [msg, data] and rest == stun.channel_data(0x4001, b"xyz")[:5]
    assert turn.channel_payload(data) == (0x4000, b"abcde")
    with pytest.raises(turn.TurnError):
        turn.split_stream(b"\x90\0\0\0")


def test_turn_tcp443_strategy_speaks_valid_turn() -> None:
    plans = STRATEGIES["turn-tcp443"].transform(PROFILES["whatsapp"].build(random.Random(3), 24), random.Random(4))
    (plan,) = plans
    key = stun.long_term_key(TURN_USER, TURN_REALM, TURN_PASSWORD)
    stun_msgs = [s.payload for s in plan.segments if s.payload[0] < 0x40]
    types = [stun.parse(m).msg_type for m in stun_msgs]
    assert types == [0x0003, 0x0113, 0x0003, 0x0103, 0x0008, 0x0108, 0x0009, 0x0109]
    assert all(stun.verify_fingerprint(m) for m in stun_msgs)
    assert all(stun.verify_integrity(m, key) for m in stun_msgs[2:])
    media = [s.payload for s in plan.segments if s.payload[0] >= 0x40]
    assert media and all(len(m) % 4 == 0 and turn.channel_payload(m)[0] == 0x4000 for m in media)
