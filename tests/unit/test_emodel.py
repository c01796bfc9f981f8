"""E-model (ITU-T G.107) against the Recommendation's own anchor values."""

from __future__ import annotations

import pytest

from testbed.metrics.emodel import delay_impairment, effective_ie, mos, r_factor
from testbed.traffic.codecs import G711, G729


def test_default_r_is_93_2() -> None:
    # G.107 §7.7: with all parameters at their default values, R = 93.2
    assert r_factor(0, 0) == pytest.approx(93.2, abs=0.05)


def test_g711_no_loss_no_delay_mos_4_4() -> None:
    assert mos(r_factor(0, 0, G711.ie, G711.bpl)) == pytest.approx(4.4, abs=0.05)


def test_mos_mapping_annex_b() -> None:
    # G.107 Annex B: MOS = 1 + 0.035R + R(R-60)(100-R)7e-6, clipped to [1, 4.5]
    assert mos(0) == 1.0 and mos(-5) == 1.0 and mos(100) == 4.5
    assert mos(50) == pytest.approx(2.575, abs=1e-9)
    assert mos(80) == pytest.approx(4.024, abs=1e-3)
    assert mos(93.2) == pytest.approx(4.41, abs=0.005)


def test_mos_stays_on_its_scale() -> None:
    # the Annex B cubic gives 1 + 0.105 + 3 × (-57) × 97 × 7e-6 = 0.989 at R = 3: clamped to 1
    assert mos(3) == 1.0 and min(mos(r / 10) for r in range(0, 1001)) == 1.0
    assert max(mos(r / 10) for r in range(0, 1001)) == 4.5


def test_effective_ie_g113_values() -> None:
    # Ie-eff = Ie + (95 - Ie) Ppl / (Ppl/BurstR + Bpl), G.113 App. I: G.711+PLC Bpl 25.1, G.729A Ie 11 Bpl 19
    assert effective_ie(0, 25.1, 0) == 0
    assert effective_ie(0, 25.1, 2) == pytest.approx(95 * 2 / 27.1, rel=1e-9)
    assert effective_ie(11, 19, 0) == 11
    assert effective_ie(11, 19, 1) == pytest.approx(11 + 84 / 20, rel=1e-9)


def test_no_delay_impairment_beyond_echo_below_100_ms() -> None:
    # Idd is zero up to mT = 100 ms; what remains is the small listener-echo term
    assert delay_impairment(100) - delay_impairment(50) < 1.5
    assert delay_impairment(200) - delay_impairment(100) > 2.5


@pytest.mark.parametrize("codec", [G711, G729])
def test_mos_falls_monotonically_with_loss(codec) -> None:  # type: ignore[no-untyped-def]
    values = [mos(r_factor(20, loss, codec.ie, codec.bpl)) for loss in (0, 0.5, 1, 2, 5, 10, 20, 40)]
    assert all(a > b for a, b in zip(values, values[1:])), values
    assert values[0] - values[-1] > 2.0


def test_mos_falls_monotonically_with_delay() -> None:
    values = [mos(r_factor(ta, 0)) for ta in (0, 100, 150, 200, 300, 400, 600)]
    assert all(a > b for a, b in zip(values, values[1:])), values
    # G.114: up to 150 ms most users are satisfied (R > 80); beyond 400 ms they are not (R < 70)
    assert r_factor(150, 0) > 85 and r_factor(400, 0) < 70


def test_g729_worse_than_g711() -> None:
    assert r_factor(50, 1, G729.ie, G729.bpl) < r_factor(50, 1, G711.ie, G711.bpl) - 10
