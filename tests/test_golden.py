"""Integer golden model: hand-computed answers, schedule independence, invariants."""

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

from conftest import random_input
from model import golden, numerics as nr
from model.config import WIDTH_FIELDS, WIDTH_RANGE, ConfigError, NetworkConfig, preset
from model.encoding import encode
from model.params import LayerParams, NetworkParams, random_params

pytestmark = pytest.mark.golden


def one_neuron(w_x, w_h, u0, theta_pos, theta_neg, w_out, b_out):
    """Parameters of a 1-input, 1-neuron layer; gate lists are in (f, i, o, g) order."""
    layer = LayerParams(
        w_x=np.array(w_x).reshape(4, 1, 1), w_h=np.array(w_h).reshape(4, 1, 1),
        bias=np.zeros((4, 1), dtype=np.int64), u0=np.array(u0).reshape(5, 1),
        theta_pos=np.array(theta_pos), theta_neg=np.array(theta_neg))
    return NetworkParams([layer], np.array(w_out).reshape(-1, 1), np.array(b_out))


def test_known_answer_two_elements():
    # Worked by hand from the cell equations (IF, strict compare, soft reset):
    # element 0, steps 0..2 (x = 1 each step, h_prev = 0):
    #   f: U 5>4 fire->1, 1+5=6>4 fire->2, 2+5=7>4 fire
    #   i: U 4, 4+4=8>6 fire->2, 2+4=6 is not > 6
    #   o: 3>2 fire->1, 4>2 fire->2, 5>2 fire;   g: 6>5 +1 ->1, 7 +1 ->2, 8 +1
    #   c = (f ? c(-1,k)=0 : 0) + i*g = 0, 1, 0;  U_c = 0, 1, 1: never > 1, so h = 0
    # element 1: the same gates (h_prev = 0 and membranes restart at U0), but
    #   c = c(0,k) + i*g = 0, 1+1=2, 0;  U_c = 0, 2 > 1 fire (+1, U_c=1), 1
    #   h = o * s_c = 0, +1, 0
    cfg = NetworkConfig(inputs=1, hidden=(1,), steps=3, length=2, classes=2)
    params = one_neuron(w_x=[5, 4, 3, 6], w_h=[0, 8, 4, -14], u0=[0] * 5,
                        theta_pos=[4, 6, 2, 5, 1], theta_neg=[1, 1, 1, 5, 1],
                        w_out=[2, -3], b_out=[1, 0]).validate(cfg)
    x = np.ones((1, 2, 3, 1), dtype=np.int64)
    for order in ("element", "wavefront"):
        res = golden.run(cfg, params, x, order=order)
        tr = res.layers[0]
        step_gates = [[1, 0, 1, 1], [1, 1, 1, 1], [1, 0, 1, 1]]
        assert tr.gates[0, :, :, :, 0].tolist() == [step_gates, step_gates]
        assert tr.c[0, :, :, 0].tolist() == [[0, 1, 0], [0, 2, 0]]
        assert tr.h[0, :, :, 0].tolist() == [[0, 0, 0], [0, 1, 0]]
        # logits = b_out + W_out . sum_k h(N-1, k) = [1 + 2, 0 - 3]
        assert res.logits.tolist() == [[3, -3]]
        assert res.element_logits.tolist() == [[[1, 0], [3, -3]]]
        assert res.predicted.tolist() == [0]
        # 6 input spikes x 4 gate rows + readout: 1 h spike x 2 classes
        assert res.stats["layers"][0]["acs"] == 24
        assert res.stats["readout_acs"] == 2


