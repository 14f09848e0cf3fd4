"""One-hot machinery of the event lists: find and clear the lowest set bit, turn a
one-hot vector into an index, select the value a one-hot vector points at."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Mux, Value

from .cell import hold
from .rom import bits_for

__all__ = ["LOWEST_SET_SEGMENT", "lowest_set", "at_least_two", "onehot_index", "onehot_select"]


#: longest carry chain of :func:`lowest_set`; wider vectors are cut into segments
LOWEST_SET_SEGMENT = 64


def lowest_set(m, bits, segment: int = LOWEST_SET_SEGMENT):
    """``(one-hot of the lowest set bit, bits without it)``: ``b & ~(b - 1)`` and
    ``b & (b - 1)``, a carry chain instead of a priority tree.

    Vectors wider than ``segment`` are cut into segments, each with its own chain (a
    160-event list was one chain of 80 carry cells, the longest path of the tmnist
    build). A segment's borrow out says it is all zero; a segment takes part only when
    every segment below it is zero, otherwise it is passed on unchanged.
    """
    bits = Value.cast(bits)
    width = len(bits)
    lows, rests = [], []
    below_zero = Const(1, 1)  # every segment below this one is zero
    for lo in range(0, width, segment):
        seg = bits[lo:lo + segment]
        w = len(seg)
        # w + 1 bits, the top one the borrow (seg == 0). The operand is widened first:
        # with ``a[63:0] - 1`` into 65 bits, Verilator 5.048 kept a stale borrow after a
        # segment went from non-zero to zero (tests/test_cosim.py shows it)
        diff = hold(m, Cat(seg, Const(0, 1)) - 1)
        minus, zero = diff[:w], diff[w]
        lows.append(Mux(below_zero, seg & ~minus, 0))
        rests.append(Mux(below_zero, seg & minus, seg))
        below_zero = hold(m, below_zero & zero)
    return hold(m, Cat(*lows)), hold(m, Cat(*rests))


def at_least_two(bits):
    """1 when two or more bits of ``bits`` are set: ``(b & (b - 1)) != 0`` as a balanced
    tree of (any, two) pairs, with no carry chain (the event list's ``pending`` after a
    take, one LUT level per halving instead of :func:`lowest_set`'s chains and then an
    OR over the whole vector)."""
    bits = Value.cast(bits)
    nodes = [(bits[i], None) for i in range(len(bits))]
    if not nodes:
        return Const(0, 1)
    while len(nodes) > 1:
        merged = []
        for i in range(0, len(nodes), 2):
            if i + 1 == len(nodes):
                merged.append(nodes[i])
                continue
            (a, ta), (b, tb) = nodes[i], nodes[i + 1]
            two = a & b
            for t in (ta, tb):
                if t is not None:
                    two = two | t
            merged.append((a | b, two))
        nodes = merged
    two = nodes[0][1]
    return Const(0, 1) if two is None else two


def onehot_index(onehot):
    """Index of the set bit of a one-hot vector (OR trees; 0 when none is set)."""
    width = len(onehot)
    return Cat(*[_or([onehot[i] for i in range(width) if i >> b & 1])
                 for b in range(bits_for(width - 1))])


def onehot_select(onehot, values, width: int):
    """The value whose bit is set in ``onehot`` (AND-OR; 0 when none is), each value
    sign-extended to ``width`` bits. Returns an unsigned ``width``-bit value."""
    ext = []
    for v in values:
        v = Value.cast(v)
        ext.append(Cat(v, v[-1].replicate(width - len(v))) if len(v) < width else v[:width])
    return Cat(*[_or([onehot[i] & ext[i][b] for i in range(len(values))]) for b in range(width)])


def _or(terms):
    """A balanced OR of single bits."""
    if not terms:
        return Const(0, 1)
    while len(terms) > 1:
        terms = [terms[i] | terms[i + 1] if i + 1 < len(terms) else terms[i]
                 for i in range(0, len(terms), 2)]
    return terms[0]
