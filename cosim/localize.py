"""Where a failing co-simulation case first goes wrong: (layer, element, step, neuron).

The Verilog bench sees only the output stream; the h spikes live in the lanes' h-bank
memories. When a case fails, :func:`localize` runs the same design (same parameters,
an injected fault included) in the Amaranth simulator, which reads every h spike of
every cell back from the banks (:func:`hw.simulate.simulate_network`), and compares
them with the golden model's traces of the true parameters.

Cells are compared layer by layer and, within a layer, element by element and step by
step (element-major order). A cell depends only on cells that come before it in this
order, so the first difference is a cell whose inputs still agreed: the place where
the hardware first computed something else.

The sequences before the failing one are simulated as well, so state that a sequence
leaves behind is reproduced.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model import golden

__all__ = ["Location", "first_difference", "localize"]


@dataclass(frozen=True)
class Location:
    """The first cell whose h differs, and both values there."""
    layer: int
    element: int
    step: int
    neuron: int
    hardware: int
    golden: int

    def __str__(self) -> str:
        return (f"layer {self.layer}, element {self.element}, step {self.step}, "
                f"neuron {self.neuron}: h is {_spike(self.hardware)}, golden {_spike(self.golden)}")


def _spike(v: int) -> str:
    return f"{v:+d}" if v else "0"


def first_difference(hw_h: list[np.ndarray], gold_h: list[np.ndarray]) -> Location | None:
    """First differing h in (layer, element, step, neuron) order; both lists hold one
    ``[N, T, H]`` array per layer."""
    for layer, (a, b) in enumerate(zip(hw_h, gold_h)):
        if a.shape != b.shape:
            raise ValueError(f"layer {layer}: h shapes differ, {a.shape} and {b.shape}")
        diff = np.argwhere(a != b)  # row-major: element, step, neuron
        if len(diff):
            n, k, j = (int(v) for v in diff[0])
            return Location(layer, n, k, j, int(a[n, k, j]), int(b[n, k, j]))
    return None


def localize(hw, hw_params, golden_params, x: np.ndarray, sequence: int) -> dict:
    """Rerun sequences ``0..sequence`` of ``x`` through the Amaranth simulation of the
    design built from ``hw_params`` and compare sequence ``sequence`` with the golden
    model of ``golden_params``.

    Returns ``{"location": Location | None, "logits": (amaranth, golden), "summary": str}``.
    """
    from hw.simulate import simulate_network

    sim = simulate_network(hw, hw_params, x[:sequence + 1])[sequence]
    ref = golden.run(hw.net, golden_params, x[sequence:sequence + 1])
    gold_h = [tr.h[0] for tr in ref.layers]
    where = first_difference(sim.h, gold_h)
    gold_logits = [int(v) for v in ref.logits[0]]
    if where is not None:
        summary = f"first differing h spike at {where}"
    elif sim.logits != gold_logits:
        summary = ("every h spike agrees with the golden model, the logits do not "
                   f"(Amaranth {sim.logits}, golden {gold_logits}): the readout")
    else:
        summary = ("the Amaranth simulation of this design agrees with the golden model in "
                   "every h spike and logit: the difference comes from the Verilog or the "
                   "simulator, see the waveform")
    return {"location": where, "logits": (sim.logits, gold_logits), "summary": summary}