def test_known_answer_integrator_readout():
    # readout="integrator", leak 1, by hand: the per-element sums r(n) = b_out + W_out . h(n)
    # with W_out = [[1, 2], [3, -1]], b_out = [0, 1] and h(n) = [1, 0], [0, 1], [1, 1]:
    #   r = [1, 4], [2, 0], [3, 3]
    #   o(n) = o - (o >> 1) + r:  o0 = [1, 4];  o1 = [1 - 0 + 2, 4 - 2 + 0] = [3, 2];
    #                            o2 = [3 - 1 + 3, 2 - 1 + 3] = [5, 4]
    #   logits = o0 + o1 + o2 = [9, 10]; without the leak o = [1, 4], [3, 4], [6, 7]: [10, 15]
    cfg = NetworkConfig(inputs=1, hidden=(2,), steps=1, length=3, classes=2, cell="lif",
                        readout="integrator", readout_leak=1)
    layer = LayerParams(w_x=np.zeros((1, 2, 1), np.int64), w_h=np.zeros((1, 2, 2), np.int64),
                        bias=np.zeros((1, 2), np.int64), theta=np.int64(1))
    params = NetworkParams([layer], np.array([[1, 2], [3, -1]]), np.array([0, 1])).validate(cfg)
    h = np.array([[1, 0], [0, 1], [1, 1]])[None, :, None, :]  # [B, N, T, H]
    tally = {"logit": 0}
    logits, per_element = golden.readout(cfg, params, h, tally)
    assert logits.tolist() == [[9, 10]]
    assert per_element.tolist() == [[[1, 4], [2, 0], [3, 3]]]
    logits, _ = golden.readout(cfg.replace(readout_leak=0), params, h, tally)
    assert logits.tolist() == [[10, 15]]
    # the last-element readout of the same h: r(2)
    logits, _ = golden.readout(cfg.replace(readout="last", readout_leak=0), params, h, tally)
    assert logits.tolist() == [[3, 3]]


def test_integrator_readout_counts_and_saturates():
    # every element's h is read (acs over all of them) and the sum saturates once
    cfg = preset("tiny", readout="integrator", readout_leak=2, logit_bits=8)
    params = random_params(cfg, 3, threshold_scale=0.3)
    x = random_input(cfg, 4, np.random.default_rng(3))
    res = golden.run(cfg, params, x)
    h = res.layers[-1].h
    assert res.stats["readout_acs"] == np.count_nonzero(h) * cfg.classes
    assert res.stats["readout_adds"] == 2 * cfg.classes * cfg.length * 4
    lo, hi = nr.signed_range(8)
    assert res.logits.min() >= lo and res.logits.max() <= hi
    wide = golden.run(cfg.replace(logit_bits=30), params, x)
    assert np.array_equal(res.logits, np.clip(wide.logits, lo, hi))
    assert res.stats["saturations"]["logit"] == np.count_nonzero(wide.logits != res.logits)


@pytest.mark.parametrize("changes, message", [
    (dict(readout="mean"), "unknown readout 'mean'"),
    (dict(readout_leak=2), "readout_leak=2 needs readout='integrator'"),
    (dict(readout="integrator", readout_leak=20), "readout_leak must be an integer from 0"),
    (dict(readout="integrator", readout_leak=-1), "readout_leak must be an integer from 0"),
])
def test_bad_readout_configs(changes, message):
    with pytest.raises(ConfigError, match=message):
        preset("tiny", **changes)


def test_readout_config_round_trip():
    cfg = preset("tiny", readout="integrator", readout_leak=3)
    assert NetworkConfig.from_dict(cfg.to_dict()) == cfg
    # the default readout is left out of the dictionary (older packages' digests hold)
    assert "readout" not in preset("tiny").to_dict()
    # leak 3 (a = 0.875), N = 5, by hand: 1 + 1.875 + 2.640625 + 3.310546875 + 3.896728515625
    assert cfg.readout_gain() == pytest.approx(12.722900390625)
    assert preset("tiny").readout_gain() == 1.0


