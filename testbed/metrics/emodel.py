"""ITU-T G.107 (06/2015) E-model: transmission rating R and MOS.

All parameters default to G.107 Table 3; with them R = 93.2 (G.107 §7.6 notes
this). We vary what a network changes: mouth-to-ear delay Ta (with T = Ta and
Tr = 2 Ta, the usual assumption for an echo-cancelled VoIP path), the codec's Ie
and Bpl (G.113 Appendix I), random packet loss Ppl, and the advantage factor A.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Defaults:
    """G.107 Table 3 default values."""

    SLR: float = 8.0
    RLR: float = 2.0
    STMR: float = 15.0
    LSTR: float = 18.0
    Ds: float = 3.0
    Dr: float = 3.0
    TELR: float = 65.0
    WEPL: float = 110.0
    qdu: float = 1.0
    Nc: float = -70.0
    Nfor: float = -64.0
    Ps: float = 35.0
    Pr: float = 35.0
    BurstR: float = 1.0


D = Defaults()


def _lg(x: float) -> float:
    return math.log10(x)


def _basic() -> tuple[float, float, float]:
    """(Ro, Is, No): signal-to-noise and simultaneous impairments, delay-independent."""
    olr = D.SLR + D.RLR
    nfo = D.Nfor + D.RLR
    pre = D.Pr + 10 * _lg(1 + 10 ** ((10 - D.LSTR) / 10))
    nor = D.RLR - 121 + pre + 0.008 * (pre - 35) ** 2
    nos = D.Ps - D.SLR - D.Ds - 100 + 0.004 * (D.Ps - olr - D.Ds - 14) ** 2
    no = 10 * _lg(10 ** (D.Nc / 10) + 10 ** (nos / 10) + 10 ** (nor / 10) + 10 ** (nfo / 10))
    ro = 15 - 1.5 * (D.SLR + no)
    xolr = olr + 0.2 * (64 + no - D.RLR)
    iolr = 20 * ((1 + (xolr / 8) ** 8) ** (1 / 8) - xolr / 8)
    stmro = -10 * _lg(10 ** (-D.STMR / 10) + math.exp(-0 / 4) * 10 ** (-D.TELR / 10))
    ist = (12 * (1 + ((stmro - 13) / 6) ** 8) ** (1 / 8)
           - 28 * (1 + ((stmro + 1) / 19.4) ** 35) ** (1 / 35)
           - 13 * (1 + ((stmro - 3) / 33) ** 13) ** (1 / 13) + 29)
    q = 37 - 15 * _lg(D.qdu)
    g = 1.07 + 0.258 * q + 0.0602 * q ** 2
    y = (ro - 100) / 15 + 46 / 8.4 - g / 9
    z = 46 / 30 - g / 40
    iq = 15 * _lg(1 + 10 ** y + 10 ** z)
    return ro, iolr + ist + iq, no


_RO, _IS, _NO = _basic()


def delay_impairment(ta_ms: float) -> float:
    """Id = Idte + Idle + Idd for mouth-to-ear delay Ta (T = Ta, Tr = 2 Ta)."""
    t, tr = ta_ms, 2 * ta_ms
    # talker echo (Idte), with STMR >= 9 so no side-tone correction
    terv = D.TELR - 40 * _lg((1 + t / 10) / (1 + t / 150)) + 6 * math.exp(-0.3 * t ** 2)
    roe = -1.5 * (_NO - D.RLR)
    re = 80 + 2.5 * (terv - 14)
    idte = ((roe - re) / 2 + math.sqrt((roe - re) ** 2 / 4 + 100) - 1) * (1 - math.exp(-t))
    # listener echo (Idle)
    rle = 10.5 * (D.WEPL + 7) * (tr + 1) ** -0.25
    idle = (_RO - rle) / 2 + math.sqrt((_RO - rle) ** 2 / 4 + 169)
    # absolute delay (Idd), mT = 100 ms, sT = 1
    if ta_ms <= 100:
        idd = 0.0
    else:
        x = _lg(ta_ms / 100) / _lg(2)
        idd = 25 * ((1 + x ** 6) ** (1 / 6) - 3 * (1 + (x / 3) ** 6) ** (1 / 6) + 2)
    return idte + idle + idd


def effective_ie(ie: float, bpl: float, ppl_pct: float, burst_r: float = D.BurstR) -> float:
    """Ie-eff = Ie + (95 - Ie) * Ppl / (Ppl / BurstR + Bpl)   (G.107 eq. 7-29)."""
    return ie + (95 - ie) * ppl_pct / (ppl_pct / burst_r + bpl)


def r_factor(ta_ms: float, ppl_pct: float, ie: float = 0.0, bpl: float = 25.1, a: float = 0.0,
             burst_r: float = D.BurstR) -> float:
    """R = Ro - Is - Id - Ie-eff + A."""
    return _RO - _IS - delay_impairment(ta_ms) - effective_ie(ie, bpl, ppl_pct, burst_r) + a


def mos(r: float) -> float:
    """MOS-CQE from R (G.107 Annex B), on its 1 to 4.5 scale: the cubic dips just under 1 for
    R below about 6.5 (0.99 at R = 3), which no listener's score can be."""
    if r <= 0:
        return 1.0
    if r >= 100:
        return 4.5
    return max(1.0, 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6)


CODEC_LOOKAHEAD_MS = 5.0


def mouth_to_ear_ms(network_delay_ms: float, buffer_ms: float, frame_ms: float) -> float:
    """Ta: network delay + packetisation (one frame) + the jitter buffer
    (``testbed.metrics.playout``) + the codec's look-ahead. Both modes use this."""
    return network_delay_ms + frame_ms + buffer_ms + CODEC_LOOKAHEAD_MS


@lru_cache(maxsize=65536)
def mos_for(ta_ms: float, ppl_pct: float, ie: float, bpl: float, burst_r: float = 1.0) -> tuple[float, float]:
    """(R, MOS), cached: the simulator asks for the same rounded inputs many times.

    ``burst_r``: G.107's BurstR, 1 for random loss, more when losses come in bursts
    (a TCP stall makes a run of packets late at once)."""
    r = r_factor(ta_ms, ppl_pct, ie, bpl, burst_r=burst_r)
    return r, mos(r)
