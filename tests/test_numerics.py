"""The numeric rules on hand-computed values, and their properties."""

import numpy as np
import pytest
from hypothesis import given, strategies as st

from model import numerics as nr

pytestmark = pytest.mark.golden


def test_signed_range_and_saturate_corners():
    assert nr.signed_range(4) == (-8, 7)
    x = np.array([-100, -9, -8, -1, 0, 7, 8, 100])
    tally = {}
    out = nr.saturate(x, 4, tally, "m")
    assert out.tolist() == [-8, -8, -8, -1, 0, 7, 7, 7]
    assert tally == {"m": 4}


def test_leak_hand_values():
    u = np.array([-3, 7, -1, 1, 0, -16, 15])
    # u - floor(u / 2**s)
    assert nr.leak(u, 1).tolist() == [-1, 4, 0, 1, 0, -8, 8]
    assert nr.leak(u, 2).tolist() == [-2, 6, 0, 1, 0, -12, 12]
    assert nr.leak(u, 0).tolist() == u.tolist()  # IF


@given(st.integers(-2**20, 2**20), st.integers(1, 15))
def test_leak_never_moves_away_from_zero(u, s):
    v = int(nr.leak(np.array(u), s))
    assert abs(v) <= abs(u)
    assert v == 0 or (v > 0) == (u > 0)


def test_fire_binary_is_strict_with_soft_reset():
    u = np.array([4, 5, 12, -3])
    spike, after = nr.fire_binary(u, 4)
    assert spike.tolist() == [False, True, True, False]
    assert after.tolist() == [4, 1, 8, -3]


def test_fire_ternary_is_strict_with_soft_reset():
    u = np.array([5, 6, 0, -3, -4, -10])
    spike, after = nr.fire_ternary(u, 5, 3)
    assert spike.tolist() == [0, 1, 0, 0, -1, -1]
    assert after.tolist() == [5, 1, 0, -3, -1, -7]


def test_hard_sigmoid_and_tanh_hand_values():
    z = np.array([7, -3, 100, -100, 0])
    # clamp(floor(z / 4) + 8, 0, 15)
    assert nr.hard_sigmoid_q(z, 2, 4).tolist() == [9, 7, 15, 0, 8]
    # clamp(floor(z / 4), -7, 7)
    assert nr.hard_tanh_q(z, 2, 4).tolist() == [1, -1, 7, -7, 0]


def test_gate_product_and_c_update():
    i = np.array([0, 1, 1, 0])
    g = np.array([1, -1, 1, -1])
    assert nr.gate_product(i, g, True).tolist() == [0, -1, 1, 0]
    i_multi = np.array([9, 9, 3, 0])
    assert nr.gate_product(i_multi, g, False).tolist() == [9, -9, 3, 0]
    f = np.array([1, 0, 1, 1])
    c_prev = np.array([5, 5, 2047, -2048])
    assert nr.c_update(f, c_prev, np.array([1, 1, 1, -1]), 12).tolist() == [6, 1, 2047, -2048]


def test_lfsr_hand_steps_and_maximal_period():
    # 0xACE1 is odd: shift right and xor the taps; 0xE270 is even: shift only.
    assert nr.lfsr_step(0xACE1) == 0xE270
    assert nr.lfsr_step(0xE270) == 0x7138
    state, period = nr.lfsr_step(1), 1
    while state != 1:
        state = nr.lfsr_step(state)
        period += 1
    assert period == 2**16 - 1
    value, state = nr.lfsr_draw(0xACE1, 2)
    assert state == 0x7138 and value == 0x7138 & 3


def test_exact_sum_bits():
    assert nr.exact_sum_bits(8, 1) == 8
    assert nr.exact_sum_bits(8, 2) == 9
    assert nr.exact_sum_bits(8, 160) == 16
    # 160 weights of -128 sum to -20480, which needs 16 bits
    assert nr.signed_range(16)[0] <= -128 * 160 < nr.signed_range(15)[0]


def test_accumulate_spike_is_total_plus_spike_times_value():
    rng = np.random.default_rng(7)
    total = rng.integers(-1000, 1000, size=200)
    spike = rng.integers(-1, 2, size=200)
    value = rng.integers(-128, 128, size=200)
    got = nr.accumulate_spike(total, spike, value)
    want = [t + s * v for t, s, v in zip(total.tolist(), spike.tolist(), value.tolist())]
    assert got.tolist() == want