def test_known_answer_negative_h():
    # f: 0 (no fire); i: 7>6 fires; o: 3>2 fires; g: -6 < -5 gives -1.
    # c = 0 + i*g = -1; U_c = U0_c + c = -1 - 1 = -2 < -1: s_c = -1, so h = -1.
    cfg = NetworkConfig(inputs=1, hidden=(1,), steps=1, length=1, classes=1)
    params = one_neuron(w_x=[0, 7, 3, -6], w_h=[0, 0, 0, 0], u0=[0, 0, 0, 0, -1],
                        theta_pos=[4, 6, 2, 5, 1], theta_neg=[1, 1, 1, 5, 1],
                        w_out=[4], b_out=[0]).validate(cfg)
    res = golden.run(cfg, params, np.ones((1, 1, 1, 1), dtype=np.int64), record_membranes=True)
    tr = res.layers[0]
    assert tr.gates[0, 0, 0, :, 0].tolist() == [0, 1, 1, -1]
    assert tr.c[0, 0, 0, 0] == -1 and tr.s_c[0, 0, 0, 0] == -1 and tr.h[0, 0, 0, 0] == -1
    # membranes after soft reset: f 0, i 7-6, o 3-2, g -6+5, c -2+1
    assert tr.u[0, 0, 0, :, 0].tolist() == [0, 1, 1, -1, -1]
    assert res.logits.tolist() == [[-4]]


def test_known_answer_nonspiking_i_and_leak():
    # i non-spiking: i_q = clamp((z >> 2) + 8, 0, 15) with z = 13 -> 3 + 8 = 11.
    # g = +1 (7 > 5), so c = 11. Leak on c with shift 1 starts at U0_c = 5:
    # U_c = (5 - (5 >> 1)) + 11 = 3 + 11 = 14 > 10: s_c = +1; o fires: h = +1.
    cfg = NetworkConfig(inputs=1, hidden=(1,), steps=1, length=1, classes=1,
                        nonspiking="i", ns_bits=4, ns_shift=2, leak_shift=(0, 0, 0, 0, 1))
    params = one_neuron(w_x=[0, 13, 3, 7], w_h=[0] * 4, u0=[0, 0, 0, 0, 5],
                        theta_pos=[4, 6, 2, 5, 10], theta_neg=[1, 1, 1, 5, 1],
                        w_out=[1], b_out=[0]).validate(cfg)
    res = golden.run(cfg, params, np.ones((1, 1, 1, 1), dtype=np.int64))
    tr = res.layers[0]
    assert tr.gates[0, 0, 0, :, 0].tolist() == [0, 11, 1, 1]
    assert tr.c[0, 0, 0, 0] == 11 and tr.h[0, 0, 0, 0] == 1


def test_saturating_membrane_hand_case():
    # u_bits = 4 holds -8..7. Two steps of z = 6 with a threshold 7 that cannot be
    # passed: U = 6, then sat(6 + 6) = 7 (not > 7, so no spike); one saturation.
    cfg = NetworkConfig(inputs=1, hidden=(1,), steps=2, length=1, classes=1, u_bits=4,
                        w_bits=4, acc_bits=4, c_bits=4, logit_bits=8)
    params = one_neuron(w_x=[6, 0, 0, 0], w_h=[0] * 4, u0=[0] * 5,
                        theta_pos=[7, 7, 7, 7, 7], theta_neg=[7] * 5,
                        w_out=[1], b_out=[0]).validate(cfg)
    res = golden.run(cfg, params, np.ones((1, 1, 2, 1), dtype=np.int64), record_membranes=True)
    assert res.layers[0].u[0, 0, :, 0, 0].tolist() == [6, 7]
    assert res.layers[0].gates[0, 0, :, 0, 0].tolist() == [0, 0]
    assert res.stats["saturations"]["membrane"] == 1


def test_rate_encoding_follows_the_lfsr_contract():
    # Draws of 2 bits from seed 0xACE1: 2 steps -> 0x7138 (value 0), 2 more ->
    # 0x1C4E (value 2). Feature 1 spikes where draw < 1: at step 0 only.
    cfg = NetworkConfig(inputs=1, hidden=(1,), steps=2, length=1, encoding="rate", x_bits=2,
                        level_shift=0)
    assert encode(cfg, np.array([[[1]]]))[0, 0, :, 0].tolist() == [1, 0]
    assert encode(cfg, np.array([[[3]]]))[0, 0, :, 0].tolist() == [1, 1]
    assert encode(cfg, np.array([[[0]]]))[0, 0, :, 0].tolist() == [0, 0]


