"""The numeric rules of spikegate, written once.

Every width, saturation, shift, comparison and reset rule that the integer golden
model and the hardware generator must agree on lives in this module. The functions
are written with Python operators only (``+``, ``-``, ``>>``, ``>``, ``<``) plus
:func:`select`, so the same function body evaluates

* on NumPy integer arrays (the golden model),
* on PyTorch tensors (the float twin used for training), and
* on Amaranth values (the hardware generator builds its datapath by calling them).

Rules (see ``docs/arithmetic.md`` for the prose version):

* Signed widths are two's complement: a ``bits``-wide value lies in
  ``[-2**(bits-1), 2**(bits-1) - 1]``.
* Saturation clamps to that range. It is applied once per named stage (the gate
  accumulator after its exact sum, the membrane after leak + input, ``c`` after its
  update, the logits after their exact sum).
* Leak is ``u - (u >> s)`` with an arithmetic (floor) shift; ``s == 0`` means no leak
  (an IF neuron). It never moves a membrane away from zero and never overflows.
* Comparisons are strict: a binary neuron fires when ``u > theta``; a ternary neuron
  fires ``+1`` when ``u > theta_pos`` and ``-1`` when ``u < -theta_neg``.
* Reset is soft: the threshold that fired is subtracted (or added back for ``-1``),
  except in the cells that name the hard reset (:func:`fire_binary_hard`: the membrane
  goes to zero, NIR's and most simulators' ``v_reset = 0``).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "GATES", "MEMBRANES", "signed_range", "unsigned_max", "select", "saturate",
    "leak", "fire_binary", "fire_binary_hard", "fire_ternary", "hard_sigmoid_q",
    "hard_tanh_q", "hard_sigmoid_max", "hard_tanh_max", "spike_times", "accumulate_spike",
    "gate_product",
    "c_update", "count_update", "membrane_update", "h_output", "shift_left", "fire_levels",
    "exact_sum_bits", "LFSR_BITS", "LFSR_TAPS", "lfsr_step", "lfsr_draw",
    "unit", "clamp_unit", "clamp_unit01", "hard_sigmoid_unit", "hard_sigmoid_offset", "hard_tanh_unit", "exact_product", "floor_shift",
    "level_of", "argmax_first",
]

#: Gate order used everywhere (weight arrays, accumulators, ROM layout).
GATES = ("f", "i", "o", "g")
#: Membranes a cell may hold, in storage order. ``c`` is the LIF on the cell state.
MEMBRANES = ("f", "i", "o", "g", "c")


def signed_range(bits: int) -> tuple[int, int]:
    """Inclusive range of a two's complement value ``bits`` wide."""
    if bits < 1:
        raise ValueError(f"a signed width must be at least 1 bit, got {bits}")
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def unsigned_max(bits: int) -> int:
    return (1 << bits) - 1


_FOREIGN_TYPES: dict[str, tuple[type, ...]] = {}


def _types(kind: str) -> tuple[type, ...]:
    """The array types of Amaranth or PyTorch, looked up once (empty if absent)."""
    if kind not in _FOREIGN_TYPES:
        try:
            if kind == "amaranth":
                from amaranth.hdl import Value
                _FOREIGN_TYPES[kind] = (Value,)
            else:
                import torch
                _FOREIGN_TYPES[kind] = (torch.Tensor,)
        except ImportError:  # pragma: no cover - both are dependencies
            _FOREIGN_TYPES[kind] = ()
    return _FOREIGN_TYPES[kind]


def _is_amaranth(*values) -> bool:
    return any(isinstance(v, _types("amaranth")) for v in values)


def _is_torch(*values) -> bool:
    return any(isinstance(v, _types("torch")) for v in values)


