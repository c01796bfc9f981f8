"""VPN fingerprinting the way published censors do it: OpenVPN's opcodes and ACKs over a flow's
first N packets, without parsing anything else (Xue et al., "OpenVPN is Open to VPN
Fingerprinting", USENIX Security 2022, §4: the opcode-based and ACK-based filters an ISP ran
passively on its traffic).

Opcode filter: the opcode is the high five bits of a packet's first byte. Over TCP OpenVPN's
packets are a stream, each after its 16-bit length, and TCP cuts that stream where it likes
(a full-size segment ends inside a packet, the next one goes on with it): each direction is
followed in sequence order, retransmitted bytes read once, and a packet is where the lengths
say one starts. Each side's first packet is its hard reset (client: opcode 1, 7 or 10;
server: 2 or 8) — over TCP alone in its segment, its length prefix equal to the rest; OpenVPN then
uses only a handful of other opcodes (control, ACK, data), and never a reset again once those
appeared. A flow passes when, over its first N packets with payload, between 4 and 10 distinct
opcodes showed up and no reset came back after the fourth. Random or other protocols' first
bytes spread over many values, or repeat the first ones. (The paper also describes a variant
for XOR-scrambled opcodes that compares the resets without knowing their values; plain
OpenVPN is what users here run, and checking the values is what keeps other protocols out.)

ACK filter: a bare P_ACK_V1 is small and of one size: opcode, session id, [tls-auth: an HMAC of
16-64 bytes, replay id and time], one acknowledged packet id (4 bytes more for each further one),
the peer's session id — 22 to 102 bytes of payload. The first packet of such a size after the
resets is the candidate; in the early handshake (the 8 packets after the resets, the first bin
of the paper's ACK histogram) one to four packets are within 16 bytes of its size: at least one
ACK, and no more than half of the bin, whose other packets carry the TLS handshake (a flow of
equal small packets — voice, a game — has the whole bin alike).

Both must hold. N is the policy's ``fingerprint_packets``. It names no app and needs no
signature. Measured (``tests/corpus/test_vpn_fingerprint.py``): every real OpenVPN flow of the
corpus whose two directions were captured, every tunnel of real OpenVPN 2.6 in emulation, and
no other flow of the corpus.
"""

from __future__ import annotations

from testbed.packets.ip import TCP

MIN_OPCODES, MAX_OPCODES = 4, 10
CLIENT_RESETS = frozenset({1, 7, 10})   # P_CONTROL_HARD_RESET_CLIENT_V1, _V2, _V3 (tls-crypt-v2)
SERVER_RESETS = frozenset({2, 8})       # P_CONTROL_HARD_RESET_SERVER_V1, _V2
ACK_SIZES = range(22, 103)       # payload bytes of a bare ACK: 1 + 8 + (0 | 16..64 + 8) + 1 + 4k + 8
ACK_SIMILAR = 16                 # bytes either side of the candidate's size
EARLY = 8                        # packets after the resets in the ACK filter's first bin
EARLY_ACKS = range(1, 5)         # how many ACK-sized packets that bin holds: one to half of it


class Framing:
    """One direction of a TCP flow cut into OpenVPN's length-prefixed packets: [(opcode, length)]
    for each packet that starts in a segment. Bytes already read (a retransmission) are skipped;
    a segment beyond a gap (one lost before the DPI) waits, a few at most, for the gap to fill."""

    __slots__ = ("next", "left", "head", "held")
    HELD = 8

    def __init__(self) -> None:
        self.next: int | None = None   # the sequence number of the next byte to read
        self.left = 0                  # bytes of the current packet still to skip
        self.head = b""                # the next packet's length and opcode bytes read so far
        self.held: dict[int, bytes] = {}

    def feed(self, seq: int | None, data: bytes) -> list[tuple[int, int]]:
        if self.next is None:
            self.next = seq or 0
        if seq is None:
            seq = self.next
        ahead = (seq - self.next + (1 << 31)) % (1 << 32) - (1 << 31)
        if ahead > 0:
            if len(self.held) < self.HELD:
                self.held[seq] = data
            return []
        data = data[-ahead:]
        out = self._cut(data)
        while (later := self.held.pop(self.next, None)) is not None:
            out += self._cut(later)
        return out

    def _cut(self, data: bytes) -> list[tuple[int, int]]:
        assert self.next is not None
        self.next = (self.next + len(data)) % (1 << 32)
        out, i, n = [], 0, len(data)
        while i < n:
            if self.left:
                step = min(self.left, n - i)
                self.left -= step
                i += step
                continue
            need = 3 - len(self.head)
            self.head += data[i:i + need]
            i += need
            if len(self.head) == 3:
                length = int.from_bytes(self.head[:2], "big")
                out.append((self.head[2] >> 3, length))
                self.left, self.head = max(0, length - 1), b""
        return out