def test_level_encoding_hand_case():
    # levels x >> 4: 40 -> 2, 10 -> 0. The reference walks 0 -> 1 -> 2 (two up
    # spikes), then 2 -> 1 -> 0 (two down spikes). Channels: [up, down].
    cfg = NetworkConfig(inputs=1, hidden=(1,), steps=2, length=2, encoding="level", level_shift=4)
    out = encode(cfg, np.array([[[40], [10]]]))
    assert out[0].tolist() == [[[1, 0], [1, 0]], [[0, 1], [0, 1]]]


@st.composite
def configs(draw):
    """Small sizes, every width from the whole range validation accepts (#18: the
    narrow ranges drawn before missed the int32 wrap of the gate sums)."""
    lo, hi = WIDTH_RANGE
    w_bits = draw(st.integers(lo, hi))
    nonspiking = draw(st.sampled_from(["none", "i", "g"]))
    encoding = draw(st.sampled_from(["spikes", "rate", "level", "direct"]))
    x_bits = draw(st.integers(lo, nr.LFSR_BITS if encoding == "rate" else hi))
    acc_bits = draw(st.integers(w_bits, hi))
    try:
        return NetworkConfig(
            inputs=draw(st.integers(1, 5)),
            hidden=tuple(draw(st.lists(st.integers(1, 6), min_size=1, max_size=2))),
            steps=draw(st.integers(1, 4)), length=draw(st.integers(1, 5)),
            classes=draw(st.integers(1, 3)), encoding=encoding, x_bits=x_bits,
            level_shift=draw(st.integers(0, x_bits - 1)), nonspiking=nonspiking,
            ns_bits=draw(st.integers(lo, hi)), ns_shift=draw(st.integers(0, acc_bits - 1)),
            w_bits=w_bits, acc_bits=acc_bits, u_bits=draw(st.integers(lo, hi)),
            c_bits=draw(st.integers(lo, hi)), logit_bits=draw(st.integers(w_bits, hi)),
            leak_shift=tuple(draw(st.lists(st.integers(0, 3), min_size=5, max_size=5))),
        )
    except ConfigError:  # a non-spiking gate wider than c_bits, a leak shift past u_bits
        assume(False)


def test_the_config_strategy_reaches_the_whole_width_range():
    seen = {name: set() for name in WIDTH_FIELDS}

    @settings(max_examples=300, database=None)
    @given(configs())
    def collect(cfg):
        for name in WIDTH_FIELDS:
            seen[name].add(getattr(cfg, name))
    collect()
    for name, values in seen.items():
        assert min(values) <= 4 and max(values) >= 28, (name, sorted(values))


@given(configs(), st.integers(0, 2**16), st.floats(0.1, 2.0))
def test_schedules_agree_and_invariants_hold(cfg, seed, threshold_scale):
    rng = np.random.default_rng(seed)
    params = random_params(cfg, seed, threshold_scale=threshold_scale)
    x = random_input(cfg, 3, rng)
    a = golden.run_element_major(cfg, params, x, record_membranes=True)
    b = golden.run_wavefront(cfg, params, x, record_membranes=True)
    for ta, tb in zip(a.layers, b.layers):
        for name in ("gates", "c", "s_c", "h", "u"):
            assert np.array_equal(getattr(ta, name), getattr(tb, name)), name
    assert np.array_equal(a.logits, b.logits)
    assert np.array_equal(a.element_logits, b.element_logits)
    assert a.stats == b.stats

    u_lo, u_hi = nr.signed_range(cfg.u_bits)
    c_lo, c_hi = nr.signed_range(cfg.c_bits)
    for tr in a.layers:
        for idx, gate in enumerate(nr.GATES):
            values = set(np.unique(tr.gates[..., idx, :]).tolist())
            if gate == cfg.nonspiking == "i":
                assert values <= set(range(0, nr.hard_sigmoid_max(cfg.ns_bits) + 1))
            elif gate == cfg.nonspiking == "g":
                top = nr.hard_tanh_max(cfg.ns_bits)
                assert values <= set(range(-top, top + 1))
            elif gate == "g":
                assert values <= {-1, 0, 1}
            else:
                assert values <= {0, 1}
        assert set(np.unique(tr.h).tolist()) <= {-1, 0, 1}
        assert set(np.unique(tr.s_c).tolist()) <= {-1, 0, 1}
        assert tr.c.min() >= c_lo and tr.c.max() <= c_hi
        assert tr.u.min() >= u_lo and tr.u.max() <= u_hi
    l_lo, l_hi = nr.signed_range(cfg.logit_bits)
    assert a.logits.min() >= l_lo and a.logits.max() <= l_hi