def select(cond, if_true, if_false):
    """Element-wise ``cond ? if_true : if_false`` for NumPy, PyTorch or Amaranth."""
    if isinstance(cond, np.ndarray) and not _is_torch(if_true, if_false) \
            and not _is_amaranth(if_true, if_false):
        return np.where(cond, if_true, if_false)
    if _is_amaranth(cond, if_true, if_false):
        from amaranth.hdl import Mux
        return Mux(cond, if_true, if_false)
    if _is_torch(cond, if_true, if_false):
        import torch
        ref = next(v for v in (if_true, if_false, cond) if isinstance(v, torch.Tensor))
        return torch.where(torch.as_tensor(cond, device=ref.device).bool(),
                           torch.as_tensor(if_true, dtype=ref.dtype, device=ref.device),
                           torch.as_tensor(if_false, dtype=ref.dtype, device=ref.device))
    return np.where(cond, if_true, if_false)


def saturate(x, bits: int, tally: dict | None = None, key: str = ""):
    """Clamp ``x`` to the signed range of ``bits``.

    With ``tally`` (NumPy only) the number of clamped elements is added to ``tally[key]``.
    """
    lo, hi = signed_range(bits)
    if isinstance(x, np.ndarray):
        if tally is not None:
            tally[key] = tally.get(key, 0) + int(np.count_nonzero((x > hi) | (x < lo)))
        return np.clip(x, lo, hi)  # the same clamp, in one fast call
    if _is_amaranth(x):
        return _saturate_amaranth(x, bits)
    return select(x > hi, hi, select(x < lo, lo, x))


def _saturate_amaranth(x, bits: int):
    """The same clamp in gates: ``x`` fits when its bits from ``bits - 1`` up are all
    equal (all copies of the sign), which needs no comparator (no carry chain)."""
    from amaranth.hdl import Mux, Value
    x = Value.cast(x)
    lo, hi = signed_range(bits)
    shape = x.shape()
    if shape.signed and shape.width <= bits or not shape.signed and shape.width < bits:
        return x
    top = x[bits - 1:]
    negative = x[-1] if shape.signed else 0
    over = ~negative & top.any() if shape.signed else top.any()
    under = negative & ~top.all() if shape.signed else 0
    return Mux(over, hi, Mux(under, lo, x[:bits].as_signed()))


def _floor(x):
    """Floor for PyTorch with a straight-through gradient (the value is an exact floor)."""
    import torch
    return x + (torch.floor(x) - x).detach()


def _floor_shift(z, shift: int):
    """``z >> shift``: arithmetic shift, i.e. floor division by ``2**shift``."""
    if _is_torch(z):
        return _floor(z / (1 << shift))
    return z >> shift


def leak(u, shift: int):
    """Multiplier-free leak ``u - (u >> shift)``; ``shift == 0`` is IF (no leak).

    ``>>`` is an arithmetic shift on signed values in NumPy and Amaranth, so it is a
    floor division by ``2**shift``. The result lies between 0 and ``u`` inclusive.
    """
    if shift == 0:
        return u
    return u - _floor_shift(u, shift)


def fire_binary(u, theta, step=None):
    """Binary (sigmoid-like) LIF output: ``(spike, u_after_soft_reset)``.

    Fires when ``u > theta``. ``step(u - theta, theta)`` may replace the comparison
    (the float twin passes a Heaviside step with a surrogate gradient); it must return
    1 exactly when its first argument is > 0.
    """
    spike = (u > theta) if step is None else step(u - theta, theta)
    if isinstance(spike, np.ndarray):
        return spike, u - spike * u.dtype.type(theta)  # the same select, as one NumPy pass
    return spike, select(spike != 0, u - theta, u)


def fire_binary_hard(u, theta, step=None):
    """Binary output with a hard reset to zero: ``(spike, u_after)`` with

        spike = u > theta,     u_after = spike ? 0 : u

    (the reset of NIR's IF and LIF nodes with ``v_reset = 0``). ``step`` as in
    :func:`fire_binary`. A select, no subtractor: the threshold only compares. In
    PyTorch the same value as ``u * (1 - spike)``, which keeps the surrogate gradient
    through the reset."""
    spike = (u > theta) if step is None else step(u - theta, theta)
    if isinstance(spike, np.ndarray):
        return spike, np.where(spike, u.dtype.type(0), u)
    if _is_torch(spike):
        return spike, u * (1 - spike)
    return spike, select(spike != 0, 0, u)