class OpcodeFingerprint:
    """One flow's first N payload packets, judged as OpenVPN or not."""

    __slots__ = ("n", "seen", "first", "opcodes", "sizes", "after_resets", "detected", "ruled_out", "reason",
                 "streams")

    def __init__(self, n: int) -> None:
        self.n = n
        self.seen = 0
        self.first: dict[int, int] = {}     # direction → its first opcode (the resets)
        self.opcodes: set[int] = set()
        self.sizes: list[int] = []          # OpenVPN packets' sizes (without the TCP length), in order
        self.after_resets = 0               # where the packets after both resets start in ``sizes``
        self.detected = False
        self.ruled_out = False
        self.reason = ""
        self.streams: tuple[Framing, Framing] | None = None   # TCP: each direction's framing

    @property
    def settled(self) -> bool:
        return self.detected or self.ruled_out

    def add(self, payload: bytes, direction: int, proto: int, seq: int | None = None) -> None:
        """One segment or datagram with payload; ``seq``: a TCP segment's sequence number (None:
        in order after the previous one)."""
        if self.settled or not payload:
            return
        if proto != TCP:
            self._packet(payload[0] >> 3, len(payload), direction)
            return
        if direction not in self.first and int.from_bytes(payload[:2], "big") != len(payload) - 2:
            self.ruled_out = True             # the reset is not one whole length-framed packet alone
            return
        if self.streams is None:
            self.streams = (Framing(), Framing())
        for opcode, size in self.streams[direction].feed(seq, payload):
            self._packet(opcode, size, direction)
            if self.settled:
                return

    def _packet(self, opcode: int, size: int, direction: int) -> None:
        self.seen += 1
        self.sizes.append(size)
        if direction not in self.first:
            if opcode not in (CLIENT_RESETS if direction == 0 else SERVER_RESETS):
                self.ruled_out = True          # not a reset
                return
            self.first[direction] = opcode
            self.after_resets = len(self.sizes)   # (a retransmitted reset only moves the start later)
        elif opcode in self.first.values() and len(self.opcodes | set(self.first.values())) >= MIN_OPCODES:
            self.ruled_out = True              # a reset again, after the handshake moved on
            return
        self.opcodes.add(opcode)
        if len(self.opcodes) > MAX_OPCODES:
            self.ruled_out = True
            return
        if self.seen >= self.n:
            self._judge()

    def finish(self) -> None:
        """The flow ended (or the window did) before N packets: judge what there is."""
        if not self.settled:
            self._judge()

    def _judge(self) -> None:
        if len(self.first) < 2 or not MIN_OPCODES <= len(self.opcodes) <= MAX_OPCODES:
            self.ruled_out = True
            return
        early = self.sizes[self.after_resets:self.after_resets + EARLY]
        size = next((s for s in early if s in ACK_SIZES), None)
        acks = sum(1 for s in early if size is not None and abs(s - size) <= ACK_SIMILAR)
        if acks not in EARLY_ACKS:
            self.ruled_out = True
            return
        self.detected = True
        self.reason = (f"OpenVPN fingerprint: resets (opcodes {self.first.get(0)}, {self.first.get(1)}) then "
                       f"{len(self.opcodes)} distinct opcodes in {self.seen} packets, {acks} ACK-sized "
                       f"({size} B) of the {len(early)} after the resets")