def test_saturation_is_exercised_by_narrow_widths(rng):
    cfg = NetworkConfig(inputs=6, hidden=(6,), steps=3, length=4, w_bits=8, acc_bits=8,
                        u_bits=8, c_bits=4, encoding="direct")
    params = random_params(cfg, 3, threshold_scale=0.05)
    res = golden.run(cfg, params, random_input(cfg, 8, rng), record_membranes=True)
    sat = res.stats["saturations"]
    assert sat["acc"] > 0 and sat["membrane"] > 0
    assert res.layers[0].u.max() <= 127 and res.layers[0].u.min() >= -128


def test_bad_order_and_bad_input_shape():
    cfg = NetworkConfig(inputs=2, hidden=(2,), steps=1, length=1)
    params = random_params(cfg)
    with pytest.raises(ValueError, match="unknown evaluation order 'diagonal'"):
        golden.run(cfg, params, np.zeros((1, 1, 1, 2), dtype=int), order="diagonal")
    with pytest.raises(ConfigError, match="'spikes' input needs shape"):
        golden.run(cfg, params, np.zeros((1, 3, 2), dtype=int))


def test_stats_count_events():
    cfg = NetworkConfig(inputs=3, hidden=(4, 5), steps=2, length=3, classes=2)
    rng = np.random.default_rng(5)
    params = random_params(cfg, 2, threshold_scale=0.3)
    x = random_input(cfg, 4, rng)
    res = golden.run(cfg, params, x)
    l0, l1 = res.stats["layers"]
    assert l0["input_events"] == np.count_nonzero(x)
    assert l0["recurrent_events"] == np.count_nonzero(res.layers[0].h[:, :-1])
    assert l1["input_events"] == np.count_nonzero(res.layers[0].h)
    assert l0["acs"] == (l0["input_events"] + l0["recurrent_events"]) * 4 * 4
    assert l1["acs"] == (l1["input_events"] + l1["recurrent_events"]) * 4 * 5
    assert res.stats["readout_acs"] == np.count_nonzero(res.layers[1].h[:, -1]) * 2
    assert l0["gate_spikes"]["g"] == np.count_nonzero(res.layers[0].gates[..., 3, :])


@pytest.mark.parametrize("change, message", [
    (lambda lp: setattr(lp, "w_x", lp.w_x * 0 + 5000), "layer 0 w_x has values"),
    (lambda lp: setattr(lp, "w_h", lp.w_h.astype(float)), "must hold integers"),
    (lambda lp: setattr(lp, "theta_pos", lp.theta_pos * 0), "layer 0 theta_pos"),
])
def test_run_refuses_parameters_out_of_range(change, message):
    # #18 item 4: these used to give other logits without a word
    cfg = preset("tiny")
    params = random_params(cfg, 1)
    change(params.layers[0])
    with pytest.raises(ConfigError, match=message):
        golden.run(cfg, params, random_input(cfg, 2, np.random.default_rng(0)))


# ---- wide widths (found by an independent re-implementation of docs/arithmetic.md) --------