def fire_ternary(u, theta_pos, theta_neg, step=None, low=None):
    """Ternary (tanh-like) LIF output in {-1, 0, +1}: ``(spike, u_after_soft_reset)``.

    Fires +1 when ``u > theta_pos`` and -1 when ``u < -theta_neg`` (``theta_neg`` is
    the magnitude of the negative threshold). ``step`` as in :func:`fire_binary`.
    ``low``, when given, is ``-theta_neg`` already computed (hardware holds it in a
    register when the thresholds are loaded, not constants).
    """
    low = -theta_neg if low is None else low
    if step is None and isinstance(u, np.ndarray):  # the same rule, in fewer NumPy passes
        up, down = u > theta_pos, u < -theta_neg
        spike = up.astype(np.int8) - down
        return spike, u - up * u.dtype.type(theta_pos) + down * u.dtype.type(theta_neg)
    if step is None:
        up, down = u > theta_pos, u < low
        spike = select(up, 1, select(down, -1, 0))
    else:
        up, down = step(u - theta_pos, theta_pos), step(-theta_neg - u, theta_neg)
        spike = up - down
    return spike, select(up != 0, u - theta_pos, select(down != 0, u + theta_neg, u))


def hard_sigmoid_max(bits: int) -> int:
    """Largest output of :func:`hard_sigmoid_q`: the level that stands for 1.0."""
    return unsigned_max(bits)


def hard_tanh_max(bits: int) -> int:
    """Largest magnitude of :func:`hard_tanh_q`."""
    return signed_range(bits)[1]


def hard_sigmoid_q(z, shift: int, bits: int):
    """Non-spiking quantized hard sigmoid: ``clamp((z >> shift) + 2**(bits-1), 0, 2**bits - 1)``."""
    q = _floor_shift(z, shift) + (1 << (bits - 1))
    top = hard_sigmoid_max(bits)
    return select(q > top, top, select(q < 0, 0, q))


def hard_tanh_q(z, shift: int, bits: int):
    """Non-spiking quantized hard tanh: ``clamp(z >> shift, -(2**(bits-1)-1), 2**(bits-1)-1)``."""
    q = _floor_shift(z, shift)
    top = hard_tanh_max(bits)
    return select(q > top, top, select(q < -top, -top, q))


# --- Multi-bit activations of the non-spiking cells (the baseline LSTM) -----------------
#
# A multi-bit activation is a fixed-point value whose unit 1.0 is ``2**frac``. Products
# are exact; a sum of products is shifted back by ``frac`` with an arithmetic (floor)
# shift, once, and then saturated once to its stage's width.

def unit(frac: int) -> int:
    """The integer that stands for 1.0 in an activation with ``frac`` fraction bits."""
    return 1 << frac


def hard_sigmoid_unit(z, shift: int, frac: int):
    """Hard sigmoid on the unit ``2**frac``: ``clamp((z >> shift) + 2**(frac-1), 0, 2**frac)``
    (:func:`hard_sigmoid_offset`, then :func:`clamp_unit01`)."""
    return clamp_unit01(hard_sigmoid_offset(z, shift, frac), frac)


def hard_sigmoid_offset(z, shift: int, frac: int):
    """The hard sigmoid before its clamp: ``(z >> shift) + 2**(frac-1)`` (the hardware
    registers it between the add and the clamp)."""
    return _floor_shift(z, shift) + (unit(frac) >> 1)


def clamp_unit01(q, frac: int):
    """``clamp(q, 0, 2**frac)``: a value held to [0, 1.0] on the unit ``2**frac``."""
    return select(q > unit(frac), unit(frac), select(q < 0, 0, q))


