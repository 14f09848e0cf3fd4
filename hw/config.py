"""Hardware build parameters: the network plus how much of it runs in parallel."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from model import numerics as nr
from model.config import ConfigError, NetworkConfig

__all__ = ["HardwareConfig", "valid_pars", "default_par", "beats_per_sequence", "input_kind", "multiplies",
           "multibit_h", "input_rows", "input_buffer_depth", "bits_for"]

#: Bits of the cycle counter reported with every result.
CYCLE_BITS = 32
#: Bits of each activity counter (spikes, accumulate operations).
COUNTER_BITS = 40


@dataclass(frozen=True)
class HardwareConfig:
    """A network configuration and its hardware parallelism.

    * ``lanes`` (L, 1..T): cells computed at once. Lane ``n mod L`` owns element n for
      all its T steps. ``L == T`` is the wavefront schedule (T + N - 1 rounds per
      layer), ``L == 1`` element by element (T x N rounds).
    * ``par`` (P): weights each lane adds per cycle. The G x H gate accumulators of a
      lane (G gate rows per neuron: the cell's, 4 for the Datta LSTM) are split into
      ``GH / P`` chunks of ``P / G`` neurons (all gates of a neuron share a chunk), so P
      must be a multiple of G that divides GH of every layer (:func:`valid_pars`).
    """

    net: NetworkConfig
    lanes: int = 1
    par: int = 4

    def __post_init__(self):
        net = self.net
        def need(cond, msg):
            if not cond:
                raise ConfigError(f"hardware config for {net.name!r}: {msg}")
        need(isinstance(self.lanes, int) and 1 <= self.lanes <= net.steps,
             f"lanes must be from 1 to T={net.steps}, got {self.lanes!r}")
        g = net.cell_def().gates
        need(isinstance(self.par, int) and self.par >= g and self.par % g == 0,
             f"par (P) must be a multiple of {g}, got {self.par!r}")
        for l, h in enumerate(net.hidden):
            need((g * h) % self.par == 0,
                 f"par={self.par} must divide {g}H={g * h} of layer {l}")

    # -- derived sizes ------------------------------------------------------------------
    @property
    def gates(self) -> int:
        """G: gate rows (accumulators) per neuron of the cell."""
        return self.net.cell_def().gates

    @property
    def neurons_per_chunk(self) -> int:
        return self.par // self.gates

    def chunks(self, layer: int) -> int:
        """Chunks of P accumulators in a layer: cycles per input event and per neuron pass."""
        return self.gates * self.net.hidden[layer] // self.par

    @property
    def h_bits(self) -> int:
        """Signed width of the cell's output h (2: a spike)."""
        return self.net.cell_def().h_bits(self.net)

    def _product_bits(self, value_bits: list[int]) -> int:
        """Bits of a weight times the widest multi-bit input value (none: spikes, which
        add the weight or its negation)."""
        return self.net.w_bits + max(value_bits) if value_bits else self.net.w_bits

    def acc_sum_bits(self, layer: int) -> int:
        """Width of a gate accumulator that holds its exact sum before the one saturation."""
        net = self.net
        values = [self.h_bits] if self.h_bits > 2 else []  # a multi-bit h (recurrent, below)
        if layer == 0 and net.encoding == "direct":
            values.append(net.x_bits)  # a weight times a feature
        terms = net.layer_inputs(layer) + net.hidden[layer]
        return max(nr.exact_sum_bits(self._product_bits(values), terms) + 1, net.acc_bits + 1)

    def logit_sum_bits(self) -> int:
        net = self.net
        values = [self.h_bits] if self.h_bits > 2 else []
        return max(nr.exact_sum_bits(self._product_bits(values), net.steps * net.hidden[-1]) + 1,
                   net.logit_bits + 1)

    def integrator_bits(self) -> tuple[int, int]:
        """Widths of the integrator readout's registers: the integrator ``o(n)`` and its
        sum over the sequence (signed, from the bounds of
        :meth:`model.config.NetworkConfig.integrator_bound`), each at least as wide as
        one element's sum (:meth:`logit_sum_bits`)."""
        net = self.net
        o_bits = max(net.integrator_bound().bit_length() + 1, self.logit_sum_bits())
        return o_bits, max(net.readout_sum_bound().bit_length() + 1, o_bits)

    def replace(self, **changes) -> "HardwareConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return {"net": self.net.to_dict(), "lanes": self.lanes, "par": self.par}


def valid_pars(net: NetworkConfig, limit: int | None = None) -> list[int]:
    """Every P the layers of ``net`` accept (multiples of G dividing G x H of every
    layer), at most ``limit``."""
    g = net.cell_def().gates
    top = g * min(net.hidden) if limit is None else min(limit, g * min(net.hidden))
    return [p for p in range(g, top + 1, g) if all((g * h) % p == 0 for h in net.hidden)]


def default_par(net: NetworkConfig, limit: int = 16) -> int:
    """The largest valid P of at most ``limit`` (16: the default of ``make synth``)."""
    options = valid_pars(net, limit)
    if not options:  # G > limit: the smallest P there is
        return valid_pars(net)[0]
    return options[-1]


def beats_per_sequence(net: NetworkConfig) -> int:
    """Beats of one sequence on the network's ``i_stream``: N x T spike rows, else N
    feature rows (:func:`hw.network.input_beats`)."""
    return net.length * net.steps if net.encoding == "spikes" else net.length


def input_kind(hw: HardwareConfig, layer: int) -> str:
    """Where a layer's input rows come from: ``rows`` (the input buffer, one ternary
    row per (n, k)), ``features`` (direct features, one row per n), or ``banks`` (the
    h banks of the layer below, one per lane)."""
    if layer > 0:
        return "banks"
    return "features" if hw.net.encoding == "direct" else "rows"


def bits_for(max_value: int) -> int:
    """Bits of an unsigned counter that reaches ``max_value`` (at least 1)."""
    return max(1, int(max_value).bit_length())


def input_rows(hw: HardwareConfig) -> int:
    """Rows of one sequence in the input buffer: one per element of direct features, else
    one per ``(n, k)`` at address ``{n, k}`` (k padded to a power of two)."""
    net = hw.net
    if input_kind(hw, 0) == "features":
        return net.length
    return net.length << bits_for(net.steps - 1)


def input_buffer_depth(hw: HardwareConfig) -> int:
    """Words of the input buffer: two banks of :func:`input_rows`, the bank the top
    address bit (:class:`hw.network_control.InputBanks`, :func:`hw.encoder.banked_address`)."""
    from amaranth.utils import ceil_log2
    return 2 << ceil_log2(input_rows(hw))


def multiplies(hw: HardwareConfig, layer: int) -> bool:
    """Whether a layer's events are multi-bit values (direct features, or the multi-bit
    h of a cell such as the baseline LSTM), so that its accumulate is a multiply-add
    (a product stage more, :func:`hw.accumulate.add_stage`), rather than a spike's
    add, subtract or nothing."""
    return input_kind(hw, layer) == "features" or multibit_h(hw.net)


def multibit_h(net: NetworkConfig) -> bool:
    """Whether the cell's h is a multi-bit value (the baseline LSTM) rather than a
    ternary spike: its consumers (the layer above, the recurrent input, the readout)
    multiply instead of adding or subtracting."""
    return net.cell_def().h_bits(net) > 2