def test_a_gate_sum_beyond_int32_saturates_instead_of_wrapping():
    # a sum of exactly 2**31 with acc_bits 20: the clamp gives 2**19 - 1; cast to int32
    # before the clamp, it wrapped to -2**31 and clamped to -2**19
    cfg = preset("tiny", encoding="direct", x_bits=16, w_bits=16, acc_bits=20, u_bits=20)
    g, h = cfg.cell_def().gates, cfg.hidden[0]
    x_part = np.full((1, g * h), float(1 << 31))
    x_part[0, 0] = -float(1 << 31)
    z = golden.gate_inputs(cfg, 0, np.zeros((h, g * h)), np.zeros(g * h), x_part,
                           np.zeros((1, h), np.int8), None)
    assert z.shape == (1, g, h)
    assert z[0, 0, 0] == -(1 << 19)
    assert (z.reshape(-1)[1:] == (1 << 19) - 1).all()


def test_a_wide_non_spiking_gate_is_recorded_whole():
    # ns_bits 16: the non-spiking i reaches 65535, which an int16 trace cut to -1
    cfg = preset("tiny", nonspiking="i", ns_bits=16, ns_shift=0, acc_bits=20, u_bits=20, c_bits=20)
    params = random_params(cfg, 3)
    params.layers[0].bias[1] = (1 << 19) - 1  # gate i at its largest sum
    res = golden.run(cfg, params, random_input(cfg, 2, np.random.default_rng(0)))
    assert res.layers[0].gates[:, :, :, 1].max() == nr.hard_sigmoid_max(16) == 65535


def test_gate_sums_beyond_float64_are_exact():
    # direct, x_bits 24, w_bits 32: sums up to about 2**57, past float64's 2**53
    cfg = preset("tiny", encoding="direct", x_bits=24, w_bits=32, acc_bits=32, u_bits=32,
                 logit_bits=32)
    assert cfg.gate_sum_bound(0) >= 1 << 53
    rng = np.random.default_rng(0)
    params = random_params(cfg, 1)
    lp = params.layers[0]
    lp.w_x[...] = rng.integers(-(1 << 31), 1 << 31, size=lp.w_x.shape)
    x = rng.integers(-(1 << 23), 1 << 23, size=(2, cfg.length, cfg.inputs))
    part = golden._layer_x_part(cfg, 0, lp, x)
    w = lp.w_x.reshape(-1, lp.w_x.shape[-1]).astype(object)
    want = np.array([[[int(v) for v in (w @ x[b, n].astype(object))] for n in range(cfg.length)]
                     for b in range(2)], dtype=object)
    assert (part[:, :, 0].astype(object) == want).all()
    golden.run(cfg, params, x)  # no error at these widths


def test_a_gate_sum_past_int64_is_refused_by_validation():
    with pytest.raises(ConfigError, match="exact int64 range"):
        preset("tiny", encoding="direct", x_bits=32, w_bits=32, acc_bits=32, u_bits=32, logit_bits=32)


def test_logit_sums_beyond_float64_are_exact():
    # h up to 2**15 (lstm, frac_bits 15) times 32-bit weights over 8,193 h: partial sums
    # near 2**58, where float64 drops the low bits; the exact logit is 3
    cfg = preset("tiny", cell="lstm", encoding="direct", steps=1, hidden=(8193,), frac_bits=15,
                 w_bits=32, acc_bits=32, c_bits=17, logit_bits=32, classes=1, nonspiking="none")
    assert cfg.readout_sum_bound() >= 1 << 53
    top = (1 << 31) - 1
    w_out = np.array([[3] + [top] * 4096 + [-top] * 4096], dtype=np.int64)
    h = np.array([1] + [1 << 15] * 8192, dtype=np.int64).reshape(1, 1, 1, -1)
    h = np.broadcast_to(h, (1, cfg.length, 1, 8193))
    params = NetworkParams([], w_out, np.zeros(1, dtype=np.int64))
    logits, _ = golden.readout(cfg, params, h, None)
    assert logits[0, 0] == 3