def clamp_unit(x, frac: int):
    """``clamp(x, -2**frac, 2**frac)``: a value held to [-1.0, 1.0] on the unit ``2**frac``."""
    return select(x > unit(frac), unit(frac), select(x < -unit(frac), -unit(frac), x))


def hard_tanh_unit(z, shift: int, frac: int):
    """Hard tanh on the unit ``2**frac``: ``clamp(z >> shift, -2**frac, 2**frac)``."""
    return clamp_unit(_floor_shift(z, shift), frac)


def exact_product(a, b):
    """``a * b`` exactly: NumPy operands are widened to 64 bits first (the golden model's
    products of a gate and a cell state can pass 32 bits); a real multiplier in hardware."""
    if isinstance(a, np.ndarray) and not _is_torch(b) and not _is_amaranth(b):
        a = a.astype(np.int64)
    return a * b


def floor_shift(z, shift: int):
    """``z >> shift``: arithmetic shift, a floor division by ``2**shift`` (PyTorch: the
    same floor with a straight-through gradient)."""
    return _floor_shift(z, shift) if shift else z


def shift_left(x, shift: int):
    """``x * 2**shift`` (Amaranth: a shift, so no multiplier is inferred)."""
    if _is_amaranth(x):
        from amaranth.hdl import Value
        return Value.cast(x) << shift
    return x * (1 << shift)


def fire_levels(v, theta, frac: int, top: int, step=None):
    """Multi-bit spiking output: ``(y, v_after)`` with

        y = v > theta ? clamp(v >> frac, 1, top) : 0,     v_after = v - y * 2**frac

    a level of ``y`` units of ``2**frac`` once the strict threshold is crossed (at least
    one), and a soft reset by what was sent (the Ponghiran & Roy output). ``step`` as in
    :func:`fire_binary` (the float twin: the firing decision through the surrogate, the
    level through a straight-through floor)."""
    fired = (v > theta) if step is None else step(v - theta, theta)
    level = _floor_shift(v, frac)
    level = select(level > top, top, select(level < 1, 1, level))
    y = fired * level if _is_torch(v) else select(fired != 0, level, 0)  # torch: keep grad to both
    return y, v - shift_left(y, frac)


def spike_times(spike, value):
    """``spike * value`` for a ternary spike, by select and negate only."""
    return select(spike > 0, value, select(spike < 0, -value, 0))


def accumulate_spike(total, spike, value):
    """``total + spike * value`` for a ternary spike: an add, a subtract or nothing.

    The same value as ``total + spike_times(spike, value)``; written as a choice between
    ``total + value`` and ``total - value`` so hardware needs one carry chain, not a
    negation followed by an addition.
    """
    return select(spike > 0, total + value, select(spike < 0, total - value, total))


def gate_product(i, g, i_spiking: bool):
    """``i * g`` by select and negate only.

    When ``i`` is a spike (0/1) the product selects ``g`` (spike or multi-bit); when
    ``i`` is multi-bit, ``g`` must be a ternary spike and the product is ``i``, ``-i``
    or 0.
    """
    if _is_torch(i, g):
        return i * g  # the same value; a product keeps the gradient to both gates
    if i_spiking:
        return select(i != 0, g, 0)
    return spike_times(g, i)


def c_update(f, c_prev, ig, c_bits: int, tally: dict | None = None):
    """``c = sat((f ? c_prev : 0) + i*g)``: select and add only."""
    kept = f * c_prev if _is_torch(f) else select(f != 0, c_prev, 0)  # torch: keep grad to f
    return saturate(kept + ig, c_bits, tally, "c")


