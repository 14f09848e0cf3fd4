"""Hardware build parameters: the network plus how much of it runs in parallel."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from model import numerics as nr
from model.config import ConfigError, NetworkConfig

__all__ = ["HardwareConfig"]

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
    * ``par`` (P): weights each lane adds per cycle. The 4H gate accumulators of a
      lane are split into ``4H / P`` chunks of ``P / 4`` neurons (all four gates of a
      neuron share a chunk), so P must be a multiple of 4 that divides 4H.
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
        need(isinstance(self.par, int) and self.par >= 4 and self.par % 4 == 0,
             f"par (P) must be a multiple of 4, got {self.par!r}")
        for l, h in enumerate(net.hidden):
            need((4 * h) % self.par == 0,
                 f"par={self.par} must divide 4H={4 * h} of layer {l}")

    # -- derived sizes ------------------------------------------------------------------
    @property
    def neurons_per_chunk(self) -> int:
        return self.par // 4

    def chunks(self, layer: int) -> int:
        """Chunks of P accumulators in a layer: cycles per input event and per neuron pass."""
        return 4 * self.net.hidden[layer] // self.par

    def acc_sum_bits(self, layer: int) -> int:
        """Width of a gate accumulator that holds its exact sum before the one saturation."""
        net = self.net
        per_event_bits = net.w_bits
        if layer == 0 and net.encoding == "direct":
            per_event_bits = net.w_bits + net.x_bits  # a weight times a feature
        terms = net.layer_inputs(layer) + net.hidden[layer]
        return max(nr.exact_sum_bits(per_event_bits, terms) + 1, net.acc_bits + 1)

    def logit_sum_bits(self) -> int:
        net = self.net
        return max(nr.exact_sum_bits(net.w_bits, net.steps * net.hidden[-1]) + 1, net.logit_bits + 1)

    def replace(self, **changes) -> "HardwareConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return {"net": self.net.to_dict(), "lanes": self.lanes, "par": self.par}