def count_update(f, c_prev, ig, top: int, tally: dict | None = None):
    """``c = min((f ? c_prev : 0) + i*g, top)`` for a cell state that counts spikes
    (non-negative, at most ``top``: the spiking LSTM unit's c in {0, 1, 2}): a select, an
    add and one clamp from above (counted in ``tally["c"]``, NumPy only)."""
    kept = f * c_prev if _is_torch(f) else select(f != 0, c_prev, 0)  # torch: keep grad to f
    total = kept + ig
    if tally is not None and isinstance(total, np.ndarray):
        tally["c"] = tally.get("c", 0) + int(np.count_nonzero(total > top))
    return select(total > top, top, total)


def membrane_update(u_prev, z, shift: int, u_bits: int, tally: dict | None = None):
    """``u = sat(leak(u_prev) + z)``: the LIF integration of every membrane."""
    return saturate(leak(u_prev, shift) + z, u_bits, tally, "membrane")


def integrate_readout(o_prev, r, shift: int):
    """``o(n) = leak(o(n-1)) + r(n)``: the readout's leaky integrator (Yin et al.'s
    non-spiking output neuron, with the input factor ``1 - alpha`` left out: it scales
    every logit alike). Exact: the widths of :meth:`model.config.NetworkConfig.
    readout_sum_bound` hold it, and only the sum of ``o`` over the sequence is saturated."""
    return leak(o_prev, shift) + r


def integrated_sum(r, shift: int):
    """``sum_n o(n)`` over the element axis (the second last) of the element sums ``r
    [..., N, C]``, with ``o`` the readout's integrator (:func:`integrate_readout`,
    ``o(-1) = 0``): the integrator readout's logits before their saturation."""
    total = o = r[..., 0, :] * 0
    for n in range(r.shape[-2]):
        o = integrate_readout(o, r[..., n, :], shift)
        total = total + o
    return total


def gate_by_spike(s, value):
    """``s * value`` for a binary spike ``s`` as a select (PyTorch: the product, the same
    value, which keeps the gradient to the spike)."""
    if _is_torch(s):
        return s * value
    return select(s != 0, value, 0)


def h_output(o, s_c):
    """``h = o * s_c`` as a select: the output gate passes the ternary c spike."""
    return gate_by_spike(o, s_c)


def exact_sum_bits(operand_bits: int, terms: int) -> int:
    """Width that holds any sum of ``terms`` signed ``operand_bits`` operands exactly."""
    return operand_bits + max(terms - 1, 0).bit_length()


# --- Rate-coding random numbers -----------------------------------------------------
#
# A 16-bit Galois LFSR, shifting right, feedback mask 0xB400 (x^16+x^14+x^13+x^11+1,
# maximal length 65535). The LFSR is reset to the configured seed at the start of
# every sequence. One draw advances it ``bits`` times and takes the low ``bits`` bits
# of the new state. Draws are taken in the order element n, then step k, then input
# channel m; a channel spikes when its draw is strictly less than its feature value.

LFSR_BITS = 16
LFSR_TAPS = 0xB400


def lfsr_step(state):
    """One Galois LFSR step (works on ints and on Amaranth values)."""
    if _is_amaranth(state):  # the same step as XOR logic: feedback masked by the low bit
        return ((state >> 1) ^ (state[0].replicate(LFSR_BITS) & LFSR_TAPS))[:LFSR_BITS]
    return (state >> 1) ^ (LFSR_TAPS if state & 1 else 0)


def lfsr_draw(state, bits: int, hold=None):
    """Advance ``bits`` steps; return ``(value, new_state)`` with value the low bits.

    ``hold`` (hardware only) is applied to each new state, for example to give it a
    named signal so that a long chain of steps stays a chain, not an expression tree.
    """
    for _ in range(bits):
        state = lfsr_step(state)
        if hold is not None:
            state = hold(state)
    return state & unsigned_max(bits), state


def level_of(x, shift: int):
    """Quantized level of a feature for level-crossing coding: ``x >> shift``."""
    return x >> shift


def argmax_first(logits, axis: int = -1):
    """Class decision: the largest logit, ties going to the lowest class index."""
    return np.argmax(logits, axis=axis)
